"""SAP, the Separated Attribute Predictability score (Kumar et al. 2018), as disentanglement-lib's
`evaluation/metrics/sap_score.py` computes it: a (K, F) matrix of how well each code dimension
alone predicts each factor, then the mean over factors of the gap between its best and second
best code.

Discrete factors (disentanglement-lib's setting for every image dataset): the held-out accuracy
of a linear SVM (C = 0.01, balanced class weights, seeded) on one code dimension. Continuous
factors: the squared correlation, computed for all pairs at once. The SVM fits dominate the cost
and stay the same classifiers as dlib's.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bench.metrics.registry import Missing, check_split, metric


@dataclass(frozen=True)
class SapParams:
    # disentanglement-lib's sap_score config: num_train 10,000, num_test 5,000, continuous_factors False
    num_points: int = 15_000
    num_test: int = 5_000
    continuous_factors: bool = False
    representation: Literal["mean", "sampled"] = "mean"

    def __post_init__(self):
        check_split(self.num_points, self.num_test)


def score_matrix(codes_train, factors_train, codes_test, factors_test, continuous: bool = False,
                 seed: int = 0) -> np.ndarray:
    """(K, F): per code dimension and factor, the squared correlation (continuous) or the held-out
    accuracy of a linear SVM on that dimension alone (discrete)."""
    codes_train, factors_train = np.asarray(codes_train, dtype=np.float64), np.asarray(factors_train)
    if codes_train.ndim != 2 or factors_train.ndim != 2 or len(codes_train) != len(factors_train):
        raise ValueError(f"need codes (N, K) and factors (N, F); got {codes_train.shape} and {factors_train.shape}")
    if continuous:  # cov(mu_i, y_j)^2 / (var mu_i var y_j), ddof 1; 0 for a constant code
        mu = codes_train - codes_train.mean(axis=0)
        y = factors_train - factors_train.mean(axis=0)
        n = len(mu) - 1
        var_mu, var_y = (mu**2).sum(axis=0) / n, (y**2).sum(axis=0) / n
        squared = ((mu.T @ y) / n) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            matrix = squared / np.outer(var_mu, var_y)
        return np.where((var_mu > 1e-12)[:, None], matrix, 0.0)
    from sklearn.svm import LinearSVC  # imported when scored

    # one contiguous column per code dimension: sklearn copies strided inputs on every fit
    columns_train, columns_test = np.ascontiguousarray(codes_train.T), np.ascontiguousarray(np.asarray(codes_test).T)
    factors_test = np.asarray(factors_test)
    matrix = np.zeros((codes_train.shape[1], factors_train.shape[1]))
    for i in range(codes_train.shape[1]):
        for j in range(factors_train.shape[1]):
            classifier = LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
            classifier.fit(columns_train[i][:, None], factors_train[:, j])
            matrix[i, j] = np.mean(classifier.predict(columns_test[i][:, None]) == factors_test[:, j])
    return matrix


def sap(matrix: np.ndarray) -> float:
    """Mean over factors of (best minus second best code's score)."""
    top = np.sort(matrix, axis=0)
    return float(np.mean(top[-1] - top[-2]))


@metric(name="sap", outputs={"sap": True}, version="1", consumes="codes", Params=SapParams,
        description="SAP score (Kumar et al. 2018, disentanglement-lib's sap_score): mean gap between the two "
                    "code dimensions that best predict each factor alone (linear SVM accuracy)")
def score(inputs, params, seed):
    codes, factors = inputs["codes"], inputs["factors"]
    if codes.shape[1] < 2:
        return {"sap": Missing("SAP is the gap between the two best code dimensions: it needs two or more")}
    split = len(codes) - params.num_test
    matrix = score_matrix(codes[:split], factors[:split], codes[split:], factors[split:],
                          params.continuous_factors, seed)
    return {"sap": {"mean": sap(matrix), "score_matrix": matrix.round(6).tolist()}}
