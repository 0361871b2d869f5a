"""The paper's figures, drawn from the store (and, for images, from the cached models):
score vs beta (Figure 3), M1-M4 (Figure 4), downstream accuracy (Figure 5),
reconstructions (Figure 13) and traversals (Figures 16/17)."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402

from bench.report.leaderboard import ARROW, column_names  # noqa: E402
from bench.results import current_scores  # noqa: E402
from bench.report.tables import PLOTTERS as TABLE_PLOTTERS  # noqa: E402


def _with_beta(frame):
    frame = frame.dropna(subset=["value"]).copy()
    frame["beta"] = frame["model_params"].map(lambda p: json.loads(p).get("beta"))
    return frame


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def score_vs_beta(frame, out: Path, models=None) -> list[Path]:
    """One PNG per score: mean ± sd over seeds against beta; beta-free models as dashed lines."""
    frame = _with_beta(frame)
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
        ax.set(xlabel="β", ylabel=f"{names[metric]} {ARROW[higher]}", title=f"{names[metric]} vs β")
        ax.legend(fontsize=8)
        paths.append(_save(fig, out / f"{names[metric]}_vs_beta.png"))
    return paths


def _bars(frame, metric: str, rename: dict, title: str, ylabel: str, path: Path) -> list[Path]:
    rows = _with_beta(frame[frame["metric"] == metric])
    if rows.empty:
        return []
    rows["score"] = rows["metric_id"].map(lambda m: rename.get(m.split("[")[0]))
    rows = rows.dropna(subset=["score"])
    labels = sorted(rows["label"].unique())
    fig, axes = plt.subplots(1, len(labels), figsize=(5 * len(labels), 3.6), squeeze=False)
    for ax, label in zip(axes[0], labels):
        sns.barplot(data=rows[rows["label"] == label], x="beta", y="value", hue="score",
                    hue_order=list(rename.values()), errorbar="sd", ax=ax)
        ax.set(xlabel="β", ylabel=ylabel, title=f"{title}: {label}", ylim=(0, 1))
        ax.legend(fontsize=8)
    return [_save(fig, path)]


def conditioning(frame, out: Path, models=None) -> list[Path]:
    """Figure 4: M1-M4 (and the shuffled-Y control) per beta."""
    rename = {"M1": "M1 (Y)", "M2": "M2 (G(Y,Z))", "M3": "M3 (G(Y,ε))", "M4": "M4 (G(ε,Z))",
              "M_shuffled_y": "shuffled Y"}
    return _bars(frame, "conditioning_mi", rename, "MI[C_R; ·]", "normalised MI", out / "conditioning_mi.png")


def downstream(frame, out: Path, models=None) -> list[Path]:
    """Figure 5: factor prediction accuracy from C, Z and C+Z per beta."""
    rename = {"downstream_C": "C", "downstream_Z": "Z", "downstream_CZ": "C+Z"}
    rows = frame[frame["metric"] == "downstream_accuracy"]
    with_z = rows[rows["metric_id"].str.startswith("downstream_Z") & rows["value"].notna()]["label"].unique()
    return _bars(rows[rows["label"].isin(with_z)], "downstream_accuracy", rename, "downstream accuracy",
                 "held-out accuracy", out / "downstream_accuracy.png")


def _first_runs(frame, model: str) -> dict:
    """{beta: job key} of the lowest seed's run of `model` at each beta."""
    rows = _with_beta(frame[frame["model"] == model]).sort_values("seed")
    return {beta: group["job_key"].iloc[0] for beta, group in rows.groupby("beta")}


def _tile(images: np.ndarray) -> np.ndarray:
    """(rows, cols, C, H, W) in [0, 1] -> one (rows*H, cols*W[, 3]) picture."""
    rows, cols, channels, h, w = images.shape
    grid = images.transpose(0, 3, 1, 4, 2).reshape(rows * h, cols * w, channels)
    return grid[..., 0] if channels == 1 else grid


def reconstructions(frame, out: Path, models=None, count: int = 8) -> list[Path]:
    """Figure 13: per beta, target / stage one (beta-TCVAE) / MS-VAE rows on the same images."""
    runs = _first_runs(frame, "ms_vae")
    if not runs or models is None:
        return []
    images = torch.from_numpy(models.data.sample(count, np.random.default_rng([0, 2]))[0])
    fig, axes = plt.subplots(len(runs), 1, figsize=(count, 3.3 * len(runs)), squeeze=False)
    for ax, (beta, key) in zip(axes[:, 0], sorted(runs.items())):
        ms = models.load(key)
        rows = [images, ms.stage_one.reconstruct(images), ms.reconstruct(images)]
        ax.imshow(_tile(torch.stack(rows).cpu().numpy()), cmap="gray", vmin=0, vmax=1)
        ax.set(title=f"β = {beta:g}: target / β-TCVAE (Y) / MS-VAE", xticks=[], yticks=[])
    return [_save(fig, out / "reconstructions.png")]


def traversals(frame, out: Path, models=None, steps: int = 8) -> list[Path]:
    """Figures 16/17: for each c dimension, a row of Y and a row of X (z held fixed)."""
    runs = _first_runs(frame, "ms_vae")
    if not runs or models is None:
        return []
    beta, key = max(runs.items())  # the most disentangled stage one
    ms = models.load(key)
    image = torch.from_numpy(models.data.sample(1, np.random.default_rng([0, 3]))[0])
    values = torch.linspace(-2.5, 2.5, steps).tolist()
    dims = ms.stage_one.encode(image)["c"].shape[1]
    rows = []
    for dim in range(dims):
        rows.append(ms.stage_one.traverse(image, dim, values)[0])
        rows.append(ms.traverse(image, dim, values)[0])
    fig, ax = plt.subplots(figsize=(steps, 1.1 * len(rows)))
    ax.imshow(_tile(torch.stack(rows).cpu().numpy()), cmap="gray", vmin=0, vmax=1)
    ax.set(title=f"MS-VAE traversals, β = {beta:g}: per c dimension, Y then X", xticks=[],
           yticks=(np.arange(len(rows)) + 0.5) * image.shape[-1],
           yticklabels=[f"c{d} {kind}" for d in range(dims) for kind in ("Y", "X")])
    return [_save(fig, out / "traversals.png")]


PLOTTERS = {"score_vs_beta": score_vs_beta, "conditioning": conditioning, "downstream": downstream,
            "reconstructions": reconstructions, "traversals": traversals, **TABLE_PLOTTERS}


def write_plots(store, suite, out_dir, models=None, warn=print) -> list[Path]:
    """Draw the suite's plots from its current results; those that need trained models use
    `models` (a CachedModels). A figure whose model cannot be loaded (a missing or damaged
    artifact) is skipped with one line to `warn`; the others are still drawn."""
    from bench.cache import CorruptArtifact

    frame = current_scores(store, suite)
    if frame.empty:
        return []
    rank = {label: i for i, label in enumerate(suite.labels)}
    frame = frame.iloc[frame["label"].map(lambda label: rank.get(label, len(rank))).argsort(kind="stable")]
    out = Path(out_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in suite.plots:
        try:
            paths += PLOTTERS[name](frame, out, models)
        except CorruptArtifact as exc:
            plt.close("all")
            warn(f"warning: figure {name} skipped: {exc} (`msbench run` retrains it)")
    return paths
