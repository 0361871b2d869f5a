"""Fréchet distance and KID: against pytorch-fid's own function and on cases with known answers."""

import numpy as np
import pytest
from pytorch_fid.fid_score import calculate_frechet_distance

from bench.metrics.frechet import frechet_distance, frechet_distance_of_features, gaussian_statistics, kid


def random_gaussian(rng, dim):
    a = rng.normal(size=(dim, dim))
    return rng.normal(size=dim), a @ a.T / dim + 0.1 * np.eye(dim)


@pytest.mark.parametrize("dim", [2, 16, 64])
@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated")  # pytorch-fid's own sqrtm call
def test_equals_pytorch_fid(dim):
    rng = np.random.default_rng(dim)
    mu1, s1 = random_gaussian(rng, dim)
    mu2, s2 = random_gaussian(rng, dim)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(calculate_frechet_distance(mu1, s1, mu2, s2), rel=1e-6)


def test_known_values():
    # one dimension: (m1 - m2)^2 + (s1 - s2)^2 for standard deviations s1, s2
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9 + 1)
    # commuting covariances: sum over dimensions of (sqrt(a) - sqrt(b))^2
    assert frechet_distance(np.zeros(2), np.diag([1.0, 9.0]), np.zeros(2), np.diag([4.0, 1.0])) \
        == pytest.approx(1 + 4)


def test_a_set_against_itself_is_about_zero_and_not_clamped():
    features = np.random.default_rng(0).normal(size=(3000, 32))
    value = frechet_distance_of_features(features, features)
    assert abs(value) < 1e-3


def test_grows_with_noise():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(4000, 16))
    values = [frechet_distance_of_features(base, base + s * rng.normal(size=base.shape)) for s in (0.1, 0.5, 1, 2)]
    assert values == sorted(values) and values[0] > 0


def test_small_samples_warn():
    with pytest.warns(RuntimeWarning, match="singular"):
        gaussian_statistics(np.random.default_rng(0).normal(size=(10, 20)))


def test_kid_identical_and_shifted_sets():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1500, 16))
    same = kid(x, rng.normal(size=(1500, 16)), num_subsets=20, subset_size=500)
    assert abs(same["mean"]) < 3 * same["std"] + 1e-3  # unbiased: about zero for one distribution
    shifted = [kid(x, rng.normal(size=(1500, 16)) + s, num_subsets=20, subset_size=500)["mean"] for s in (0.5, 1.0)]
    assert 0 < shifted[0] < shifted[1]


def test_kid_unbiased_estimator_matches_a_direct_formula():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(40, 5)) + 0.3
    k = lambda a, b: (a @ b.T / 5 + 1) ** 3  # noqa: E731
    n = 40
    direct = ((k(x, x).sum() - np.trace(k(x, x))) / (n * (n - 1)) + (k(y, y).sum() - np.trace(k(y, y))) / (n * (n - 1))
              - 2 * k(x, y).mean())
    assert kid(x, y, num_subsets=1, subset_size=40)["mean"] == pytest.approx(direct)


def test_metrics_import_without_torch():
    # the `reference` tox env checks our metrics against disentanglement-lib without torch installed
    import subprocess
    import sys

    code = "import sys, bench.metrics; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, "bench.metrics imports torch"
