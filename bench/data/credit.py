"""The synthetic credit table of the paper's section 6.2: 11 hidden factors drive 19 features.

Our own generator (the paper does not publish its simulator), built to have the column kinds
the paper discusses in section 6.5, each feature group driven by its own subset of factors:

| features | factors | kind |
| --- | --- | --- |
| Mortgage | L, M | skewed and lumpy (one mode per demographic group), with a small abrupt peak at 150k |
| Utilization, Balance | Ub | three-mode, 11 % exact zeros; skewed |
| Balance_3m, _6m, _12m | Ub, Ub_1..Ub_3 (cumulative) | skewed |
| Credit Inquiry, Open Trade (now, _3m, _6m, _12m) | S, S_1..S_3 | counts 0-6 and 0-12 |
| Delinquency Status (now, _3m, _6m, _12m) | S, S_k, T | ordinal 0-4 |
| Amount Past Due | S, T | zero-inflated: zero unless stress S exceeds the threshold T |

The features are mostly determined by their factors, as the paper's must have been: its Table 3
finds single latent coordinates correlated 0.90-0.93 with Mortgage, Credit Inquiry_12m and
Delinquency Status_6m. A gradient-boosting regressor recovers every continuous feature from the
true factors with R^2 >= 0.8 in the transformed space (tests/test_credit.py; all columns:
`scripts/credit_oracles.py`). Exact repeated values sit only at a column's minimum or maximum
(zeros, the utilisation cap), where clipping a generated value to [0, 1] (section 6.2's
post-processing) can reproduce them; the Mortgage peak is a narrow bump, not a point mass.

`simulate(n, seed)` gives (features, factors); `draw_factors` and `render` are its two halves
(an oracle generator renders fresh rows from the true conditional distributions). `CATEGORICAL`
names the categorical columns; `TableTransform` is section 6.2's reversible preprocessing;
`Credit` is the suite dataset (D_train / D_test split, training batches in the transformed space).
"""

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from bench.config import require

WINDOWS = ("3m", "6m", "12m")
FACTORS = ["L", "M", "Ub", "Ub_1", "Ub_2", "Ub_3", "S", "S_1", "S_2", "S_3", "T"]
FEATURES = (["Mortgage", "Utilization", "Amount Past Due", "Balance"] + [f"Balance_{w}" for w in WINDOWS]
            + [f"{name}{suffix}" for name in ("Credit Inquiry", "Open Trade", "Delinquency Status")
               for suffix in ("", *(f"_{w}" for w in WINDOWS))])
CATEGORICAL = [f for f in FEATURES if f.startswith(("Credit Inquiry", "Open Trade", "Delinquency Status"))]
CONTINUOUS = [f for f in FEATURES if f not in CATEGORICAL]
MORTGAGE_PEAK = 150_000  # a standard loan size: amounts within 3% of it are drawn ten times closer (the abrupt peak)
UTILIZATION_MODES = np.array([0.08, 0.45, 0.9])  # low, revolving and maxed-out borrowers


def draw_factors(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n rows of the 11 factors: gender, race, and nine standard normal utilisation and stress factors."""
    return pd.DataFrame({
        "L": rng.integers(0, 2, n),  # gender
        "M": rng.choice(4, n, p=[0.6, 0.2, 0.15, 0.05]),  # race
        **{name: rng.normal(0.0, 1.0, n) for name in FACTORS[2:]},  # utilisation, debt stress and threshold
    }).astype({"L": np.int64, "M": np.int64})


def render(factors: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The 19 features of each factor row, with the simulator's own small noise drawn from `rng`."""
    f, n = factors, len(factors)
    noise = lambda scale: rng.normal(0.0, scale, n)  # noqa: E731
    out = {}
    mortgage = np.exp(11.3 + 0.45 * f["L"] + 0.4 * f["M"] + noise(0.15))
    near_peak = np.abs(mortgage / MORTGAGE_PEAK - 1) < 0.03
    out["Mortgage"] = np.round(np.where(near_peak, MORTGAGE_PEAK + 0.1 * (mortgage - MORTGAGE_PEAK), mortgage))
    mode = np.digitize(f["Ub"], [-0.6, 0.9])  # three borrower types by utilisation factor
    out["Utilization"] = np.round(np.clip(UTILIZATION_MODES[mode] + 0.06 * f["Ub"] + noise(0.03), 0, 1.2), 3)
    stress = f["S"] - f["T"]  # debt stress beyond this borrower's threshold
    out["Amount Past Due"] = np.where(stress > 0.5, np.round(np.exp(5.5 + 0.8 * stress + noise(0.2)), 2), 0.0)
    out["Balance"] = np.round(np.exp(8.0 + 0.9 * f["Ub"] + noise(0.2)))
    history = np.zeros(n)
    for k, window in enumerate(WINDOWS, 1):
        history = history + f[f"Ub_{k}"]
        out[f"Balance_{window}"] = np.round(np.exp(8.0 + 0.3 * f["Ub"] + 0.6 * history / np.sqrt(k) + noise(0.15)))
    for k, suffix in enumerate(("", *(f"_{w}" for w in WINDOWS))):
        window_stress = f["S"] if k == 0 else 0.4 * f["S"] + 0.9 * f[f"S_{k}"]
        # counts: a rate set by the window's stress, rounded after a little noise (not Poisson: a
        # count with Poisson noise is mostly noise at these rates, and the paper's are not)
        inquiries = np.round(np.exp(-0.2 + 0.3 * k + 0.6 * window_stress) + noise(0.3))
        out[f"Credit Inquiry{suffix}"] = np.clip(inquiries, 0, 6)  # counts 0..6: 7 values
        trades = np.round(np.exp(0.6 + 0.3 * k + 0.5 * window_stress) + noise(0.3))
        out[f"Open Trade{suffix}"] = np.clip(trades, 0, 12)
        # 0 current, 1-4: 30/60/90/120+ days past due, as stress passes the threshold
        status = np.floor((window_stress - f["T"] + noise(0.15) - 0.3) / 0.5)
        out[f"Delinquency Status{suffix}"] = np.clip(status, 0, 4)
    features = pd.DataFrame({name: np.asarray(out[name], dtype=np.float64) for name in FEATURES})
    features[CATEGORICAL] = features[CATEGORICAL].astype(np.int64)
    return features


def simulate(n: int = 20_000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, factors): n rows of the 19 named features and the 11 factors behind them."""
    require(n >= 1, "n", f"{n} is below 1")
    rng = np.random.default_rng(seed)
    factors = draw_factors(n, rng)
    return render(factors, rng), factors


class TableTransform:
    """Section 6.2's preprocessing, fitted on one frame: log(1 + x) on the continuous columns
    (log1p, not log: Amount Past Due is mostly zeros), then min-max to [0, 1] on every column.
    `inverse` clips to [0, 1], de-normalises, rounds categoricals to the nearest value seen
    in the fitted frame and undoes the log."""

    def __init__(self, frame: pd.DataFrame, categorical, log_columns=None):
        self.columns = list(frame.columns)
        self.categorical = [c for c in self.columns if c in set(categorical)]
        unknown = sorted(set(categorical) - set(self.columns))
        require(not unknown, "categorical", f"columns {unknown} are not in the table")
        continuous = [c for c in self.columns if c not in self.categorical]
        self.log_columns = continuous if log_columns is None else list(log_columns)
        negative = [c for c in self.log_columns if (frame[c] < 0).any()]
        require(not negative, "log_columns", f"{negative} have negative values; log(1 + x) needs x >= 0")
        logged = self._log(frame)
        self.low = logged.min().to_numpy(np.float64)
        self.span = np.maximum(logged.max().to_numpy(np.float64) - self.low, 1e-12)  # a constant column maps to 0
        self.levels = {c: np.sort(frame[c].unique()) for c in self.categorical}

    def _log(self, frame):
        frame = frame[self.columns].astype(np.float64)
        frame[self.log_columns] = np.log1p(frame[self.log_columns].clip(lower=0))
        return frame

    def __call__(self, frame: pd.DataFrame, clip: bool = False) -> np.ndarray:
        """float32 (n, columns), in [0, 1] for rows within the fitted range; `clip` clips
        everything else into it (for generated rows). Negative values of log columns count as 0."""
        values = (self._log(frame).to_numpy() - self.low) / self.span
        return (np.clip(values, 0.0, 1.0) if clip else values).astype(np.float32)

    def inverse(self, values) -> pd.DataFrame:
        values = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0) * self.span + self.low
        frame = pd.DataFrame(values, columns=self.columns)
        frame[self.log_columns] = np.expm1(frame[self.log_columns])
        for c in self.categorical:
            levels = self.levels[c]
            nearest = np.abs(frame[c].to_numpy()[:, None] - levels[None, :]).argmin(axis=1)
            frame[c] = levels[nearest]
        return frame


@dataclass(frozen=True)
class CreditParams:
    n_rows: int = 20_000  # section 6.2
    seed: int = 0  # the simulator's seed; the data are part of every job's spec through it
    test_fraction: float = 0.25  # D_test; D_train (15,000 rows by default) trains the models

    def __post_init__(self):
        require(self.n_rows >= 100, "n_rows", f"{self.n_rows} is below 100")
        require(0 < self.test_fraction < 1, "test_fraction", f"{self.test_fraction} is not in (0, 1)")


class Credit:
    """The credit table as a suite dataset: `train` and `test` frames (section 6.3.2's D_train
    and D_test), `transform` fitted on D_train, and training batches in its [0, 1] space."""

    name = "credit"
    kind = "tables"
    version = "2"  # 2: features mostly determined by their factors, no interior point mass (issue 12)
    Params = CreditParams
    description = "simulated credit table (section 6.2): 19 features from 11 factors, offline"
    factor_names = FACTORS
    factor_sizes = ()  # continuous factors: no discrete grid for MIG or factor classifiers

    def __init__(self, params: CreditParams, data_root=None):
        self.params = params
        features, factors = simulate(params.n_rows, params.seed)
        order = np.random.default_rng([params.seed, 7]).permutation(params.n_rows)
        n_test = int(round(params.n_rows * params.test_fraction))
        self.test, self.train = (features.iloc[order[:n_test]].reset_index(drop=True),
                                 features.iloc[order[n_test:]].reset_index(drop=True))
        self.test_factors = factors.iloc[order[:n_test]].reset_index(drop=True)
        self.train_factors = factors.iloc[order[n_test:]].reset_index(drop=True)
        self.categorical = list(CATEGORICAL)
        self.transform = TableTransform(self.train, self.categorical)
        self.x_train = self.transform(self.train)
        self._on_device = {}

    @property
    def spec(self) -> dict:
        return {"name": self.name, "version": self.version, "params": dataclasses.asdict(self.params)}

    @property
    def data_shape(self) -> tuple[int]:
        return (len(FEATURES),)

    def __len__(self) -> int:
        return len(self.train)

    def batch(self, n: int, rng: np.random.Generator, device, with_index: bool = False):
        """n training rows (with replacement), transformed, on `device`; with `with_index`, also their indices."""
        device = torch.device(device)
        if device not in self._on_device:
            self._on_device = {device: torch.from_numpy(self.x_train).to(device)}
        rows = rng.integers(0, len(self.x_train), size=n)
        x = self._on_device[device][torch.from_numpy(rows).to(device)]
        return (x, rows) if with_index else x
