import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A scratch working directory, so default store/cache/leaderboard paths land in it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def zoo_model(name: str, data, seed: int = 0, stage_budget=None):
    """Model `name` of the zoo at its own `test_config`, prepared on `data`, with its upstream stages
    built at theirs (the model's params for them override), seeded with seed + 100, and trained
    for `stage_budget` before they are attached (attaching freezes them); None leaves them fresh."""
    import torch

    import models as zoo
    from bench.config import build

    cls = zoo.get(name)
    config = build(cls.Config, cls.test_config)
    upstream = {}
    for slot, (up_name, params) in cls.upstream(config).items():
        up = zoo.get(up_name)
        torch.manual_seed(seed + 100)
        upstream[slot] = up(build(up.Config, {**up.test_config, **params}), data.data_shape)
        upstream[slot].prepare(data)
        if stage_budget is not None:
            upstream[slot].fit(data, stage_budget, seed=seed, progress=False)
    torch.manual_seed(seed)
    model = cls(config, data.data_shape)
    model.prepare(data)
    if upstream:
        model.attach(upstream)
    return model


def write_suite(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


sys.path.insert(0, str(Path(__file__).resolve().parent))
