"""Leaderboards and plots of a suite's current results, drawn from the results store."""

from bench.report.leaderboard import write_leaderboard
from bench.report.plots import write_plots

__all__ = ["write_leaderboard", "write_plots", "write_report"]


def write_report(store, suite, out_dir, models=None, warn=print) -> dict:
    """Write leaderboard.{md,csv,html} and plots/ for `suite` (a Suite); return the paths written.
    `models` (a CachedModels) lets the image figures load trained models from the cache."""
    paths = write_leaderboard(store, suite, out_dir)
    paths["plots"] = write_plots(store, suite, out_dir, models, warn)
    if paths["plots"]:  # link them from the leaderboard, so that it is the one page to open
        links = [f"- [{p.name}]({p.relative_to(paths['markdown'].parent).as_posix()})" for p in paths["plots"]]
        with open(paths["markdown"], "a") as markdown:
            markdown.write("\n".join(["", "## Figures and tables", "", *links, ""]))
    return paths
