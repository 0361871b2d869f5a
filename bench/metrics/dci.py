"""DCI: disentanglement, completeness and informativeness (Eastwood & Williams 2018), as
disentanglement-lib's `evaluation/metrics/dci.py` computes them.

One gradient-boosted tree classifier per factor (scikit-learn's defaults, seeded by the job
seed) predicts the factor from the code; the absolute feature importances form the (K, F)
matrix R. Disentanglement weighs each code's 1 - H_F(R[k, :]) by its share of all importance;
completeness weighs each factor's 1 - H_K(R[:, f]) by its share; informativeness is the
classifiers' accuracy on held-out codes (mean over factors; the training accuracy is kept in the
details). The classifier fits dominate the cost, so they stay the same classifiers as dlib's.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bench.metrics.registry import Missing, check_split, metric

EPSILON = 1e-11  # added to R before the entropies, as disentanglement-lib does


@dataclass(frozen=True)
class DciParams:
    # disentanglement-lib's dci config: num_train 10,000 and num_test 5,000; here one draw of
    # num_points codes, the last num_test of them held out
    num_points: int = 15_000
    num_test: int = 5_000
    representation: Literal["mean", "sampled"] = "mean"  # disentanglement-lib's "mean" postprocessing

    def __post_init__(self):
        check_split(self.num_points, self.num_test)


def importance_matrix(codes_train, factors_train, codes_test, factors_test, seed: int = 0):
    """(R (K, F), mean training accuracy, mean test accuracy) from one seeded
    GradientBoostingClassifier per factor."""
    from sklearn.ensemble import GradientBoostingClassifier  # imported when scored: a heavy import

    codes_train, codes_test = np.asarray(codes_train), np.asarray(codes_test)
    factors_train, factors_test = np.asarray(factors_train), np.asarray(factors_test)
    if codes_train.ndim != 2 or factors_train.ndim != 2 or len(codes_train) != len(factors_train):
        raise ValueError(f"need codes (N, K) and factors (N, F); got {codes_train.shape} and {factors_train.shape}")
    importance = np.zeros((codes_train.shape[1], factors_train.shape[1]), dtype=np.float64)
    train_accuracy, test_accuracy = [], []
    for f in range(factors_train.shape[1]):
        if len(np.unique(factors_train[:, f])) < 2:
            raise ValueError(f"DCI: factor {f} takes one value in the training codes; nothing to classify")
        model = GradientBoostingClassifier(random_state=seed).fit(codes_train, factors_train[:, f])
        importance[:, f] = np.abs(model.feature_importances_)
        train_accuracy.append(np.mean(model.predict(codes_train) == factors_train[:, f]))
        test_accuracy.append(np.mean(model.predict(codes_test) == factors_test[:, f]))
    return importance, float(np.mean(train_accuracy)), float(np.mean(test_accuracy))


def _one_minus_entropy(columns: np.ndarray) -> np.ndarray:
    """1 - H(p) / log(n) for each column p of `columns` (n rows), each normalised to sum 1."""
    p = columns / columns.sum(axis=0, keepdims=True)
    logs = np.log(p, where=p > 0, out=np.zeros_like(p))
    return 1.0 + (p * logs).sum(axis=0) / np.log(columns.shape[0])


def _weighted(per_item: np.ndarray, importance: np.ndarray, axis: int) -> float:
    if importance.sum() == 0:
        importance = np.ones_like(importance)
    share = importance.sum(axis=axis) / importance.sum()
    return float(np.sum(per_item * share))


def disentanglement(importance: np.ndarray) -> float:
    """Sum over codes of (1 - entropy of the code's importance over factors, base F) x its share."""
    return _weighted(_one_minus_entropy(importance.T + EPSILON), importance, axis=1)


def completeness(importance: np.ndarray) -> float:
    """Sum over factors of (1 - entropy of the factor's importance over codes, base K) x its share."""
    return _weighted(_one_minus_entropy(importance + EPSILON), importance, axis=0)


@metric(name="dci", outputs={"dci_disentanglement": True, "dci_completeness": True, "dci_informativeness": True},
        version="1", consumes="codes", Params=DciParams,
        description="DCI (Eastwood & Williams 2018, disentanglement-lib's dci): disentanglement and completeness "
                    "of gradient-boosted-tree importances, informativeness = their held-out accuracy")
def score(inputs, params, seed):
    codes, factors = inputs["codes"], inputs["factors"]
    split = len(codes) - params.num_test
    constant = [f for f in range(factors.shape[1]) if len(np.unique(factors[:split, f])) < 2]
    if constant:  # a classifier needs two classes: dlib's fit would fail
        reason = Missing(f"factor(s) {constant} take one value in the {split} training codes; nothing to classify")
        return dict.fromkeys(("dci_disentanglement", "dci_completeness", "dci_informativeness"), reason)
    importance, train_accuracy, test_accuracy = importance_matrix(codes[:split], factors[:split], codes[split:],
                                                                  factors[split:], seed)
    one_factor = Missing("disentanglement is defined for two or more factors (its entropy has base F)")
    return {"dci_disentanglement": disentanglement(importance) if factors.shape[1] > 1 else one_factor,
            "dci_completeness": completeness(importance) if codes.shape[1] > 1 else
            Missing("completeness is defined for two or more code dimensions (its entropy has base K)"),
            "dci_informativeness": {"mean": test_accuracy, "train_accuracy": train_accuracy,
                                    "importance": importance.round(6).tolist()}}
