"""MIG: known-answer cases (disentanglement-lib's own sanity tests) and an independent
per-pair reference built on sklearn's mutual_info_score."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from bench.metrics import histogram_discretize, mig, mutual_info_matrix


def reference_mig(codes, factors, num_bins=20):
    """disentanglement-lib's recipe written out pair by pair (codes and factors as (N, K), (N, F))."""
    binned = np.stack([np.digitize(c, np.histogram(c, num_bins)[1][:-1]) for c in codes.T])
    mi = np.array([[mutual_info_score(f, b) for f in factors.T] for b in binned])
    entropy = np.array([mutual_info_score(f, f) for f in factors.T])
    top = np.sort(mi, axis=0)[::-1]
    return np.mean((top[0] - top[1]) / entropy)


@pytest.fixture
def factors():
    rng = np.random.default_rng(0)
    return np.stack([rng.integers(0, s, 3000) for s in (3, 6, 10, 8)], axis=1)


def test_identity_codes_score_high(factors):
    assert mig(factors.astype(float), factors) >= 0.9


def test_zero_codes_score_low(factors):
    assert mig(np.zeros((len(factors), 4)), factors) <= 0.2


def test_duplicated_codes_score_low(factors):
    codes = np.repeat(factors.astype(float), 2, axis=1)  # each factor coded twice: gap is 0
    assert mig(codes, factors) <= 0.1


def test_random_codes_lie_in_unit_interval(factors):
    rng = np.random.default_rng(1)
    for _ in range(5):
        value = mig(rng.normal(size=(len(factors), 6)), factors)
        assert 0.0 <= value <= 1.0


@pytest.mark.parametrize("num_bins", [5, 20])
def test_matches_pairwise_sklearn_reference(factors, num_bins):
    rng = np.random.default_rng(2)
    codes = rng.normal(size=(len(factors), 5))
    codes[:, 0] += factors[:, 1]  # some signal, so the gaps are not all ~0
    codes[:, 3] = np.exp(codes[:, 3])  # skewed column: edges matter
    assert mig(codes, factors, num_bins) == pytest.approx(reference_mig(codes, factors, num_bins), rel=1e-10)


def test_discretisation_equals_digitize_on_histogram_edges():
    rng = np.random.default_rng(3)
    codes = np.concatenate([rng.normal(size=(500, 3)), np.linspace(0, 1, 500)[:, None]], axis=1)
    expected = np.stack([np.digitize(c, np.histogram(c, 20)[1][:-1]) - 1 for c in codes.T], axis=1)
    np.testing.assert_array_equal(histogram_discretize(codes, 20), expected)
    assert histogram_discretize(codes, 20).max() == 19  # column maxima land in the last bin


def test_mutual_info_matrix_equals_sklearn(factors):
    binned = np.random.default_rng(4).integers(0, 7, size=(len(factors), 3))
    expected = np.array([[mutual_info_score(f, b) for f in factors.T] for b in binned.T])
    np.testing.assert_allclose(mutual_info_matrix(binned, factors), expected, rtol=1e-10, atol=1e-12)


def test_constant_factor_is_left_out_with_warning(factors):
    with_constant = np.concatenate([factors, np.zeros((len(factors), 1), dtype=int)], axis=1)
    codes = factors.astype(float)
    with pytest.warns(RuntimeWarning, match="constant"):
        value = mig(codes, with_constant)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert value == pytest.approx(mig(codes, factors))
    assert np.isfinite(value)


def test_rejects_continuous_factors_and_bad_shapes(factors):
    with pytest.raises(ValueError, match="integer"):
        mig(np.zeros((10, 3)), np.random.default_rng(0).normal(size=(10, 2)))
    with pytest.raises(ValueError, match="codes"):
        mig(np.zeros(10), factors[:10])
    with pytest.raises(ValueError, match="NaN"):
        mig(np.full((len(factors), 2), np.nan), factors)
    with pytest.raises(ValueError, match="every factor is constant"), pytest.warns(RuntimeWarning):
        mig(np.zeros((10, 2)), np.zeros((10, 2), dtype=int))
