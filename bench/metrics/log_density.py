"""Held-out log-likelihood of models with an exact density (MS-FLOW, the paper's appendix E), in
nats per image and in bits per dimension.

Images hold discrete values, `levels` per dimension (17 for scikit-learn's digits, 256 for MNIST).
A continuous density p on the unit cube is scored on uniformly dequantised data,
x = (v + u) / levels with u ~ U[0, 1)^D, and

    log P(v) >= E_u[log p((v + u) / levels)] - D log(levels)

(Theis, van den Oord & Bethge 2016, section 3.1): the discrete log-likelihood the density implies,
in nats per image; bits per dimension is -log P(v) / (D log 2). One draw of u per image. The
numbers describe the data as the dataset gives it: on images upsampled or padded for conv nets
(digits at 16 px, MNIST padded) they count repeated or constant pixels, so use the data as recorded
(digits `image_size: 8`, MNIST `pad: false`).
"""

from dataclasses import dataclass

import numpy as np

from bench.metrics.registry import METRICS, Missing, metric


def discrete_log_likelihood(log_density, dims: int, levels: int) -> dict:
    """Mean discrete log-likelihood per item in nats, and in bits per dimension (lower is better),
    from per-item log-densities of dequantised points in the unit cube. Also the standard error
    of the nats over items."""
    log_density = np.asarray(log_density, dtype=np.float64)
    if log_density.ndim != 1 or not log_density.size:
        raise ValueError(f"need a non-empty 1-D array of per-item log-densities, got shape {log_density.shape}")
    if not np.isfinite(log_density).all():
        raise ValueError(f"{int((~np.isfinite(log_density)).sum())} of {log_density.size} log-densities are not finite")
    if dims < 1 or levels < 2:
        raise ValueError(f"need dims >= 1 and levels >= 2, got {dims} and {levels}")
    per_item = log_density - dims * np.log(levels)
    n = per_item.size
    return {"nats": float(per_item.mean()), "bits_per_dim": float(-per_item.mean() / (dims * np.log(2))),
            "std_error": float(per_item.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0}


@dataclass(frozen=True)
class LogDensityParams:
    pass


@metric(name="log_density", outputs={"log_density": True, "log_density_bits_per_dim": False,
                                     "log_density_stage_one": True, "log_density_stage_one_bits_per_dim": False},
        version="1", consumes="log_density", Params=LogDensityParams,
        description="held-out log-likelihood of a model with an exact density: nats per image and bits per "
                    "dimension of the discrete data, from one uniform dequantisation of every held-out image; "
                    "*_stage_one*: the same for the model's first stage alone (MS-FLOW's mixture)")
def score(inputs, params, seed):
    dims, levels = inputs["dims"], inputs["levels"]
    for name, values in (("log_density", inputs["log_density"]), *inputs["parts"].items()):
        bad = int((~np.isfinite(values)).sum())
        if bad:  # a diverged model: no number to report, and the other metrics of the job still run
            reason = f"{bad} of {len(values)} held-out log-densities ({name}) are not finite"
            return {output: Missing(reason) for output in METRICS["log_density"].outputs}
    whole = discrete_log_likelihood(inputs["log_density"], dims, levels)
    out = {"log_density": {"mean": whole["nats"], "std_error": whole["std_error"]},
           "log_density_bits_per_dim": whole["bits_per_dim"]}
    stage_one = inputs["parts"].get("stage_one")
    if stage_one is None:
        reason = "the model has no separate first-stage density"
        return {**out, "log_density_stage_one": Missing(reason), "log_density_stage_one_bits_per_dim": Missing(reason)}
    first = discrete_log_likelihood(stage_one, dims, levels)
    return {**out, "log_density_stage_one": {"mean": first["nats"], "std_error": first["std_error"]},
            "log_density_stage_one_bits_per_dim": first["bits_per_dim"]}
