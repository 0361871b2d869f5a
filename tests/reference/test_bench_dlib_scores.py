"""Speed of DCI, SAP, modularity/explicitness and the FactorVAE score against disentanglement-lib's
functions on the same inputs (the setups of tests/reference/test_dlib_scores.py), side by side in
one run: `tox -e bench-reference`, then `python scripts/bench_ratios.py .msbench/bench-reference.json`
prints dlib's median time over ours per group. Skipped in the plain reference run (--benchmark-skip)."""

import numpy as np
import pytest

from bench.metrics.dci import DciParams
from bench.metrics.dci import score as dci_score
from bench.metrics.factor_vae import factor_vae_score
from bench.metrics.modularity import ModularityParams
from bench.metrics.modularity import score as modularity_score
from bench.metrics.sap import SapParams
from bench.metrics.sap import score as sap_score
from tests.reference.test_dlib_scores import SEED, GroupReplay, Replay, identity, seeded

pytestmark = pytest.mark.reference
ROUNDS = 3


def dsprites_like(n, dims=10, seed=0):
    """Codes (n, dims) that carry dSprites-sized factors (3, 6, 40, 32, 32) with noise."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, s, n) for s in (3, 6, 40, 32, 32)], axis=1)
    codes = np.concatenate([factors / np.array([3, 6, 40, 32, 32]) + 0.1 * rng.normal(size=(n, 5)),
                            rng.normal(size=(n, dims - 5))], axis=1)
    return codes, factors


def run(benchmark, fn):
    return benchmark.pedantic(fn, rounds=ROUNDS, iterations=1)


@pytest.mark.parametrize("side", ["ours", "dlib"])
def test_dci_speed(benchmark, dlib_scores, monkeypatch, side):
    from sklearn import ensemble

    benchmark.group = "dci: 1,500 train + 500 test codes, 10 dims, 2 factors (3 and 6 classes)"
    codes, factors = dsprites_like(2000)
    factors = factors[:, :2]  # the GBT's cost grows with the classes: keep it to shape and scale
    dci = dlib_scores[1]
    monkeypatch.setattr(dci, "ensemble", seeded(ensemble, ensemble.GradientBoostingClassifier))
    if side == "ours":
        run(benchmark, lambda: dci_score({"codes": codes, "factors": factors}, DciParams(2000, 500), SEED))
    else:
        run(benchmark, lambda: dci.compute_dci(Replay(codes, factors), identity, np.random.RandomState(0),
                                               num_train=1500, num_test=500, batch_size=16))


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
@pytest.mark.parametrize("side", ["ours", "dlib"])
def test_sap_speed(benchmark, dlib_scores, monkeypatch, side, continuous):
    from sklearn import svm

    kind = "continuous" if continuous else "discrete"
    benchmark.group = f"sap ({kind} factors): 3,000 train + 1,000 test codes, 10 dims, 5 factors"
    codes, factors = dsprites_like(4_000)
    sap_module = dlib_scores[2]
    monkeypatch.setattr(sap_module, "svm", seeded(svm, svm.LinearSVC))
    if side == "ours":
        run(benchmark, lambda: sap_score({"codes": codes, "factors": factors},
                                         SapParams(4_000, 1_000, continuous_factors=continuous), SEED))
    else:
        run(benchmark, lambda: sap_module.compute_sap(Replay(codes, factors), identity, np.random.RandomState(0),
                                                      num_train=3_000, num_test=1_000, batch_size=16,
                                                      continuous_factors=continuous))


@pytest.mark.parametrize("side", ["ours", "dlib"])
def test_modularity_speed(benchmark, dlib_scores, side):
    benchmark.group = "modularity + explicitness: 10,000 train + 5,000 test codes, 10 dims, 5 factors"
    codes, factors = dsprites_like(15_000)
    gin, *_, modularity_module, utils = dlib_scores
    gin.clear_config()
    gin.bind_parameter("discretizer.discretizer_fn", utils._histogram_discretize)
    gin.bind_parameter("discretizer.num_bins", 20)
    if side == "ours":
        run(benchmark, lambda: modularity_score({"codes": codes, "factors": factors},
                                                ModularityParams(15_000, 5_000), SEED))
    else:
        run(benchmark, lambda: modularity_module.compute_modularity_explicitness(
            Replay(codes, factors), identity, np.random.RandomState(0), num_train=10_000, num_test=5_000,
            batch_size=16))


@pytest.mark.parametrize("side", ["ours", "dlib"])
def test_mutual_information_speed(benchmark, dlib_scores, side):
    """Modularity's (K, F) mutual information alone: one vectorised count against dlib's
    per-pair mutual_info_score (binning included on both sides)."""
    from bench.metrics.mig import histogram_discretize, mutual_info_matrix

    benchmark.group = "modularity's MI matrix alone: 10,000 codes, 10 dims, 5 factors, 20 bins"
    codes, factors = dsprites_like(10_000)
    gin, *_, utils = dlib_scores
    gin.clear_config()
    gin.bind_parameter("discretizer.discretizer_fn", utils._histogram_discretize)
    gin.bind_parameter("discretizer.num_bins", 20)
    if side == "ours":
        run(benchmark, lambda: mutual_info_matrix(histogram_discretize(codes, 20), factors))
    else:
        run(benchmark, lambda: utils.discrete_mutual_info(utils.make_discretizer(codes.T), factors.T))


@pytest.mark.parametrize("side", ["ours", "dlib"])
def test_factor_vae_speed(benchmark, dlib_scores, side):
    """The score from given codes: dlib's per-group loop (its groups replayed, so no sampling or
    encoding is timed on either side) against ours."""
    benchmark.group = "factor_vae: 10,000 + 5,000 groups of 64 codes, 10 dims, 5 factors"
    rng = np.random.default_rng(0)
    draws = np.random.RandomState(0)
    factor = np.array([draws.randint(5) for _ in range(15_000)])
    codes = rng.normal(size=(15_000, 64, 10)).astype(np.float32)
    variance = rng.normal(size=(10_000, 10)).astype(np.float32)
    gin, _, _, factor_vae, *_ = dlib_scores
    gin.clear_config()
    gin.bind_parameter("prune_dims.threshold", 0.05)
    if side == "ours":
        run(benchmark, lambda: factor_vae_score(variance, codes[:10_000], factor[:10_000], codes[10_000:],
                                                factor[10_000:], 5, 0.05))
    else:
        run(benchmark, lambda: factor_vae.compute_factor_vae(GroupReplay(variance, codes, 5), identity,
                                                             np.random.RandomState(0), batch_size=64, num_train=10_000,
                                                             num_eval=5_000, num_variance_estimate=10_000))
