"""One worker process per device (`msbench run --devices cpu,cpu`, `cuda:0,cuda:1` or `all`).

The driver plans and records; the workers train and score:
- jobs are taken level by level: the stages nothing builds on first, then the jobs that build on them,
  so that a stage is trained once, before any job needs it, and then read from the shared cache;
- within a level, the jobs that may train together form batched ensembles (`plan_ensembles`), and every
  other job is a task of its own; each task goes to the next free worker;
- a worker pins the run's thread count, trains or loads (artifacts are written atomically to the shared
  cache), scores, and sends the scores back; only the driver writes the store, so it keeps one writer;
- a job whose stage failed at an earlier level is recorded failed without being sent; a worker that dies
  fails the jobs of its task, and the others go on.
"""

import datetime
import multiprocessing
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

import torch
from tqdm.auto import tqdm

from bench.trained import _all_jobs, obtain_model, plan_ensembles, train_ensembles


class DevicesError(ValueError):
    pass


def resolve_devices(value: str) -> list[str]:
    """`--devices`: a comma-separated list of cpu, cuda or cuda:N (a device may repeat: two workers on
    the CPU), or `all` (every GPU of this machine)."""
    from bench.runner import DeviceError, resolve_device

    if value == "all":
        if not torch.cuda.is_available():
            raise DevicesError("--devices all: CUDA is not available on this machine (name devices, e.g. cpu,cpu)")
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    names = [name.strip() for name in value.split(",")]
    if not all(names) or "auto" in names:
        raise DevicesError(f"--devices {value!r}: expected a comma-separated list of cpu, cuda:N, or all")
    try:
        return [resolve_device(name).replace("cuda", "cuda:0") if name == "cuda" else resolve_device(name)
                for name in names]
    except DeviceError as exc:
        raise DevicesError(str(exc).replace("--device ", "--devices: ")) from None


def depth(job) -> int:
    """0 for a job that builds on no stage, else one more than its deepest stage."""
    return 1 + max(depth(stage) for _, stage in job.upstream) if job.upstream else 0


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


def _start_worker(devices, suite, data_root, cache_root, fresh, threads, fid_weights) -> None:
    from bench import data as datasets
    from bench.cache import ArtifactCache
    from bench.features import FeatureSpaces
    from bench.provenance import set_threads

    set_threads(threads)  # the driver's count, whatever this machine's cores: one worker or two, same scores
    number, device = devices.get()
    log = lambda message: tqdm.write(f"(worker {number}, {device}) {message}", file=sys.stderr)  # noqa: E731
    cache = ArtifactCache(cache_root, fresh=fresh)
    _WORKER.update(device=device, worker=f"worker {number}, {device}", suite=suite, cache=cache, log=log, eval_samples={},
                   data=datasets.load(suite.dataset["name"], data_root, **suite.dataset["params"]),
                   spaces=FeatureSpaces(cache, device, fid_weights, progress=False, log=log))


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
                       "worker": w["worker"]}
            if score:
                phase = "evaluate"
                start = time.perf_counter()
                outcome["scores"] = evaluate(model, w["data"], w["suite"].metrics, job.seed, w["eval_samples"],
                                             w["spaces"])
                outcome["eval_seconds"] = time.perf_counter() - start
                outcome["n_params"] = model.num_params()
        except Exception as exc:  # noqa: BLE001 - one failed job must not stop the others
            outcome = {"status": "failed", "phase": phase, "error": f"{type(exc).__name__}: {exc}",
                       "device": w["device"], "started": started}
        results[job.key] = outcome
    return {"results": results, "saved": sorted(w["cache"].saved)}


# --- in the driver ------------------------------------------------------------------------------
def run_on_workers(suite, cache, devices: list, threads: int, record, pending: list, out, fid_weights,
                   data_root, ensemble_size: int, summary) -> None:
    """Train and score `pending` (suite jobs not done yet) on one worker process per device of
    `devices`. `record(job, outcome)` writes one job's outcome to the store (the driver's only writer);
    `summary` counts them."""
    if not pending:
        return
    say = lambda message: tqdm.write(message, file=out)  # noqa: E731
    suite_keys = {job.key for job in pending}
    everything = _all_jobs(pending)
    levels = sorted({depth(job) for job in everything.values()})
    failed = {}  # key -> reason, of stages (and jobs) that failed: what builds on them is not sent
    saved = set(cache.saved)
    context = multiprocessing.get_context("spawn")  # never fork a process that holds torch's threads
    device_queue = context.Queue()
    for number, device in enumerate(devices, 1):
        device_queue.put((number, device))
    say(f"{len(devices)} workers: {', '.join(devices)} ({threads} CPU threads each)")
    pool = ProcessPoolExecutor(len(devices), mp_context=context, initializer=_start_worker,
                               initargs=(device_queue, suite, data_root, str(cache.root), cache.fresh, threads,
                                         fid_weights))
    running = {}
    try:
        for level in levels:
            jobs = [job for job in everything.values() if depth(job) == level
                    and (job.key in suite_keys or not cache.has(job.key))]
            ready = []
            for job in jobs:
                broken = upstream_keys(job) & failed.keys()
                if broken:
                    stage = next(stage for _, stage in job.upstream if stage.key in broken or upstream_keys(stage) & broken)
                    reason = failed.get(stage.key) or failed[next(iter(broken))]
                    failed[job.key] = f"UpstreamFailed: {stage.display} failed: {reason}"
                    if job.key in suite_keys:
                        record(job, {"status": "failed", "phase": "train", "error": failed[job.key], "device": None,
                                     "started": _now()})
                else:
                    ready.append(job)
            groups = plan_ensembles(ready, cache, ensemble_size)
            grouped = {job.key for group in groups for job in group}
            ready_keys = {job.key for job in ready}
            tasks = [group for group in groups if all(job.key in ready_keys for job in group)]
            tasks += [[job] for job in ready if job.key not in grouped]
            for task in tasks:
                future = pool.submit(_run_task, task, [job.key in suite_keys for job in task], saved)
                running[future] = task
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    task = running.pop(future)
                    try:
                        answer = future.result()
                    except BrokenProcessPool as exc:
                        running[future] = task  # failed below with the others in flight
                        raise WorkerDied(f"a worker process died ({exc}); the jobs of its task are not scored") from exc
                    saved |= set(answer["saved"])
                    cache.adopt(saved)
                    for job in task:
                        outcome = answer["results"][job.key]
                        if outcome["status"] == "failed":
                            failed[job.key] = outcome["error"]
                        if job.key in suite_keys:
                            record(job, outcome)
    except (KeyboardInterrupt, WorkerDied) as exc:
        for task in running.values():
            for job in task:
                if job.key in suite_keys:
                    reason = "interrupted by the user" if isinstance(exc, KeyboardInterrupt) else str(exc)
                    record(job, {"status": "failed", "phase": "train", "error": reason, "device": None,
                                 "started": _now()})
        processes = list((getattr(pool, "_processes", None) or {}).values())  # the pool's own record of them
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # a worker busy with a task would finish it first: stop it now
            process.terminate()
        if isinstance(exc, KeyboardInterrupt):
            raise
        summary.failed.append(("(workers)", "train", str(exc)))
        return
    pool.shutdown(wait=True)


class WorkerDied(RuntimeError):
    """A worker process ended without answering (killed, out of memory, a crash in native code)."""
