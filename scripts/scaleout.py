#!/usr/bin/env python3
"""Wall time and scores of one suite (default: the smoke suite) under each executor, side by side:
one process, `--devices cpu,cpu` (two worker processes), and Ray (`--executor ray`, a local Ray of
this machine's cores), each from empty folders, with the same thread count.

    python scripts/scaleout.py [--suite suites/smoke.yaml] [--threads 1] [--skip-ray]

Prints a table (wall seconds, jobs scored) and whether every score is bit-identical to the one-process
run's. On 2 cores with --threads 1 the two workers each get a core; with the default 2 threads they
would share them and gain nothing.
"""

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(suite: str, folder: Path, threads: int, extra: list) -> float:
    command = [sys.executable, "-m", "bench", "run", str(Path(suite).resolve()), "--store", "s.sqlite", "--cache", "art",
               "--out", "lb", "--no-progress", "--threads", str(threads), *extra]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(extra) or 'one process'} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def scores(folder: Path) -> dict:
    with sqlite3.connect(folder / "s.sqlite") as db:
        return {(k, m): v for k, m, v in db.execute("SELECT job_key, metric_id, value FROM scores")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=str(ROOT / "suites" / "smoke.yaml"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    ways = {"one process": [], "2 workers (--devices cpu,cpu)": ["--devices", "cpu,cpu"]}
    if not args.skip_ray:
        ways["Ray, local (--executor ray)"] = ["--executor", "ray"]
    rows, reference = [], None
    for name, extra in ways.items():
        folder = Path(tempfile.mkdtemp(prefix="scaleout"))
        try:
            seconds = run(args.suite, folder, args.threads, extra)
            found = scores(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        reference = found if reference is None else reference
        rows.append((name, seconds, len(found), found == reference))
    print(f"suite {args.suite}, {args.threads} thread(s) per process\n")
    print("| executor | wall time, s | scores | identical to one process |\n| --- | --- | --- | --- |")
    for name, seconds, count, same in rows:
        print(f"| {name} | {seconds:.1f} | {count} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
