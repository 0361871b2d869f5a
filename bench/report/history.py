"""A score's trend over every run of a suite kept in the store (`msbench history`): one point per
run and cell (mean over the seeds that run scored), in the order the runs started, each run
named by its date and the code version it ran."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bench.report.cells import short_version  # noqa: E402
from bench.naming import format_cell, format_point  # noqa: E402


def history_frame(store, suite, metric: str, label: str | None = None) -> pd.DataFrame:
    """Rows (run_id, started, code, cell, mean, std, n) for output `metric` (its id, or its name
    without params), oldest run first; rows of every run of the suite's name, current or not."""
    rows = []
    for r in store.history(suite.name):
        if metric not in (r["metric_id"], r["metric_id"].split("[")[0]) or r["value"] is None:
            continue
        if label is not None and r["label"] != label:
            continue
        rows.append({"run_id": r["run_id"], "started": (r["run_started"] or "")[:16],
                     "code": short_version(json.loads(r["code_version"] or "{}")),
                     "cell": format_cell(r["label"], format_point(json.loads(r["sweep"]))), "value": r["value"]})
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)  # a run's rows share its start and code (rows from before run ids: the earliest)
    table = frame.groupby(["run_id", "cell"]).agg(
        started=("started", "min"), code=("code", lambda c: ",".join(sorted(set(c)))),
        mean=("value", "mean"), std=("value", "std"), n=("value", "count")).reset_index()
    # rows from before run ids ('legacy') first, then the runs in the order they started
    order = table["run_id"].map(lambda r: "" if r == "legacy" else r)
    return table.assign(_order=order).sort_values(["_order", "cell"]).drop(columns="_order").reset_index(drop=True)


def plot_history(frame: pd.DataFrame, metric: str, path: Path) -> Path:
    runs = list(dict.fromkeys(frame["run_id"]))
    first = frame.groupby("run_id").agg(started=("started", "min"), code=("code", "first"))
    names = {r: f"{row.started}\n{row.code}" for r, row in first.iterrows()}
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(runs)), 4))
    for cell, rows in frame.groupby("cell", sort=False):
        x = [runs.index(r) for r in rows["run_id"]]
        ax.errorbar(x, rows["mean"], yerr=rows["std"].fillna(0), marker="o", capsize=3, label=cell)
    ax.set_xticks(range(len(runs)), [names[r] for r in runs], fontsize=7)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by run (mean ± std over seeds)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
