"""The paper's conditioning check (section 4, appendix H eq. 5): how much of the reference
codes C_R = E(X) survive in the codes of another image set, dimension by dimension."""

from dataclasses import dataclass

import numpy as np

from bench.config import require
from bench.metrics.mig import histogram_discretize
from bench.metrics.registry import metric


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def conditioning_mi(reference_codes: np.ndarray, codes: np.ndarray, num_bins: int = 20) -> float:
    """MI[C_R, C] = (1/n) sum_i I(c^i; c_R^i) / H(c_R^i), both discretised into `num_bins`
    equal-width histogram bins per dimension (as for MIG). Lies in [0, 1]: 1 when C = C_R.

    A dimension where C_R is constant (zero entropy) is left out; if all are, it is an error.
    """
    reference_codes = np.asarray(reference_codes, dtype=np.float64)
    codes = np.asarray(codes, dtype=np.float64)
    if reference_codes.shape != codes.shape or reference_codes.ndim != 2:
        raise ValueError(f"need two (N, n) code arrays of one shape; got {reference_codes.shape} and {codes.shape}")
    ref_bins = histogram_discretize(reference_codes, num_bins)
    other_bins = histogram_discretize(codes, num_bins)
    ratios = []
    for i in range(codes.shape[1]):
        joint = np.bincount(ref_bins[:, i] * num_bins + other_bins[:, i], minlength=num_bins**2).reshape(num_bins, -1)
        h_ref = _entropy(joint.sum(axis=1))
        if h_ref <= 0:
            continue
        mi = h_ref + _entropy(joint.sum(axis=0)) - _entropy(joint.ravel())
        ratios.append(min(max(mi / h_ref, 0.0), 1.0))  # rounding only; I <= H(c_R) exactly
    if not ratios:
        raise ValueError("every reference code dimension is constant: the conditioning MI is undefined")
    return float(np.mean(ratios))


def independence_floor(num_points: int, num_bins: int = 20, dims: int = 10, repeats: int = 3) -> float:
    """What `conditioning_mi` gives for two independent standard-normal codes of `num_points`
    points: the plug-in estimator's upward bias, about (num_bins - 1)^2 / (2 N) nats before
    normalising (Miller 1955). A score near it (M4, the shuffled-Y control) measures nothing.
    The mean of `repeats` seeded draws, so the same arguments always give the same value."""
    draws = []
    for seed in range(repeats):
        rng = np.random.default_rng([seed, num_points, num_bins])
        draws.append(conditioning_mi(rng.standard_normal((num_points, dims)), rng.standard_normal((num_points, dims)),
                                     num_bins))
    return float(np.mean(draws))


@dataclass(frozen=True)
class ConditioningParams:
    # the plug-in MI is biased upwards by about (bins - 1)^2 / 2N: two independent codes score
    # 0.030 at 2,000 points, 0.006 at 10,000 (`independence_floor`), the level M4 cannot go below
    num_points: int = 10_000
    num_bins: int = 20  # appendix H: 20-bin histogram discretisation, as for MIG

    def __post_init__(self):
        require(self.num_points >= 2, "num_points", f"{self.num_points} is below 2")
        require(self.num_bins >= 2, "num_bins", f"{self.num_bins} is below 2")


# M_k = MI[C_R; C_view] (section 4), the views named as `Model.conditioning_codes` returns them;
# M_shuffled_y is the authors' control with Y from another image
VIEWS = {"M1": "C_Y", "M2": "C_X", "M3": "C_z_eps", "M4": "C_Y_eps", "M_shuffled_y": "C_Y_shuffled"}


# conditioning is kept when M1, M2, M3 are high and M4 (Y replaced by noise) and the shuffled-Y
# control are low: section 4's M2 > M1 > M3 >> M4
@metric(name="conditioning_mi", outputs={"M1": True, "M2": True, "M3": True, "M4": False, "M_shuffled_y": False},
        version="1", consumes="conditioning", Params=ConditioningParams, floor=0.022,
        description="M1-M4: normalised MI between stage one's codes of X and of Y, G(Y,Z), G(Y,eps), G(eps,Z); "
                    "M_shuffled_y: G(Y of another image, Z)")
def score(inputs, params, seed):
    views = inputs["views"]
    return {out: conditioning_mi(views["C_R"], views[view], params.num_bins) for out, view in VIEWS.items()}
