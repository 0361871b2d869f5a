"""The results store: one SQLite file with a row per (suite, job, run) and per score.

Every invocation that writes is a run with its own id (`invocations`), and every run's rows
and scores are kept: a job done again (a --fresh run, a changed metric, a failure retried)
adds rows under the new run id and replaces nothing. Leaderboards read each job's latest row;
`msbench regress` reads the rows of one run; `msbench history` reads them all.

A job's run row and its scores are written in one transaction, so a run killed at any
moment leaves either the whole result or none of it (a job that was started but not
finished is left with status 'running', and is redone next time). The file is in WAL mode,
so a crash never leaves a half-written page, and it is checked on open: an empty, foreign or
damaged file is refused with one line (StoreError), never silently replaced by a new store.

Runs that share a store share its work: a run claims a job before it starts it (`Claims`),
renews its claims while it works, and the claims of a killed run lapse.
"""

import datetime
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS invocations (
    run_id TEXT PRIMARY KEY,      -- <UTC time>-<nonce>: sorts in the order runs started
    suite TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,                -- NULL while it runs, or when it was killed
    fresh INTEGER NOT NULL,       -- 1: reused no stored score or cached artifact (msbench run --fresh)
    command TEXT                  -- JSON: the argv
);
CREATE TABLE IF NOT EXISTS runs (
    suite TEXT NOT NULL,
    job_key TEXT NOT NULL,
    run_id TEXT NOT NULL,         -- the invocation that ran it ('legacy' for rows from before run ids)
    label TEXT NOT NULL,
    model TEXT NOT NULL,
    sweep TEXT NOT NULL,          -- JSON: the swept params of this job
    params TEXT NOT NULL,         -- JSON: the model's full config
    seed INTEGER NOT NULL,
    spec TEXT NOT NULL,           -- JSON: the full job spec (what the key hashes)
    status TEXT NOT NULL,         -- running | ok | failed
    phase TEXT,                   -- where a failure happened: load | train | evaluate
    error TEXT,
    device TEXT,                  -- one line: GPU name, or CPU model, kernel capability, threads
    code_version TEXT,            -- JSON: git sha, lock file hash and key package versions
    environment TEXT,             -- JSON: bench.provenance.environment (kernel path, every package)
    n_params INTEGER,
    reused INTEGER,               -- 1 when the trained model came from the cache
    train_seconds REAL,
    eval_seconds REAL,
    started TEXT,
    finished TEXT,
    PRIMARY KEY (suite, job_key, run_id)
);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,         -- '<suite>/<job key>' for a job, 'artifact/<key>' for a training
    owner TEXT NOT NULL,          -- host:pid:nonce of the run that holds it
    expires REAL NOT NULL         -- unix time; a claim not renewed by then has lapsed
);
CREATE TABLE IF NOT EXISTS scores (
    suite TEXT NOT NULL,
    job_key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    metric_id TEXT NOT NULL,      -- name plus any non-default params, e.g. mig[num_bins=10]
    metric TEXT NOT NULL,
    value REAL,                   -- NULL when missing
    missing_reason TEXT,
    version TEXT NOT NULL,
    higher_is_better INTEGER NOT NULL,
    params TEXT NOT NULL,         -- JSON: the metric's full params
    details TEXT,                 -- JSON: e.g. sample size, warnings
    PRIMARY KEY (suite, job_key, run_id, metric_id)
);
"""


def _latest(table: str = "runs") -> str:
    """SQL: `table`'s row is its job's latest (by insertion order: a job's rows are only ever added)."""
    return (f"{table}.rowid = (SELECT MAX(l.rowid) FROM runs l WHERE l.suite = {table}.suite "
            f"AND l.job_key = {table}.job_key)")


SCHEMA_VERSION = 3  # PRAGMA user_version; 0 is a store from before versioning (runs and scores only)
# Version 2 added runs.environment; version 3 added run ids (invocations, and run_id in the keys).
LEGACY_RUN = "legacy"  # the run id given to rows from before version 3
SQLITE_HEADER = b"SQLite format 3\x00"
RECOVER = "restore it from a backup (`msbench store backup` makes one) or move it away to start a new store"


class StoreError(RuntimeError):
    """The store cannot be used: one line that names the file, the problem and what to do."""


def _statements(script: str) -> list[str]:
    """The SQL statements of `script`, one by one (executescript would commit the open transaction)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    return statements


def _check_file(path: Path) -> bool:
    """True when `path` holds an existing store to open, False when there is none yet."""
    if path.is_dir():
        raise StoreError(f"results store {path} is a directory; --store takes a file path")
    if not path.exists():
        if path.parent.exists() and not path.parent.is_dir():
            raise StoreError(f"results store {path}: {path.parent} is not a directory")
        return False
    try:
        with open(path, "rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"results store {path} cannot be read: {exc.strerror}") from None
    if not head:
        raise StoreError(f"results store {path} is empty (0 bytes): its results are lost or it was never a "
                         f"store; {RECOVER}")
    if head != SQLITE_HEADER:
        raise StoreError(f"results store {path} is not an SQLite database (damaged, or the wrong file); {RECOVER}")
    return True


class Store:
    def __init__(self, path, readonly: bool = False, any_version: bool = False):
        """Open the store at `path` (created when absent, unless `readonly`); StoreError if it
        is damaged, foreign, from a newer msbench, or cannot be written when it must be. Read
        only, an older store is refused (its tables differ) unless `any_version` (check, backup)."""
        self.path = Path(path)
        exists = _check_file(self.path)
        if not exists and readonly:
            raise StoreError(f"no results store at {self.path}")
        try:
            if not exists:
                self._create()
            mode = "ro" if readonly else "rw"  # never "rwc": a store that vanished is not silently made anew
            self.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode={mode}", uri=True, timeout=60)
            self.db.row_factory = sqlite3.Row
            self.run_id = None  # set by begin(): the run this Store object writes
            self._open(readonly, any_version)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"results store {self.path} cannot be used: {exc}; {RECOVER}") from None
        except OSError as exc:
            raise StoreError(f"results store {self.path} cannot be created: {exc.strerror}") from None

    def _create(self) -> None:
        """Build a new store under a temporary name and link it into place in one step, so that
        no other process ever sees a half-created (empty) file; when two runs create the same
        store at once, both use the one that landed first."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        try:
            db = sqlite3.connect(str(tmp))
            with db:
                db.executescript(SCHEMA)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("PRAGMA journal_mode=WAL")
            db.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)

    def _open(self, readonly: bool, any_version: bool = False) -> None:
        check = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            said = " ".join(str(check).split())[:200]  # one line: SQLite's report can span several
            raise StoreError(f"results store {self.path} is damaged (quick_check: {said}); {RECOVER}")
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"results store {self.path} has schema version {version}, newer than this msbench "
                             f"({SCHEMA_VERSION}); upgrade msbench")
        if not {"runs", "scores"} <= tables:
            raise StoreError(f"{self.path} is an SQLite database but not an msbench results store "
                             f"(tables: {', '.join(sorted(tables))[:200]})")
        if readonly:
            if version < SCHEMA_VERSION and not any_version:
                raise StoreError(f"results store {self.path} has schema version {version}, older than this msbench's "
                                 f"({SCHEMA_VERSION}): `msbench store upgrade --store {self.path}` upgrades it in place, "
                                 "keeping every row (so does any `msbench run` on it)")
            return
        if self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
            raise StoreError(f"results store {self.path}: cannot switch to WAL mode (a network file system?)")
        if version < SCHEMA_VERSION:
            self._upgrade()
        with self.db:  # also proves the file is writable before any work starts
            self.db.executescript(SCHEMA)

    def _upgrade(self) -> None:
        """Rebuild the tables of an older store under this schema, keeping every row (rows from
        before run ids get the run id 'legacy', columns added since are NULL), in one transaction:
        a failure leaves the store as it was. The store is read again under the write lock, so
        a second process that opened it meanwhile finds it upgraded and does nothing."""
        self.db.isolation_level = None  # explicit transaction control: DDL included
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if self.db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                    for statement in self._upgrade_statements():
                        self.db.execute(statement)
                    self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        finally:
            self.db.isolation_level = ""  # back to the module's default

    def _upgrade_statements(self) -> list[str]:
        fresh = sqlite3.connect(":memory:")
        fresh.executescript(SCHEMA)
        statements = ["ALTER TABLE runs RENAME TO old_runs", "ALTER TABLE scores RENAME TO old_scores",
                      *_statements(SCHEMA)]
        for table in ("runs", "scores"):
            old = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}  # read before the renames run
            columns = [r[1] for r in fresh.execute(f"PRAGMA table_info({table})") if r[1] in old]
            values = columns if "run_id" in old else columns + [f"'{LEGACY_RUN}'"]
            columns = columns if "run_id" in old else columns + ["run_id"]
            statements += [f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM old_{table} "
                           "ORDER BY rowid", f"DROP TABLE old_{table}"]
        fresh.close()
        return statements

    def close(self):
        self.db.close()

    def check(self) -> str:
        """Full integrity check: 'ok' or SQLite's description of the damage."""
        rows = [r[0] for r in self.db.execute("PRAGMA integrity_check")]
        return "ok" if rows == ["ok"] else "; ".join(" ".join(str(r).split()) for r in rows)  # one line

    def backup(self, target) -> Path:
        """A consistent copy of the store (safe while a run writes to it), verified after writing."""
        target = Path(target)
        if target.exists():
            raise StoreError(f"backup target {target} exists; give a new file name")
        with sqlite3.connect(str(target)) as copy:
            self.db.backup(copy)
        copy = Store(target, readonly=True, any_version=True)
        copy.close()
        return target

    def counts(self) -> dict:
        runs = dict(self.db.execute(f"SELECT status, COUNT(*) FROM runs WHERE {_latest()} GROUP BY status").fetchall())
        return {"runs": runs, "scores": self.db.execute("SELECT COUNT(*) FROM scores").fetchone()[0],
                "suites": self.suites(),
                "invocations": self.db.execute("SELECT COUNT(*) FROM invocations").fetchone()[0]
                if "invocations" in {r[0] for r in self.db.execute("SELECT name FROM sqlite_master")} else 0}

    # --- writing: one run (invocation) at a time per Store object ---

    def begin(self, suite: str, fresh: bool = False, command=None) -> str:
        """Start a run of `suite`: a new run id, recorded in `invocations`; rows written from now
        on carry it."""
        now = datetime.datetime.now(datetime.timezone.utc)
        self.run_id = f"{now:%Y%m%dT%H%M%S}.{now.microsecond:06d}Z-{uuid.uuid4().hex[:6]}"
        with self.db:
            self.db.execute("INSERT INTO invocations (run_id, suite, started, fresh, command) VALUES (?,?,?,?,?)",
                            (self.run_id, suite, now.isoformat(timespec="seconds"), int(fresh),
                             json.dumps(command) if command is not None else None))
        return self.run_id

    def end(self, finished: str) -> None:
        with self.db:
            self.db.execute("UPDATE invocations SET finished=? WHERE run_id=?", (finished, self.run_id))

    def start(self, suite: str, job, environment: dict, code_version: dict, started: str) -> None:
        """`environment`: bench.provenance.environment's dict (its "device" line goes in its own column).
        Without `begin`, the first `start` begins a run."""
        if getattr(self, "run_id", None) is None:
            self.begin(suite)
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO runs (suite, job_key, run_id, label, model, sweep, params, seed, spec, status,"
                " device, code_version, environment, started) VALUES (?,?,?,?,?,?,?,?,?, 'running', ?,?,?,?)",
                (suite, job.key, self.run_id, job.label, job.model, json.dumps(job.sweep), json.dumps(job.params),
                 job.seed, json.dumps(job.spec, sort_keys=True), environment["device"], json.dumps(code_version),
                 json.dumps(environment, sort_keys=True), started))

    def finish(self, suite: str, job_key: str, scores: list[dict], n_params: int, reused: bool,
               train_seconds: float, eval_seconds: float, finished: str, training: str | None = None) -> None:
        """`training`: how the job's model was trained ("alone", "ensemble of N"; its artifact's record),
        added to the row's environment beside the kernel path."""
        with self.db:  # one transaction: scores and status land together
            for s in scores:
                self.db.execute(
                    "INSERT OR REPLACE INTO scores (suite, job_key, run_id, metric_id, metric, value, missing_reason,"
                    " version, higher_is_better, params, details) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (suite, job_key, self.run_id, s["metric_id"], s["metric"], s["value"], s.get("missing_reason"),
                     s["version"], int(s["higher_is_better"]), json.dumps(s["params"], sort_keys=True),
                     json.dumps(s.get("details", {}))))
            self.db.execute(
                "UPDATE runs SET status='ok', phase=NULL, error=NULL, n_params=?, reused=?, train_seconds=?,"
                " eval_seconds=?, finished=? WHERE suite=? AND job_key=? AND run_id=?",
                (n_params, int(reused), train_seconds, eval_seconds, finished, suite, job_key, self.run_id))
            if training is not None:
                self.db.execute("UPDATE runs SET environment=json_set(environment, '$.training', ?) "
                                "WHERE suite=? AND job_key=? AND run_id=?", (training, suite, job_key, self.run_id))

    def fail(self, suite: str, job_key: str, phase: str, error: str, finished: str) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET status='failed', phase=?, error=?, finished=? "
                            "WHERE suite=? AND job_key=? AND run_id=?",
                            (phase, error, finished, suite, job_key, self.run_id))

    # --- reading: each job's latest row, or the rows of one run ---

    def _which(self, run_id):
        return ("runs.run_id = ?", (run_id,)) if run_id is not None else (_latest(), ())

    def status(self, suite: str, job_key: str) -> dict | None:
        """The job's latest row's status, phase, error and times."""
        row = self.db.execute(f"SELECT status, phase, error, started, finished, run_id FROM runs "
                              f"WHERE suite=? AND job_key=? AND {_latest()}", (suite, job_key)).fetchone()
        return dict(row) if row else None

    def done(self, suite: str, job_key: str, wanted: dict, run_id: str | None = None) -> bool:
        """True when the job's latest row (or its row in run `run_id`) succeeded and holds every
        wanted score as it is defined now: `wanted` maps each metric id to its (version, params);
        a score stored under an older version or other params is redone."""
        where, args = self._which(run_id)
        row = self.db.execute(f"SELECT status, run_id FROM runs WHERE suite=? AND job_key=? AND {where}",
                              (suite, job_key, *args)).fetchone()
        if row is None or row["status"] != "ok":
            return False
        have = {r["metric_id"]: (r["version"], json.loads(r["params"])) for r in self.db.execute(
            "SELECT metric_id, version, params FROM scores WHERE suite=? AND job_key=? AND run_id=?",
            (suite, job_key, row["run_id"]))}
        return all(have.get(metric_id) == spec for metric_id, spec in wanted.items())

    def runs(self, suite: str, run_id: str | None = None) -> list[dict]:
        """Each job's latest row, or the rows run `run_id` wrote."""
        where, args = self._which(run_id)
        rows = self.db.execute(f"SELECT * FROM runs WHERE suite=? AND {where} ORDER BY label, sweep, seed",
                               (suite, *args))
        return [dict(r) for r in rows]

    def scores(self, suite: str, run_id: str | None = None) -> list[dict]:
        """The scores of each job's latest row, or of run `run_id`, where that row succeeded."""
        where, args = self._which(run_id)
        rows = self.db.execute(
            "SELECT scores.*, runs.label, runs.model, runs.sweep, runs.params AS model_params, runs.seed, runs.n_params "
            "FROM scores JOIN runs USING (suite, job_key, run_id) "
            f"WHERE scores.suite=? AND runs.status='ok' AND {where}", (suite, *args))
        return [dict(r) for r in rows]

    def history(self, suite: str) -> list[dict]:
        """Every score of every successful row of `suite`, with its run's id, start and code version."""
        rows = self.db.execute(
            "SELECT s.job_key, s.run_id, s.metric_id, s.metric, s.value, s.version, s.params, s.higher_is_better,"
            " r.label, r.sweep, r.seed, r.code_version, r.device, COALESCE(i.started, r.started) AS run_started "
            "FROM scores s JOIN runs r USING (suite, job_key, run_id) LEFT JOIN invocations i USING (run_id) "
            "WHERE s.suite=? AND r.status='ok' ORDER BY s.run_id != ?, s.run_id", (suite, LEGACY_RUN))
        return [dict(r) for r in rows]

    def invocations(self, suite: str) -> list[dict]:
        """The suite's runs, oldest first."""
        rows = self.db.execute("SELECT * FROM invocations WHERE suite=? ORDER BY run_id", (suite,))
        return [dict(r) for r in rows]

    def suites(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT suite FROM runs ORDER BY suite")]


def _alive(owner: str) -> bool:
    """False only when `owner` is a run on this host whose process is gone (its claims can go now)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: wait for its claims to lapse
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass
    return True


class Claims:
    """One run's claims on work in a shared store. A claim is a row with an expiry that a
    background thread renews every ttl/3 seconds while the run lives; the claims of a run
    that was killed lapse after `ttl` seconds (at once when it ran on this host)."""

    def __init__(self, store: Store, ttl: float = 60.0):
        self.path, self.ttl = store.path, ttl
        self.db = store.db
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, name="msbench-claims", daemon=True)
        self._thread.start()

    def acquire(self, key: str) -> str | None:
        """Claim `key`: None when this run holds it now, else the owner that does."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")  # the write lock before the read: two runs cannot both take it
            row = self.db.execute("SELECT owner, expires FROM claims WHERE key=?", (key,)).fetchone()
            if row and row["owner"] != self.owner and row["expires"] > now and _alive(row["owner"]):
                return row["owner"]
            self.db.execute("INSERT OR REPLACE INTO claims (key, owner, expires) VALUES (?,?,?)",
                            (key, self.owner, now + self.ttl))
        return None

    def release(self, key: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM claims WHERE key=? AND owner=?", (key, self.owner))

    def wait_for(self, key: str, poll: float = 1.0, on_wait=None) -> None:
        """Block until `key` is claimed by this run (waiting out any other holder)."""
        while (holder := self.acquire(key)) is not None:
            if on_wait:
                on_wait(holder)
                on_wait = None  # say it once
            time.sleep(poll)

    def _heartbeat(self) -> None:
        # its own connection: the run's connection may be inside a transaction at any moment
        db = sqlite3.connect(str(self.path), timeout=self.ttl / 6)
        try:
            while not self._stop.wait(self.ttl / 3):
                try:
                    with db:
                        db.execute("UPDATE claims SET expires=? WHERE owner=?", (time.time() + self.ttl, self.owner))
                except sqlite3.Error:  # a busy store: try again at the next beat, well before expiry
                    continue
        finally:
            db.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        with self.db:
            self.db.execute("DELETE FROM claims WHERE owner=?", (self.owner,))
