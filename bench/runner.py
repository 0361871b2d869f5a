"""Run a suite: for each job, train or load its model, evaluate it, record the result.

Jobs whose scores are already stored are skipped; trained models come from the artifact
cache when present; one failing job is recorded with its phase and reason and never
stops the others.
"""

import datetime
import sys
import time
import traceback
from dataclasses import dataclass, field

from tqdm.auto import tqdm

import models as zoo
from bench import data as datasets
from bench.cache import ArtifactCache, CorruptArtifact
from bench.evaluate import evaluate
from bench.features import FeatureSpaces
from bench.provenance import code_version, environment
from bench.store import Store
from bench.trained import UpstreamFailed, obtain_model, plan_ensembles, train_ensembles
from bench.workers import LocalPool, RayPool, run_on_workers, settings_for


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


PHASE_VERB = {"train": "training", "evaluate": "evaluating"}


@dataclass
class RunSummary:
    skipped: int = 0
    ok: int = 0
    failed: list = field(default_factory=list)  # (job display, phase, reason)


def _check_artifact(cache: ArtifactCache, key: str, log) -> None:
    """A scored job's artifact is still checked (a hash, no model built): a damaged one is set
    aside now, and trained again when a figure or a later job needs it."""
    if not cache.has(key):
        return
    try:
        cache.verify(key)
    except CorruptArtifact as exc:
        moved = cache.set_aside(key)
        log(f"warning: {exc}; " + (f"moved it to {moved}; " if moved else "") + "it is trained again when needed")


def run_suite(suite, store: Store, cache: ArtifactCache, device: str = "cpu", progress: bool = True,
              out=None, fid_weights=None, data=None, claims=None, poll: float = 1.0, command=None,
              ensemble_size: int = 1, workers: dict | None = None) -> RunSummary:
    """One run (invocation) of `suite`, under a new run id in the store (`command`: its argv,
    recorded). With `cache.fresh`, no stored score is reused either: every job is scored again.

    `fid_weights`: the Inception weights file for FID (else $MSBENCH_FID_WEIGHTS, else torch's hub cache);
    `data`: the suite's dataset, already loaded (else loaded here, from the default data root);
    `claims`: this run's `store.Claims`, so that runs sharing the store share the jobs (a job
    another run holds is taken up later, or skipped once that run has scored it)."""
    out = out or sys.stderr
    summary = RunSummary()
    run_id = store.begin(suite.name, cache.fresh, command)
    tqdm.write(f"run {run_id}" + (" (fresh: reusing no stored score or cached artifact)" if cache.fresh else ""),
               file=out)
    _run_jobs(suite, store, cache, device, progress, out, fid_weights, data, claims, poll, summary, ensemble_size,
              workers)
    store.end(_now())  # an interrupted or killed run keeps finished NULL
    return summary


def _run_jobs(suite, store, cache, device, progress, out, fid_weights, data, claims, poll, summary,
              ensemble_size=1, workers=None) -> None:
    wanted = suite.score_specs
    version, machine = code_version(), environment(device)
    data = data if data is not None else datasets.load(suite.dataset["name"], **suite.dataset["params"])
    width = len(str(len(suite.jobs)))
    suite_start, run_started, job_seconds = time.perf_counter(), _now(), []
    eval_samples = {}  # evaluation data, drawn once per (seed, size) and shared by all models
    spaces = FeatureSpaces(cache, device, fid_weights, progress, log=lambda m: tqdm.write(m, file=out))
    pending, said_waiting = list(enumerate(suite.jobs, 1)), False
    held_elsewhere = set()  # indices of the jobs another run held when this one reached them

    def done(job) -> bool:  # a fresh run counts only what it scored itself
        return store.done(suite.name, job.key, wanted, run_id=store.run_id if cache.fresh else None)

    def run_one(index, job, log) -> None:
        """Train or load one job, score it and record the result (or the failure, with its phase)."""
        store.start(suite.name, job, machine, version, _now())
        phase = "train"
        try:
            model, reused, train_seconds = obtain_model(job, data, cache, device, progress, log, claims, ensembled)
            phase = "evaluate"
            start = time.perf_counter()
            scores = evaluate(model, data, suite.metrics, job.seed, eval_samples, spaces)
            eval_seconds = time.perf_counter() - start
        except KeyboardInterrupt:
            store.fail(suite.name, job.key, phase, "interrupted by the user", _now())
            raise
        except Exception as exc:  # noqa: BLE001 - one failed job must not stop the suite
            reason = f"{type(exc).__name__}: {exc}"
            store.fail(suite.name, job.key, phase, reason, _now())
            summary.failed.append((job.display, phase, reason))
            log(f"FAILED while {PHASE_VERB[phase]}: {reason}")
            if not isinstance(exc, (zoo.TrainingDiverged, UpstreamFailed)):
                tqdm.write("".join(traceback.format_exception(exc)[-3:]).rstrip(), file=out)
            return
        training = cache.training_mode(job.key)
        store.finish(suite.name, job.key, scores, model.num_params(), reused, train_seconds, eval_seconds, _now(),
                     training=training)
        finished(index, scores, reused, train_seconds, eval_seconds, training, log)

    def finished(index, scores, reused, train_seconds, eval_seconds, training, log) -> None:
        """Count a scored job and say what it scored."""
        summary.ok += 1
        job_seconds.append(train_seconds + eval_seconds)
        shown = " ".join(f"{s['metric_id'].split('[')[0]}={s['value']:.4g}" for s in scores if s["value"] is not None)
        missing = sum(s["value"] is None for s in scores)
        shown += f" ({missing} not applicable, see the leaderboard)" if missing else ""
        how = "reused" if reused else f"trained in {train_seconds:.1f}s" + (
            f" (its share of an {training})" if training and training != "alone" else "")
        eta = sum(job_seconds) / len(job_seconds) * (len(suite.jobs) - index)
        log(f"{how}, evaluated in {eval_seconds:.1f}s: {shown} "
            f"(suite {_clock(time.perf_counter() - suite_start)} elapsed, ~{_clock(eta)} left)")

    if workers:
        index_of = {job.key: index for index, job in pending}
        machines = {}

        def record(job, outcome) -> None:
            """The driver, the store's only writer, records what a worker sent back."""
            index = index_of[job.key]
            log = lambda message: tqdm.write(f"[{index:>{width}}/{len(suite.jobs)}] {job.display}: {message}", file=out)  # noqa: E731
            where = outcome["device"] or (workers.get("devices") or ["cpu"])[0]
            if "environment" not in outcome and where not in machines:  # (a job the driver failed itself)
                machines[where] = environment(where)
            store.start(suite.name, job, outcome.get("environment") or machines[where], version, outcome["started"])
            if outcome["status"] == "failed":
                store.fail(suite.name, job.key, outcome["phase"], outcome["error"], _now())
                summary.failed.append((job.display, outcome["phase"], outcome["error"]))
                log(f"FAILED while {PHASE_VERB[outcome['phase']]}: {outcome['error']}")
                return
            store.finish(suite.name, job.key, outcome["scores"], outcome["n_params"], outcome["reused"],
                         outcome["train_seconds"], outcome["eval_seconds"], _now(), training=outcome["training"])
            finished(index, outcome["scores"], outcome["reused"], outcome["train_seconds"], outcome["eval_seconds"],
                     outcome["training"], lambda message: log(f"{message} [{outcome['worker']}]"))

        todo = []
        for index, job in pending:
            if done(job):
                summary.skipped += 1
                tqdm.write(f"[{index:>{width}}/{len(suite.jobs)}] {job.display}: already scored, skipped", file=out)
                _check_artifact(cache, job.key, lambda m: tqdm.write(f"{job.display}: {m}", file=out))
            else:
                todo.append(job)
        if todo:
            settings = settings_for(suite, cache, workers["threads"], workers.get("data_root"), fid_weights, store.run_id)
            if workers.get("executor") == "ray":
                pool = RayPool(settings, workers.get("address"), workers["cpus"], workers["gpus"], workers["retries"])
            else:
                pool = LocalPool(workers["devices"], settings)
            run_on_workers(suite, cache, pool, workers["threads"], record, todo, out, ensemble_size, summary)
        return

    # jobs that can train together do so first, as batched ensembles; each is then scored as any job is
    groups = plan_ensembles([job for _, job in pending if not done(job)], cache, ensemble_size)
    ensembled = train_ensembles(groups, data, cache, device, progress, lambda m: tqdm.write(m, file=out), claims)

    while pending:
        deferred = []
        for index, job in pending:
            prefix = f"[{index:>{width}}/{len(suite.jobs)}] {job.display}"

            def log(message, prefix=prefix):
                tqdm.write(f"{prefix}: {message}", file=out)

            if done(job):
                summary.skipped += 1
                log("scored by another run" if index in held_elsewhere else "already scored, skipped")
                _check_artifact(cache, job.key, log)
                continue
            claim = f"{suite.name}/{job.key}"
            if claims is not None and claims.acquire(claim) is not None:
                deferred.append((index, job))
                held_elsewhere.add(index)
                continue
            try:
                row = store.status(suite.name, job.key) if index in held_elsewhere else None
                if claims is not None and done(job):  # finished elsewhere since we looked
                    summary.skipped += 1
                    log("scored by another run")
                elif row and row["status"] == "failed" and (row["started"] or "") >= run_started:
                    summary.failed.append((job.display, row["phase"], f"in another run: {row['error']}"))
                    log(f"FAILED in another run while {PHASE_VERB.get(row['phase'], row['phase'])}: {row['error']}")
                else:
                    run_one(index, job, log)
            finally:
                if claims is not None:
                    claims.release(claim)
        if deferred and len(deferred) == len(pending):  # everything left is being worked on elsewhere
            if not said_waiting:
                tqdm.write(f"waiting for {len(deferred)} job(s) that another run is working on", file=out)
                said_waiting = True
            time.sleep(poll)
        pending = deferred

