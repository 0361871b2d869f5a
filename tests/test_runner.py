"""The runner end to end on the smoke suite: results, reuse, resume, failures, determinism."""

import json
import sqlite3

import pytest
import torch

import bench.runner
from bench.cli import main
from bench.devices import DeviceError, resolve_device
from bench.store import Store
from bench.suite import load_suite
from conftest import SUITES

SMOKE = str(SUITES / "smoke.yaml")
ARGS = ["--no-progress", "--device", "cpu"]
SUITE = load_suite(SMOKE)
N_JOBS = len(SUITE.jobs)
N_SCORES = N_JOBS * sum(len(m.ids) for m in SUITE.metrics)


def rows(store="results.sqlite", table="runs", every=False):
    """A table's rows; of `runs`, each job's latest row (what readers see) unless `every`."""
    latest = "WHERE rowid IN (SELECT MAX(rowid) FROM runs GROUP BY suite, job_key)"
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:  # never creates it
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(f"SELECT * FROM {table} {latest if table == 'runs' and not every else ''}")]


def run(*extra):
    return main(["run", SMOKE, "--store", "results.sqlite", "--cache", "cache", "--out", "lb", *ARGS, *extra])


def scores_by_job(store="results.sqlite"):
    return {(r["job_key"], r["metric_id"]): r["value"] for r in rows(store, "scores")}


def test_run_writes_results_and_rerun_trains_nothing(workdir, capsys, monkeypatch):
    threads = torch.get_num_threads()
    try:
        assert run("--threads", "1") == 0
        assert torch.get_num_threads() == 1  # set from --threads, not from the core count
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr()
    assert "leaderboard: lb/smoke/leaderboard.md" in out.out
    runs = rows()
    assert len(runs) == N_JOBS and {r["status"] for r in runs} == {"ok"}
    assert all(r["reused"] == 0 and r["train_seconds"] > 0 for r in runs)
    assert len(rows(table="scores")) == N_SCORES
    first = runs[0]
    assert json.loads(first["code_version"])["packages"]["torch"] == torch.__version__.split("+")[0]
    assert json.loads(first["spec"])["budget"]["batch_size"] == 32 and first["device"].startswith("cpu")
    machine = json.loads(first["environment"])  # the kernel path, recorded with every run
    assert machine["threads"] == 1 and machine["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert machine["packages"]["torch"] == torch.__version__.split("+")[0] and machine["cpu_model"]
    assert f"{machine['cpu_capability']}, 1 threads" in first["device"]
    for path in (workdir / "cache").glob("*/manifest.json"):  # models and the domain feature net
        trained_on = json.loads(path.read_text())["trained_on"]
        assert trained_on["threads"] == 1 and trained_on["code"]["git_sha"], path
    for name in ("leaderboard.md", "leaderboard.csv", "index.html", "plots/mig_vs_beta.png"):
        assert (workdir / "lb/smoke" / name).is_file(), name

    def no_training(*a, **k):
        raise AssertionError("a re-run must not train")

    monkeypatch.setattr(bench.runner, "obtain_model", no_training)
    before = scores_by_job()
    assert run() == 0
    assert capsys.readouterr().err.count("already scored, skipped") == N_JOBS
    assert scores_by_job() == before and len(rows()) == N_JOBS


def test_same_seed_same_scores(workdir):
    assert main(["run", SMOKE, "--store", "a.sqlite", "--cache", "ca", "--out", "lb", *ARGS]) == 0
    assert main(["run", SMOKE, "--store", "b.sqlite", "--cache", "cb", "--out", "lb", *ARGS]) == 0
    assert scores_by_job("a.sqlite") == scores_by_job("b.sqlite")


def test_a_fresh_run_reuses_nothing_and_regress_tests_only_the_run_under_test(workdir, capsys):
    assert run() == 0
    manifests = {p: p.stat().st_mtime_ns for p in (workdir / "cache").glob("*/manifest.json")}
    capsys.readouterr()
    assert run("--fresh") == 0
    err = capsys.readouterr().err
    assert "fresh: reusing no stored score or cached artifact" in err
    # every job trained and scored again (MS-VAE's stage one is the beta-TCVAE job trained earlier in this run)
    assert "already scored" not in err and "reused, evaluated" not in err and err.count("trained in") >= N_JOBS
    assert "domain feature net for" in err  # the feature net too
    assert all(p.stat().st_mtime_ns != t for p, t in manifests.items())  # artifacts replaced, none kept
    first, fresh = (i["run_id"] for i in rows(table="invocations"))
    assert len(rows(every=True)) == 2 * N_JOBS and len(rows(table="scores")) == 2 * N_SCORES  # both runs kept
    store = Store("results.sqlite", readonly=True)
    assert sorted(s["value"] or 0 for s in store.scores("smoke", first)) == \
        sorted(s["value"] or 0 for s in store.scores("smoke", fresh))  # same host, same seeds: bit-identical
    store.close()
    args = ["--store", "results.sqlite", "--out", "lb"]
    assert main(["baseline", SMOKE, *args]) == 0
    assert main(["regress", SMOKE, *args, "--exact"]) == 0
    assert main(["regress", SMOKE, *args, "--exact", "--run", first]) == 0
    capsys.readouterr()
    assert run() == 0  # resumes: scores nothing, so its run has nothing to test
    assert main(["regress", SMOKE, *args]) == 2
    out, err = capsys.readouterr()
    assert out.count("did not score it") == N_JOBS and "NOT fresh" in err


def test_interrupted_run_resumes_without_duplicates(workdir, monkeypatch, capsys):
    real_evaluate = bench.runner.evaluate
    calls = []

    def interrupt_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(bench.runner, "evaluate", interrupt_second)
    assert run() == 130
    assert sorted(r["status"] for r in rows()) == ["failed", "ok"]
    monkeypatch.setattr(bench.runner, "evaluate", real_evaluate)
    assert run() == 0
    err = capsys.readouterr().err
    assert err.count("already scored, skipped") == 1
    assert "reused cached artifact" in err  # the interrupted job had finished training
    latest = Store("results.sqlite", readonly=True).runs("smoke")
    assert len(latest) == N_JOBS and {r["status"] for r in latest} == {"ok"}
    assert sorted(r["run_id"] for r in latest) == sorted(r["run_id"] for r in rows())
    assert len(rows(every=True)) == N_JOBS + 1  # the interrupted attempt is kept as history, under its own run id
    assert len(rows(table="scores")) == N_SCORES
    first, second = (i for i in rows(table="invocations"))
    assert first["finished"] is None and second["finished"]  # the interrupted run is marked unfinished


def test_failed_job_is_recorded_and_others_go_on(workdir, monkeypatch, capsys):
    from models.beta_tcvae import BetaTCVAE

    real_loss = BetaTCVAE.training_loss

    def nan_for_beta4(self, x):
        loss, parts = real_loss(self, x)
        return (loss * float("nan"), parts) if self.config.beta == 4.0 and self.name == "beta_tcvae" else (loss, parts)

    monkeypatch.setattr(BetaTCVAE, "training_loss", nan_for_beta4)
    assert run() == 1
    err = capsys.readouterr().err
    assert "FAILED while training: TrainingDiverged: loss became nan at step 1" in err
    status = {(r["label"], r["sweep"]): (r["status"], r["phase"]) for r in rows()}
    assert status[("beta-TCVAE", '{"beta": 4.0}')] == ("failed", "train")
    # MS-VAE builds on beta-TCVAE[beta=4]: it fails too, and says why
    assert status[("MS-VAE", "{}")] == ("failed", "train")
    ms = next(r for r in rows() if r["label"] == "MS-VAE")
    assert ms["error"].startswith("UpstreamFailed: stage_one MS-VAE/stage_one seed=0 failed: TrainingDiverged")
    assert sum(s == ("ok", None) for s in status.values()) == N_JOBS - 2
    board = (workdir / "lb/smoke/leaderboard.md").read_text()
    assert "## Jobs without a result" in board and "loss became nan" in board

    monkeypatch.setattr(BetaTCVAE, "training_loss", real_loss)
    assert run() == 0  # the failed job is retried; the others are skipped
    assert capsys.readouterr().err.count("already scored, skipped") == N_JOBS - 2
    assert {r["status"] for r in rows()} == {"ok"}


def test_cached_models_are_reused_and_corrupt_ones_retrained(workdir, capsys):
    assert main(["run", SMOKE, "--store", "a.sqlite", "--cache", "cache", "--out", "lb", *ARGS]) == 0
    assert main(["run", SMOKE, "--store", "b.sqlite", "--cache", "cache", "--out", "lb", *ARGS]) == 0
    assert all(r["reused"] == 1 and r["train_seconds"] == 0 for r in rows("b.sqlite"))
    assert scores_by_job("a.sqlite") == scores_by_job("b.sqlite")
    assert capsys.readouterr().err.count("reused cached artifact") >= N_JOBS

    victim = sorted((workdir / "cache").iterdir())[0]
    (victim / "weights.safetensors").write_bytes(b"not a checkpoint")
    assert main(["run", SMOKE, "--store", "c.sqlite", "--cache", "cache", "--out", "lb", *ARGS]) == 0
    err = capsys.readouterr().err
    assert f"cached artifact {victim.relative_to(workdir)}: weights.safetensors does not match its SHA-256" in err
    assert "training again" in err
    assert list((workdir / "cache").glob(f"{victim.name}.corrupt-*"))  # kept aside, not deleted
    assert scores_by_job("c.sqlite") == scores_by_job("a.sqlite")  # retrained identically


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match="expected auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_show_lists_runs(workdir, capsys):
    assert run() == 0
    capsys.readouterr()
    assert main(["show", "smoke", "--store", "results.sqlite"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == N_JOBS and all(" ok " in line and "mig[num_points=1000]=" in line for line in out)
    assert main(["show", "nosuch", "--store", "results.sqlite"]) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_smoke_suite_on_cuda(workdir):
    assert main(["run", SMOKE, "--store", "g.sqlite", "--cache", "cache", "--out", "lb", "--no-progress",
                 "--device", "cuda"]) == 0
    runs = rows("g.sqlite")
    assert {r["status"] for r in runs} == {"ok"} and all(r["device"].startswith("cuda") for r in runs)
    # the cached models load back onto the GPU and give the same scores (cuDNN is pinned to
    # deterministic algorithms; the tolerance allows for the float rounding left)
    assert main(["run", SMOKE, "--store", "h.sqlite", "--cache", "cache", "--out", "lb", "--no-progress",
                 "--device", "cuda"]) == 0
    assert all(r["reused"] == 1 for r in rows("h.sqlite"))
    trained, reloaded = scores_by_job("g.sqlite"), scores_by_job("h.sqlite")
    assert trained.keys() == reloaded.keys()
    for key, value in trained.items():
        assert reloaded[key] == pytest.approx(value, rel=1e-3, abs=1e-5), key


def test_run_killed_with_sigkill_resumes(workdir):
    """A hard kill (no cleanup code runs) in the middle of a suite loses and duplicates nothing."""
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "bench", "run", SMOKE, "--store", "results.sqlite", "--cache", "cache",
               "--out", "lb", *ARGS]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        try:
            if any(r["status"] == "ok" for r in rows()):
                break
        except sqlite3.OperationalError:  # the store is not created yet
            pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    done_before = [r for r in rows() if r["status"] == "ok"]
    assert 1 <= len(done_before) <= N_JOBS
    assert main(["run", SMOKE, "--store", "results.sqlite", "--cache", "cache", "--out", "lb", *ARGS]) == 0
    runs = rows()
    assert len(runs) == N_JOBS and {r["status"] for r in runs} == {"ok"}
    assert len(rows(table="scores")) == N_SCORES
    assert {r["job_key"] for r in done_before} <= {r["job_key"] for r in runs}


def test_ms_vae_reuses_the_cached_stage_one(workdir, monkeypatch, capsys):
    from models.beta_tcvae import BetaTCVAE

    trained = []
    real_fit = BetaTCVAE.fit

    def counting_fit(self, *args, **kwargs):
        trained.append((self.name, self.config.beta))
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(BetaTCVAE, "fit", counting_fit)
    assert run() == 0
    # beta-TCVAE[beta=4] is MS-VAE's stage one: trained once, by its own job, then reused
    assert trained.count(("beta_tcvae", 4.0)) == 1
    err = capsys.readouterr().err
    assert "MS-VAE[] seed=0" not in err
    line = next(line for line in err.splitlines() if line.startswith(f"[{N_JOBS}/{N_JOBS}] MS-VAE"))
    assert "stage_one beta_tcvae: reused cached artifact" in line
    ms = next(r for r in rows() if r["label"] == "MS-VAE")
    assert json.loads(ms["spec"])["upstream"]["stage_one"] in {r["job_key"] for r in rows() if r["label"] == "beta-TCVAE"}
    scores = {r["metric_id"]: r for r in rows(table="scores") if r["job_key"] == ms["job_key"]}
    assert all(scores[m]["value"] is not None for m in ("M1[num_points=200]", "downstream_Z[num_points=300]"))
    tc = next(r for r in rows() if r["label"] == "beta-TCVAE")
    tc_scores = {r["metric_id"]: r for r in rows(table="scores") if r["job_key"] == tc["job_key"]}
    assert tc_scores["M1[num_points=200]"]["value"] is None
    assert "multi-stage models only" in tc_scores["M1[num_points=200]"]["missing_reason"]
    z_score = tc_scores["downstream_Z[num_points=300]"]
    assert z_score["value"] is None and z_score["missing_reason"] == "single-stage models have no Z"
