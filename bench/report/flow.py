"""MS-FLOW's figures (the paper's appendix E): the mixture's component means (Figure 25), real images
beside draws from the mixture alone and from the whole model (Figure 26), and the training curves of
the flow trained from Y means or Y samples (Figure 27)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.naming import format_cell  # noqa: E402
from bench.report.plots import _tile, save_figure  # noqa: E402
from bench.report.registry import plot  # noqa: E402


def _first_seed_runs(frame) -> list[tuple[str, str]]:
    """(job key, cell name) of each cell's lowest seed, in the suite's order."""
    rows = frame.sort_values("seed", kind="stable").drop_duplicates(["label", "sweep_point"])
    return [(key, format_cell(label, point)) for key, label, point in
            zip(rows["job_key"], rows["label"], rows["sweep_point"])]


@plot(name="mixture_means", kinds={"images"}, needs="mixture")
def mixture_means(frame, out: Path, models=None) -> list[Path]:
    """Figure 25: each cell's mixture components (their means, the Y values), heaviest first."""
    runs = _first_seed_runs(frame)
    if not runs or models is None:
        return []
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 1.5 * len(runs)), squeeze=False)
    for ax, (key, name) in zip(axes[:, 0], runs):
        means, weights = models.load(key).mixture_means()
        order = torch.argsort(weights, descending=True)
        ax.imshow(_tile(means[order][None].cpu().numpy()), cmap="gray", vmin=0, vmax=1)
        ax.set(title=f"{name}: mixture means, weights " + " ".join(f"{w:.2f}" for w in weights[order].tolist()),
               xticks=[], yticks=[])
    return [save_figure(fig, out / "mixture_means.png")]


@plot(name="flow_samples", kinds={"images"}, needs="mixture")
def flow_samples(frame, out: Path, models=None, count: int = 10, rows: int = 3) -> list[Path]:
    """Figure 26: real images, then draws from the mixture alone, then from the mixture and the flow."""
    runs = _first_seed_runs(frame)
    if not runs or models is None:
        return []
    real = models.data.sample(rows * count, np.random.default_rng([0, 4]))[0]
    fig, axes = plt.subplots(len(runs), 1, figsize=(count * 0.9, 2.9 * rows * len(runs) / 3 + 0.5), squeeze=False)
    for ax, (key, name) in zip(axes[:, 0], runs):
        model = models.load(key)
        torch.manual_seed(0)
        grids = [torch.from_numpy(real), model.sample_mixture(rows * count).cpu(), model.sample(rows * count).cpu()]
        tiles = torch.cat([g.view(rows, count, *g.shape[1:]) for g in grids]).numpy()
        ax.imshow(_tile(tiles), cmap="gray", vmin=0, vmax=1)
        ax.set(title=f"{name}: real ({rows} rows), mixture samples ({rows}), mixture + flow ({rows})",
               xticks=[], yticks=[])
    return [save_figure(fig, out / "flow_samples.png")]


@plot(name="density_training", kinds={"images"}, needs="density")
def density_training(frame, out: Path, models=None) -> list[Path]:
    """Figure 27: the flow's training log-density, log p(x | y) per image on the unit cube, against the
    step, for each cell's lowest seed (Y means against Y samples when the suite sweeps `y_from`)."""
    runs = _first_seed_runs(frame)
    if not runs or models is None:
        return []
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for key, name in runs:
        log = models.losses(key)
        ax.plot([entry["step"] for entry in log], [-entry["loss"] for entry in log], label=name)
    ax.set(xlabel="step", ylabel="training log p(x | y), nats", title="The flow's training log-density")
    ax.legend(fontsize=8)
    return [save_figure(fig, out / "density_training.png")]
