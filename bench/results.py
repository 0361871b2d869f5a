"""A suite's current results: exactly its jobs, labels and metric definitions, read from the store.

The store keeps every run it was ever given (older budgets, renamed labels, scores under older
metric params or versions) as history; leaderboards, plots and regression compare only what
the suite file asks for now. A stored score is current when its job key is one of the suite's
jobs and its metric id, version and params are those the suite's metrics resolve to today.
Labels and sweeps come from the suite, so renaming a label needs no re-run.
"""

import json

import pandas as pd

from bench.naming import format_point


def current_scores(store, suite, run_id: str | None = None) -> pd.DataFrame:
    """One row per current score of a successful run (the store's columns, with the suite's
    `label` and `sweep`, and `sweep_point` for display); empty when there are none. From each
    job's latest row, or with `run_id` from that run's rows only."""
    jobs = {job.key: job for job in suite.jobs}
    wanted = suite.score_specs
    rows = []
    for row in store.scores(suite.name, run_id):
        job = jobs.get(row["job_key"])
        if job is None or wanted.get(row["metric_id"]) != (row["version"], json.loads(row["params"])):
            continue
        rows.append({**row, "label": job.label, "sweep": json.dumps(job.sweep), "sweep_point": format_point(job.sweep)})
    return pd.DataFrame(rows)


def current_runs(store, suite, run_id: str | None = None) -> list[dict]:
    """One entry per job of the suite, in the suite's order: its stored run row (label and sweep
    from the suite; the latest, or run `run_id`'s), or status 'not run' when there is none."""
    stored = {r["job_key"]: r for r in store.runs(suite.name, run_id)}
    runs = []
    for job in suite.jobs:
        row = stored.get(job.key) or {"job_key": job.key, "status": "not run", "phase": None, "error": None,
                                      "seed": job.seed, "device": None, "code_version": None, "train_seconds": None,
                                      "reused": None}
        runs.append({**row, "label": job.label, "sweep": json.dumps(job.sweep), "seed": job.seed})
    return runs


def stale_keys(store, suite) -> set:
    """Job keys stored under the suite's name that are not among its current jobs."""
    current = {job.key for job in suite.jobs}
    return {r["job_key"] for r in store.runs(suite.name)} - current
