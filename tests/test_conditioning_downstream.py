"""conditioning_mi (M1-M4) and downstream_accuracy on cases with known answers."""

import numpy as np
import pytest

from bench.metrics import conditioning_mi, downstream_accuracy


@pytest.fixture
def codes():
    return np.random.default_rng(0).normal(size=(5000, 6))


def test_identical_codes_give_one(codes):
    assert conditioning_mi(codes, codes) == pytest.approx(1.0)
    assert conditioning_mi(codes, 3 * codes + 1) == pytest.approx(1.0)  # binning is per dimension


def test_independent_codes_give_about_zero(codes):
    other = np.random.default_rng(1).normal(size=codes.shape)
    # plug-in MI of independent 20-bin variables is biased up by about (B-1)^2 / (2N) nats
    assert 0.0 <= conditioning_mi(codes, other) < 0.02


def test_values_lie_in_the_unit_interval_and_order_by_noise(codes):
    rng = np.random.default_rng(2)
    values = [conditioning_mi(codes, codes + s * rng.normal(size=codes.shape)) for s in (0.05, 0.3, 1.0, 3.0)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values, reverse=True)


def test_matches_sklearn_normalised_mi_per_dimension(codes):
    from sklearn.metrics import mutual_info_score

    from bench.metrics import histogram_discretize

    other = codes + np.random.default_rng(3).normal(size=codes.shape)
    a, b = histogram_discretize(codes), histogram_discretize(other)
    expected = np.mean([mutual_info_score(a[:, i], b[:, i]) / mutual_info_score(a[:, i], a[:, i])
                        for i in range(codes.shape[1])])
    assert conditioning_mi(codes, other) == pytest.approx(expected, rel=1e-10)


def test_constant_reference_dimension_is_left_out(codes):
    ref = codes.copy()
    ref[:, 0] = 1.0
    assert conditioning_mi(ref, ref) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="constant"):
        conditioning_mi(np.ones((10, 2)), np.zeros((10, 2)))


def test_downstream_accuracy_planted_case():
    rng = np.random.default_rng(0)
    c = rng.normal(size=(3000, 4))
    factors = np.stack([(c[:, 0] > 0).astype(int), np.digitize(c[:, 1], [-0.5, 0.5])], axis=1)
    from_c = downstream_accuracy(c, factors, seed=0)
    assert from_c["mean"] > 0.95 and all(a > 0.95 for a in from_c["per_factor"])
    noise = rng.normal(size=(3000, 4))
    from_noise = downstream_accuracy(noise, factors, seed=0)
    chance = [max(np.bincount(f)) / len(f) for f in factors.T]  # majority-class rate
    assert all(a < ch + 0.05 for a, ch in zip(from_noise["per_factor"], chance))
