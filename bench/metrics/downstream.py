"""Downstream factor prediction from learned codes (the paper's Figure 5): an MLP trained on
a representation to predict each ground-truth factor, scored on held-out points."""

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from bench.config import require
from bench.metrics.registry import Missing, metric


def downstream_accuracy(features: np.ndarray, factors: np.ndarray, seed: int = 0, test_size: float = 0.25,
                        hidden: int = 64, max_iter: int = 300) -> dict:
    """Held-out accuracy of an MLP per factor; returns {"per_factor": [...], "mean": float}.

    features: (N, d) float; factors: (N, F) integer labels. Features are standardised on the
    training split. A factor with one value only is predicted trivially and left out.
    """
    features = np.asarray(features, dtype=np.float64)
    factors = np.asarray(factors)
    if features.ndim != 2 or factors.ndim != 2 or len(features) != len(factors):
        raise ValueError(f"need features (N, d) and factors (N, F); got {features.shape} and {factors.shape}")
    train_idx, test_idx = train_test_split(np.arange(len(features)), test_size=test_size, random_state=seed)
    scaler = StandardScaler().fit(features[train_idx])
    x_train, x_test = scaler.transform(features[train_idx]), scaler.transform(features[test_idx])
    per_factor = []
    for j in range(factors.shape[1]):
        y = factors[:, j]
        if len(np.unique(y[train_idx])) < 2:
            per_factor.append(None)
            continue
        mlp = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=max_iter, early_stopping=True,
                            random_state=seed)
        mlp.fit(x_train, y[train_idx])
        per_factor.append(float(mlp.score(x_test, y[test_idx])))
    scored = [a for a in per_factor if a is not None]
    if not scored:
        raise ValueError("every factor is constant: nothing to predict")
    return {"per_factor": per_factor, "mean": float(np.mean(scored))}


@dataclass(frozen=True)
class DownstreamParams:
    num_points: int = 5_000

    def __post_init__(self):
        require(self.num_points >= 20, "num_points", f"{self.num_points} is below 20")


@metric(name="downstream_accuracy", outputs={"downstream_C": True, "downstream_Z": True, "downstream_CZ": True},
        version="1", consumes="representations", Params=DownstreamParams, floor=0.024,
        description="held-out MLP accuracy predicting each factor from C, Z and C+Z (mean over factors)")
def score(inputs, params, seed):
    """C, Z and C+Z, each predicting every factor."""
    c, z, factors = inputs["C"], inputs.get("Z"), inputs["factors"]
    values = {"downstream_C": downstream_accuracy(c, factors, seed=seed)}
    if z is None:
        return {**values, "downstream_Z": Missing("single-stage models have no Z"),
                "downstream_CZ": Missing("single-stage models have no Z")}
    values["downstream_Z"] = downstream_accuracy(z, factors, seed=seed)
    values["downstream_CZ"] = downstream_accuracy(np.concatenate([c, z], axis=1), factors, seed=seed)
    return values
