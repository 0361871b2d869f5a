"""The `msbench` command line: run, validate, ls, leaderboard, show."""

import argparse
import json
import sys
from pathlib import Path

from bench.suite import SuiteError, format_point, load_suite

DEFAULT_STORE = ".msbench/results.sqlite"
DEFAULT_CACHE = ".msbench/artifacts"


def _load_or_exit(path):
    try:
        return load_suite(path)
    except SuiteError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        raise SystemExit(2) from None


def cmd_validate(args) -> int:
    status = 0
    for path in args.suites:
        try:
            suite = load_suite(path)
        except SuiteError as exc:
            for line in exc.problems:
                print(line, file=sys.stderr)
            status = 2
            continue
        print(f"{path}: ok ({len(suite.jobs)} jobs, metrics: {', '.join(m.id for m in suite.metrics)})")
    return status


def cmd_run(args) -> int:
    from bench.cache import ArtifactCache
    from bench.runner import DeviceError, resolve_device, run_suite
    from bench.store import Store

    suite = _load_or_exit(args.suite)
    try:
        device = resolve_device(args.device)
    except DeviceError as exc:
        print(f"msbench run: {exc}", file=sys.stderr)
        return 2
    data = _load_data_or_exit(suite, args.data_root)  # a missing file stops here, before any training
    if data is None:
        return 2
    store = Store(args.store)
    print(f"suite {suite.name}: {len(suite.jobs)} jobs on {device}; store {args.store}, cache {args.cache}",
          file=sys.stderr)
    try:
        summary = run_suite(suite, store, ArtifactCache(args.cache), device, progress=not args.no_progress,
                            fid_weights=args.fid_weights, data=data)
    except KeyboardInterrupt:
        print("interrupted: finished jobs are stored; run the same command again to resume", file=sys.stderr)
        return 130
    paths = _report(store, suite, args, data)
    store.close()
    print(f"{summary.ok} jobs ran, {summary.skipped} already done, {len(summary.failed)} failed", file=sys.stderr)
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


def _report(store, suite, args, data=None) -> dict:
    from bench.cache import ArtifactCache
    from bench.report import write_report
    from bench.runner import CachedModels

    data = data if data is not None else _load_data_or_exit(suite, args.data_root)
    models = CachedModels(ArtifactCache(args.cache), data) if data is not None else None  # image figures need data
    return write_report(store, suite.name, Path(args.out) / suite.name, suite.plots, suite.labels,
                        suite.metric_ids, models)


def cmd_leaderboard(args) -> int:
    from bench.store import Store

    suite = _load_or_exit(args.suite)
    paths = _report(Store(args.store), suite, args)
    print(f"leaderboard: {paths['markdown']}")
    return 0


def cmd_show(args) -> int:
    from bench.store import Store

    if not Path(args.store).exists():
        print(f"msbench show: no results store at {args.store}", file=sys.stderr)
        return 2
    store = Store(args.store)
    runs = store.runs(args.suite)
    if not runs:
        print(f"msbench show: no runs of suite {args.suite!r} in {args.store} "
              f"(suites there: {', '.join(store.suites()) or 'none'})", file=sys.stderr)
        return 2
    scores = {}
    for s in store.scores(args.suite):
        scores.setdefault(s["job_key"], []).append(s)
    for r in runs:
        sweep = format_point(json.loads(r["sweep"]))
        line = f"{r['job_key']}  {r['label']}{f'[{sweep}]' if sweep else ''} seed={r['seed']}  {r['status']}"
        if r["status"] == "ok":
            line += "  " + " ".join(f"{s['metric_id']}={s['value']:.4g}" if s["value"] is not None
                                    else f"{s['metric_id']}=missing" for s in scores.get(r["job_key"], []))
        else:
            line += f"  ({r['phase'] or 'unfinished'}: {r['error'] or 'no result recorded'})"
        print(line)
    return 0


def cmd_ls(args) -> int:
    if args.what == "models":
        import models as zoo

        width = max(map(len, zoo.registry()))
        for name, cls in sorted(zoo.registry().items()):
            print(f"{name:{width}} {cls.description} [supports: {', '.join(sorted(cls.supports))}]")
    elif args.what == "datasets":
        from bench.data import DATASETS, availability, data_root

        print(f"data root: {data_root(args.data_root)} (--data-root, else $DISENTANGLEMENT_LIB_DATA, else ./data)")
        for name, cls in DATASETS.items():
            missing = availability(name, args.data_root)
            status = "available" if missing is None else f"{missing}. {cls.source}"
            print(f"{name:16} {cls.description} [{status}]")
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
    parser = argparse.ArgumentParser(prog="msbench", description="Benchmark disentangled representation learners.")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_root_arg(p):
        p.add_argument("--data-root", metavar="DIR", default=None,
                       help="where dataset files are, in disentanglement-lib's layout "
                            "(default: $DISENTANGLEMENT_LIB_DATA, else ./data)")

    def store_args(p):
        p.add_argument("--store", default=DEFAULT_STORE, help=f"SQLite results store (default {DEFAULT_STORE})")

    p = sub.add_parser("run", help="train or load every job of a suite, score it, write the leaderboard")
    p.add_argument("suite", help="path to a suite YAML file")
    store_args(p)
    p.add_argument("--cache", default=DEFAULT_CACHE, help=f"trained-artifact folder (default {DEFAULT_CACHE})")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--out", default="leaderboards", help="where leaderboards go (default leaderboards/)")
    p.add_argument("--no-progress", action="store_true", help="no per-step progress bars")
    data_root_arg(p)
    p.add_argument("--fid-weights", metavar="PATH", default=None,
                   help="FID Inception weights file (default: $MSBENCH_FID_WEIGHTS, else "
                        "$TORCH_HOME/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth); without it FID is missing")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check suite files without running anything")
    p.add_argument("suites", nargs="+")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("ls", help="list models, datasets, metrics or suites")
    p.add_argument("what", choices=["models", "datasets", "metrics", "suites"])
    p.add_argument("--dir", default="suites", help="where `ls suites` looks (default: ./suites)")
    data_root_arg(p)
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("leaderboard", help="rewrite a suite's leaderboard and plots from the store")
    p.add_argument("suite")
    store_args(p)
    p.add_argument("--cache", default=DEFAULT_CACHE, help="trained artifacts, for the image figures")
    data_root_arg(p)
    p.add_argument("--out", default="leaderboards")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("show", help="list the stored runs of a suite with status, errors and scores")
    p.add_argument("suite", help="suite name")
    store_args(p)
    p.set_defaults(func=cmd_show)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: not an error
        sys.stderr.close()
        return 0
