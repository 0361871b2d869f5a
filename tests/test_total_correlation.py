"""The minibatch TC estimator against the analytic total correlation of a Gaussian."""

import math

import numpy as np
import pytest
import torch

from models.beta_tcvae import gaussian_kl, total_correlation


def analytic_tc(cov: np.ndarray) -> float:
    """TC of N(0, cov) = -1/2 log det of its correlation matrix."""
    std = np.sqrt(np.diag(cov))
    return -0.5 * math.log(np.linalg.det(cov / np.outer(std, std)))


def tc_estimate(cov: np.ndarray, n: int, s: float, seed: int) -> tuple[float, float]:
    """(estimate, analytic): a batch whose posteriors N(mean_i, s^2 I) have means ~ N(0, cov), so
    that q(z) is N(0, cov + s^2 I), whose TC is known."""
    gen = torch.Generator().manual_seed(seed)
    dim = len(cov)
    chol = torch.linalg.cholesky(torch.tensor(cov, dtype=torch.float64))
    mean = torch.randn(n, dim, generator=gen, dtype=torch.float64) @ chol.T
    logvar = torch.full_like(mean, 2 * math.log(s))
    z = mean + s * torch.randn(n, dim, generator=gen, dtype=torch.float64)
    return total_correlation(z, mean, logvar).item(), analytic_tc(cov + s**2 * np.eye(dim))


@pytest.mark.parametrize("rho", [0.0, 0.6, 0.9])
def test_tc_of_correlated_gaussian(rho):
    estimate, expected = tc_estimate(np.array([[1.0, rho], [rho, 1.0]]), n=4000, s=0.3, seed=0)
    assert estimate == pytest.approx(expected, abs=0.03)


def test_tc_of_a_three_dimensional_gaussian():
    cov = np.array([[1.0, 0.7, 0.3], [0.7, 1.0, 0.5], [0.3, 0.5, 1.0]])
    estimate, expected = tc_estimate(cov, n=5000, s=0.3, seed=1)
    assert estimate == pytest.approx(expected, abs=0.05)


def test_gaussian_kl_known_values():
    assert gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0
    # KL(N(1, e) || N(0, 1)) = 0.5 (1 + e - 1 - 1) per dim
    value = gaussian_kl(torch.ones(1, 2), torch.ones(1, 2)).item()
    assert value == pytest.approx(2 * 0.5 * (1 + math.e - 1 - 1))
