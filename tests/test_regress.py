"""`msbench baseline` and `msbench regress`: a real regression is flagged, seed noise is not,
and a comparison that cannot be trusted exits 2."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.cli import main
from bench.regress import pooled_sigma

ROOT = Path(__file__).resolve().parent.parent


def write_suite(folder: Path, seeds=(0, 1, 2), steps=40, name="reg") -> str:
    """The smoke suite cut to one beta-TCVAE and cheap scores, with `seeds` and `steps`."""
    suite = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text())
    suite.update(name=name, seeds=list(seeds), plots=[])
    suite["budget"]["steps"] = steps
    suite["models"] = [{"model": "beta_tcvae", "label": "beta-TCVAE", "params": {"beta": 4, "latent_dim": 4}}]
    suite["metrics"] = [m for m in suite["metrics"] if isinstance(m, dict) and m["name"] in ("l1", "l2", "mig")]
    path = folder / f"{name}-{'-'.join(map(str, seeds))}-{steps}.yaml"
    path.write_text(yaml.safe_dump(suite))
    return str(path)


def cli(*args, store="store.sqlite"):
    return main([*args, "--store", store, "--out", "lb"])


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory):
    """A baseline of three seeds at 40 steps, in its own folder (shared by the tests below)."""
    folder = tmp_path_factory.mktemp("regress")
    cwd = Path.cwd()
    try:
        os.chdir(folder)
        suite = write_suite(folder)
        assert main(["run", suite, "--store", "store.sqlite", "--cache", "cache", "--out", "lb", "--no-progress",
                     "--device", "cpu"]) == 0
        assert cli("baseline", suite) == 0
    finally:
        os.chdir(cwd)
    return folder, suite


@pytest.fixture
def inside(baseline_run, monkeypatch):
    folder, suite = baseline_run
    monkeypatch.chdir(folder)
    return folder, suite


def run(suite, store):
    return main(["run", suite, "--store", store, "--cache", "cache", "--out", "lb", "--no-progress", "--device", "cpu"])


def test_pooled_sigma_known_answer():
    assert pooled_sigma([[1.0, 3.0], [2.0, 4.0]]) == pytest.approx(math.sqrt(2.0))
    assert pooled_sigma([[1.0], [5.0]]) is None  # one seed per cell: nothing to pool


def test_baseline_records_every_cell_with_its_provenance(inside):
    folder, _ = inside
    document = json.loads((folder / "lb" / "reg" / "baseline.json").read_text())
    assert document["suite"] == "reg" and document["device_kind"] == "cpu" and document["cpu_capability"]
    assert document["code"]["git_sha"] and "lock" in document
    outputs = {c["output"].split("[")[0] for c in document["cells"]}  # score ids: name[non-default params]
    assert outputs == {"l1", "l2", "mig"}
    for cell in document["cells"]:
        assert cell["n"] == 3 and len(cell["values"]) == 3 and cell["std"] > 0
        assert cell["mean"] == pytest.approx(np.mean(list(cell["values"].values())))


def test_the_baseline_run_itself_passes_and_exact_passes_a_bit_identical_run(inside, capsys):
    _, suite = inside
    assert cli("regress", suite) == 0
    assert cli("regress", suite, "--exact") == 0
    assert "0 regressed" in capsys.readouterr().out


def test_injected_degradation_exits_1_and_names_the_cells(inside, capsys):
    folder, _ = inside
    weak = write_suite(folder, steps=3)  # the same label with 5% of the steps
    assert run(weak, "weak.sqlite") == 0
    capsys.readouterr()
    code = main(["regress", weak, "--store", "weak.sqlite", "--baseline", "lb/reg/baseline.json", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["exit_code"] == 1
    regressed = {c["output"].split("[")[0] for c in report["cells"] if c["verdict"] == "regressed"}
    assert {"l1", "l2"} <= regressed  # reconstructions after 3 steps are far worse
    code = main(["regress", weak, "--store", "weak.sqlite", "--baseline", "lb/reg/baseline.json"])
    assert code == 1 and "regressed: beta-TCVAE" in capsys.readouterr().out


def test_a_seed_only_rerun_is_not_flagged(inside, capsys):
    folder, _ = inside
    other = write_suite(folder, seeds=(3, 4, 5))
    assert run(other, "seeds.sqlite") == 0
    capsys.readouterr()
    code = main(["regress", other, "--store", "seeds.sqlite", "--baseline", "lb/reg/baseline.json", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, [c for c in report["cells"] if c["verdict"] != "same"]
    assert len(report["cells"]) == 3


def test_exact_flags_a_one_ulp_change(inside, capsys, tmp_path):
    folder, suite = inside
    document = json.loads((folder / "lb" / "reg" / "baseline.json").read_text())
    cell = document["cells"][0]
    seed = next(iter(cell["values"]))
    cell["values"][seed] = float(np.nextafter(cell["values"][seed], np.inf))
    path = tmp_path / "ulp.json"
    path.write_text(json.dumps(document))
    assert main(["regress", suite, "--store", "store.sqlite", "--baseline", str(path)]) == 0  # noise rule: same
    assert main(["regress", suite, "--store", "store.sqlite", "--baseline", str(path), "--exact"]) == 1
    assert f"{cell['label']} {cell['output']}" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["garbage", "not_a_baseline", "version", "no_cells_match", "other_device",
                                    "other_kernels", "other_threads"])
def test_untrustworthy_comparisons_exit_2(inside, capsys, tmp_path, damage):
    folder, suite = inside
    document = json.loads((folder / "lb" / "reg" / "baseline.json").read_text())
    path = tmp_path / "baseline.json"
    if damage == "garbage":
        path.write_bytes(b"\x00{not json")
    elif damage == "not_a_baseline":
        path.write_text(json.dumps({"cells": "none"}))
    else:
        if damage == "version":
            document["cells"][0]["version"] = "0"
        elif damage == "no_cells_match":
            for cell in document["cells"]:
                cell["label"] = "renamed"
        elif damage == "other_device":
            document["device_kind"] = "cuda"
        elif damage == "other_kernels":
            document["cpu_capability"] = "AVX512" if document["cpu_capability"] != "AVX512" else "AVX2"
        else:
            document["threads"] = document["threads"] + 1
        path.write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["regress", suite, "--store", "store.sqlite", "--baseline", str(path)]) == 2
    err = capsys.readouterr()
    assert {"garbage": "cannot be read", "not_a_baseline": "not an msbench baseline", "version": "metric version",
            "no_cells_match": "nothing was compared", "other_device": "--allow-device-change",
            "other_kernels": "cpu_capability", "other_threads": "threads"}[damage] in err.out + err.err
    if damage.startswith("other_"):
        assert main(["regress", suite, "--store", "store.sqlite", "--baseline", str(path),
                     "--allow-device-change"]) == 0


def test_a_failed_job_exits_2(inside, capsys):
    import shutil
    import sqlite3

    _, suite = inside
    shutil.copy("store.sqlite", "failed.sqlite")
    with sqlite3.connect("failed.sqlite") as db:
        db.execute("UPDATE runs SET status='failed', phase='train', error='loss became nan at step 7' "
                   "WHERE rowid = (SELECT MIN(rowid) FROM runs)")
    assert main(["regress", suite, "--store", "failed.sqlite", "--baseline", "lb/reg/baseline.json"]) == 2
    assert "is failed: loss became nan at step 7" in capsys.readouterr().out
    assert main(["baseline", suite, "--store", "failed.sqlite", "--baseline", "other.json"]) == 2


def benchmark_json(folder: Path, name: str, sleep: float) -> str:
    """A real pytest-benchmark JSON file: a benchmark that sleeps `sleep` seconds, measured."""
    (folder / "test_nap.py").write_text(
        "import time\n\ndef test_nap(benchmark):\n"
        f"    benchmark.pedantic(time.sleep, args=({sleep},), rounds=3, iterations=1)\n")
    out = folder / f"{name}.json"
    code = os.system(f"cd {folder} && python -m pytest -q -p no:cacheprovider test_nap.py --benchmark-only "
                     f"--benchmark-json={out} > /dev/null 2>&1")
    assert code == 0 and out.is_file()
    return str(out)


def test_regress_bench_flags_a_slowdown_beyond_the_ratio(tmp_path, capsys):
    fast, slow = benchmark_json(tmp_path, "fast", 0.01), benchmark_json(tmp_path, "slow", 0.05)
    again = benchmark_json(tmp_path, "again", 0.01)
    assert main(["regress", "--bench", fast, again]) == 0
    capsys.readouterr()
    assert main(["regress", "--bench", fast, slow]) == 1
    out = capsys.readouterr().out
    assert "test_nap" in out and "regressed" in out
    assert main(["regress", "--bench", slow, fast]) == 0  # faster: improved, not a failure
    assert "improved" in capsys.readouterr().out
    other = json.loads(Path(fast).read_text())
    other["machine_info"]["cpu"]["brand_raw"] = "Another CPU"
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert main(["regress", "--bench", str(tmp_path / "other.json"), fast]) == 2  # timings of two machines
    assert main(["regress", "--bench", str(tmp_path / "other.json"), fast, "--allow-device-change"]) == 0
    (tmp_path / "bad.json").write_text("{")
    assert main(["regress", "--bench", fast, str(tmp_path / "bad.json")]) == 2
    assert main(["regress"]) == 2  # neither a suite nor --bench
