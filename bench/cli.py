"""The `msbench` command line: run, validate, ls, leaderboard, show, store."""

import argparse
import importlib.util
import json
import sqlite3
import sys
import uuid
from pathlib import Path

from bench.naming import format_cell, format_point
from bench.suite import MAX_JOBS, SuiteError, load_suite

DEFAULT_STORE = ".msbench/results.sqlite"
DEFAULT_CACHE = ".msbench/artifacts"
DEFAULT_THREADS = 2  # the quickstart's machine; a fixed default keeps scores independent of the core count


class Refused(Exception):
    """A problem found before any work: printed as one line, exit code 2."""


def _load_or_exit(path, max_jobs=MAX_JOBS):
    try:
        return load_suite(path, max_jobs)
    except SuiteError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        raise SystemExit(2) from None


def cmd_validate(args) -> int:
    status = 0
    for path in args.suites:
        try:
            suite = load_suite(path, args.max_jobs)
        except SuiteError as exc:
            for line in exc.problems:
                print(line, file=sys.stderr)
            status = 2
            continue
        print(f"{path}: ok ({len(suite.jobs)} jobs, metrics: {', '.join(m.id for m in suite.metrics)})")
    return status


def _writable_folder(path: Path, what: str) -> None:
    """Raise Refused unless files can be written in `path` (created if absent)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".msbench-probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as exc:
        raise Refused(f"{what} {path} is not writable: {exc.strerror or exc}") from None


def _open_store(path, readonly=False, any_version=False):
    from bench.store import Store, StoreError

    try:
        return Store(path, readonly=readonly, any_version=any_version)
    except StoreError as exc:
        raise Refused(str(exc)) from None


def cmd_run(args) -> int:
    from bench.cache import ArtifactCache, CacheError
    from bench.provenance import set_threads
    from bench.devices import (DeviceError, DevicesError, compile_problem, resolve_device, resolve_devices,
                               resolve_ensemble_size)
    from bench.runner import run_suite
    from bench.store import Claims
    from models._base import set_compile

    suite = _load_or_exit(args.suite, args.max_jobs)
    try:
        devices = resolve_devices(args.devices) if args.devices else [resolve_device(args.device)]
        device = devices[0]
        ensemble_size = resolve_ensemble_size(args.ensemble_size, device)
    except (DeviceError, DevicesError) as exc:
        raise Refused(f"msbench run: {exc}") from None
    workers = {"devices": devices, "threads": args.threads, "data_root": args.data_root} if len(devices) > 1 else None
    if args.executor == "ray":
        if args.devices:
            raise Refused("msbench run: --devices is for the local executor; Ray places tasks by --task-gpus")
        if importlib.util.find_spec("ray") is None:
            raise Refused("msbench run: --executor ray needs Ray: pip install -e '.[ray]'")
        if (args.task_cpus is not None and args.task_cpus <= 0) or args.task_gpus < 0 or args.task_retries < 0:
            raise Refused("msbench run: --task-cpus must be positive, --task-gpus and --task-retries not negative")
        workers = {"executor": "ray", "address": args.address, "cpus": args.task_cpus or args.threads,
                   "gpus": args.task_gpus, "retries": args.task_retries, "threads": args.threads,
                   "data_root": args.data_root}
    elif args.address:
        raise Refused("msbench run: --address is for --executor ray")
    if args.threads < 1:
        raise Refused(f"msbench run: --threads {args.threads}: must be at least 1")
    if args.compile and (problem := compile_problem(devices)):
        raise Refused(f"msbench run: {problem}")
    set_threads(args.threads)  # fixed, not the core count: the thread count moves scores (README)
    set_compile(args.compile)  # like threads: another kernel path, recorded with each artifact it trains
    data = _load_data_or_exit(suite, args.data_root)  # a missing file stops here, before anything is written
    if data is None:
        return 2
    # every place results go must be writable before the first job, not after hours of training
    cache = ArtifactCache(args.cache, fresh=args.fresh)
    try:
        cache.check_writable()
    except CacheError as exc:
        raise Refused(str(exc)) from None
    _writable_folder(Path(args.out) / suite.name, "leaderboard folder")
    store = _open_store(args.store)
    print(f"suite {suite.name}: {len(suite.jobs)} jobs on {', '.join(devices)} ({args.threads} CPU threads"
          + (f", batched ensembles of up to {ensemble_size}" if ensemble_size > 1 else "")
          + (", torch.compile" if args.compile else "") + "); "
          f"store {args.store}, cache {args.cache}",
          file=sys.stderr)
    claims = Claims(store)
    try:
        summary = run_suite(suite, store, cache, device, progress=not args.no_progress,
                            fid_weights=args.fid_weights, data=data, claims=claims, command=sys.argv,
                            ensemble_size=ensemble_size, workers=workers)
    except KeyboardInterrupt:
        print("interrupted: finished jobs are stored; run the same command again to resume", file=sys.stderr)
        return 130
    except sqlite3.Error as exc:
        raise Refused(f"results store {args.store} failed while writing: {exc} (disk full?); the jobs stored "
                      "before it are kept: run the same command again once it is fixed") from None
    finally:
        claims.close()
    run_id = store.run_id
    paths = _report(store, suite, args, data, train=True)
    store.close()
    print(f"run {run_id}: {summary.ok} jobs ran, {summary.skipped} already done, {len(summary.failed)} failed",
          file=sys.stderr)
    for display, phase, reason in summary.failed:
        print(f"  failed: {display} ({phase}): {reason}", file=sys.stderr)
    print(f"leaderboard: {paths['markdown']}")
    return 1 if summary.failed else 0


def _load_data_or_exit(suite, root):
    """The suite's dataset, or None after printing why it cannot be read."""
    from bench import data as datasets

    try:
        return datasets.load(suite.dataset["name"], root, **suite.dataset["params"])
    except datasets.DataFileError as exc:
        print(f"msbench: {exc}", file=sys.stderr)
        return None


def _report(store, suite, args, data=None, train=False) -> dict:
    """Write the suite's leaderboard and plots. In a run (`train`), a figure's model whose
    artifact is missing or damaged is trained again; otherwise that figure is skipped."""
    from bench.cache import ArtifactCache
    from bench.report import write_report
    from bench.trained import CachedModels

    data = data if data is not None else _load_data_or_exit(suite, args.data_root)
    warn = lambda message: print(message, file=sys.stderr)  # noqa: E731
    models = (CachedModels(suite.jobs, ArtifactCache(args.cache), data, train=train, log=warn)
              if data is not None else None)  # the image figures need the data
    out = Path(args.out) / suite.name
    try:
        return write_report(store, suite, out, models, warn)
    except OSError as exc:
        raise Refused(f"cannot write the leaderboard to {out}: {exc.strerror or exc}; the scores are stored: "
                      "`msbench leaderboard` writes it once that is fixed") from None


def cmd_leaderboard(args) -> int:
    suite = _load_or_exit(args.suite, args.max_jobs)
    store = _open_store(args.store, readonly=True)
    paths = _report(store, suite, args)
    print(f"leaderboard: {paths['markdown']}")
    return 0


def _baseline_path(args, suite) -> Path:
    return Path(args.baseline) if args.baseline else Path(args.out) / suite.name / "baseline.json"


def cmd_baseline(args) -> int:
    from bench.provenance import code_version
    from bench.regress import make_baseline, run_environment
    from bench.results import current_runs, current_scores

    suite = _load_or_exit(args.suite, args.max_jobs)
    store = _open_store(args.store, readonly=True)
    runs = current_runs(store, suite)
    bad = [r for r in runs if r["status"] != "ok"]
    if bad:
        raise Refused(f"msbench baseline: {len(bad)} of {len(runs)} jobs of {suite.name} are not ok (first: "
                      f"{bad[0]['label']} seed {bad[0]['seed']}, {bad[0]['status']}); run the suite first")
    stored = [json.loads(r["code_version"]) for r in runs if r.get("code_version")]
    code = stored[0] if stored and all(c.get("git_sha") == stored[0].get("git_sha") for c in stored) else code_version()
    document = make_baseline(suite, current_scores(store, suite), code, run_environment(runs))
    path = _baseline_path(args, suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    print(f"baseline: {path} ({len(document['cells'])} cells from {len(runs)} jobs)")
    return 0


def cmd_regress(args) -> int:
    from bench.regress import as_json, compare_bench, report

    if args.suite is None and not args.bench:
        raise Refused("msbench regress: give a suite, or --bench OLD NEW, or both")
    codes = []
    if args.suite is not None:
        codes.append(_regress_suite(args))
    if args.bench:
        comparison = compare_bench(*args.bench, ratio=args.ratio, allow_device_change=args.allow_device_change)
        print(f"benchmarks: {args.bench[1]} against {args.bench[0]} (slower or faster by more than x{args.ratio:g})")
        print(as_json(comparison) if args.json else report(comparison))
        codes.append(comparison.exit_code)
    return 2 if 2 in codes else max(codes)


def _regress_suite(args) -> int:
    from bench.regress import BaselineError, as_json, compare, floors, load_baseline, report, run_environment
    from bench.results import current_runs, current_scores

    suite = _load_or_exit(args.suite, args.max_jobs)
    try:
        baseline = load_baseline(_baseline_path(args, suite))
    except BaselineError as exc:
        raise Refused(f"msbench regress: {exc}") from None
    if baseline.get("suite") != suite.name:
        raise Refused(f"msbench regress: the baseline is of suite {baseline.get('suite')!r}, not {suite.name!r}")
    store = _open_store(args.store, readonly=True)
    invocations = {i["run_id"]: i for i in store.invocations(suite.name)}
    run_id = args.run or (max(invocations) if invocations else None)
    if run_id is None or run_id not in invocations:
        raise Refused(f"msbench regress: no run {run_id} of suite {suite.name} in {args.store}" if run_id else
                      f"msbench regress: no run of suite {suite.name} in {args.store}: `msbench run --fresh` first")
    runs = current_runs(store, suite, run_id)  # the run under test only: never older scores
    for run in runs:
        if run["status"] == "not run":
            run["error"] = f"run {run_id} did not score it (`msbench run --fresh` scores every job afresh)"
    comparison = compare(baseline, current_scores(store, suite, run_id), runs, run_environment(runs),
                         floors(), k=args.k, exact=args.exact,
                         allow_device_change=args.allow_device_change)
    if invocations[run_id]["finished"] is None:
        comparison.problems.insert(0, f"run {run_id} did not finish (interrupted, killed, or still running)")
    print(f"run under test: {run_id} ({invocations[run_id]['started']}"
          f"{', fresh' if invocations[run_id]['fresh'] else ', NOT fresh: it may have reused older work'})",
          file=sys.stderr)
    print(as_json(comparison) if args.json else report(comparison))
    return comparison.exit_code


def cmd_show(args) -> int:
    if args.cell:
        return _show_cell(args)
    suite = None
    if args.suite.endswith((".yaml", ".yml")) or Path(args.suite).is_file():
        suite = _load_or_exit(args.suite)
    name = suite.name if suite else args.suite
    store = _open_store(args.store, readonly=True)
    runs = store.runs(name)
    if not runs:
        raise Refused(f"msbench show: no runs of suite {name!r} in {args.store} "
                      f"(suites there: {', '.join(store.suites()) or 'none'})")
    current = {job.key: job for job in suite.jobs} if suite else None
    scores = {}
    for s in store.scores(name):
        scores.setdefault(s["job_key"], []).append(s)
    for r in runs:
        job = current.get(r["job_key"]) if current is not None else None
        label, sweep = (job.label, job.sweep) if job else (r["label"], json.loads(r["sweep"]))
        point = format_point(sweep)
        line = f"{r['job_key']}  {label}{f'[{point}]' if point else ''} seed={r['seed']}  {r['status']}"
        if current is not None and job is None:
            line += " (not current: the suite no longer asks for this job)"
        if r["status"] == "ok":
            line += "  " + " ".join(f"{s['metric_id']}={s['value']:.4g}" if s["value"] is not None
                                    else f"{s['metric_id']}=missing" for s in scores.get(r["job_key"], []))
        else:
            line += f"  ({r['phase'] or 'unfinished'}: {r['error'] or 'no result recorded'})"
        print(line)
    return 0


def _show_cell(args) -> int:
    """Everything recorded about one cell (label and sweep point) of a suite, seed by seed."""
    from bench.cache import ArtifactCache, CorruptArtifact

    suite = _load_or_exit(args.suite)
    jobs = [j for j in suite.jobs if format_cell(j.label, format_point(j.sweep)) == args.cell
            and (args.seed is None or j.seed == args.seed)]
    if not jobs:
        cells = sorted({format_cell(j.label, format_point(j.sweep)) for j in suite.jobs})
        raise Refused(f"msbench show: no cell {args.cell!r}" + (f" with seed {args.seed}" if args.seed is not None
                                                                else "") + f" in {suite.name} (cells: {', '.join(cells)})")
    store = _open_store(args.store, readonly=True)
    cache = ArtifactCache(args.cache)
    for job in jobs:
        row = store.status(suite.name, job.key)
        print(f"== {job.display} (job {job.key})")
        print(f"spec: {json.dumps(job.spec, sort_keys=True)}")
        if row is None:
            print("not run yet")
            continue
        run = next(r for r in store.runs(suite.name, row["run_id"]) if r["job_key"] == job.key)
        print(f"run {run['run_id']}: {run['status']}" + (f" while {run['phase']}: {run['error']}" if run["error"] else "")
              + f"; started {run['started']}, finished {run['finished'] or '—'}")
        code = json.loads(run["code_version"] or "{}")
        environment = json.loads(run["environment"] or "{}")
        print(f"code: {code.get('git_sha') or 'unknown'}{' (dirty)' if code.get('git_dirty') else ''}, "
              f"lock {code.get('lock') or '—'}")
        print(f"device: {run['device']}")
        if environment:
            print(f"kernel path: capability {environment.get('cpu_capability')}, {environment.get('threads')} threads, "
                  f"variables {environment.get('kernel_variables') or {}}, mkldnn {environment.get('mkldnn')}")
            packages = environment.get("packages") or {}
            print(f"packages ({len(packages)}): " + ", ".join(f"{k}=={v}" for k, v in sorted(packages.items())))
        if run["status"] == "ok":
            print(f"timings: trained {run['train_seconds']:.1f}s{' (reused a cached model)' if run['reused'] else ''}, "
                  f"scored {run['eval_seconds']:.1f}s; {run['n_params']:,} parameters")
        print(f"artifact: {cache.path(job.key)}" + ("" if cache.has(job.key) else " (not in this cache)"))
        if cache.has(job.key):
            try:
                losses = json.loads((cache.path(job.key) / "losses.json").read_text())
                cache.verify(job.key)
            except (OSError, ValueError, CorruptArtifact) as exc:
                print(f"loss curve: unreadable ({exc})")
            else:
                if losses:
                    print(f"loss curve: {len(losses)} records, step {losses[0].get('step')} loss "
                          f"{losses[0].get('loss'):.4g} -> step {losses[-1].get('step')} loss {losses[-1].get('loss'):.4g}; "
                          f"last: {json.dumps(losses[-1])}")
        for score in store.scores(suite.name, run["run_id"]):
            if score["job_key"] != job.key:
                continue
            value = f"{score['value']:.6g}" if score["value"] is not None else f"missing ({score['missing_reason']})"
            print(f"  {score['metric_id']} = {value} (v{score['version']}; details {score['details']})")
    return 0


def cmd_history(args) -> int:
    """A score's trend over every run of the suite kept in the store: a table and a figure."""
    from bench.report.history import history_frame, plot_history

    suite = _load_or_exit(args.suite)
    store = _open_store(args.store, readonly=True)
    frame = history_frame(store, suite, args.metric, args.label)
    if frame.empty:
        outputs = sorted(suite.directions)
        raise Refused(f"msbench history: no stored score {args.metric!r} of suite {suite.name}"
                      + (f" for label {args.label!r}" if args.label else "") + f" (outputs: {', '.join(outputs)})")
    print(frame.to_string(index=False))
    path = plot_history(frame, args.metric, Path(args.out) / suite.name / "plots" / f"history_{args.metric}.png")
    print(f"figure: {path}")
    return 0


def cmd_store(args) -> int:
    # check and backup leave an older store as it is (a backup from before an upgrade is the point)
    store = _open_store(args.store, readonly=args.action != "upgrade", any_version=args.action != "upgrade")
    if args.action == "upgrade":  # opening it for writing did it
        print(f"{args.store}: schema version {store.db.execute('PRAGMA user_version').fetchone()[0]}, every row kept")
        return 0
    if args.action == "check":
        problem = store.check()
        if problem != "ok":
            raise Refused(f"results store {args.store} is damaged (integrity_check: {problem[:300]}); restore it "
                          "from a backup, or salvage it with `sqlite3 FILE .recover`")
        counts = store.counts()
        runs = ", ".join(f"{n} {status}" for status, n in sorted(counts["runs"].items())) or "no runs"
        print(f"{args.store}: ok ({runs}; {counts['scores']} scores; suites: {', '.join(counts['suites']) or 'none'})")
    else:
        from bench.store import StoreError

        try:
            target = store.backup(args.target)
        except (StoreError, sqlite3.Error, OSError) as exc:
            raise Refused(f"msbench store backup: {exc}") from None
        print(f"backed up {args.store} to {target} (checked)")
    return 0


def cmd_ls(args) -> int:
    if args.what == "models":
        import models as zoo

        width = max(map(len, zoo.registry()))
        for name, cls in sorted(zoo.registry().items()):
            can = f"; can: {', '.join(sorted(cls.capabilities))}" if cls.capabilities else ""
            print(f"{name:{width}} {cls.description} [supports: {', '.join(sorted(cls.supports))}{can}]")
    elif args.what == "datasets":
        from bench.data import DATASETS, availability, data_root

        print(f"data root: {data_root(args.data_root)} (--data-root, else $DISENTANGLEMENT_LIB_DATA, else ./data)")
        for name, cls in DATASETS.items():
            missing = availability(name, args.data_root)
            status = "available" if missing is None else f"{missing}. {cls.source}"
            print(f"{name:16} {cls.description} [{status}]")
    elif args.what == "plots":
        from bench.report.registry import plots

        for name, info in sorted(plots().items()):
            needs = f"; models that can: {info.needs}" if info.needs else ""
            print(f"{name:22} {info.description} [{', '.join(sorted(info.kinds))}{needs}]")
    elif args.what == "metrics":
        from bench.metrics import METRICS

        for name, info in sorted(METRICS.items()):
            arrows = ", ".join(f"{out} {'↑' if up else '↓'}" for out, up in info.directions().items())
            print(f"{name:22} {info.description} ({arrows}; {info.kind}, v{info.version})")
        from bench.features import inception

        try:
            print(f"\nFID weights: found at {inception.find_weights()} (checked by checksum when a run loads them)")
        except inception.WeightsUnavailable as exc:
            print(f"\n{exc}")
    else:
        paths = sorted(Path(args.dir).glob("*.yaml"))
        if not paths:
            print(f"no suites (*.yaml) in {args.dir}/", file=sys.stderr)
        for path in paths:
            try:
                suite = load_suite(path)
                summary = suite.description.strip().split(". ")[0].rstrip(".")
                print(f"{path.stem:16} {summary} ({len(suite.jobs)} jobs)")
            except SuiteError as exc:
                print(f"{path.stem:16} INVALID: {exc.problems[0]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from bench.regress import DEFAULT_K, DEFAULT_RATIO

    parser = argparse.ArgumentParser(prog="msbench", description="Benchmark disentangled representation learners.")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_root_arg(p):
        p.add_argument("--data-root", metavar="DIR", default=None,
                       help="where dataset files are, in disentanglement-lib's layout "
                            "(default: $DISENTANGLEMENT_LIB_DATA, else ./data)")

    def store_args(p):
        p.add_argument("--store", default=DEFAULT_STORE, help=f"SQLite results store (default {DEFAULT_STORE})")

    def max_jobs_arg(p):
        p.add_argument("--max-jobs", type=int, default=MAX_JOBS, metavar="N",
                       help=f"refuse a suite whose sweeps expand to more jobs (default {MAX_JOBS:,})")

    p = sub.add_parser("run", help="train or load every job of a suite, score it, write the leaderboard")
    p.add_argument("suite", help="path to a suite YAML file")
    store_args(p)
    max_jobs_arg(p)
    p.add_argument("--cache", default=DEFAULT_CACHE, help=f"trained-artifact folder (default {DEFAULT_CACHE})")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N",
                   help=f"CPU threads for training and scoring (default {DEFAULT_THREADS}, whatever the core "
                        "count: scores move with it, and it is recorded with every run)")
    p.add_argument("--devices", default=None, metavar="LIST",
                   help="one worker process per device: a comma-separated list (cuda:0,cuda:1; cpu,cpu runs two CPU "
                        "workers, each with --threads threads) or all (every GPU); replaces --device. The driver alone "
                        "writes the store; scores are those of one worker")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local (default: this process, or --devices' worker processes) or ray (a task per ensemble "
                        "group or job; needs pip install -e '.[ray]')")
    p.add_argument("--address", default=None, help="with --executor ray: the cluster to join (default: start Ray here)")
    p.add_argument("--task-cpus", type=float, default=None, metavar="N",
                   help="with --executor ray: CPUs each task asks for (default: --threads)")
    p.add_argument("--task-gpus", type=float, default=0, metavar="N",
                   help="with --executor ray: GPUs each task asks for (default 0; 0.25 packs four tasks on a GPU)")
    p.add_argument("--task-retries", type=int, default=2, metavar="N",
                   help="with --executor ray: times a task whose worker crashed is retried before its jobs fail "
                        "(default 2)")
    p.add_argument("--ensemble-size", default="auto", metavar="N",
                   help="the most jobs that differ only in seed and loss weights trained together as one batched "
                        "ensemble; 1 trains each alone; auto (default): 64 on a GPU, 1 on the CPU, where a batched "
                        "ensemble is slower than training one model after another (README, Batched ensembles)")
    p.add_argument("--compile", action="store_true",
                   help="train through torch.compile (off by default): the shared training step's loss, or a batched "
                        "ensemble's vmapped loss; models with their own step (the GANs) stay eager. The first step "
                        "compiles (seconds to a minute). Another kernel path: each artifact records it, and regress "
                        "--exact flags it")
    p.add_argument("--out", default="leaderboards", help="where leaderboards go (default leaderboards/)")
    p.add_argument("--no-progress", action="store_true", help="no per-step progress bars")
    p.add_argument("--fresh", action="store_true",
                   help="reuse nothing made before: score every job again and retrain every model and feature net "
                        "(replacing their cached artifacts); for nightly regression")
    data_root_arg(p)
    p.add_argument("--fid-weights", metavar="PATH", default=None,
                   help="FID Inception weights file (default: $MSBENCH_FID_WEIGHTS, else "
                        "$TORCH_HOME/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth); without it FID is missing")
    p.set_defaults(func=cmd_run)

    def baseline_args(p, optional=False):
        p.add_argument("suite", help="path to a suite YAML file", **({"nargs": "?"} if optional else {}))
        store_args(p)
        max_jobs_arg(p)
        p.add_argument("--out", default="leaderboards", help="the baseline is OUT/<suite>/baseline.json")
        p.add_argument("--baseline", metavar="PATH", default=None, help="another baseline file")

    p = sub.add_parser("baseline", help="write the suite's current scores as its regression baseline")
    baseline_args(p)
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("regress", help="compare the suite's latest run with its baseline, and/or two benchmark "
                                       "files (exit 0: none regressed, 1: some did, 2: cannot be trusted)")
    baseline_args(p, optional=True)
    p.add_argument("--bench", nargs=2, metavar=("OLD", "NEW"),
                   help="also compare two pytest-benchmark JSON files (tox -e bench writes .msbench/benchmarks.json)")
    p.add_argument("--ratio", type=float, default=DEFAULT_RATIO,
                   help=f"with --bench: a median time that grew by more than this factor regressed "
                        f"(default {DEFAULT_RATIO})")
    p.add_argument("--k", type=float, default=DEFAULT_K, help=f"standard errors a mean must move by (default {DEFAULT_K:g})")
    p.add_argument("--exact", action="store_true", help="any change of any value is a regression")
    p.add_argument("--allow-device-change", action="store_true",
                   help="compare although the baseline ran on another device kind (cpu/cuda)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--run", metavar="RUN_ID", default=None,
                   help="the run under test (default: the suite's latest run in the store)")
    p.set_defaults(func=cmd_regress)

    p = sub.add_parser("validate", help="check suite files without running anything")
    p.add_argument("suites", nargs="+")
    max_jobs_arg(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("ls", help="list models, datasets, metrics, plots or suites")
    p.add_argument("what", choices=["models", "datasets", "metrics", "plots", "suites"])
    p.add_argument("--dir", default="suites", help="where `ls suites` looks (default: ./suites)")
    data_root_arg(p)
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("leaderboard", help="rewrite a suite's leaderboard and plots from the store")
    p.add_argument("suite")
    store_args(p)
    max_jobs_arg(p)
    p.add_argument("--cache", default=DEFAULT_CACHE, help="trained artifacts, for the image figures")
    data_root_arg(p)
    p.add_argument("--out", default="leaderboards")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("show", help="list the stored runs of a suite with status, errors and scores")
    p.add_argument("suite", help="a suite file (then runs it no longer asks for are marked not current) or a suite name")
    store_args(p)
    p.add_argument("--cell", metavar="LABEL[SWEEP]",
                   help="one cell's full provenance, e.g. 'MS-VAE[beta=4]' (needs a suite file)")
    p.add_argument("--seed", type=int, default=None, help="with --cell: that seed only")
    p.add_argument("--cache", default=DEFAULT_CACHE, help="trained artifacts (for --cell's loss curve)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("history", help="a score's trend over every run of a suite kept in the store (table and figure)")
    p.add_argument("suite", help="a suite file")
    store_args(p)
    p.add_argument("--metric", required=True, help="an output, e.g. mig or fd_domain_recon")
    p.add_argument("--label", default=None, help="one model label only")
    p.add_argument("--out", default="leaderboards", help="the figure goes to OUT/<suite>/plots/history_<metric>.png")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("store", help="check a results store, or back it up")
    store_sub = p.add_subparsers(dest="action", required=True)
    q = store_sub.add_parser("check", help="full integrity check and a count of what it holds")
    store_args(q)
    q = store_sub.add_parser("upgrade", help="upgrade a store from an older msbench in place (keeps every row)")
    store_args(q)
    q = store_sub.add_parser("backup", help="a consistent, checked copy (safe while a run writes)")
    q.add_argument("target", help="the new backup file (must not exist)")
    store_args(q)
    p.set_defaults(func=cmd_store)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Refused as exc:
        print(str(exc) if str(exc).startswith("msbench") else f"msbench: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: not an error
        sys.stderr.close()
        return 0
