"""scripts/compare_stores.py: matches scores by label, sweep and seed (not job key) and flags any bit that moved."""

import math
import sqlite3
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "compare_stores.py"


def store(path, rows, job_prefix):
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE runs (suite, job_key, label, sweep, seed, status, finished)")
        db.execute("CREATE TABLE scores (job_key, metric_id, value)")
        for i, (seed, metric, value) in enumerate(rows):
            key = f"{job_prefix}{i}"
            db.execute("INSERT INTO runs VALUES ('s', ?, 'beta-TCVAE', 'beta=1', ?, 'ok', ?)", (key, seed, str(i)))
            db.execute("INSERT INTO scores VALUES (?, ?, ?)", (key, metric, value))
    return str(path)


def compare(a, b):
    return subprocess.run([sys.executable, str(SCRIPT), "s", a, b], capture_output=True, text=True)


def test_identical_under_other_job_keys_and_nan(tmp_path):
    rows = [(0, "mig", 0.125), (1, "mig", math.nan)]
    done = compare(store(tmp_path / "a.sqlite", rows, "old"), store(tmp_path / "b.sqlite", rows, "new"))
    assert done.returncode == 0 and "every score is bit-identical" in done.stdout


def test_one_bit_or_a_missing_score_differs(tmp_path):
    a = store(tmp_path / "a.sqlite", [(0, "mig", 0.125), (1, "mig", 0.5)], "old")
    b = store(tmp_path / "b.sqlite", [(0, "mig", math.nextafter(0.125, 1))], "new")
    done = compare(a, b)
    assert done.returncode == 1 and "2 differ" in done.stdout
