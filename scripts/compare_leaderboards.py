"""Before/after table of a committed leaderboard: its CSV at a git revision against the working tree.

    python scripts/compare_leaderboards.py REV SUITE [SCORE ...]

Prints a Markdown table with one row per (model label, sweep point) and, for each score (all
by default; a name matches any column that starts with it, e.g. `M4` or `c2st_test_auc`), the
mean over seeds before and after. Scores present on one side only show "—".
"""

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd


def read(rev: str | None, suite: str) -> pd.DataFrame:
    path = f"leaderboards/{suite}/leaderboard.csv"
    text = Path(path).read_text() if rev is None else subprocess.run(
        ["git", "show", f"{rev}:{path}"], check=True, capture_output=True, text=True).stdout
    frame = pd.read_csv(io.StringIO(text))
    frame["sweep_point"] = frame["sweep_point"].fillna("")
    return frame.set_index(["label", "sweep_point"])


def cell(frame, row, column) -> str:
    if column not in frame.columns or row not in frame.index or pd.isna(frame.loc[row, column]):
        return "—"
    return f"{frame.loc[row, column]:.4g}"


def main(argv) -> None:
    if len(argv) < 2:
        sys.exit(__doc__)
    rev, suite, wanted = argv[0], argv[1], argv[2:]
    before, after = read(rev, suite), read(None, suite)
    means = sorted({c for c in [*before.columns, *after.columns] if c.endswith("_mean")})
    if wanted:
        means = [c for c in means if any(c.startswith(w) for w in wanted)]
    rows = list(dict.fromkeys([*before.index, *after.index]))
    print("| model | point | " + " | ".join(f"{c[:-5]} before | after" for c in means) + " |")
    print("| --- | --- |" + " --- | --- |" * len(means))
    for row in rows:
        print(f"| {row[0]} | {row[1] or '—'} | " + " | ".join(f"{cell(before, row, c)} | {cell(after, row, c)}"
                                                          for c in means) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
