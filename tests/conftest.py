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


def write_suite(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


sys.path.insert(0, str(Path(__file__).resolve().parent))
