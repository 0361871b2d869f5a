"""The paper's figures, drawn from the store: each score against beta per model (Figure 3)."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from bench.report.leaderboard import ARROW, column_names, score_frame  # noqa: E402


def score_vs_beta(frame, out: Path) -> list[Path]:
    """One PNG per metric: mean ± sd over seeds against beta; beta-free models as dashed lines."""
    frame = frame.dropna(subset=["value"]).copy()
    frame["beta"] = frame["model_params"].map(lambda p: json.loads(p).get("beta"))
    paths = []
    names = column_names(sorted(frame["metric_id"].unique()))
    for metric, group in frame.groupby("metric_id"):
        fig, ax = plt.subplots(figsize=(5, 3.6))
        swept = group.dropna(subset=["beta"])
        if not swept.empty:
            sns.lineplot(data=swept, x="beta", y="value", hue="label", style="label", markers=True,
                         dashes=False, errorbar="sd", err_style="bars", ax=ax)
        palette = sns.color_palette(n_colors=8)[len(swept["label"].unique()):]
        for (label, rows), colour in zip(group[group["beta"].isna()].groupby("label"), palette):
            ax.axhline(rows["value"].mean(), ls="--", color=colour, label=label)
        higher = bool(group["higher_is_better"].iloc[0])
        ax.set(xlabel="β", ylabel=f"{names[metric]} {ARROW[higher]}", title=f"{metric} vs β")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / f"{names[metric]}_vs_beta.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


PLOTTERS = {"score_vs_beta": score_vs_beta}


def write_plots(store, suite_name: str, out_dir, plots) -> list[Path]:
    frame = score_frame(store, suite_name)
    if frame.empty:
        return []
    out = Path(out_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    return [p for name in plots for p in PLOTTERS[name](frame, out)]
