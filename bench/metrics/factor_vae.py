"""The FactorVAE disentanglement score (Kim & Mnih 2018), as disentanglement-lib's
`evaluation/metrics/factor_vae.py` computes it.

Codes are divided by their global variances (from random images; dimensions whose sd is below
`prune_threshold` are left out). Each vote is one group of `batch_size` images sharing the value
of one factor: the code dimension with the least normalised variance within the group votes for
that factor. A majority-vote classifier (dimension -> factor) is read off the training votes; the
score is its accuracy on the evaluation votes (the training accuracy is kept in the details).
dlib counts the votes one group at a time in Python; here all groups' variances, arg-minima and
counts are array operations. The groups come from the dataset's `sample_with_fixed_factor`.
"""

from dataclasses import dataclass

import numpy as np

from bench.config import require
from bench.metrics.registry import Missing, metric


@dataclass(frozen=True)
class FactorVaeParams:
    # disentanglement-lib's factor_vae_metric config (its prune_dims.threshold included)
    batch_size: int = 64
    num_train: int = 10_000
    num_eval: int = 5_000
    num_variance_estimate: int = 10_000
    prune_threshold: float = 0.05

    def __post_init__(self):
        require(self.batch_size >= 2, "batch_size", f"{self.batch_size} is below 2: a group's variance needs two")
        require(self.num_train >= 1, "num_train", f"{self.num_train} is below 1")
        require(self.num_eval >= 1, "num_eval", f"{self.num_eval} is below 1")
        require(self.num_variance_estimate >= 2, "num_variance_estimate", f"{self.num_variance_estimate} is below 2")
        require(self.prune_threshold >= 0, "prune_threshold", f"{self.prune_threshold} is negative")


def votes(group_codes: np.ndarray, group_factor: np.ndarray, global_variances: np.ndarray, active: np.ndarray,
          num_factors: int) -> np.ndarray:
    """(F, K) vote counts: for each group (P, B, K) the arg-min over the active dimensions of its
    within-group variance (ddof 1) over the global variance, counted against the group's factor.
    The arg-min indexes the active dimensions, as in dlib, and is counted in that column."""
    local = np.var(group_codes, axis=1, ddof=1)
    chosen = np.argmin(local[:, active] / global_variances[active], axis=1)
    counts = np.zeros((num_factors, len(global_variances)), dtype=np.int64)
    np.add.at(counts, (np.asarray(group_factor), chosen), 1)
    return counts


def factor_vae_score(variance_codes, train_codes, train_factor, eval_codes, eval_factor, num_factors: int,
                     prune_threshold: float = 0.05) -> dict:
    """{"train_accuracy", "eval_accuracy", "active_dims"}; both accuracies 0 when no dimension is active."""
    global_variances = np.var(np.asarray(variance_codes), axis=0, ddof=1)
    active = np.sqrt(global_variances) >= prune_threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "active_dims": 0}
    train = votes(train_codes, train_factor, global_variances, active, num_factors)
    classifier = np.argmax(train, axis=0)  # each dimension's factor
    columns = np.arange(train.shape[1])
    evaluation = votes(eval_codes, eval_factor, global_variances, active, num_factors)
    return {"train_accuracy": float(train[classifier, columns].sum() / train.sum()),
            "eval_accuracy": float(evaluation[classifier, columns].sum() / evaluation.sum()),
            "active_dims": int(active.sum())}


@metric(name="factor_vae", outputs={"factor_vae": True}, version="1", consumes="factor_groups", Params=FactorVaeParams,
        description="FactorVAE score (Kim & Mnih 2018, disentanglement-lib's factor_vae): held-out accuracy of the "
                    "majority vote from the least-varying normalised code dimension to the factor held fixed")
def score(inputs, params, seed):
    if inputs["num_factors"] < 2:
        return {"factor_vae": Missing("the FactorVAE score needs two or more factors to tell apart")}
    result = factor_vae_score(inputs["variance_codes"], inputs["train"]["codes"], inputs["train"]["factor"],
                              inputs["eval"]["codes"], inputs["eval"]["factor"], inputs["num_factors"],
                              params.prune_threshold)
    return {"factor_vae": {"mean": result["eval_accuracy"], "train_accuracy": result["train_accuracy"],
                           "active_dims": result["active_dims"]}}
