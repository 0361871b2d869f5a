"""How well a conditional generator keeps the factors it is given (the GAN counterpart of M3, for the
paper's appendix G claim that z leaves c alone).

A supervised generator renders images from known factor values c with several noise draws z
(MS-GAN: G(Y(c), z); CGAN: G(c, z)). An independent reader, the factor heads of the domain feature
net behind `fd_domain` (trained on the real images only), predicts the factors back, and the score is
its accuracy against the c that generated each image, averaged over factors, images and draws. The
reader's own accuracy on the real evaluation images is its ceiling, kept in the details (optimistic
on a finite dataset, whose images the reader trained on; procedural sets draw new ones). A model that reads back its
own code instead (InfoGAN's Q head) scores, as `gan_code_recovery`, the accuracy of that reading of
its categorical code: a different quantity, so a column of its own.
"""

from dataclasses import dataclass

import numpy as np

from bench.config import require
from bench.metrics.frechet import DOMAIN_NET_STEPS
from bench.metrics.registry import Missing, metric


def factor_accuracy(factors, predicted) -> dict:
    """Mean accuracy of `predicted` ((draws, N, F) or (N, F)) against `factors` (N, F), with the
    accuracy per factor (`per_factor`) and the share of images whose every factor is read right
    under every draw (`all_factors_all_draws`)."""
    factors, predicted = np.asarray(factors), np.asarray(predicted)
    if predicted.ndim == 2:
        predicted = predicted[None]
    if predicted.shape[1:] != factors.shape or factors.ndim != 2 or not factors.size:
        raise ValueError(f"predicted {predicted.shape} does not match factors {factors.shape} (draws, N, F)")
    right = predicted == factors[None]
    return {"mean": float(right.mean()), "per_factor": right.mean(axis=(0, 1)).tolist(),
            "all_factors_all_draws": float(right.all(axis=(0, 2)).mean())}


@dataclass(frozen=True)
class GanConditioningParams:
    num_points: int = 1_000  # factor combinations, those of as many evaluation images
    draws: int = 5  # noise draws z per combination
    feature_seed: int = 0  # the reader: the domain feature net of fd_domain, as in FdDomainParams
    feature_steps: int = DOMAIN_NET_STEPS

    def __post_init__(self):
        require(self.num_points >= 1, "num_points", f"{self.num_points} is below 1")
        require(self.draws >= 1, "draws", f"{self.draws} is below 1")
        require(self.feature_steps >= 1, "feature_steps", f"{self.feature_steps} is below 1")


@metric(name="gan_conditioning", outputs={"gan_conditioning": True, "gan_code_recovery": True}, version="1",
        consumes="generated_factors",
        Params=GanConditioningParams,
        description="accuracy of the domain net's reading of the factors back from images generated from known "
                    "factor values, over `draws` noise draws each (MS-GAN: G(Y(c), z); CGAN: G(c, z)); the "
                    "reader's accuracy on real images in the details. gan_code_recovery: for a model that reads "
                    "its own code (InfoGAN), its Q head's accuracy on its categorical code (R^2 of the continuous "
                    "codes in the details)")
def score(inputs, params, seed):
    if "own" in inputs:
        own = inputs["own"]
        found = factor_accuracy(np.asarray(own["code"])[:, None], np.asarray(own["recovered"])[:, None])
        continuous = np.asarray(own.get("continuous", np.zeros((len(own["code"]), 0))))
        if continuous.shape[1]:  # share of each continuous code's variance that Q's reading explains
            recovered = np.asarray(own["continuous_recovered"])
            found["continuous_r2"] = [float(1 - ((recovered[:, j] - continuous[:, j]) ** 2).mean() / continuous[:, j].var())
                                      for j in range(continuous.shape[1])]
        return {"gan_conditioning": Missing("the model generates from no given factor values (see gan_code_recovery)"),
                "gan_code_recovery": {**found, "read_by": "the model's own Q head (categorical code)"}}
    found = factor_accuracy(inputs["factors"], inputs["predicted"])
    return {"gan_conditioning": {**found, "read_by": "domain feature net", "reader_on_real": inputs["reader"]},
            "gan_code_recovery": Missing("the model has no head that reads its own code")}
