"""`msbench history` and `msbench show --cell` read every run kept in the store."""

import json

from bench.cli import main
from bench.store import Store
from bench.suite import load_suite
from conftest import SUITES
from test_report import score

SMOKE = str(SUITES / "smoke.yaml")


def night(path, suite, sha, mig):
    """One run (invocation) of the smoke suite's jobs, stored as if code `sha` had scored MIG `mig`."""
    store = Store(path)
    run_id = store.begin(suite.name, fresh=True)
    for job in suite.jobs:
        store.start(suite.name, job, {"device": "cpu (test)", "threads": 2}, {"git_sha": sha}, "t0")
        store.finish(suite.name, job.key, [score("mig", mig + job.seed / 100), score("l1", 0.1)], 1000, False,
                     1.5, 0.5, "t1")
    store.end("t2")
    store.close()
    return run_id


def test_history_shows_every_run_in_order(tmp_path, capsys):
    suite = load_suite(SMOKE)
    store = tmp_path / "r.sqlite"
    first, second = night(store, suite, "aaaa1111", 0.10), night(store, suite, "bbbb2222", 0.30)
    assert main(["history", SMOKE, "--metric", "mig", "--label", "MS-VAE", "--store", str(store),
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "MS-VAE" in line]
    assert len(lines) == 2 and lines[0].startswith(first) and lines[1].startswith(second)
    assert "aaaa1111" in lines[0] and "0.1" in lines[0] and "bbbb2222" in lines[1] and "0.3" in lines[1]
    assert (tmp_path / "smoke/plots/history_mig.png").stat().st_size > 1000
    assert main(["history", SMOKE, "--metric", "nope", "--store", str(store), "--out", str(tmp_path)]) == 2
    assert "no stored score 'nope'" in capsys.readouterr().err


def test_show_cell_prints_one_cells_provenance(tmp_path, capsys):
    suite = load_suite(SMOKE)
    store = tmp_path / "r.sqlite"
    night(store, suite, "aaaa1111", 0.10)
    latest = night(store, suite, "bbbb2222", 0.30)
    assert main(["show", SMOKE, "--cell", "beta-TCVAE[beta=4]", "--seed", "0", "--store", str(store),
                 "--cache", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    job = next(j for j in suite.jobs if j.label == "beta-TCVAE" and j.sweep == {"beta": 4.0})
    assert f"== {job.display} (job {job.key})" in out
    assert json.dumps(job.spec, sort_keys=True) in out  # the resolved spec
    assert f"run {latest}: ok" in out and "code: bbbb2222" in out and "device: cpu (test)" in out
    assert "trained 1.5s" in out and "(not in this cache)" in out and "mig" in out and "0.3" in out
    assert main(["show", SMOKE, "--cell", "Nope", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "no cell 'Nope'" in err and "MS-VAE" in err  # the cells it has are listed
