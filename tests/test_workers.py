"""Worker processes (`msbench run --devices cpu,cpu`, bench/workers.py): the same scores as one process,
stages trained once and before the jobs that need them, the driver the store's only writer."""

import json
import os
import signal
import sqlite3
import threading
import time

import pytest

from bench.cli import main
from bench.store import Store
from bench.suite import load_suite
from bench.trained import depth
from bench.devices import DevicesError, resolve_devices
from conftest import SUITES

SMOKE = str(SUITES / "smoke.yaml")


def run(store, *extra):
    return main(["run", SMOKE, "--store", store, "--cache", "cache", "--out", "lb", "--no-progress", *extra])


def scores(store):
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return {(key, metric): value for key, metric, value in db.execute("SELECT job_key, metric_id, value FROM scores")}


def test_two_cpu_workers_give_the_scores_of_one_process(workdir, capfd):  # capfd: the workers' lines too
    assert run("one.sqlite", "--device", "cpu") == 0
    capfd.readouterr()
    assert run("two.sqlite", "--devices", "cpu,cpu", "--fresh") == 0  # fresh: the workers train everything again
    err = capfd.readouterr().err
    assert "2 workers: cpu, cpu (2 CPU threads each)" in err
    assert "[worker 1, cpu]" in err and "[worker 2, cpu]" in err  # both worked
    # the shared stage one (beta-TCVAE beta=4) was trained once, before MS-VAE, which read it from the cache
    assert err.count("training (") <= 2  # the domain feature net: at most once per worker
    assert err.count("reused cached artifact") == 1 and "MS-VAE seed=0: stage_one beta_tcvae: reused cached" in err
    one, two = scores("one.sqlite"), scores("two.sqlite")
    assert len(one) == len(two) > 0
    assert one == two  # bit-identical: each worker pins the same thread count
    runs = Store("two.sqlite", readonly=True).runs("smoke")
    assert {r["status"] for r in runs} == {"ok"} and len(runs) == len(load_suite(SMOKE).jobs)
    assert all(r["device"].startswith("cpu (") for r in runs)
    # a second run finds everything done and starts no worker
    assert run("two.sqlite", "--devices", "cpu,cpu") == 0
    err = capfd.readouterr().err
    assert err.count("already scored, skipped") == len(runs) and "workers:" not in err


def test_ensemble_groups_on_two_workers_score_as_in_one_process(workdir, capfd):
    assert run("one.sqlite", "--device", "cpu", "--ensemble-size", "4") == 0
    capfd.readouterr()
    assert run("two.sqlite", "--devices", "cpu,cpu", "--ensemble-size", "4", "--fresh") == 0
    err = capfd.readouterr().err
    assert err.count("trained 2 of 2 as one batched ensemble") == 1  # beta 1 and 4, in a worker
    # MS-VAE waited for its stage one, trained in the group, and read it from the cache
    assert "MS-VAE seed=0: stage_one beta_tcvae: reused cached" in err
    assert scores("one.sqlite") == scores("two.sqlite") and scores("one.sqlite")
    modes = {r["label"]: json.loads(r["environment"])["training"] for r in Store("two.sqlite", readonly=True).runs("smoke")}
    assert modes["beta-TCVAE"] == "ensemble of 2" and modes["MS-VAE"] == "alone"


def test_stages_come_before_the_jobs_that_build_on_them():
    suite = load_suite(SMOKE)
    levels = {job.display: depth(job) for job in suite.jobs}
    assert levels == {"beta-TCVAE[beta=1] seed=0": 0, "beta-TCVAE[beta=4] seed=0": 0, "beta-TCVAE-L seed=0": 0,
                      "MS-VAE seed=0": 1}


def test_devices_are_checked(monkeypatch):
    assert resolve_devices("cpu,cpu") == ["cpu", "cpu"]
    assert resolve_devices(" cpu ") == ["cpu"]
    for bad in ("", "cpu,", "auto,cpu", "tpu"):
        with pytest.raises(DevicesError, match="--devices"):
            resolve_devices(bad)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(DevicesError, match="--devices all: CUDA is not available"):
        resolve_devices("all")
    with pytest.raises(DevicesError, match="CUDA is not available"):
        resolve_devices("cpu,cuda:1")


def test_a_bad_devices_list_is_refused_before_anything_is_written(workdir, capsys):
    assert run("r.sqlite", "--devices", "cpu,gpu") == 2
    assert "--devices" in capsys.readouterr().err
    assert not os.path.exists("r.sqlite")


def test_a_worker_that_dies_fails_its_jobs_and_the_run_says_so(workdir, capsys):
    """SIGKILL every worker process while it trains: the driver records the jobs it had sent as failed, names
    the cause, and a second run (nothing lost) scores them all."""
    import psutil

    def kill_workers():
        me = psutil.Process()
        for _ in range(600):
            children = [p for p in me.children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]
            if len(children) >= 2:
                time.sleep(4)  # let them start training
                for child in children:
                    os.kill(child.pid, signal.SIGKILL)
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_workers)
    killer.start()
    code = run("r.sqlite", "--devices", "cpu,cpu")
    killer.join()
    err = capsys.readouterr().err
    assert code == 1 and "a worker process died" in err
    runs = Store("r.sqlite", readonly=True).runs("smoke")
    assert any(r["status"] == "failed" and "a worker process died" in r["error"] for r in runs)
    assert run("r.sqlite", "--devices", "cpu,cpu") == 0
    assert {r["status"] for r in Store("r.sqlite", readonly=True).runs("smoke")} == {"ok"}


def test_ray_options_are_checked(workdir, capsys):
    assert run("r.sqlite", "--address", "10.0.0.1:6379") == 2
    assert "--address is for --executor ray" in capsys.readouterr().err
    assert run("r.sqlite", "--executor", "ray", "--devices", "cpu,cpu") == 2
    assert "--devices is for the local executor" in capsys.readouterr().err


def test_ray_scores_as_the_local_executor_retries_a_crashed_worker_and_leaves_no_process(workdir, capfd, monkeypatch):
    """One 2-CPU local Ray started here, its files in a temporary folder (one Ray per test: a second
    ray.init in one process can time out on a loaded machine), one thread per task so that two run at once:
    - the smoke suite's scores are bit-identical to one local process at the same thread count;
    - SIGKILL the first Ray worker that runs a task: with --task-retries 1 the task runs again and every
      job is scored; with 0 its jobs fail, with the reason, and the other jobs are scored;
    - after shutdown no Ray process is left."""
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")
    import tempfile

    import psutil

    assert run("one.sqlite", "--device", "cpu", "--threads", "1") == 0
    before = {p.pid for p in psutil.Process().children(recursive=True)}  # (multiprocessing's resource tracker)
    killed = []

    def kill_first_task_worker():
        for _ in range(900):
            for p in psutil.Process().children(recursive=True):
                try:
                    if "_run_ray_task" in " ".join(p.cmdline()):
                        time.sleep(1)
                        p.kill()
                        killed.append(p.pid)
                        return
                except psutil.Error:
                    pass
            time.sleep(0.1)

    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    monkeypatch.setenv("HOME", temp)  # Ray writes its token under ~/.ray
    ray.init(num_cpus=2, _temp_dir=temp, include_dashboard=False, log_to_driver=True)
    outcomes = {}
    try:
        assert run("ray.sqlite", "--executor", "ray", "--threads", "1", "--fresh") == 0
        for retries in ("1", "0"):
            killer = threading.Thread(target=kill_first_task_worker)
            killer.start()
            code = run(f"r{retries}.sqlite", "--executor", "ray", "--threads", "1", "--task-retries", retries,
                       "--fresh")
            killer.join()
            outcomes[retries] = (code, Store(f"r{retries}.sqlite", readonly=True).runs("smoke"))
    finally:
        ray.shutdown()
    err = capfd.readouterr().err
    assert "Ray: 2 CPUs, 0 GPUs; each task 1 CPUs, 0 GPUs, 1 threads" in err
    assert scores("one.sqlite") == scores("ray.sqlite") and scores("one.sqlite")
    assert {r["status"] for r in Store("ray.sqlite", readonly=True).runs("smoke")} == {"ok"}
    assert len(killed) == 2  # one worker killed in each of the last two runs
    code, runs = outcomes["1"]
    assert code == 0 and {r["status"] for r in runs} == {"ok"}
    code, runs = outcomes["0"]
    failed = [r for r in runs if r["status"] == "failed"]
    assert code == 1 and failed and any(r["status"] == "ok" for r in runs)
    assert all("the task failed" in r["error"] or "UpstreamFailed" in r["error"] for r in failed), failed
    for _ in range(50):  # Ray's processes end within moments of shutdown
        left = [p for p in psutil.Process().children(recursive=True)
                if p.pid not in before and p.is_running() and p.status() != "zombie"]
        if not left:
            break
        time.sleep(0.2)
    assert not left, [p.cmdline()[:3] for p in left]


class _ScriptedPool:
    """A pool whose tasks answer at once, except beta-TCVAE[beta=1]'s, which answers only once MS-VAE's task
    is sent (or after 10 s): a level barrier would send MS-VAE only after it."""

    def __init__(self):
        self.sent, self.slow, self.slow_was_done = [], None, None

    def describe(self, threads):
        return "scripted pool"

    def submit(self, jobs, scored, saved):
        from concurrent.futures import Future

        self.sent.append([job.display for job in jobs])
        future, answer = Future(), {"results": {job.key: {"status": "ok"} for job in jobs}, "saved": []}
        if any("beta=1" in job.display for job in jobs):
            self.slow = (future, answer)
            self.timer = threading.Timer(10, lambda: future.done() or future.set_result(answer))
            self.timer.start()
        else:
            future.set_result(answer)
        if any(job.model == "ms_vae" for job in jobs):
            self.slow_was_done = self.slow[0].done()  # beta=1's task is sent first, with the other stage ones
            if not self.slow_was_done:
                self.slow[0].set_result(self.slow[1])
        return future

    def lost(self, exc):
        return None

    def close(self, abort=False):
        self.timer.cancel()


def test_a_task_is_sent_when_its_own_stages_are_done_not_after_a_whole_level(tmp_path):
    from bench.cache import ArtifactCache
    from bench.workers import run_on_workers

    suite, pool, recorded = load_suite(SMOKE), _ScriptedPool(), []
    run_on_workers(suite, ArtifactCache(tmp_path), pool, 1, lambda job, outcome: recorded.append(job.display),
                   list(suite.jobs), open(os.devnull, "w"), 1, None)
    flat = [name for task in pool.sent for name in task]
    assert sorted(flat) == sorted(job.display for job in suite.jobs)  # each job sent once: its stage is a suite job
    assert flat.index("MS-VAE seed=0") > flat.index("beta-TCVAE[beta=4] seed=0")  # after its stage one
    assert pool.slow_was_done is False  # sent while beta=1, which MS-VAE does not need, was still training
    assert sorted(recorded) == sorted(flat)


class _Job:
    """The little of a job run_on_workers reads: key, upstream stages, display and model names."""

    def __init__(self, key, upstream=()):
        self.key = self.display = self.model = key
        self.upstream = tuple((f"stage_{i}", stage) for i, stage in enumerate(upstream))


class _Cache:
    def __init__(self, cached=()):
        self.saved, self.cached = set(), set(cached)

    def has(self, key):
        return key in self.cached

    def adopt(self, keys):
        pass


class _AnsweringPool:
    """Answers each task at once, ok, except the jobs in `failing`; a task with a job in `slow` answers 0.3 s
    later. `answered_before[key]`: which jobs had answered when `key`'s task was sent."""

    def __init__(self, failing=(), slow=()):
        self.sent, self.failing, self.slow, self.answered, self.answered_before = [], set(failing), set(slow), set(), {}

    def describe(self, threads):
        return "answering pool"

    def submit(self, jobs, scored, saved):
        from concurrent.futures import Future

        keys = [job.key for job in jobs]
        self.sent.append(keys)
        self.answered_before.update({key: set(self.answered) for key in keys})
        future = Future()
        answer = {"results": {key: {"status": "failed", "error": "boom"} if key in self.failing else {"status": "ok"}
                              for key in keys}, "saved": []}

        def reply():
            self.answered.update(keys)
            future.set_result(answer)

        threading.Timer(0.3, reply).start() if self.slow & set(keys) else reply()
        return future

    def lost(self, exc):
        return None

    def close(self, abort=False):
        pass


def _run_scripted(monkeypatch, pending, pool, cache=None, groups=()):
    import bench.workers
    from bench.workers import run_on_workers

    monkeypatch.setattr(bench.workers, "plan_ensembles", lambda jobs, cache, size: [list(g) for g in groups])
    recorded = {}
    run_on_workers(None, cache or _Cache(), pool, 1, lambda job, outcome: recorded.setdefault(job.key, outcome),
                   pending, open(os.devnull, "w"), 4, None)
    return recorded


def test_a_group_whose_stages_stage_failed_is_recorded_failed_not_dropped(monkeypatch):
    teacher = _Job("teacher")
    student = _Job("student", [teacher])  # fails unsent when its teacher fails
    a, b = _Job("ms_vae_a", [student]), _Job("ms_vae_b", [student])
    pool = _AnsweringPool(failing={"teacher"})
    recorded = _run_scripted(monkeypatch, [a, b], pool, groups=[[a, b]])
    assert pool.sent == [["teacher"]]
    assert {key: outcome["status"] for key, outcome in recorded.items()} == {"ms_vae_a": "failed", "ms_vae_b": "failed"}
    assert "UpstreamFailed: student failed: UpstreamFailed: teacher failed: boom" in recorded["ms_vae_a"]["error"]


def test_a_job_waits_for_a_deeper_stage_even_when_its_own_stage_is_cached(monkeypatch):
    deep = _Job("deep")
    cached = _Job("cached", [deep])  # its artifact is there, its own stage's is not: loading it trains `deep`
    job = _Job("job", [cached])
    pool = _AnsweringPool(slow={"deep"})
    recorded = _run_scripted(monkeypatch, [job], pool, cache=_Cache(cached={"cached"}))
    assert pool.sent == [["deep"], ["job"]]
    assert "deep" in pool.answered_before["job"]  # trained once, by its own task, before the job was sent
    assert recorded["job"]["status"] == "ok"
