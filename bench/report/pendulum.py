"""The pendulum's figures (the paper's appendix D): traversals of L, b and the mass against the
simulator (Figure 23), and z against the mass on held-out rows (Figure 24)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.data.pendulum import DAMPINGS, LENGTHS, MASSES, OBSERVED, simulate  # noqa: E402
from bench.metrics.series import multiple_correlation  # noqa: E402
from bench.report.flow import _first_seed_runs  # noqa: E402
from bench.report.plots import save_figure  # noqa: E402
from bench.report.registry import plot  # noqa: E402

TRAVERSED = {"length L": LENGTHS[::5], "damping b": DAMPINGS[[0, 4, 9, 14, 19]], "mass m": MASSES}


def _lines(ax, series: np.ndarray, colour: str, title: str) -> None:
    for i, trajectory in enumerate(series):
        ax.plot(trajectory, color=colour, alpha=1 / (1 + i) ** 0.5, lw=1.2)
    ax.set_title(title, fontsize=9)


@plot(name="pendulum_traversals", kinds={"series"}, needs="z")
def pendulum_traversals(frame, out: Path, models=None) -> list[Path]:
    """Figure 23: for one held-out row, the simulator (blue) and the model (red) as L, b and the mass
    move, the others kept. The model moves L and b through c; for the mass it decodes the posterior
    mean of z of the simulator's trajectory at that mass (z is never told the mass)."""
    runs = _first_seed_runs(frame)
    if not runs or models is None:
        return []
    rows, values = models.data.held_out_set()
    length, damping, mass = values[0]
    fig, axes = plt.subplots(2 * len(runs), 3, figsize=(12, 4.4 * len(runs)), sharey=True, squeeze=False)
    for r, (key, name) in enumerate(runs):
        model = models.load(key)
        for col, (factor, grid) in enumerate(TRAVERSED.items()):
            settings = np.tile([length, damping, mass], (len(grid), 1))
            settings[:, col] = grid
            real = simulate(*settings.T)
            if col < OBSERVED:
                x = torch.from_numpy(rows[:1]).to(model.device)
                drawn = model.traverse(x, col, [float(v) for v in grid])[0]
            else:
                simulated = np.concatenate([settings[:, :OBSERVED], real], axis=1).astype(np.float32)
                drawn = model.reconstruct(torch.from_numpy(simulated).to(model.device))
            shown = ", ".join(f"{v:g}" for v in grid)
            _lines(axes[2 * r, col], real, "tab:blue", f"simulator: {factor} = {shown}")
            _lines(axes[2 * r + 1, col], drawn[:, OBSERVED:].cpu().numpy(), "tab:red", "model")
        axes[2 * r, 0].set_ylabel(f"{name}\nθ (rad)", fontsize=8)
        axes[2 * r + 1, 0].set_ylabel(f"{name}\nθ (rad)", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("step (0.1 s)")
    fig.suptitle(f"Held-out row: L = {length:g}, b = {damping:g}, m = {mass:.2f}", fontsize=10)
    return [save_figure(fig, out / "pendulum_traversals.png")]


@plot(name="mass_correlation", kinds={"series"}, needs="z")
def mass_correlation(frame, out: Path, models=None) -> list[Path]:
    """Figure 24: the posterior mean of z (its dimension most correlated with the hidden factor)
    against the never-observed mass, on every held-out row, for each cell's lowest seed."""
    runs = _first_seed_runs(frame)
    if not runs or models is None:
        return []
    rows, values = models.data.held_out_set()
    hidden = models.data.hidden_factors[0]
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.8), squeeze=False)
    for ax, (key, name) in zip(axes[0], runs):
        model = models.load(key)
        with torch.no_grad():
            z = model.encode(torch.from_numpy(rows).to(model.device))["z"].cpu().numpy()
        best = max(range(z.shape[1]), key=lambda d: multiple_correlation(z[:, d], values[:, hidden]))
        ax.scatter(z[:, best], values[:, hidden], s=6, alpha=0.6)
        ax.set(xlabel=f"posterior mean of z{best}", ylabel=models.data.factor_names[hidden],
               title=f"{name}: R = {multiple_correlation(z, values[:, hidden]):.3f}")
    return [save_figure(fig, out / "mass_correlation.png")]
