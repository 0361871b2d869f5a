"""Modularity and explicitness (Ridgeway & Mozer 2018), as disentanglement-lib's
`evaluation/metrics/modularity_explicitness.py` computes them.

Modularity: from the (K, F) mutual information between each histogram-binned code dimension and
each factor (the training codes), each code's 1 - (sum of its squared MIs but the largest) /
(the largest x (F - 1)), 0 for a code with no information; the mean over codes. dlib fills the
MI matrix pair by pair in Python; here all pairs come from one vectorised count (`mig.py`).
Explicitness: per factor, the ROC AUC (one-vs-rest, macro) of a logistic regression on the
standardised codes, on held-out codes (the training AUC is kept in the details); the mean over
factors.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bench.config import require
from bench.metrics.mig import histogram_discretize, mutual_info_matrix
from bench.metrics.registry import Missing, check_split, metric


@dataclass(frozen=True)
class ModularityParams:
    # disentanglement-lib's modularity_explicitness config: num_train 10,000, num_test 5,000, 20 bins
    num_points: int = 15_000
    num_test: int = 5_000
    num_bins: int = 20
    representation: Literal["mean", "sampled"] = "mean"

    def __post_init__(self):
        check_split(self.num_points, self.num_test)
        require(self.num_bins >= 2, "num_bins", f"{self.num_bins} is below 2")


def modularity(mutual_information: np.ndarray) -> float:
    """Mean over codes of 1 - delta, delta = (sum_f MI^2 - max_f MI^2) / (max_f MI^2 (F - 1))."""
    squared = np.square(mutual_information)
    largest = squared.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (squared.sum(axis=1) - largest) / (largest * (squared.shape[1] - 1.0))
    return float(np.mean(np.where(largest == 0, 0.0, 1.0 - delta)))


def explicitness(codes_train, factors_train, codes_test, factors_test) -> tuple[float, float]:
    """(mean training AUC, mean test AUC) over factors of a logistic regression on the codes,
    standardised with the training codes' mean and sd (ddof 0). A constant code dimension is only
    centred (dlib divides it by 0, and the NaNs stop the classifier)."""
    from sklearn.linear_model import LogisticRegression  # imported when scored
    from sklearn.metrics import roc_auc_score

    mean, sd = codes_train.mean(axis=0), codes_train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    x_train, x_test = (codes_train - mean) / sd, (codes_test - mean) / sd
    aucs = []
    for f in range(factors_train.shape[1]):
        classifier = LogisticRegression().fit(x_train, factors_train[:, f])
        pair = []
        for x, y in ((x_train, factors_train[:, f]), (x_test, factors_test[:, f])):
            present = np.isin(classifier.classes_, y)  # one-hot over the classes y has, as dlib's binariser
            truth = (y[:, None] == classifier.classes_[present]).astype(int)
            pair.append(roc_auc_score(truth, classifier.predict_proba(x)[:, present]))
        aucs.append(pair)
    train, test = np.mean(aucs, axis=0)
    return float(train), float(test)


@metric(name="modularity", outputs={"modularity": True, "explicitness": True}, version="1", consumes="codes",
        Params=ModularityParams,
        description="modularity and explicitness (Ridgeway & Mozer 2018, disentanglement-lib's "
                    "modularity_explicitness): how much each code carries one factor only, and the held-out "
                    "ROC AUC of a logistic regression predicting each factor from the codes")
def score(inputs, params, seed):
    codes, factors = np.asarray(inputs["codes"], dtype=np.float64), inputs["factors"]
    split = len(codes) - params.num_test
    train, test = (codes[:split], factors[:split]), (codes[split:], factors[split:])
    values = {}
    if factors.shape[1] < 2:
        values["modularity"] = Missing("modularity is defined for two or more factors")
    else:
        mutual_information = mutual_info_matrix(histogram_discretize(train[0], params.num_bins), train[1])
        values["modularity"] = {"mean": modularity(mutual_information),
                                "mutual_information": mutual_information.round(6).tolist()}
    auc_train, auc_test = explicitness(*train, *test)
    values["explicitness"] = {"mean": auc_test, "train_auc": auc_train}
    return values
