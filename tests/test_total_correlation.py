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


@pytest.mark.parametrize("rho", [0.0, 0.6, 0.9])
def test_tc_of_correlated_gaussian(rho):
    gen = torch.Generator().manual_seed(0)
    n, s = 4000, 0.3
    cov = np.array([[1.0, rho], [rho, 1.0]])
    chol = torch.linalg.cholesky(torch.tensor(cov, dtype=torch.float64))
    mean = torch.randn(n, 2, generator=gen, dtype=torch.float64) @ chol.T
    logvar = torch.full_like(mean, 2 * math.log(s))
    z = mean + s * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    # q(z) is N(0, cov + s^2 I): that is the TC the batch estimate must approach
    expected = analytic_tc(cov + s**2 * np.eye(2))
    assert total_correlation(z, mean, logvar).item() == pytest.approx(expected, abs=0.03)


def test_tc_of_a_three_dimensional_gaussian():
    gen = torch.Generator().manual_seed(1)
    n, s = 5000, 0.3
    cov = np.array([[1.0, 0.7, 0.3], [0.7, 1.0, 0.5], [0.3, 0.5, 1.0]])
    chol = torch.linalg.cholesky(torch.tensor(cov))
    mean = torch.randn(n, 3, generator=gen, dtype=torch.float64) @ chol.T
    logvar = torch.full_like(mean, 2 * math.log(s))
    z = mean + s * torch.randn(n, 3, generator=gen, dtype=torch.float64)
    expected = analytic_tc(cov + s**2 * np.eye(3))
    assert total_correlation(z, mean, logvar).item() == pytest.approx(expected, abs=0.05)


def test_gaussian_kl_known_values():
    assert gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0
    # KL(N(1, e) || N(0, 1)) = 0.5 (1 + e - 1 - 1) per dim
    value = gaussian_kl(torch.ones(1, 2), torch.ones(1, 2)).item()
    assert value == pytest.approx(2 * 0.5 * (1 + math.e - 1 - 1))
