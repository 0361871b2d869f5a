"""scripts/compare_stores.py: matches scores by label, sweep and seed (not job key), reads each job's
latest row, and flags any bit that moved or a score on one side only."""

import math
import subprocess
import sys
from pathlib import Path

from bench.budget import Budget
from bench.store import Store
from bench.suite import Job

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "compare_stores.py"


def store(path, runs, code):
    """`runs`: one {seed: {metric: value}} per run of suite 's', oldest first; `code` changes the job keys."""
    db = Store(path)
    for scores in runs:
        db.begin("s")
        for seed, values in scores.items():
            job = Job("beta-TCVAE", "beta_tcvae", code, {"beta": 1.0}, {"beta": 1.0}, seed, Budget(),
                      {"name": "dsprites", "params": {}})
            db.start("s", job, {"device": "cpu"}, {"git_sha": code}, "t0")
            db.finish("s", job.key, [{"metric_id": m, "metric": m, "value": v, "version": "1", "higher_is_better": True,
                                      "params": {}} for m, v in values.items()], 10, False, 1.0, 0.1, "t1")
    db.close()
    return str(path)


def compare(a, b):
    return subprocess.run([sys.executable, str(SCRIPT), "s", a, b], capture_output=True, text=True)


def test_identical_under_other_job_keys_nan_and_missing(tmp_path):
    scores = {0: {"mig": 0.125, "fid": None}, 1: {"mig": math.nan}}
    done = compare(store(tmp_path / "a.sqlite", [scores], "old"), store(tmp_path / "b.sqlite", [scores], "new"))
    assert done.returncode == 0 and "every score is bit-identical" in done.stdout, done.stdout + done.stderr


def test_only_the_latest_run_counts(tmp_path):
    a = store(tmp_path / "a.sqlite", [{0: {"mig": 0.5}}, {0: {"mig": 0.125}}], "old")
    b = store(tmp_path / "b.sqlite", [{0: {"mig": 0.125}}], "new")
    done = compare(a, b)
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_bit_a_missing_score_or_one_side_only_differs(tmp_path):
    a = store(tmp_path / "a.sqlite", [{0: {"mig": 0.125, "fid": None}, 1: {"mig": 0.5}}], "old")
    b = store(tmp_path / "b.sqlite", [{0: {"mig": math.nextafter(0.125, 1)}}], "new")
    done = compare(a, b)
    assert done.returncode == 1 and "3 differ" in done.stdout, done.stdout + done.stderr
