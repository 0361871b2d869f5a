"""scripts/kernel_drift.py: one process per kernel configuration, its environment recorded."""

import importlib.util
import json
from pathlib import Path

import yaml

from bench.store import Store

ROOT = Path(__file__).resolve().parent.parent


def small_suite(folder: Path) -> str:
    """The smoke suite cut down to one beta-TCVAE and the cheap scores: three runs stay short."""
    suite = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text())
    suite["models"] = [{"model": "beta_tcvae", "params": {"beta": 4, "latent_dim": 4}}]
    suite["metrics"] = [m for m in suite["metrics"] if isinstance(m, dict) and m["name"] in ("mig", "l1", "l2")]
    suite["plots"] = []
    path = folder / "drift_smoke.yaml"
    path.write_text(yaml.safe_dump(suite))
    return str(path)


def load_script():
    spec = importlib.util.spec_from_file_location("kernel_drift", ROOT / "scripts" / "kernel_drift.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_same_configuration_twice_gives_identical_scores_and_the_kernel_path_is_recorded(tmp_path, capsys):
    drift = load_script()
    suite = small_suite(tmp_path)
    assert drift.parse_config("x:threads=1,ATEN_CPU_CAPABILITY=default") == (
        "x", 1, {"ATEN_CPU_CAPABILITY": "default"})
    first = drift.run(suite, tmp_path, "one", 1, {})
    again = drift.run(suite, tmp_path, "again", 1, {})
    assert first and first == again  # a fresh process, store and cache: bit-identical at a fixed seed
    base = drift.run(suite, tmp_path, "base", 1, {"ATEN_CPU_CAPABILITY": "default"})
    assert base.keys() == first.keys()
    store = Store(tmp_path / "base.sqlite", readonly=True)
    machine = json.loads(store.runs("smoke")[0]["environment"])
    assert machine["cpu_capability"] == "DEFAULT" and machine["threads"] == 1
    assert machine["kernel_variables"] == {"ATEN_CPU_CAPABILITY": "default"}
    store.close()

    # the table: every score once per job, the stores reused (nothing is trained again)
    drift.main([suite, "--out", str(tmp_path), "--config", "one:threads=1", "--config", "again:threads=1"])
    out = capsys.readouterr().out
    per_seed, means = out.split("| model | score |")  # the per-seed table, then the table of seed means
    rows = [line for line in per_seed.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + sum(v is not None for v in first.values())
    assert all(line.split(" | ")[-2] == "0" for line in rows[1:])  # max difference between the two: none
    mean_rows = [line for line in means.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(mean_rows) == len({(k[0], k[1], k[3]) for k, v in first.items() if v is not None})  # one seed here
    assert all(line.split(" | ")[-2] == "0" for line in mean_rows)
    assert "Largest movement of a mean over seeds, per output: " in out and "l1 0," in out
