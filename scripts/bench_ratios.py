"""Side-by-side ratios from one pytest-benchmark JSON: for each benchmark group, every entry's
median time against the group's `ours` entry (entries named test_x[...ours...] and [...dlib...]).

    python scripts/bench_ratios.py .msbench/bench-reference.json
"""

import json
import re
import sys
from collections import defaultdict


def ratios(path: str) -> list[str]:
    groups = defaultdict(dict)
    for entry in json.load(open(path, encoding="utf-8"))["benchmarks"]:
        side = re.search(r"(ours|dlib)", entry["param"] or entry["name"])
        groups[entry["group"]][side.group(1) if side else entry["name"]] = entry["stats"]["median"]
    lines = ["| benchmark | ours (median s) | dlib (median s) | dlib / ours |", "| --- | ---: | ---: | ---: |"]
    for group, sides in groups.items():
        if {"ours", "dlib"} <= set(sides):
            lines.append(f"| {group} | {sides['ours']:.4g} | {sides['dlib']:.4g} | {sides['dlib'] / sides['ours']:.2f} |")
    return lines


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print("\n".join(ratios(sys.argv[1])))
