"""Pixel-wise reconstruction errors (the paper's appendix K)."""

import numpy as np


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
