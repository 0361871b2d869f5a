"""A damped pendulum, simulated (the paper's appendix D): a series dataset (kind "series").

The simulator integrates d²θ/dt² = -(b/m) dθ/dt - (g/L) sin θ from θ(0) = 0, dθ/dt(0) = 3 and records
θ every 0.1 s for T = 100 steps (t = 0 .. 9.9), with g = 9.8. Lengths, damping coefficients and masses
come from the grids of the authors' notebook (pendulum/demo.ipynb in github.com/AnonymousAuthors000/
DS-VAE): L in 1.0, 1.1 .. 3.0, b in 0.1, 0.2 .. 2.0, m in {0.1, 0.5, 1, 1.5, 2}; each row draws its
three values uniformly from them, seeded by `seed`. The pendulum never goes over the top (that would
need L > 2g/4.5, about 4.4), so θ stays within [-π, π].

One row is what is observed: x = [L, b, θ_0 .. θ_99] (102 values). The mass m is never observed: it
is a factor for scoring only. Each row also has the paired training targets of appendix D (lines
451-453): Y0, the undamped trajectory of the same L (b = 0, m = 1), and Y1, the damped one of the
same L and b with m = 1 (`targets_of`).

`held_out` rows are drawn apart from the training rows. As in the authors' Figure 24, their masses come from
a finer grid, 30 values evenly spaced over [0.1, 2.0], so that a latent's correlation with m is
measured mostly on masses the model has not seen: 28 of the 30 are not training masses (0.1 and 2.0
are, so a held-out row at those masses can repeat a training trajectory). They are drawn from a
stream of their own ([seed, 1]), so they do not change with `rows`. `held_out_set` gives their rows
and factor values (float, in physical units).

The integrator is classical fourth-order Runge-Kutta, 10 sub-steps per 0.1 s, vectorised over
rows: it agrees with scipy's `solve_ivp` at tight tolerances (rtol 1e-11) to 1e-6 rad. The authors'
`solve_ivp` at its default tolerances drifts from both by up to 0.05 rad over 10 s (undamped, L = 2).
"""

from dataclasses import dataclass

import numpy as np
import torch

from bench.config import require

# the authors' notebook (see above): the grids, the initial state, the step and g
LENGTHS = np.round(np.arange(1.0, 3.05, 0.1), 10)  # 21 values
DAMPINGS = np.round(np.arange(0.1, 2.05, 0.1), 10)  # 20 values
MASSES = np.array([0.1, 0.5, 1.0, 1.5, 2.0])
HELD_OUT_MASSES = np.linspace(0.1, 2.0, 30)  # Figure 24's grid
THETA_0, OMEGA_0 = 0.0, 3.0
STEP, STEPS, GRAVITY = 0.1, 100, 9.8
SUBSTEPS = 10
OBSERVED = 2  # x's first two values are L and b


def simulate(length, damping, mass) -> np.ndarray:
    """θ at t = 0, 0.1 .. 9.9 (float64, (n, 100)) for arrays of L, b and m (broadcast to one length n)."""
    length, damping, mass = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64).reshape(-1)
                                                  for v in (length, damping, mass)))

    def slope(theta, omega):
        return omega, -(damping / mass) * omega - (GRAVITY / length) * np.sin(theta)

    h = STEP / SUBSTEPS
    theta, omega = np.full(length.shape, THETA_0), np.full(length.shape, OMEGA_0)
    out = np.empty((len(length), STEPS))
    for step in range(STEPS):
        out[:, step] = theta
        for _ in range(SUBSTEPS):
            k1 = slope(theta, omega)
            k2 = slope(theta + h / 2 * k1[0], omega + h / 2 * k1[1])
            k3 = slope(theta + h / 2 * k2[0], omega + h / 2 * k2[1])
            k4 = slope(theta + h * k3[0], omega + h * k3[1])
            theta = theta + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
            omega = omega + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return out


@dataclass(frozen=True)
class PendulumParams:
    rows: int = 5000  # the authors' training set for the last stage
    held_out: int = 500  # Figure 24's 500 points
    seed: int = 0  # draws each row's L, b and m

    def __post_init__(self):
        require(self.rows >= 2, "rows", f"{self.rows} is too few rows to train on")
        require(self.held_out >= 0, "held_out", f"{self.held_out} is negative")


class Pendulum:
    name = "pendulum"
    kind = "series"
    version = "1"  # bump when the simulator or the draws change: it is part of every job key
    Params = PendulumParams
    description = ("a simulated damped pendulum (appendix D): rows [L, b, θ_0..θ_99]; factors length and damping "
                   "(observed) and mass (never observed); Y0 and Y1 targets; held-out rows on a finer mass grid")
    factor_names = ("length", "damping", "mass")
    factor_sizes = (len(LENGTHS), len(DAMPINGS), len(MASSES))
    grids = (LENGTHS, DAMPINGS, MASSES)
    observed_factors = (0, 1)  # the factors x carries (its first values); the others are hidden
    hidden_factors = (2,)
    disentanglement_factors = None

    def __init__(self, params: PendulumParams = PendulumParams(), root=None):
        self.params = params
        rng = np.random.default_rng(params.seed)
        self.factors = np.stack([rng.integers(0, size, params.rows) for size in self.factor_sizes], axis=1)
        self.values = np.stack([grid[self.factors[:, i]] for i, grid in enumerate(self.grids)], axis=1)
        self.series = self._rows(self.values)
        length, damping = self.values[:, 0], self.values[:, 1]
        self.y0 = simulate(length, 0.0, 1.0).astype(np.float32)
        self.y1 = simulate(length, damping, 1.0).astype(np.float32)
        held_rng = np.random.default_rng([params.seed, 1])
        held = np.stack([grid[held_rng.integers(0, len(grid), params.held_out)]
                         for grid in (LENGTHS, DAMPINGS, HELD_OUT_MASSES)], axis=1)
        self.held_out_values, self.held_out_series = held, self._rows(held)
        self._on_device = {}

    @staticmethod
    def _rows(values: np.ndarray) -> np.ndarray:
        """Observed rows [L, b, θ] (float32) of factor values (n, 3)."""
        theta = simulate(values[:, 0], values[:, 1], values[:, 2])
        return np.concatenate([values[:, :OBSERVED], theta], axis=1).astype(np.float32)

    @property
    def spec(self) -> dict:
        from dataclasses import asdict

        return {"name": self.name, "version": self.version, "params": asdict(self.params)}

    @property
    def data_shape(self) -> tuple[int]:
        return (OBSERVED + STEPS,)

    def __len__(self) -> int:
        return len(self.series)

    def sample(self, n: int, seed) -> tuple[np.ndarray, np.ndarray]:
        """n training rows drawn uniformly with replacement, and their factor indices (n, 3)."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        index = rng.integers(0, len(self.series), size=n)
        return self.series[index], self.factors[index]

    def factors_of(self, index) -> np.ndarray:
        return self.factors[np.asarray(index)]

    def targets_of(self, index) -> tuple[np.ndarray, np.ndarray]:
        """Y0 and Y1 (n, 100) of the rows `batch(..., with_index=True)` indexed."""
        index = np.asarray(index)
        return self.y0[index], self.y1[index]

    def held_out_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The held-out rows (n, 102) and their factor values in physical units (n, 3): L, b, m."""
        if not len(self.held_out_series):
            raise NotImplementedError(f"dataset {self.name} holds no rows out of training (set its held_out param)")
        return self.held_out_series, self.held_out_values

    def batch(self, n: int, rng: np.random.Generator, device, with_index: bool = False):
        device = torch.device(device)
        if device not in self._on_device:
            self._on_device = {device: torch.from_numpy(self.series).to(device)}
        rows = rng.integers(0, len(self.series), size=n)
        x = self._on_device[device][torch.from_numpy(rows).to(device)]
        return (x, rows) if with_index else x
