"""Traversals of every model side by side (the paper's Figures 44-46): one image, each dimension of c
moved in turn, z held at the image's own; one block per cell of the suite."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.report.flow import _first_seed_runs  # noqa: E402
from bench.report.plots import _tile, save_figure  # noqa: E402
from bench.report.registry import plot  # noqa: E402


@plot(name="c_traversals", kinds={"images"}, needs="traverse")
def c_traversals(frame, out: Path, models=None, steps: int = 8) -> list[Path]:
    """Figures 44-46: for each cell's lowest seed, one row per dimension of c, moved from -2.5 to 2.5
    on the same image (z, where the model has one, kept at that image's)."""
    runs = _first_seed_runs(frame)
    if not runs or models is None:
        return []
    image = torch.from_numpy(models.data.sample(1, np.random.default_rng([0, 3]))[0])
    values = torch.linspace(-2.5, 2.5, steps).tolist()
    blocks = []
    for key, name in runs:
        model = models.load(key)
        x = image.to(model.device)
        dims = model.encode(x)["c"].shape[1]
        blocks.append((name, torch.stack([model.traverse(x, d, values)[0] for d in range(dims)]).cpu().numpy()))
    side = image.shape[-1]
    fig, axes = plt.subplots(len(blocks), 1, figsize=(steps, sum(len(b) for _, b in blocks) * 0.95 + 0.5 * len(blocks)),
                             squeeze=False, gridspec_kw={"height_ratios": [len(b) for _, b in blocks]})
    for ax, (name, rows) in zip(axes[:, 0], blocks):
        ax.imshow(_tile(rows), cmap="gray", vmin=0, vmax=1)
        ax.set(title=f"{name}: c traversals, -2.5 .. 2.5", xticks=[], yticks=(np.arange(len(rows)) + 0.5) * side,
               yticklabels=[f"c{d}" for d in range(len(rows))])
    return [save_figure(fig, out / "c_traversals.png")]
