"""Distances between feature distributions: the Fréchet distance (the core of FID, Heusel et al.
2017) and the kernel inception distance (KID, Bińkowski et al. 2018)."""

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bench.config import require
from bench.metrics.registry import Missing, Points, Protocol, check_points, metric


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians.

    Tr((S1 S2)^(1/2)) is computed as the trace of (S1^(1/2) S2 S1^(1/2))^(1/2): the same
    eigenvalues, but a symmetric matrix, so symmetric eigendecompositions give it without
    the spurious imaginary parts of a general `sqrtm`. Not clamped: FD(x, x) may come out a
    rounding error below zero.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"shapes disagree: mu {mu1.shape} {mu2.shape}, sigma {sigma1.shape} {sigma2.shape}")
    root1 = _sqrt_psd((sigma1 + sigma1.T) / 2)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (N - 1 normalised) of (N, d) features; warns when N <= d, where the
    covariance is singular and the distance is biased."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need (N >= 2, d) features, got shape {features.shape}")
    if len(features) <= features.shape[1]:
        warnings.warn(f"{len(features)} samples for {features.shape[1]} feature dimensions: the covariance "
                      "is singular and the Fréchet distance is biased; use more samples", RuntimeWarning,
                      stacklevel=2)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance_of_features(features1: np.ndarray, features2: np.ndarray) -> float:
    return frechet_distance(*gaussian_statistics(features1), *gaussian_statistics(features2))


def kid(features1: np.ndarray, features2: np.ndarray, num_subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> dict:
    """Kernel inception distance: the unbiased MMD^2 with the cubic polynomial kernel
    k(x, y) = (x.y / d + 1)^3, averaged over random subsets (Bińkowski et al. 2018, their
    defaults: 100 subsets of 1000). Returns {"mean", "std"}."""
    x = np.asarray(features1, dtype=np.float64)
    y = np.asarray(features2, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need (N, d) feature arrays of one width; got {x.shape} and {y.shape}")
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError("KID needs at least two samples in each set")
    rng = np.random.default_rng(seed)
    dim = x.shape[1]
    estimates = []
    for _ in range(num_subsets):
        a = x[rng.choice(len(x), size, replace=False)]
        b = y[rng.choice(len(y), size, replace=False)]
        k_aa = (a @ a.T / dim + 1) ** 3
        k_bb = (b @ b.T / dim + 1) ** 3
        k_ab = (a @ b.T / dim + 1) ** 3
        off = size * (size - 1)
        estimates.append((k_aa.sum() - np.trace(k_aa)) / off + (k_bb.sum() - np.trace(k_bb)) / off
                         - 2 * k_ab.mean())
    return {"mean": float(np.mean(estimates)), "std": float(np.std(estimates))}


DOMAIN_NET_STEPS = 1500  # training steps of the domain feature net: about a minute on 2 CPU cores at 32 px


@dataclass(frozen=True)
class FidParams:
    num_points: Points = 10_000  # the usual FID sample size; below 2048 the covariance is singular
    space: Literal["inception"] = "inception"
    reconstruction: Protocol = "sample"

    def __post_init__(self):
        check_points(self.num_points, 2)


@dataclass(frozen=True)
class FdDomainParams:
    num_points: Points = 10_000
    space: Literal["domain"] = "domain"
    feature_seed: int = 0  # which domain feature net: one per dataset spec and seed, shared by all models
    feature_steps: int = DOMAIN_NET_STEPS  # its training steps
    reconstruction: Protocol = "sample"

    def __post_init__(self):
        check_points(self.num_points, 2)
        require(self.feature_steps >= 1, "feature_steps", f"{self.feature_steps} is below 1")


@dataclass(frozen=True)
class KidParams:
    num_points: Points = 10_000
    space: Literal["domain", "inception"] = "domain"
    feature_seed: int = 0  # for space: domain, as in FdDomainParams
    feature_steps: int = DOMAIN_NET_STEPS
    num_subsets: int = 100  # Bińkowski et al. 2018: 100 subsets of 1000
    subset_size: int = 1000
    reconstruction: Protocol = "sample"

    def __post_init__(self):
        check_points(self.num_points, 2)
        require(self.num_subsets >= 1, "num_subsets", f"{self.num_subsets} is below 1")
        require(self.subset_size >= 2, "subset_size", f"{self.subset_size} is below 2")
        require(self.feature_steps >= 1, "feature_steps", f"{self.feature_steps} is below 1")


def _against_real(name: str, inputs, distance) -> dict:
    """{name}_recon and {name}_sample: the evaluation images' features against their
    reconstructions' and against as many samples' (a Missing passes through)."""
    return {f"{name}_{variant}": fake if isinstance(fake, Missing) else distance(inputs["real"], fake)
            for variant, fake in (("recon", inputs["recon"]), ("sample", inputs["sample"]))}


@metric(name="fid", outputs={"fid_recon": False, "fid_sample": False}, version="2", consumes="features",
        Params=FidParams,
        description="FID (pytorch-fid's Inception pool3): dataset vs reconstructions (the paper's) and vs samples; "
                    "missing unless the weights file is installed")
def score_fid(inputs, params, seed):
    return _against_real("fid", inputs, frechet_distance_of_features)


@metric(name="fd_domain", outputs={"fd_domain_recon": False, "fd_domain_sample": False}, version="2",
        consumes="features", Params=FdDomainParams, floor=10.0,
        description="Fréchet distance in the features of a small CNN trained on the dataset's factors "
                    "(not FID; offline): dataset vs reconstructions and vs samples")
def score_fd_domain(inputs, params, seed):
    return _against_real("fd_domain", inputs, frechet_distance_of_features)


@metric(name="kid", outputs={"kid_recon": False, "kid_sample": False}, version="2", consumes="features",
        Params=KidParams, floor=0.12,
        description="unbiased kernel inception distance (cubic kernel) in the domain features, or in "
                    "Inception's with space: inception; dataset vs reconstructions and vs samples")
def score_kid(inputs, params, seed):
    return _against_real("kid", inputs, lambda real, fake: kid(real, fake, params.num_subsets, params.subset_size,
                                                                seed=seed))
