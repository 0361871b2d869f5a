"""The paper's figures, drawn from the store (and, for images, from the cached models):
score vs beta (Figure 3), M1-M4 (Figure 4), downstream accuracy (Figure 5),
reconstructions (Figure 13), traversals (Figures 16/17), scores against |C| and |Z|
(Figures 14/15) and the variability of Y (Figures 39/40)."""

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402

from bench.naming import format_point  # noqa: E402
from bench.report.cells import ARROW, column_names  # noqa: E402
from bench.report.leaderboard import md_text  # noqa: E402
from bench.report.registry import plot, plots  # noqa: E402
from bench.results import current_scores  # noqa: E402


def _with_beta(frame):
    frame = frame.dropna(subset=["value"]).copy()
    frame["beta"] = frame["model_params"].map(lambda p: json.loads(p).get("beta"))
    return frame


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """Lay out, write and close a figure (every figure of the report is saved through here)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


@plot(name="score_vs_beta", kinds={"images", "tables"})
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
        paths.append(save_figure(fig, out / f"{names[metric]}_vs_beta.png"))
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
    return [save_figure(fig, path)]


@plot(name="conditioning", kinds={"images"}, needs="conditioning")
def conditioning(frame, out: Path, models=None) -> list[Path]:
    """Figure 4: M1-M4 (and the shuffled-Y control) per beta."""
    rename = {"M1": "M1 (Y)", "M2": "M2 (G(Y,Z))", "M3": "M3 (G(Y,ε))", "M4": "M4 (G(ε,Z))",
              "M_shuffled_y": "shuffled Y"}
    return _bars(frame, "conditioning_mi", rename, "MI[C_R; ·]", "normalised MI", out / "conditioning_mi.png")


@plot(name="downstream", kinds={"images"}, needs="z")
def downstream(frame, out: Path, models=None) -> list[Path]:
    """Figure 5: factor prediction accuracy from C, Z and C+Z per beta."""
    rename = {"downstream_C": "C", "downstream_Z": "Z", "downstream_CZ": "C+Z"}
    return _bars(frame, "downstream_accuracy", rename, "downstream accuracy", "held-out accuracy",
                 out / "downstream_accuracy.png")


def _first_runs(frame) -> dict:
    """{beta: (job key, label)} of the lowest seed's run at each beta (of the models the figure was given)."""
    rows = _with_beta(frame).sort_values("seed")
    return {beta: (group["job_key"].iloc[0], group["label"].iloc[0]) for beta, group in rows.groupby("beta")}


def _tile(images: np.ndarray) -> np.ndarray:
    """(rows, cols, C, H, W) in [0, 1] -> one (rows*H, cols*W[, 3]) picture."""
    rows, cols, channels, h, w = images.shape
    grid = images.transpose(0, 3, 1, 4, 2).reshape(rows * h, cols * w, channels)
    return grid[..., 0] if channels == 1 else grid


@plot(name="reconstructions", kinds={"images"}, needs="stage_one")
def reconstructions(frame, out: Path, models=None, count: int = 8) -> list[Path]:
    """Figure 13: per beta, target / stage one (Y) / the multi-stage model's rows on the same images."""
    runs = _first_runs(frame)
    if not runs or models is None:
        return []
    images = torch.from_numpy(models.data.sample(count, np.random.default_rng([0, 2]))[0])
    fig, axes = plt.subplots(len(runs), 1, figsize=(count, 3.3 * len(runs)), squeeze=False)
    for ax, (beta, (key, label)) in zip(axes[:, 0], sorted(runs.items())):
        ms = models.load(key)
        rows = [images, ms.stage().reconstruct(images), ms.reconstruct(images)]
        ax.imshow(_tile(torch.stack(rows).cpu().numpy()), cmap="gray", vmin=0, vmax=1)
        ax.set(title=f"β = {beta:g}: target / stage one {ms.stage().name} (Y) / {label}", xticks=[], yticks=[])
    return [save_figure(fig, out / "reconstructions.png")]


@plot(name="traversals", kinds={"images"}, needs="stage_one")
def traversals(frame, out: Path, models=None, steps: int = 8) -> list[Path]:
    """Figures 16/17: for each c dimension, a row of Y and a row of X (z held fixed)."""
    runs = _first_runs(frame)
    if not runs or models is None:
        return []
    beta, (key, label) = max(runs.items())  # the most disentangled stage one
    ms = models.load(key)
    image = torch.from_numpy(models.data.sample(1, np.random.default_rng([0, 3]))[0])
    values = torch.linspace(-2.5, 2.5, steps).tolist()
    dims = ms.stage().encode(image)["c"].shape[1]
    rows = []
    for dim in range(dims):
        rows.append(ms.stage().traverse(image, dim, values)[0])
        rows.append(ms.traverse(image, dim, values)[0])
    fig, ax = plt.subplots(figsize=(steps, 1.1 * len(rows)))
    ax.imshow(_tile(torch.stack(rows).cpu().numpy()), cmap="gray", vmin=0, vmax=1)
    ax.set(title=f"{label} traversals, β = {beta:g}: per c dimension, Y then X", xticks=[],
           yticks=(np.arange(len(rows)) + 0.5) * image.shape[-1],
           yticklabels=[f"c{d} {kind}" for d in range(dims) for kind in ("Y", "X")])
    return [save_figure(fig, out / "traversals.png")]


LATENT_SIZES = {"latent_dim": ("C", "|C| (latent_dim)"), "z_dim": ("Z", "|Z| (z_dim)")}


def latent_size_rows(frame, param: str):
    """The scores of the runs whose sweep includes `param`, with its value as `size` and, as `line`,
    the label plus the point of any other swept param (one line of the figure each)."""
    frame = frame.dropna(subset=["value"])
    sweeps = frame["sweep"].map(json.loads)
    keep = sweeps.map(lambda sweep: param in sweep)
    rows, sweeps = frame[keep].copy(), sweeps[keep]
    rows["size"] = sweeps.map(lambda sweep: sweep[param])
    rows["line"] = [label + (f" [{format_point(rest)}]" if rest else "") for label, rest in
                    zip(rows["label"], sweeps.map(lambda sweep: {k: v for k, v in sweep.items() if k != param}))]
    return rows


@plot(name="latent_size", kinds={"images"})
def latent_size(frame, out: Path, models=None) -> list[Path]:
    """Figures 14/15 (appendix B): every score against the swept latent size, one PNG for |C|
    (`latent_dim`) and one for |Z| (`z_dim`), one panel per score, one line per model (and point of
    any other swept param), mean ± sd over seeds. Only models whose sweep includes that size count."""
    paths = []
    for param, (short, axis) in LATENT_SIZES.items():
        rows = latent_size_rows(frame, param)
        if rows.empty:
            continue
        if "metric_rank" in rows:  # write_plots gives the suite's order
            rows = rows.sort_values("metric_rank", kind="stable")
        metrics = list(rows["metric_id"].unique())
        names = column_names(metrics)
        columns = min(3, len(metrics))
        lines = -(-len(metrics) // columns)
        fig, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.3 * lines), squeeze=False)
        sizes = sorted(rows["size"].unique())
        for i, (ax, metric) in enumerate(zip(axes.flat, metrics)):
            group = rows[rows["metric_id"] == metric]
            sns.lineplot(data=group, x="size", y="value", hue="line", style="line", markers=True, dashes=False,
                         errorbar="sd", err_style="bars", ax=ax, legend=i == 0)
            if sizes[0] > 0 and sizes[-1] / sizes[0] > 8:  # a sweep like the paper's 1-10, 20, 50
                ax.set_xscale("log")
                ax.minorticks_off()
            ax.set_xticks(sizes, [f"{v:g}" for v in sizes])
            higher = bool(group["higher_is_better"].iloc[0])
            ax.set(xlabel=axis, ylabel=f"{names[metric]} {ARROW[higher]}",
                   title=f"{names[metric]} vs {axis.split()[0]}")
            if i == 0:
                ax.legend(fontsize=7)
        for ax in axes.flat[len(metrics):]:
            ax.axis("off")
        paths.append(save_figure(fig, out / f"latent_size_{short}.png"))
    return paths


def _slug(text: str) -> str:
    """A label and sweep point as part of a file name: letters, digits, '.', '=', '-', '_' only."""
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", text).strip("_") or "model"


@torch.no_grad()
def y_draws(model, images: np.ndarray, draws: int, seed: int = 0, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """For a multi-stage model: `draws` codes c ~ q(c|x) per image (noise from a CPU stream seeded
    by `seed`); the Ys, stage one's decodings of them, and the model's reconstructions from the same
    c (G(Y, z), z the mean of q(z|x, Y)). Two (n, draws, C, H, W) arrays."""
    stage_one, x = model.stage(), torch.from_numpy(images).to(model.device)
    latent = stage_one.encode(x[:1])["c"].shape[1]
    generator = torch.Generator().manual_seed(seed)  # CPU: the same draws on any device
    ys, xs = [], []
    for _ in range(draws):
        noise = torch.randn((len(x), latent), generator=generator).split(batch)
        ys.append(torch.cat([stage_one.reconstruct(part, c_noise=n) for part, n in zip(x.split(batch), noise)]))
        xs.append(torch.cat([model.reconstruct(part, c_noise=n) for part, n in zip(x.split(batch), noise)]))
    return tuple(torch.stack(v, dim=1).float().cpu().numpy() for v in (ys, xs))


@plot(name="y_variability", kinds={"images"}, needs="stage_one")
def y_variability(frame, out: Path, models=None, count: int = 4, draws: int = 5, points: int = 128) -> list[Path]:
    """Figures 39/40 (appendix J): for each multi-stage model (lowest seed per label and sweep
    point), `draws` codes c ~ q(c|x) per image give as many Ys (stage one's reconstructions) and
    as many MS-VAE reconstructions G(Y, z), z from q(z|x, Y). One PNG per model: for `count`
    images, the target and its Ys in one row, the target and the G(Y, z) under it. The mean
    per-pixel sd over the draws (sample sd, over `points` evaluation images) of Y and of X is in
    the title and in y_variability.md: a stage two that absorbs Y's variance has X's well below Y's."""
    if models is None:
        return []
    runs = [group.iloc[0] for _, group in frame.sort_values("seed").groupby(["label", "sweep_point"], sort=False)]
    images = models.data.sample(points, np.random.default_rng([0, 4]))[0]
    paths, table, used = [], [], set()
    for run in runs:
        model = models.load(run["job_key"])
        ys, xs = y_draws(model, images, draws)
        sd_y, sd_x = (float(v.std(axis=1, ddof=1).mean()) for v in (ys, xs))
        name = run["label"] + (f" [{run['sweep_point']}]" if run["sweep_point"] else "")
        ratio = f"{sd_x / sd_y:.2f}" if sd_y > 0 else "—"
        table.append(f"| {md_text(name)} | {int(run['seed'])} | {sd_y:.4f} | {sd_x:.4f} | {ratio} |")
        rows = []
        for i in range(min(count, points)):
            target = images[i][None]
            rows += [np.concatenate([target, ys[i]]), np.concatenate([target, xs[i]])]
        side = images.shape[-1]
        fig, ax = plt.subplots(figsize=(1.1 * (draws + 1) + 1.2, 1.1 * len(rows) + 0.9))
        ax.imshow(_tile(np.stack(rows)), cmap="gray", vmin=0, vmax=1)
        ax.set(title=f"{name}: target, then {draws} draws c ~ q(c|x)\npixel sd over draws: Y {sd_y:.4f}, X {sd_x:.4f}",
               xticks=[], yticks=(np.arange(len(rows)) + 0.5) * side,
               yticklabels=[f"x{i} {kind}" for i in range(len(rows) // 2) for kind in ("Y", "X")])
        ax.title.set_fontsize(8)
        slug = _slug(name)
        while slug in used:
            slug += "_"
        used.add(slug)
        paths.append(save_figure(fig, out / f"y_variability_{slug}.png"))
    if table:
        path = out / "y_variability.md"
        path.write_text("# Variability of Y (appendix J, Figures 39/40)\n\n"
                        f"Mean per-pixel sample sd over {draws} draws c ~ q(c|x) per image, {points} evaluation "
                        "images: Y = stage one's decoding of c, X = the model's G(Y, z) with z from q(z|x, Y).\n\n"
                        "| model | seed | sd of Y | sd of X | X / Y |\n| --- | ---: | ---: | ---: | ---: |\n"
                        + "\n".join(table) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def write_plots(store, suite, out_dir, models=None, warn=print) -> list[Path]:
    """Draw the suite's plots from its current results; those that need trained models use
    `models` (a CachedModels). A figure whose model cannot be loaded (a missing or damaged
    artifact) is skipped with one line to `warn`; the others are still drawn."""
    import models as zoo  # torch-heavy: the registry says what each model can do
    from bench.cache import CorruptArtifact

    frame = current_scores(store, suite)
    if frame.empty:
        return []
    rank = {label: i for i, label in enumerate(suite.labels)}
    frame = frame.iloc[frame["label"].map(lambda label: rank.get(label, len(rank))).argsort(kind="stable")]
    order = {metric_id: i for i, metric_id in enumerate(suite.metric_ids)}
    frame = frame.assign(metric_rank=frame["metric_id"].map(lambda m: order.get(m, len(order))))  # the suite's order
    out = Path(out_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    paths, declared = [], plots()
    for name in suite.plots:
        info = declared[name]
        rows = frame
        if info.needs:  # only the models that can do what the figure asks of them
            rows = frame[frame["model"].map(lambda model: zoo.get(model).can(info.needs))]
            if rows.empty:
                continue
        try:
            paths += info.draw(rows, out, models)
        except CorruptArtifact as exc:
            plt.close("all")
            warn(f"warning: figure {name} skipped: {exc} (`msbench run` retrains it)")
        except NotImplementedError as exc:  # e.g. a reconstruction figure given a model without an encoder
            plt.close("all")
            warn(f"warning: figure {name} skipped: {exc}")
    return paths
