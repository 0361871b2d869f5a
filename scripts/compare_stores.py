#!/usr/bin/env python3
"""Per-seed scores of one suite in two results stores, compared value for value.

    python scripts/compare_stores.py SUITE STORE_A STORE_B

Matches the latest successful score of each (model label, sweep point, seed, score id) in each store,
so that two runs of the same suite made by different commits (whose job keys differ) can be compared,
e.g. to check that a change moves no CPU result. Prints how many scores each store holds and every
score that is not bit-identical (NaN equals NaN); exits 1 when any differs or is on one side only.
"""

import sqlite3
import sys

QUERY = ("SELECT r.label, r.sweep, r.seed, s.metric_id, s.value FROM runs r JOIN scores s ON s.job_key = r.job_key "
         "WHERE r.suite = ? AND r.status = 'ok' ORDER BY r.finished")


def scores(store: str, suite: str) -> dict:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return {(label, sweep, seed, metric): value for label, sweep, seed, metric, value in db.execute(QUERY, (suite,))}


def main(suite: str, a: str, b: str) -> int:
    left, right = scores(a, suite), scores(b, suite)
    print(f"{a}: {len(left)} scores; {b}: {len(right)} scores")
    differing = 0
    for key in sorted(left.keys() | right.keys(), key=str):
        x, y = left.get(key), right.get(key)
        if x == y or (x is not None and y is not None and x != x and y != y):
            continue
        differing += 1
        print(f"  {key}: {x!r} against {y!r}")
    print(f"{differing} differ" if differing else "every score is bit-identical")
    return 1 if differing else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
