"""The conditional generators' traversals (the paper's Figures 28, 32 and 34 in miniature): for one
factor combination of the dataset, each factor moved through its values with the noise z held fixed
(for a multi-stage model, its Y under each row), and a last row of z draws for that combination."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.report.flow import _first_seed_runs  # noqa: E402
from bench.report.plots import _tile, save_figure  # noqa: E402
from bench.report.registry import plot  # noqa: E402


@plot(name="gan_traversals", kinds={"images"}, needs="conditional")
def gan_traversals(frame, out: Path, models=None, steps: int = 8) -> list[Path]:
    """Per cell (lowest seed): each factor traversed with z fixed (and Y below it for multi-stage
    models), then `steps` z draws for the same factors. One PNG per cell."""
    runs = _first_seed_runs(frame)
    if not runs or models is None:
        return []
    data = models.data
    base = data.sample(1, np.random.default_rng([0, 3]))[1][0]
    paths = []
    for index, (key, name) in enumerate(runs):
        model = models.load(key)
        try:
            model.generate(torch.from_numpy(base[None]), torch.Generator().manual_seed(0))
        except NotImplementedError:  # e.g. unsupervised MS-GAN: its c is not the dataset's factors
            continue
        rows, names = [], []
        for factor, size in enumerate(data.factor_sizes):
            values = np.unique(np.linspace(0, size - 1, min(steps, size)).round().astype(np.int64))
            grid = np.repeat(base[None], len(values), axis=0)
            grid[:, factor] = values
            factors = torch.from_numpy(grid)
            # z fixed along the row: each image from the same freshly seeded stream
            rows.append(torch.cat([model.generate(f[None], torch.Generator().manual_seed(0)) for f in factors]).cpu())
            names.append(data.factor_names[factor])
            if model.can("stage_one"):
                rows.append(model.stage().generate(factors).cpu())
                names.append(f"{data.factor_names[factor]}: Y")
        rows.append(torch.cat([model.generate(torch.from_numpy(base[None]), torch.Generator().manual_seed(s))
                               for s in range(steps)]).cpu())
        names.append("z varied")
        width = max(len(r) for r in rows)
        padded = [torch.cat([r, torch.ones(width - len(r), *r.shape[1:])]) for r in rows]  # white where a factor has fewer values
        fig, ax = plt.subplots(figsize=(width * 0.9, 0.95 * len(rows) + 0.6))
        ax.imshow(_tile(torch.stack(padded).numpy()), cmap="gray", vmin=0, vmax=1)
        side = rows[0].shape[-1]
        ax.set(title=f"{name}: factors traversed with z fixed; last row: z varied", xticks=[],
               yticks=(np.arange(len(rows)) + 0.5) * side, yticklabels=names)
        paths.append(save_figure(fig, out / f"gan_traversals_{index}.png"))
    return paths
