"""One worker process per device (`msbench run --devices cpu,cpu`, `cuda:0,cuda:1` or `all`).

The driver plans and records; the workers train and score:
- the jobs that may train together form batched ensembles (`plan_ensembles`), and every other job is a
  task of its own; a task is sent, to the next free worker, as soon as every stage its jobs build on has
  been trained (by the task that holds it), so that a stage is trained once, before any job needs it, and
  then read from the shared cache, and no task waits on stages it does not need;
- a worker pins the run's thread count, trains or loads (artifacts are written atomically to the shared
  cache), scores, and sends the scores back; only the driver writes the store, so it keeps one writer;
- a job whose stage failed is recorded failed without being sent; a worker that dies
  fails the jobs of its task, and the others go on.
"""

import datetime
import multiprocessing
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tqdm.auto import tqdm

from bench.trained import all_jobs, depth, obtain_model, plan_ensembles, train_ensembles


def upstream_keys(job) -> set:
    """The keys of every stage `job` builds on, directly or through another stage."""
    keys = set()
    for _, stage in job.upstream:
        keys |= {stage.key} | upstream_keys(stage)
    return keys


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# --- in the worker process ----------------------------------------------------------------------
_WORKER = {}


def _setup(name: str, device: str, settings: dict) -> None:
    """Make this process a worker: `settings` as `Settings.as_dict` gives them."""
    from bench import data as datasets
    from bench.cache import ArtifactCache
    from bench.features import FeatureSpaces
    from bench.devices import compile_problem
    from bench.provenance import set_threads
    from models._base import set_compile

    set_threads(settings["threads"])  # the driver's count, whatever this machine's cores: one worker or two, same scores
    set_compile(settings["compile"])  # and the driver's --compile
    if settings["compile"] and (problem := compile_problem([device])):
        raise RuntimeError(f"{name}: {problem}")  # a Ray node may lack what the driver's machine has
    log = lambda message: tqdm.write(f"({name}) {message}", file=sys.stderr)  # noqa: E731
    cache = ArtifactCache(settings["cache_root"], fresh=settings["fresh"])
    suite = settings["suite"]
    _WORKER.clear()
    from bench.provenance import environment

    _WORKER.update(device=device, worker=name, environment=environment(device), suite=suite, cache=cache, log=log, eval_samples={}, run=settings["run"],
                   data=datasets.load(suite.dataset["name"], settings["data_root"], **suite.dataset["params"]),
                   spaces=FeatureSpaces(cache, device, settings["fid_weights"], progress=False, log=log))


def _start_local_worker(devices, settings: dict) -> None:
    number, device = devices.get()
    _setup(f"worker {number}, {device}", device, settings)


def _run_ray_task(settings: dict, jobs: list, scored: list, saved: set) -> dict:
    """A Ray task: set this Ray worker up once per run (Ray reuses its processes), then `_run_task`."""
    if _WORKER.get("run") != settings["run"]:
        import os
        import socket

        import ray

        device = "cuda" if ray.get_gpu_ids() else "cpu"  # Ray shows the task only the GPUs it was given
        _setup(f"ray worker {os.getpid()} on {socket.gethostname()}, {device}", device, settings)
    return _run_task(jobs, scored, saved)


def _run_task(jobs: list, scored: list, saved: set) -> dict:
    """Train (as one ensemble when there are several) and score `jobs` (`scored[i]`: a suite job, else
    a stage that is only trained). `saved`: the artifacts this run has made so far (a fresh run sees
    only those). Returns {key: outcome}, each outcome a dict for the driver to record."""
    from bench.evaluate import evaluate

    w = _WORKER
    w["cache"].adopt(saved)
    ensembled = train_ensembles([jobs], w["data"], w["cache"], w["device"], False, w["log"]) if len(jobs) > 1 else {}
    results = {}
    for job, score in zip(jobs, scored):
        phase, started = "train", _now()
        try:
            model, reused, train_seconds = obtain_model(job, w["data"], w["cache"], w["device"], False,
                                                        lambda m, job=job: w["log"](f"{job.display}: {m}"), None, ensembled)
            outcome = {"status": "ok", "reused": reused, "train_seconds": train_seconds, "started": started,
                       "training": w["cache"].training_mode(job.key), "device": w["device"],
                       "worker": w["worker"], "environment": w["environment"]}
            if score:
                phase = "evaluate"
                start = time.perf_counter()
                outcome["scores"] = evaluate(model, w["data"], w["suite"].metrics, job.seed, w["eval_samples"],
                                             w["spaces"])
                outcome["eval_seconds"] = time.perf_counter() - start
                outcome["n_params"] = model.num_params()
        except Exception as exc:  # noqa: BLE001 - one failed job must not stop the others
            outcome = {"status": "failed", "phase": phase, "error": f"{type(exc).__name__}: {exc}",
                       "device": w["device"], "started": started, "environment": w["environment"]}
        results[job.key] = outcome
    return {"results": results, "saved": sorted(w["cache"].saved)}


# --- in the driver ------------------------------------------------------------------------------
class WorkerDied(RuntimeError):
    """A worker process ended without answering (killed, out of memory, a crash in native code)."""


class LocalPool:
    """One worker process per device of this machine. A worker that dies breaks the pool: the jobs in
    flight fail, and what was not sent yet is left for the next run."""

    def __init__(self, devices: list, settings: dict):
        context = multiprocessing.get_context("spawn")  # never fork a process that holds torch's threads
        queue = context.Queue()
        for number, device in enumerate(devices, 1):
            queue.put((number, device))
        self.devices = devices
        self.executor = ProcessPoolExecutor(len(devices), mp_context=context, initializer=_start_local_worker,
                                            initargs=(queue, settings))

    def describe(self, threads: int) -> str:
        return f"{len(self.devices)} workers: {', '.join(self.devices)} ({threads} CPU threads each)"

    def submit(self, jobs, scored, saved):
        return self.executor.submit(_run_task, jobs, scored, saved)

    def lost(self, exc) -> str | None:
        """Why a task's answer is lost with the pool (fatal), or None (that task alone failed)."""
        return f"a worker process died ({exc})" if isinstance(exc, BrokenProcessPool) else None

    def close(self, abort: bool = False) -> None:
        if not abort:
            self.executor.shutdown(wait=True)
            return
        processes = list((getattr(self.executor, "_processes", None) or {}).values())  # the pool's own record
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # a worker busy with a task would finish it first: stop it now
            process.terminate()


class RayPool:
    """Ray tasks (`--executor ray`): each task asks for `cpus` and `gpus`; a task whose worker crashes is
    retried up to `retries` times, then its jobs fail and the others go on. Joins the cluster at
    `address`, or uses the Ray this process already started, or starts a local one (and stops it)."""

    def __init__(self, settings: dict, address=None, cpus: float = 1, gpus: float = 0, retries: int = 2):
        try:
            import ray
        except ImportError:
            raise WorkerDied("--executor ray needs Ray: pip install -e '.[ray]'") from None
        self.ray, self.started = ray, not ray.is_initialized()
        if self.started:
            ray.init(address=address, include_dashboard=False, log_to_driver=True)
        self.settings, self.cpus, self.gpus = settings, cpus, gpus
        self.task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=retries, retry_exceptions=False)(_run_ray_task)

    def describe(self, threads: int) -> str:
        total = self.ray.cluster_resources()
        return (f"Ray: {total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs; each task {self.cpus:g} CPUs, "
                f"{self.gpus:g} GPUs, {threads} threads")

    def submit(self, jobs, scored, saved):
        return self.task.remote(self.settings, jobs, scored, saved).future()

    def lost(self, exc) -> str | None:
        return None  # Ray retried the task already; its jobs fail alone

    def close(self, abort: bool = False) -> None:
        if self.started:
            self.ray.shutdown()


def settings_for(suite, cache, threads: int, data_root, fid_weights, run: str) -> dict:
    """What a worker needs to set itself up: the same for every worker of one run."""
    import os

    from models._base import compiling

    return {"suite": suite, "cache_root": os.path.abspath(cache.root), "fresh": cache.fresh, "threads": threads,
            "compile": compiling(), "data_root": data_root, "fid_weights": fid_weights, "run": run}


def run_on_workers(suite, cache, pool, threads: int, record, pending: list, out, ensemble_size: int,
                   summary) -> None:
    """Train and score `pending` (suite jobs not done yet) as tasks of `pool` (LocalPool or RayPool).
    `record(job, outcome)` writes one job's outcome to the store (the driver's only writer); `summary`
    counts them. The pool is closed on the way out."""
    say = lambda message: tqdm.write(message, file=out)  # noqa: E731
    suite_keys = {job.key for job in pending}
    todo = {key: job for key, job in all_jobs(pending).items() if key in suite_keys or not cache.has(key)}
    groups = [group for group in plan_ensembles(list(todo.values()), cache, ensemble_size)
              if all(job.key in todo for job in group)]
    grouped = {job.key for group in groups for job in group}
    waiting = groups + [[job] for job in sorted(todo.values(), key=depth) if job.key not in grouped]
    finished, failed = set(), {}  # keys whose task has answered; key -> reason, of the jobs and stages that failed
    saved = set(cache.saved)
    say(pool.describe(threads))
    running = {}

    def fail(task, reason):
        for job in task:
            failed[job.key] = reason
            finished.add(job.key)
            if job.key in suite_keys:
                record(job, {"status": "failed", "phase": "train", "error": reason, "device": None, "started": _now()})

    def dispatch():
        """Send every waiting task whose stages (direct or deeper) have all answered; a job whose stage failed
        fails unsent. Repeated until nothing changes: failing one job may settle a task that waits on it."""
        changed = True
        while changed:
            changed, still = False, []
            for task in waiting:
                if any(key in todo and key not in finished for job in task for key in upstream_keys(job)):
                    still.append(task)
                    continue
                changed, ready = True, []
                for job in task:
                    broken = upstream_keys(job) & failed.keys()
                    if broken:
                        stage = next(stage for _, stage in job.upstream if stage.key in broken or upstream_keys(stage) & broken)
                        fail([job], f"UpstreamFailed: {stage.display} failed: {failed.get(stage.key) or failed[min(broken)]}")
                    else:
                        ready.append(job)
                if ready:
                    running[pool.submit(ready, [job.key in suite_keys for job in ready], saved)] = ready
            waiting[:] = still

    try:
        dispatch()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                task = running.pop(future)
                try:
                    answer = future.result()
                except Exception as exc:  # noqa: BLE001 - the task's jobs fail; the rest go on unless the pool is gone
                    if pool.lost(exc):
                        running[future] = task  # failed below with the others in flight
                        raise WorkerDied(f"{pool.lost(exc)}; the jobs it had are not scored") from exc
                    fail(task, f"the task failed: {type(exc).__name__}: {exc}")
                    continue
                saved |= set(answer["saved"])
                cache.adopt(saved)
                for job in task:
                    outcome = answer["results"][job.key]
                    finished.add(job.key)
                    if outcome["status"] == "failed":
                        failed[job.key] = outcome["error"]
                    if job.key in suite_keys:
                        record(job, outcome)
            dispatch()
        for task in waiting:  # cannot happen (every stage is in a task, or cached): never drop a job silently
            fail(task, "never sent: a stage it builds on was not scheduled (a bug in msbench; please report it)")
    except (KeyboardInterrupt, WorkerDied) as exc:
        for task in running.values():
            fail(task, "interrupted by the user" if isinstance(exc, KeyboardInterrupt) else str(exc))
        pool.close(abort=True)
        if isinstance(exc, KeyboardInterrupt):
            raise
        summary.failed.append(("(workers)", "train", str(exc)))
        return
    pool.close()
