#!/usr/bin/env python3
"""Per-seed scores of one suite in two results stores, compared value for value.

    python scripts/compare_stores.py SUITE STORE_A STORE_B

Takes each job's latest successful row in each store (bench.store.Store.scores) and matches scores by
(model label, sweep point, seed, score id), not by job key, so that two runs of the same suite made by
different commits (whose job keys differ) can be compared, e.g. to check that a change moves no CPU
result. Prints how many scores each store holds and every score that is not bit-identical (NaN equals
NaN; a score stored as missing differs from one not stored at all); exits 1 when any differs.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.store import Store  # noqa: E402 - after the path line, so that the script runs from a checkout

ABSENT = "(not stored)"


def scores(path: str, suite: str) -> dict:
    store = Store(path, readonly=True, any_version=True)
    try:
        return {(s["label"], s["sweep"], s["seed"], s["metric_id"]): s["value"] for s in store.scores(suite)}
    finally:
        store.close()


def same(x, y) -> bool:
    return x == y or (isinstance(x, float) and isinstance(y, float) and x != x and y != y)


def main(suite: str, a: str, b: str) -> int:
    left, right = scores(a, suite), scores(b, suite)
    print(f"{a}: {len(left)} scores; {b}: {len(right)} scores")
    differing = 0
    for key in sorted(left.keys() | right.keys(), key=str):
        x, y = left.get(key, ABSENT), right.get(key, ABSENT)
        if not same(x, y):
            differing += 1
            print(f"  {key}: {x!r} against {y!r}")
    print(f"{differing} differ" if differing else "every score is bit-identical")
    return 1 if differing else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
