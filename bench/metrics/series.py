"""Scores of series models (the pendulum, the paper's appendix D), on the dataset's held-out rows.

`hidden_correlation`: how well z tracks a factor the model never observes (the pendulum's mass,
Figure 24). The score is the multiple correlation R of the hidden factor with z: the square root of
the R² of its least-squares fit on z (with an intercept). For a one-dimensional z, as in the paper,
R is |Pearson corr(z, m)|. `z_observed_correlation` is the same R for the factors x already carries
(the largest of them): a z that models only the residual should carry none of them.

`series_l2`: the mean squared error of the reconstructed trajectories, per value, over the held-out
rows (the observed factors each row carries are left out).
"""

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from bench.metrics.registry import Missing, metric


def multiple_correlation(z, factor) -> float:
    """R of `factor` (n,) regressed on `z` (n, k) by least squares with an intercept, in [0, 1]; for
    k = 1 this is |Pearson correlation|. 0 for a constant z."""
    z = np.asarray(z, dtype=np.float64).reshape(len(factor), -1)
    factor = np.asarray(factor, dtype=np.float64)
    if len(factor) < 3:
        raise ValueError(f"need at least 3 rows, got {len(factor)}")
    if not (np.isfinite(z).all() and np.isfinite(factor).all()):
        raise ValueError("z and the factor must be finite")
    centred = factor - factor.mean()
    total = centred @ centred
    if total == 0:
        raise ValueError("the factor is constant: no correlation is defined")
    design = z - z.mean(axis=0)
    coefficients, *_ = np.linalg.lstsq(design, centred, rcond=None)
    explained = 1 - np.sum((centred - design @ coefficients) ** 2) / total
    return float(np.sqrt(np.clip(explained, 0.0, 1.0)))


def _spearman(a, b) -> float:
    """|Spearman's rank correlation|, 0 where one side is constant (scipy gives NaN)."""
    value = spearmanr(a, b).correlation
    return abs(float(value)) if np.isfinite(value) else 0.0


@dataclass(frozen=True)
class SeriesParams:
    pass


@metric(name="hidden_correlation", outputs={"hidden_correlation": True, "z_observed_correlation": False},
        version="1", consumes="series", Params=SeriesParams,
        description="multiple correlation R of each hidden factor (never observed, e.g. the pendulum's mass) with "
                    "the posterior mean of z on held-out rows (|corr| for a 1-d z; the paper's Figure 24); "
                    "z_observed_correlation: the largest R of an observed factor with z (lower: z holds only "
                    "the residual)")
def score_correlation(inputs, params, seed):
    z = inputs["z"]
    if isinstance(z, Missing):
        return {"hidden_correlation": z, "z_observed_correlation": z}
    values, names = inputs["values"], inputs["factor_names"]
    hidden = {names[i]: multiple_correlation(z, values[:, i]) for i in inputs["hidden"]}
    observed = {names[i]: multiple_correlation(z, values[:, i]) for i in inputs["observed"]}
    ranks = {names[i]: _spearman(z[:, 0], values[:, i]) for i in inputs["hidden"]}
    return {"hidden_correlation": {"mean": float(np.mean(list(hidden.values()))), "per_factor": hidden,
                                   "spearman_first_z": ranks},
            "z_observed_correlation": {"mean": max(observed.values()), "per_factor": observed}}


@metric(name="series_l2", outputs={"series_l2": False}, version="1", consumes="series", Params=SeriesParams,
        description="mean squared error per value of the reconstructed trajectories of held-out rows (z at its "
                    "posterior mean)")
def score_l2(inputs, params, seed):
    reconstructions = inputs["reconstructions"]
    if isinstance(reconstructions, Missing):
        return {"series_l2": reconstructions}
    start = inputs["trajectory_start"]
    return {"series_l2": float(np.mean((reconstructions[:, start:] - inputs["rows"][:, start:]) ** 2))}
