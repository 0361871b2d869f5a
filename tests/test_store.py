"""The results store refuses damage loudly, never replaces it with an empty store, is in WAL
mode, can be checked and backed up, and hands out job claims that lapse when a run dies."""

import random
import sqlite3
import subprocess
import sys
import time

import pytest

from bench.budget import Budget
from bench.cli import main
from bench.store import SCHEMA_VERSION, Claims, Store, StoreError
from bench.suite import Job


def filled(path) -> Store:
    store = Store(path)
    for seed in range(30):
        job = Job("A", "beta_tcvae", "1", {"beta": 1.0}, {}, seed, Budget(), {"name": "dsprites", "params": {}})
        store.start("s", job, {"device": "cpu"}, {"git_sha": "abc"}, "t0")
        store.finish("s", job.key, [{"metric_id": "l1", "metric": "l1", "value": seed / 10, "version": "1",
                                     "higher_is_better": False, "params": {"num_points": 10}, "details": {"x": "y" * 200}}],
                     1000, False, 1.0, 0.1, "t1")
    return store


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "results.sqlite"
    filled(path).close()
    return path


def damage(path, how):
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "half":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage in the middle":
        middle = len(data) // 2
        # seeded: these bytes make SQLite's quick_check report several lines, which must come out as one
        path.write_bytes(data[:middle] + random.Random(0).randbytes(4096) + data[middle + 4096:])
    elif how == "header overwritten":
        path.write_bytes(b"\xff" * 100 + data[100:])
    elif how == "text file":
        path.write_text("these are my notes, not a store\n")
    return path.read_bytes()


@pytest.mark.parametrize("how", ["empty", "half", "garbage in the middle", "header overwritten", "text file"])
def test_a_damaged_store_is_refused_in_one_line_and_left_as_it_is(good, how, capsys):
    before = damage(good, how)
    with pytest.raises(StoreError) as info:
        Store(good)
    assert str(good) in str(info.value) and "\n" not in str(info.value)
    for argv in (["show", "s"], ["store", "check"], ["leaderboard", "suites/smoke.yaml"]):
        capsys.readouterr()
        assert main([*argv, "--store", str(good)]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(good) in err and "Traceback" not in err, (argv, err)
    assert good.read_bytes() == before  # never replaced by a new, empty store


def test_an_empty_file_is_not_mistaken_for_a_new_store(tmp_path):
    path = tmp_path / "r.sqlite"
    path.touch()
    with pytest.raises(StoreError, match=r"is empty \(0 bytes\): its results are lost"):
        Store(path)


def test_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="is a directory"):
        Store(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is not a directory"):
        Store(tmp_path / "file" / "r.sqlite")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE photos (id INTEGER)")
    with pytest.raises(StoreError, match="is an SQLite database but not an msbench results store"):
        Store(other)


def test_wal_mode_schema_version_and_a_newer_store(good):
    with sqlite3.connect(good) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this msbench"):
        Store(good)


# The tables of schema version 2 (runs.environment; one row per (suite, job), no run ids)
V2_TABLES = """
CREATE TABLE runs (suite TEXT NOT NULL, job_key TEXT NOT NULL, label TEXT NOT NULL, model TEXT NOT NULL,
    sweep TEXT NOT NULL, params TEXT NOT NULL, seed INTEGER NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL,
    phase TEXT, error TEXT, device TEXT, code_version TEXT, environment TEXT, n_params INTEGER, reused INTEGER,
    train_seconds REAL, eval_seconds REAL, started TEXT, finished TEXT, PRIMARY KEY (suite, job_key));
CREATE TABLE scores (suite TEXT NOT NULL, job_key TEXT NOT NULL, metric_id TEXT NOT NULL, metric TEXT NOT NULL,
    value REAL, missing_reason TEXT, version TEXT NOT NULL, higher_is_better INTEGER NOT NULL, params TEXT NOT NULL,
    details TEXT, PRIMARY KEY (suite, job_key, metric_id));
"""


def old_store(path, version: int):
    """A store as msbench wrote it at schema `version` (0: before versioning, 1: no environment)."""
    tables = V2_TABLES if version == 2 else V2_TABLES.replace(" environment TEXT,", "")
    with sqlite3.connect(path) as db:
        db.executescript(tables)
        if version:
            db.execute("CREATE TABLE claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)")
        db.execute(f"PRAGMA user_version = {version}")
        for key, status in (("k", "ok"), ("f", "failed")):
            db.execute("INSERT INTO runs (suite, job_key, label, model, sweep, params, seed, spec, status) "
                       "VALUES ('s', ?, 'A', 'm', '{}', '{}', 0, '{}', ?)", (key, status))
        db.execute("INSERT INTO scores VALUES ('s', 'k', 'l1', 'l1', 0.5, NULL, '1', 0, '{}', '{}')")
    return path


@pytest.mark.parametrize("version", [0, 1, 2])
def test_an_older_store_is_upgraded_in_place_keeping_every_row(tmp_path, version):
    path = old_store(tmp_path / "old.sqlite", version)
    with pytest.raises(StoreError, match=f"schema version {version}, older .*msbench store upgrade"):
        Store(path, readonly=True)  # reading cannot upgrade: told how, nothing changed
    store = Store(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert [(r["job_key"], r["status"], r["run_id"]) for r in store.runs("s")] == [("f", "failed", "legacy"),
                                                                                  ("k", "ok", "legacy")]
    assert [(s["job_key"], s["value"]) for s in store.scores("s")] == [("k", 0.5)]
    assert store.runs("s")[0]["environment"] is None  # a column added since is empty on old rows
    job = Job("A", "beta_tcvae", "1", {"beta": 1.0}, {}, 0, Budget(), {"name": "dsprites", "params": {}})
    store.start("s", job, {"device": "cpu"}, {}, "t0")  # a new run after the upgrade
    store.finish("s", job.key, [{"metric_id": "l1", "metric": "l1", "value": 0.25, "version": "1",
                                 "higher_is_better": False, "params": {}}], 1, False, 1.0, 1.0, "t1")
    assert [h["run_id"] for h in store.history("s")] == ["legacy", store.run_id]  # the legacy rows came first
    store._upgrade()  # what a second process that opened the old store meanwhile does: nothing now
    assert {r["run_id"] for r in store.runs("s")} == {"legacy", store.run_id}
    store.close()
    assert len(Store(path, readonly=True).runs("s")) == 3  # opening again changes nothing


def test_check_and_backup_leave_an_older_store_as_it_is(tmp_path, capsys):
    path = old_store(tmp_path / "old.sqlite", 2)
    before = path.read_bytes()
    assert main(["store", "check", "--store", str(path)]) == 0
    assert main(["store", "backup", str(tmp_path / "copy.sqlite"), "--store", str(path)]) == 0
    assert path.read_bytes() == before  # a backup from before the upgrade is what one wants
    with sqlite3.connect(tmp_path / "copy.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert main(["store", "upgrade", "--store", str(path)]) == 0
    assert "schema version 3" in capsys.readouterr().out


def test_every_run_is_kept_and_readers_see_each_jobs_latest_row(tmp_path):
    job = Job("A", "beta_tcvae", "1", {"beta": 1.0}, {}, 0, Budget(), {"name": "dsprites", "params": {}})
    spec = {"metric_id": "l1", "metric": "l1", "version": "1", "higher_is_better": False, "params": {}}
    ids = []
    for value in (0.1, 0.2):  # two invocations score the same job
        store = Store(tmp_path / "r.sqlite")
        ids.append(store.begin("s", fresh=True, command=["run"]))
        store.start("s", job, {"device": "cpu"}, {"git_sha": f"sha{value}"}, "t0")
        store.finish("s", job.key, [{**spec, "value": value}], 10, False, 1.0, 0.1, "t1")
        store.end("t2")
        store.close()
    store = Store(tmp_path / "r.sqlite")
    third = store.begin("s")
    store.start("s", job, {"device": "cpu"}, {}, "t3")
    store.fail("s", job.key, "train", "diverged", "t4")  # the latest attempt failed
    assert ids[0] < ids[1] < third  # run ids sort in the order runs started
    assert store.status("s", job.key)["status"] == "failed" and store.scores("s") == []
    assert not store.done("s", job.key, {"l1": ("1", {})})
    assert store.done("s", job.key, {"l1": ("1", {})}, run_id=ids[1])
    assert [s["value"] for s in store.scores("s", run_id=ids[0])] == [0.1]
    assert [(h["run_id"], h["value"]) for h in store.history("s")] == [(ids[0], 0.1), (ids[1], 0.2)]
    assert [i["fresh"] for i in store.invocations("s")] == [1, 1, 0]


def test_readonly_opening_creates_nothing(tmp_path):
    with pytest.raises(StoreError, match="no results store at"):
        Store(tmp_path / "nope.sqlite", readonly=True)
    assert not (tmp_path / "nope.sqlite").exists()
    assert main(["show", "s", "--store", str(tmp_path / "nope.sqlite")]) == 2
    assert not (tmp_path / "nope.sqlite").exists()


def test_store_check_and_backup(good, tmp_path, capsys):
    assert main(["store", "check", "--store", str(good)]) == 0
    assert "ok (30 ok; 30 scores; suites: s)" in capsys.readouterr().out
    copy = tmp_path / "backup.sqlite"
    assert main(["store", "backup", str(copy), "--store", str(good)]) == 0
    assert Store(copy).counts() == Store(good).counts()
    assert main(["store", "backup", str(copy), "--store", str(good)]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err


def test_claims_exclude_others_and_are_released(good):
    a, b = Claims(Store(good)), Claims(Store(good))
    try:
        assert a.acquire("s/job") is None
        assert a.acquire("s/job") is None  # its own claim again
        assert b.acquire("s/job") == a.owner
        a.release("s/job")
        assert b.acquire("s/job") is None
    finally:
        a.close()
        b.close()
    assert Store(good).db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def test_claims_are_renewed_while_the_run_lives_and_lapse_after(good):
    a = Claims(Store(good), ttl=0.6)
    b = Claims(Store(good), ttl=0.6)
    try:
        assert a.acquire("s/job") is None
        time.sleep(1.5)  # several ttls: the heartbeat keeps it
        assert b.acquire("s/job") == a.owner
        a._stop.set()  # a run that hangs: no more heartbeats
        a._thread.join()
        time.sleep(0.8)
        assert b.acquire("s/job") is None
    finally:
        a.close()
        b.close()


def test_a_killed_runs_claims_lapse_at_once_on_its_host(good):
    code = ("import sys, os; from bench.store import Store, Claims; c = Claims(Store(sys.argv[1]), ttl=3600); "
            "c.acquire('s/job'); os._exit(0)")  # killed: no clean-up, a claim valid for an hour
    subprocess.run([sys.executable, "-c", code, str(good)], check=True)
    holder = Store(good).db.execute("SELECT owner FROM claims").fetchone()[0]
    assert holder
    b = Claims(Store(good))
    try:
        assert b.acquire("s/job") is None  # its process is gone
    finally:
        b.close()


def test_a_score_under_an_older_metric_version_or_params_is_not_done(good):
    """A bumped metric version (its definition changed) or other params: the job is scored again."""
    store = Store(good)
    job = Job("A", "beta_tcvae", "1", {"beta": 1.0}, {}, 3, Budget(), {"name": "dsprites", "params": {}})
    assert store.done("s", job.key, {"l1": ("1", {"num_points": 10})})
    assert not store.done("s", job.key, {"l1": ("2", {"num_points": 10})})
    assert not store.done("s", job.key, {"l1": ("1", {"num_points": 20})})
    assert not store.done("s", job.key, {"l1": ("1", {"num_points": 10}), "l2": ("1", {"num_points": 10})})
    store.close()
