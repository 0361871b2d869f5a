"""Fault injection on a finished smoke run: damage one artifact of each kind, or the store, then
`run` and `leaderboard` must heal or stop with one line and exit 2, never lose a stored score.
Also: output locations are checked before the first job, two runs on one store share the work,
and the leaderboard follows the suite file as it is now."""

import shutil
import sqlite3
import struct
import subprocess
import sys
import time

import pandas as pd
import pytest

import bench.runner
from bench.cache import ArtifactCache
from bench.cli import main
from bench.suite import load_suite
from conftest import SUITES

SMOKE = SUITES / "smoke.yaml"
# the smoke suite with only the metrics and figures that need each kind of artifact (reports stay quick)
FAULTS_SUITE = SMOKE.read_text().split("metrics:")[0] + """metrics:
  - name: l1
    params: {num_points: 200}
  - name: fd_domain
    params: {num_points: 300, feature_steps: 30}
plots: [reconstructions, traversals]
"""
ARGS = ["--no-progress", "--device", "cpu"]


def cli(*argv, where):
    return main([*argv, "--store", str(where / "results.sqlite"), "--cache", str(where / "cache"),
                 "--out", str(where / "lb")])


def stored_scores(where) -> set:
    with sqlite3.connect(where / "results.sqlite") as db:
        return set(db.execute("SELECT job_key, metric_id, value FROM scores"))


@pytest.fixture(scope="module")
def finished_smoke(tmp_path_factory):
    where = tmp_path_factory.mktemp("smoke")
    (where / "faults.yaml").write_text(FAULTS_SUITE)
    assert cli("run", str(where / "faults.yaml"), *ARGS, where=where) == 0
    return where


def artifact(where, model):
    """The cache folder of the smoke suite's MS-VAE (`ms_vae`) or of its stage one (`stage_one`)."""
    ms = next(j for j in load_suite(where / "faults.yaml").jobs if j.model == "ms_vae")
    return where / "cache" / (ms.key if model == "ms_vae" else dict(ms.upstream)["stage_one"].key)


def flip_tensor_bytes(path):
    data = bytearray(path.read_bytes())
    start = 8 + struct.unpack("<Q", data[:8])[0]
    data[start + 100:start + 108] = bytes(b ^ 0xFF for b in data[start + 100:start + 108])
    path.write_bytes(bytes(data))


ARTIFACT_DAMAGE = {
    "stage one weights truncated": lambda w: (artifact(w, "stage_one") / "weights.safetensors").write_bytes(b"x" * 10),
    "stage one folder deleted": lambda w: shutil.rmtree(artifact(w, "stage_one")),
    "ms_vae tensor bytes flipped": lambda w: flip_tensor_bytes(artifact(w, "ms_vae") / "weights.safetensors"),
    "ms_vae spec.json garbled": lambda w: (artifact(w, "ms_vae") / "spec.json").write_text("{not json"),
    "ms_vae losses.json deleted": lambda w: (artifact(w, "ms_vae") / "losses.json").unlink(),
    "ms_vae manifest deleted": lambda w: (artifact(w, "ms_vae") / "manifest.json").unlink(),
    "domain net truncated": lambda w: next((w / "cache").glob("domain-*/weights.safetensors")).write_bytes(b""),
    "reference features garbled": lambda w: next((w / "cache" / "reference-features").glob("*.npz")).write_bytes(b"x"),
}


@pytest.mark.parametrize("damage", ARTIFACT_DAMAGE, ids=list(ARTIFACT_DAMAGE))
def test_a_damaged_artifact_heals_on_run_and_is_skipped_by_leaderboard(finished_smoke, damage, tmp_path, capsys):
    where = tmp_path / "case"
    shutil.copytree(finished_smoke, where)
    before = stored_scores(where)
    ARTIFACT_DAMAGE[damage](where)

    # leaderboard first: it never trains; a figure whose model is damaged is skipped with one line
    capsys.readouterr()
    assert cli("leaderboard", str(where / "faults.yaml"), where=where) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    if damage.startswith(("stage one", "ms_vae")):
        assert {w.split(":")[1].strip() for w in warnings} == {"figure reconstructions skipped",
                                                                 "figure traversals skipped"}, err
    assert (where / "lb/smoke/leaderboard.md").is_file()

    # run: every score is kept, the damaged model is set aside and trained again for the figures
    assert cli("run", str(where / "faults.yaml"), *ARGS, where=where) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("already scored, skipped") == len(load_suite(where / "faults.yaml").jobs)
    assert stored_scores(where) == before
    plots = where / "lb/smoke/plots"
    assert (plots / "reconstructions.png").is_file() and (plots / "traversals.png").is_file()
    cache = ArtifactCache(where / "cache")
    for model in ("stage_one", "ms_vae"):  # healed: both check against their manifests again
        cache.verify(artifact(where, model).name)
    if damage.startswith(("stage one weights", "ms_vae")):
        assert list((where / "cache").glob("*.corrupt-*")), "the damaged copy is kept aside for inspection"
    assert cli("leaderboard", str(where / "faults.yaml"), where=where) == 0
    assert "warning" not in capsys.readouterr().err


STORE_DAMAGE = {
    "truncated to 0 bytes": lambda data: b"",
    "truncated to half": lambda data: data[: len(data) // 2],
    "garbage in the middle": lambda data: data[:8192] + b"\x5a" * 8192 + data[16384:],
}


@pytest.mark.parametrize("damage", STORE_DAMAGE, ids=list(STORE_DAMAGE))
def test_a_damaged_store_stops_run_and_leaderboard_in_one_line(finished_smoke, damage, tmp_path, capsys,
                                                              monkeypatch):
    where = tmp_path / "case"
    shutil.copytree(finished_smoke, where)
    store = where / "results.sqlite"
    store.write_bytes(STORE_DAMAGE[damage](store.read_bytes()))
    damaged = store.read_bytes()
    monkeypatch.setattr(bench.runner, "obtain_model", lambda *a, **k: pytest.fail("nothing may train"))
    for verb in (["run", str(where / "faults.yaml"), *ARGS], ["leaderboard", str(where / "faults.yaml")]):
        capsys.readouterr()
        assert cli(*verb, where=where) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(store) in err and "Traceback" not in err, err
    assert store.read_bytes() == damaged  # kept for recovery, never replaced by an empty store


def test_every_output_location_is_checked_before_the_first_job(workdir, capsys, monkeypatch):
    """A bad --out, --store or --cache used to fail with a traceback after all the training."""
    monkeypatch.setattr(bench.runner, "obtain_model", lambda *a, **k: pytest.fail("nothing may train"))
    (workdir / "file").write_text("x")
    (workdir / "notes.sqlite").write_text("my notes")
    (workdir / "adir").mkdir()
    cases = {
        ("--out", "file/lb"): "leaderboard folder file/lb/smoke is not writable",
        ("--cache", "file/cache"): "artifact cache file/cache is not writable",
        ("--store", "adir"): "results store adir is a directory",
        ("--store", "notes.sqlite"): "results store notes.sqlite is not an SQLite database",
        ("--store", "file/r.sqlite"): "results store file/r.sqlite: file is not a directory",
    }
    for (flag, value), message in cases.items():
        argv = {"--out": "lb", "--cache": "cache", "--store": "r.sqlite", flag: value}
        assert main(["run", str(SMOKE), *ARGS, *[x for kv in argv.items() for x in kv]]) == 2, flag
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


@pytest.mark.skipif(sys.platform == "win32" or __import__("os").geteuid() == 0, reason="root ignores permissions")
def test_read_only_locations_are_refused(workdir, capsys):
    import os

    (workdir / "ro").mkdir()
    os.chmod(workdir / "ro", 0o555)
    for flag in ("--out", "--cache"):
        argv = {"--out": "lb", "--cache": "cache", "--store": "r.sqlite", flag: "ro/x"}
        assert main(["run", str(SMOKE), *ARGS, *[x for kv in argv.items() for x in kv]]) == 2
        assert "not writable" in capsys.readouterr().err


TINY = """
name: tiny
description: four quick jobs
dataset: {{name: dsprites, params: {{image_size: 16}}}}
budget: {{steps: {steps}, batch_size: 16, learning_rate: 1e-3}}
seeds: [0]
models:
  - {{model: beta_tcvae, label: {label}, params: {{beta: {betas}, latent_dim: 3}}}}
metrics:
  - {{name: l1, params: {{num_points: {points}}}}}
"""


def tiny(where, steps=5, label="A", betas="[1, 4]", points=50):
    path = where / "tiny.yaml"
    path.write_text(TINY.format(steps=steps, label=label, betas=betas, points=points))
    return str(path)


def test_the_leaderboard_follows_the_suite_file(workdir, capsys):
    """The hostile sweep's reproductions: change the budget, rename a label, change a metric's params."""
    def board():
        assert main(["run", suite, *ARGS]) == 0
        return pd.read_csv(workdir / "leaderboards/tiny/leaderboard.csv")

    suite = tiny(workdir)
    assert len(board()) == 2
    suite = tiny(workdir, steps=6)
    table = board()
    assert list(table["seeds"]) == [1, 1] and list(table["l1[num_points=50]_n"]) == [1, 1]
    suite = tiny(workdir, steps=6, label="B")
    capsys.readouterr()
    table = board()
    assert set(table["label"]) == {"B"} and "already scored, skipped" in capsys.readouterr().err  # no re-run needed
    suite = tiny(workdir, steps=6, label="B", points=60)
    table = board()
    assert [c for c in table if c.startswith("l1")][0] == "l1[num_points=60]_mean"
    assert not [c for c in table if "num_points=50" in c]
    assert main(["leaderboard", suite]) == 0
    assert pd.read_csv(workdir / "leaderboards/tiny/leaderboard.csv").equals(table)
    capsys.readouterr()
    assert main(["show", suite]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum("not current" in line for line in lines) == 2 and len(lines) == 4


def test_two_runs_on_one_store_share_the_work(workdir):
    """Two terminals, one store: each job is trained once, by one of them."""
    suite = tiny(workdir, steps=60, betas="[1, 2, 4, 8]")
    command = [sys.executable, "-m", "bench", "run", suite, *ARGS]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    time.sleep(0.5)
    runs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    errs = [err for _, err in outputs]
    assert sum(err.count("trained in") for err in errs) == 4, errs
    assert all("trained in" in err for err in errs), "both runs took a share"
    with sqlite3.connect(workdir / ".msbench/results.sqlite") as db:
        assert db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall() == [("ok", 4)]
        assert db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
