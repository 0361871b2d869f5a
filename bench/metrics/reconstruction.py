"""Pixel-wise reconstruction errors (the paper's appendix K)."""

from dataclasses import dataclass

import numpy as np

from bench.metrics.registry import Points, Protocol, check_points, metric


def _check_pair(target: np.ndarray, reconstruction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    target = np.asarray(target, dtype=np.float64)
    reconstruction = np.asarray(reconstruction, dtype=np.float64)
    if target.shape != reconstruction.shape:
        raise ValueError(f"shape mismatch: target {target.shape} vs reconstruction {reconstruction.shape}")
    for name, arr in (("target", target), ("reconstruction", reconstruction)):
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(f"{name} must lie in [0, 1]; got range [{arr.min():.3g}, {arr.max():.3g}]")
    return target, reconstruction


def l1(target: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean absolute per-pixel error on images in [0, 1]."""
    target, reconstruction = _check_pair(target, reconstruction)
    return float(np.mean(np.abs(target - reconstruction)))


def l2(target: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean squared per-pixel error on images in [0, 1]."""
    target, reconstruction = _check_pair(target, reconstruction)
    return float(np.mean((target - reconstruction) ** 2))


@dataclass(frozen=True)
class ReconstructionParams:
    num_points: Points = 2_000
    reconstruction: Protocol = "sample"

    def __post_init__(self):
        check_points(self.num_points, 1)


@metric(name="l1", outputs={"l1": False}, version="2", consumes="images", Params=ReconstructionParams,
        description="mean absolute per-pixel reconstruction error, images in [0, 1]", floor=0.0011)
def score_l1(inputs, params, seed):
    return {"l1": l1(inputs["images"], inputs["reconstructions"])}


@metric(name="l2", outputs={"l2": False}, version="2", consumes="images", Params=ReconstructionParams,
        description="mean squared per-pixel reconstruction error, images in [0, 1]", floor=0.0007)
def score_l2(inputs, params, seed):
    return {"l2": l2(inputs["images"], inputs["reconstructions"])}
