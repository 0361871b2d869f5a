"""Mutual Information Gap (Chen et al. 2018), exactly as disentanglement-lib's `discrete_mig`."""

import warnings

import numpy as np


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Bin each column on its own `num_bins` equal-width histogram edges.

    Same rule as disentanglement-lib's `_histogram_discretize`:
    `np.digitize(x, np.histogram(x, num_bins)[1][:-1])`, giving bins 1..num_bins
    (the column maximum falls in the last bin). Returned 0-based, int64, shape (N, K).
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D (N, K), got shape {codes.shape}")
    out = np.empty(codes.shape, dtype=np.int64)
    for k in range(codes.shape[1]):
        column = codes[:, k]
        edges = np.histogram_bin_edges(column, bins=num_bins)[:-1]
        # np.digitize(x, increasing_edges) == searchsorted(edges, x, side="right")
        out[:, k] = np.searchsorted(edges, column, side="right") - 1
    return out


def _dense_labels(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Map integer labels to 0..S-1 cheaply (offset when the range is small, else unique)."""
    low, high = int(values.min()), int(values.max())
    if high - low < 4 * len(values) + 64:
        return values - low, high - low + 1
    uniques, inverse = np.unique(values, return_inverse=True)
    return inverse, len(uniques)


def _entropy(counts: np.ndarray, axis=None) -> np.ndarray:
    """Entropy in nats of (unnormalised) counts."""
    total = counts.sum(axis=axis, keepdims=True)
    p = counts / total
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=axis)


def mutual_info_matrix(binned_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Discrete mutual information (nats) between every code column and every factor: (K, F).

    Equals sklearn's `mutual_info_score(factor_j, code_i)` for every pair, but builds one
    joint histogram per factor with a single `bincount` instead of K separate calls.
    """
    n, num_codes = binned_codes.shape
    num_bins = int(binned_codes.max()) + 1
    code_offsets = binned_codes + num_bins * np.arange(num_codes)  # (N, K), disjoint ranges
    mi = np.empty((num_codes, factors.shape[1]))
    for j in range(factors.shape[1]):
        labels, size = _dense_labels(factors[:, j])
        index = labels[:, None] * (num_codes * num_bins) + code_offsets
        joint = np.bincount(index.ravel(), minlength=size * num_codes * num_bins)
        joint = joint.reshape(size, num_codes, num_bins).transpose(1, 0, 2)  # (K, S, B)
        h_factor = _entropy(joint[0].sum(axis=1))
        h_codes = _entropy(joint.sum(axis=1), axis=1)
        h_joint = _entropy(joint.reshape(num_codes, -1), axis=1)
        mi[:, j] = h_factor + h_codes - h_joint
    return np.maximum(mi, 0.0)  # I >= 0; rounding can leave -1e-16


def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """MIG: mean over factors of (top-1 minus top-2 code MI) / factor entropy.

    codes: (N, K) float representations; factors: (N, F) integer ground-truth factors.
    A constant factor (zero entropy) is left out with a warning rather than dividing by 0.
    """
    codes = np.asarray(codes)
    factors = np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"need codes (N, K) and factors (N, F); got {codes.shape} and {factors.shape}")
    if codes.shape[1] < 2:
        raise ValueError("MIG needs at least two code dimensions")
    if not np.issubdtype(factors.dtype, np.integer):
        raise ValueError(f"factors must be integer indices, got dtype {factors.dtype}")
    if not np.all(np.isfinite(codes)):
        raise ValueError("codes contain NaN or inf")
    mi = mutual_info_matrix(histogram_discretize(codes, num_bins), factors)
    entropies = np.array([_entropy(np.bincount(_dense_labels(f)[0]).astype(float)) for f in factors.T])
    constant = entropies <= 0
    if constant.any():
        warnings.warn(f"MIG: factor column(s) {np.flatnonzero(constant).tolist()} are constant "
                      "in this sample and are left out", RuntimeWarning, stacklevel=2)
    if constant.all():
        raise ValueError("MIG is undefined: every factor is constant in this sample")
    top2 = -np.sort(-mi, axis=0)[:2]  # (2, F)
    gaps = (top2[0] - top2[1])[~constant] / entropies[~constant]
    return float(np.mean(gaps))
