"""How a score column and cell are written, one place for the Markdown table, the HTML report and
the plots: the column header (name and direction arrow), mean ± std, the best of a column, a
parameter count and a code version."""

import pandas as pd

ARROW = {True: "↑", False: "↓"}


def column_names(metric_ids) -> dict:
    """Show a score by its bare name (params dropped) unless two columns share it."""
    names = [m.split("[")[0] for m in metric_ids]
    return {m: (n if names.count(n) == 1 else m) for m, n in zip(metric_ids, names)}


def headers(direction, metric_order=()) -> dict:
    """{metric id: column header (name and direction arrow)}, in the suite's metric order."""
    rank = {m: i for i, m in enumerate(metric_order)}
    metrics = sorted(direction, key=lambda m: (rank.get(m, len(rank)), m))
    names = column_names(metrics)
    return {m: f"{names[m]} {ARROW[direction[m]]}" for m in metrics}


def cell_text(mean, std, count) -> str:
    """'mean ± std' over two or more seeds, the mean alone over one, '—' when missing."""
    if pd.isna(mean):
        return "—"
    if count >= 2 and not pd.isna(std):
        return f"{mean:.4g} ± {std:.2g}"
    return f"{mean:.4g}"


def is_best(means: pd.Series, mean, higher_is_better: bool) -> bool:
    """`mean` is the best of its column (of two or more scores), in the score's direction."""
    return means.count() > 1 and mean == (means.max() if higher_is_better else means.min())


def param_count(count) -> str:
    return "—" if pd.isna(count) else f"{int(count):,}"


def short_version(code: dict) -> str:
    """A run's code version in a table: the commit's first 12 hex digits, '-dirty' when changed."""
    return (code.get("git_sha") or "unknown")[:12] + ("-dirty" if code.get("git_dirty") else "")
