"""How far each score moves with the CPU's kernel path and thread count, at a fixed seed.

    python scripts/kernel_drift.py [SUITE] [--out DIR] [--config NAME:VAR=VALUE,...]

Runs SUITE (default suites/drift.yaml) once per configuration, each in a fresh process with its
own store and cache (nothing is reused between them), and prints a Markdown table: every score
of every job under each configuration, the largest difference between configurations, and,
for comparison, the standard deviation over the suite's seeds under the first configuration.

One machine imitates several through the variables that pick the kernels: `--threads` (OpenMP),
ATEN_CPU_CAPABILITY (ATen's vectorised kernels: default, avx2, avx512) and ONEDNN_MAX_CPU_ISA
(oneDNN's convolutions: SSE41, AVX2, AVX512_CORE, ...). A cap above what the CPU has changes
nothing, so the CPU's flags are printed with the table. The default configurations:

    default     --threads 2
    threads-1   --threads 1
    aten-base   --threads 2, ATEN_CPU_CAPABILITY=default (no vector kernels in ATen)
    onednn-sse  --threads 2, ONEDNN_MAX_CPU_ISA=SSE41
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.provenance import cpu_flags, cpu_model  # noqa: E402
from bench.store import Store  # noqa: E402

DEFAULT_CONFIGS = ["default:threads=2", "threads-1:threads=1", "aten-base:threads=2,ATEN_CPU_CAPABILITY=default",
                   "onednn-sse:threads=2,ONEDNN_MAX_CPU_ISA=SSE41"]


def parse_config(text: str) -> tuple[str, int, dict]:
    name, _, assignments = text.partition(":")
    threads, variables = 2, {}
    for item in filter(None, assignments.split(",")):
        key, _, value = item.partition("=")
        if key == "threads":
            threads = int(value)
        else:
            variables[key] = value
    return name, threads, variables


def run(suite: str, out: Path, name: str, threads: int, variables: dict) -> dict:
    """{(label, sweep, seed, metric_id): value} of one configuration's run (reused when stored)."""
    store = out / f"{name}.sqlite"
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
                                                            "DNNL_MAX_CPU_ISA", "OMP_NUM_THREADS")}
    env.update(variables)
    command = [sys.executable, "-m", "bench", "run", suite, "--store", str(store), "--cache", str(out / f"{name}-cache"),
               "--out", str(out / f"{name}-leaderboards"), "--no-progress", "--device", "cpu", "--threads", str(threads)]
    print(f"{name}: {' '.join(f'{k}={v}' for k, v in variables.items())} {' '.join(command[2:])}", file=sys.stderr)
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{name}: msbench run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    db = Store(store, readonly=True)
    suite_name = db.suites()[0]
    machine = json.loads(db.runs(suite_name)[0]["environment"])
    scores = {(s["label"], s["sweep"], s["seed"], s["metric_id"]): s["value"] for s in db.scores(suite_name)}
    db.close()
    print(f"  capability {machine['cpu_capability']}, threads {machine['threads']}, "
          f"variables {machine['kernel_variables']}", file=sys.stderr)
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite", nargs="?", default="suites/drift.yaml")
    parser.add_argument("--out", default=".msbench/drift", help="stores and caches, one per configuration")
    parser.add_argument("--config", action="append", help="NAME:threads=N,VAR=VALUE,... (repeatable)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    configs = [parse_config(c) for c in args.config or DEFAULT_CONFIGS]
    results = {name: run(args.suite, out, name, threads, variables) for name, threads, variables in configs}
    names = [name for name, _, _ in configs]
    first = results[names[0]]
    print(f"CPU: {cpu_model()}; flags: {' '.join(cpu_flags())}\n")
    print("| model | point | seed | score | " + " | ".join(names) + " | max Δ between configs | seed sd |")
    print("| --- | --- | --- | --- |" + " --- |" * (len(names) + 2))
    for key in sorted(first, key=lambda k: (k[0], k[1], k[3], k[2])):
        label, sweep, seed, metric = key
        values = [results[name].get(key) for name in names]
        if any(v is None for v in values):
            continue
        per_seed = [v for (la, sw, _, me), v in first.items() if (la, sw, me) == (label, sweep, metric) and v is not None]
        sd = statistics.stdev(per_seed) if len(per_seed) > 1 else float("nan")
        point = ", ".join(f"{k}={v:g}" for k, v in json.loads(sweep).items()) or "—"
        print(f"| {label} | {point} | {seed} | {metric} | " + " | ".join(f"{v:.4g}" for v in values)
              + f" | {max(values) - min(values):.3g} | {sd:.3g} |")
    print_means(results, names)


def print_means(results: dict, names: list) -> None:
    """The same per (model, output) for the mean over seeds, which is what `msbench regress`
    compares; then, per metric, the largest movement of such a mean (all models and outputs)."""
    means = {}  # (label, sweep, metric) -> {config: [values]}
    for name in names:
        for (label, sweep, _, metric), value in results[name].items():
            if value is not None:
                means.setdefault((label, sweep, metric), {}).setdefault(name, []).append(value)
    print(f"\n| model | score | {' | '.join(names)} | max Δ of the mean | seed sd |")
    print("| --- | --- |" + " --- |" * (len(names) + 2))
    largest = {}
    for (label, sweep, metric), by_config in sorted(means.items()):
        if set(by_config) != set(names):
            continue
        values = [statistics.fmean(by_config[name]) for name in names]
        first = by_config[names[0]]
        sd = statistics.stdev(first) if len(first) > 1 else float("nan")
        move = max(values) - min(values)
        name = metric.split("[")[0]
        largest[name] = max(largest.get(name, 0.0), move)
        print(f"| {label} | {metric} | " + " | ".join(f"{v:.4g}" for v in values) + f" | {move:.3g} | {sd:.3g} |")
    print("\nLargest movement of a mean over seeds, per output: "
          + ", ".join(f"{name} {move:.3g}" for name, move in sorted(largest.items())))


if __name__ == "__main__":
    main()
