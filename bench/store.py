"""The results store: one SQLite file with a row per (suite, job) and per score.

A job's run row and its scores are written in one transaction, so a run killed at any
moment leaves either the whole result or none of it (a job that was started but not
finished is left with status 'running', and is redone next time).
"""

import json
import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    suite TEXT NOT NULL,
    job_key TEXT NOT NULL,
    label TEXT NOT NULL,
    model TEXT NOT NULL,
    sweep TEXT NOT NULL,          -- JSON: the swept params of this job
    params TEXT NOT NULL,         -- JSON: the model's full config
    seed INTEGER NOT NULL,
    spec TEXT NOT NULL,           -- JSON: the full job spec (what the key hashes)
    status TEXT NOT NULL,         -- running | ok | failed
    phase TEXT,                   -- where a failure happened: load | train | evaluate
    error TEXT,
    device TEXT,
    code_version TEXT,            -- JSON: git sha and package versions
    n_params INTEGER,
    reused INTEGER,               -- 1 when the trained model came from the cache
    train_seconds REAL,
    eval_seconds REAL,
    started TEXT,
    finished TEXT,
    PRIMARY KEY (suite, job_key)
);
CREATE TABLE IF NOT EXISTS scores (
    suite TEXT NOT NULL,
    job_key TEXT NOT NULL,
    metric_id TEXT NOT NULL,      -- name plus any non-default params, e.g. mig[num_bins=10]
    metric TEXT NOT NULL,
    value REAL,                   -- NULL when missing
    missing_reason TEXT,
    version TEXT NOT NULL,
    higher_is_better INTEGER NOT NULL,
    params TEXT NOT NULL,         -- JSON: the metric's full params
    details TEXT,                 -- JSON: e.g. sample size, warnings
    PRIMARY KEY (suite, job_key, metric_id)
);
"""


class Store:
    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=60)
        self.db.row_factory = sqlite3.Row
        with self.db:
            self.db.executescript(SCHEMA)

    def close(self):
        self.db.close()

    def done(self, suite: str, job_key: str, metric_ids: list[str]) -> bool:
        """True when the job succeeded and every requested metric is stored."""
        row = self.db.execute("SELECT status FROM runs WHERE suite=? AND job_key=?", (suite, job_key)).fetchone()
        if row is None or row["status"] != "ok":
            return False
        have = {r["metric_id"] for r in self.db.execute(
            "SELECT metric_id FROM scores WHERE suite=? AND job_key=?", (suite, job_key))}
        return set(metric_ids) <= have

    def start(self, suite: str, job, device: str, code_version: dict, started: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO runs (suite, job_key, label, model, sweep, params, seed, spec, status,"
                " device, code_version, started) VALUES (?,?,?,?,?,?,?,?, 'running', ?,?,?)",
                (suite, job.key, job.label, job.model, json.dumps(job.sweep), json.dumps(job.params), job.seed,
                 json.dumps(job.spec, sort_keys=True), device, json.dumps(code_version), started))

    def finish(self, suite: str, job_key: str, scores: list[dict], n_params: int, reused: bool,
               train_seconds: float, eval_seconds: float, finished: str) -> None:
        with self.db:  # one transaction: scores and status land together
            for s in scores:
                self.db.execute(
                    "INSERT OR REPLACE INTO scores (suite, job_key, metric_id, metric, value, missing_reason,"
                    " version, higher_is_better, params, details) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (suite, job_key, s["metric_id"], s["metric"], s["value"], s.get("missing_reason"),
                     s["version"], int(s["higher_is_better"]), json.dumps(s["params"], sort_keys=True),
                     json.dumps(s.get("details", {}))))
            self.db.execute(
                "UPDATE runs SET status='ok', phase=NULL, error=NULL, n_params=?, reused=?, train_seconds=?,"
                " eval_seconds=?, finished=? WHERE suite=? AND job_key=?",
                (n_params, int(reused), train_seconds, eval_seconds, finished, suite, job_key))

    def fail(self, suite: str, job_key: str, phase: str, error: str, finished: str) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET status='failed', phase=?, error=?, finished=? WHERE suite=? AND job_key=?",
                            (phase, error, finished, suite, job_key))

    def runs(self, suite: str) -> list[dict]:
        rows = self.db.execute("SELECT * FROM runs WHERE suite=? ORDER BY label, sweep, seed", (suite,))
        return [dict(r) for r in rows]

    def scores(self, suite: str) -> list[dict]:
        rows = self.db.execute(
            "SELECT s.*, r.label, r.model, r.sweep, r.params AS model_params, r.seed, r.n_params "
            "FROM scores s JOIN runs r USING (suite, job_key) WHERE s.suite=? AND r.status='ok'", (suite,))
        return [dict(r) for r in rows]

    def suites(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT suite FROM runs ORDER BY suite")]
