"""Leaderboards and plots of a suite's current results, drawn from the results store.

Nothing is imported here at import time: suite validation reads the figure declarations
(`bench.report.registry`) without loading the drawing modules' dependencies up front."""

__all__ = ["write_report"]


def write_report(store, suite, out_dir, models=None, warn=print) -> dict:
    """Write plots/, then leaderboard.md, leaderboard.csv and index.html (which embeds the plots)
    for `suite` (a Suite); return the paths written. `models` (a CachedModels) lets the image
    figures load trained models from the cache."""
    from bench.report.leaderboard import write_leaderboard
    from bench.report.plots import write_plots

    plots = write_plots(store, suite, out_dir, models, warn)
    paths = write_leaderboard(store, suite, out_dir, plots)
    paths["plots"] = plots
    return paths
