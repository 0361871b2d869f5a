"""The evidence lower bound (ELBO) per image, in nats (the paper's appendix B, Figure 14).

For a VAE with prior p(c), likelihood p(x|c) and posterior q(c|x) (Kingma & Welling 2014, eq. 3):

    ELBO(x) = E_{q(c|x)}[log p(x|c)] - KL(q(c|x) || p(c))  <=  log p(x).

The model estimates the two terms for each image (`Model.elbo`: a Monte Carlo estimate of the
expectation, the KL in closed form); this function only checks and averages them.
"""

from dataclasses import dataclass

import numpy as np

from bench.config import require
from bench.metrics.registry import metric


def _per_item(name: str, values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name}: need a non-empty 1-D array of per-image values, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name}: {int((~np.isfinite(values)).sum())} of {values.size} values are not finite")
    return values


def elbo(log_likelihood, kl, **kl_parts) -> dict:
    """Mean per-image ELBO = mean(log_likelihood - kl), in nats; higher is better.

    `log_likelihood[i]` estimates E_q[log p(x_i | latents)] and `kl[i]` the KL of image i's posterior
    from the prior (non-negative). `kl_parts` are named parts of `kl` (e.g. one per latent group),
    reported as means beside it. Returns {"mean", "log_likelihood", "kl", each part, "std_error"},
    the last the standard error of the mean over images (0 for one image).
    """
    log_likelihood, kl = _per_item("log_likelihood", log_likelihood), _per_item("kl", kl)
    if log_likelihood.shape != kl.shape:
        raise ValueError(f"log_likelihood has {log_likelihood.size} values and kl {kl.size}; need one each per image")
    if kl.min() < -1e-4:  # a KL divergence is >= 0; allow float rounding only
        raise ValueError(f"kl must be non-negative, got a minimum of {kl.min():.3g}")
    parts = {name: _per_item(name, values) for name, values in kl_parts.items()}
    for name, values in parts.items():
        if values.shape != kl.shape:
            raise ValueError(f"{name} has {values.size} values and kl {kl.size}; need one each per image")
    per_image = log_likelihood - kl
    n = per_image.size
    return {"mean": float(per_image.mean()), "log_likelihood": float(log_likelihood.mean()), "kl": float(kl.mean()),
            **{name: float(values.mean()) for name, values in parts.items()},
            "std_error": float(per_image.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0}


@dataclass(frozen=True)
class ElboParams:
    num_points: int = 2_000
    samples: int = 1  # posterior draws per image for E_q[log p(x|.)]: more lowers the variance, not the bound

    def __post_init__(self):
        require(self.num_points >= 1, "num_points", f"{self.num_points} is below 1")
        require(self.samples >= 1, "samples", f"{self.samples} is below 1")


@metric(name="elbo", outputs={"elbo": True}, version="1", consumes="elbo", Params=ElboParams,
        description="held-out ELBO per image in nats, E_q[log p(x|latents)] - KL(q || prior), Bernoulli likelihood, "
                    "`samples` posterior draws per image; for MS-VAE the bound of its whole generative model "
                    "(c ~ q(c|x), Y = stage one's decoding of c, z ~ q(z|x,Y); KL of c and of z), comparable with "
                    "the single-stage models'; its stage-two conditional ELBO given Y is log_likelihood - kl_z "
                    "in the details")
def score(inputs, params, seed):
    return {"elbo": elbo(**inputs["terms"])}
