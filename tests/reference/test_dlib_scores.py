"""DCI, SAP, modularity/explicitness and the FactorVAE score against disentanglement-lib's own
`compute_*` functions on the same inputs and seeds.

dlib draws its codes through a GroundTruthData; here a replaying one hands it the very arrays our
scorers get (its representation function is the identity). dlib's classifiers are unseeded
(GradientBoostingClassifier(), LinearSVC()); they are given the job seed, as ours are, by replacing
the sklearn namespace its module reads them from. LogisticRegression (lbfgs) needs no seed. The
FactorVAE score's groups are drawn by dlib's own random state; ours are the same groups, replayed
in the order dlib asks for them, so every score must agree to 1e-9.
"""

import functools
import types

import numpy as np
import pytest

from bench.metrics.dci import DciParams
from bench.metrics.dci import score as dci_score
from bench.metrics.factor_vae import factor_vae_score
from bench.metrics.modularity import ModularityParams
from bench.metrics.modularity import score as modularity_score
from bench.metrics.sap import SapParams
from bench.metrics.sap import score as sap_score

pytestmark = pytest.mark.reference
SEED = 3


class Replay:
    """A GroundTruthData that returns the given (factors, codes) rows in order."""

    def __init__(self, codes, factors):
        self.codes, self.factors, self.at = codes, factors, 0

    @property
    def num_factors(self):
        return self.factors.shape[1]

    def sample(self, num, random_state):
        rows = slice(self.at, self.at + num)
        self.at += num
        return self.factors[rows], self.codes[rows]


def identity(observations):
    return np.asarray(observations)


def cases(n=1200):
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, s, n) for s in (3, 4, 5, 2)], axis=1)
    yield "entangled", np.concatenate([factors @ rng.normal(size=(4, 4)) + rng.normal(size=(n, 4)),
                                       rng.normal(size=(n, 2))], axis=1), factors
    yield "one_code_per_factor", factors + 0.3 * rng.normal(size=(n, 4)), factors
    yield "noise", rng.normal(size=(n, 5)), factors
    # float32, as the evaluator hands codes over (models encode in float32)
    yield "entangled_float32", (factors @ rng.normal(size=(4, 3)) + rng.normal(size=(n, 3))).astype(np.float32), factors


CASES = list(cases())
IDS = [c[0] for c in CASES]


def seeded(namespace, cls):
    """A copy of an sklearn namespace (as a dlib module imports it) with `cls` seeded by SEED."""
    return types.SimpleNamespace(**{**vars(namespace), cls.__name__: functools.partial(cls, random_state=SEED)})


@pytest.mark.parametrize("name,codes,factors", CASES, ids=IDS)
def test_dci_equals_disentanglement_lib(dlib_scores, monkeypatch, name, codes, factors):
    from sklearn import ensemble

    gin, dci, *_ = dlib_scores
    monkeypatch.setattr(dci, "ensemble", seeded(ensemble, ensemble.GradientBoostingClassifier))
    theirs = dci.compute_dci(Replay(codes, factors), identity, np.random.RandomState(0), num_train=800,
                             num_test=400, batch_size=16)
    ours = dci_score({"codes": codes, "factors": factors}, DciParams(num_points=1200, num_test=400), SEED)
    assert ours["dci_disentanglement"] == pytest.approx(theirs["disentanglement"], rel=1e-9, abs=1e-12)
    assert ours["dci_completeness"] == pytest.approx(theirs["completeness"], rel=1e-9, abs=1e-12)
    assert ours["dci_informativeness"]["mean"] == pytest.approx(theirs["informativeness_test"], rel=1e-9)
    assert ours["dci_informativeness"]["train_accuracy"] == pytest.approx(theirs["informativeness_train"], rel=1e-9)


@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("name,codes,factors", CASES, ids=IDS)
def test_sap_equals_disentanglement_lib(dlib_scores, monkeypatch, name, codes, factors, continuous):
    from sklearn import svm

    gin, _, sap_module, *_ = dlib_scores
    monkeypatch.setattr(sap_module, "svm", seeded(svm, svm.LinearSVC))
    theirs = sap_module.compute_sap(Replay(codes, factors), identity, np.random.RandomState(0), num_train=800,
                                    num_test=400, batch_size=16, continuous_factors=continuous)
    ours = sap_score({"codes": codes, "factors": factors},
                     SapParams(num_points=1200, num_test=400, continuous_factors=continuous), SEED)
    assert ours["sap"]["mean"] == pytest.approx(theirs["SAP_score"], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("num_bins", [20, 7])
@pytest.mark.parametrize("name,codes,factors", CASES, ids=IDS)
def test_modularity_explicitness_equals_disentanglement_lib(dlib_scores, name, codes, factors, num_bins):
    gin, *_, modularity_module, utils = dlib_scores
    gin.clear_config()
    gin.bind_parameter("discretizer.discretizer_fn", utils._histogram_discretize)
    gin.bind_parameter("discretizer.num_bins", num_bins)

    def theirs(given):
        return modularity_module.compute_modularity_explicitness(Replay(given, factors), identity,
                                                                 np.random.RandomState(0), num_train=800, num_test=400,
                                                                 batch_size=16)

    ours = modularity_score({"codes": codes, "factors": factors},
                            ModularityParams(num_points=1200, num_test=400, num_bins=num_bins), SEED)
    # we standardise in float64; dlib standardises float32 codes in float32 (its explicitness then
    # moves by ~1e-6), so for those it gets the same codes in float64 for the exact comparison
    exact = theirs(codes.astype(np.float64))
    assert ours["modularity"]["mean"] == pytest.approx(exact["modularity_score"], rel=1e-9, abs=1e-12)
    assert ours["explicitness"]["mean"] == pytest.approx(exact["explicitness_score_test"], rel=1e-9)
    assert ours["explicitness"]["train_auc"] == pytest.approx(exact["explicitness_score_train"], rel=1e-9)
    if codes.dtype == np.float32:
        raw = theirs(codes)
        assert ours["modularity"]["mean"] == pytest.approx(raw["modularity_score"], rel=1e-9, abs=1e-12)
        assert ours["explicitness"]["mean"] == pytest.approx(raw["explicitness_score_test"], rel=1e-5)


class GroupReplay:
    """A GroundTruthData for dlib's FactorVAE score: `sample_observations` gives the codes for the
    global variances, and each `sample_observations_from_factors` the next precomputed group. Its
    `sample_factors` draws nothing, so dlib's random state draws only the fixed factor of each group."""

    def __init__(self, variance_codes, groups, num_factors):
        self.variance_codes, self.groups, self.num_factors, self.at = variance_codes, groups, num_factors, 0

    def sample_observations(self, num, random_state):
        return self.variance_codes[:num]

    def sample_factors(self, num, random_state):
        return np.zeros((num, self.num_factors), dtype=np.int64)

    def sample_observations_from_factors(self, factors, random_state):
        self.at += 1
        return self.groups[self.at - 1]


def factor_vae_case(kind, num_factors=4, dims=6, batch=16, count=(300, 150), seed=0):
    """Variance codes; and per group (train, then eval) its codes and the factor dlib will draw,
    taken from the same RandomState dlib is given."""
    rng = np.random.default_rng(1)
    draws = np.random.RandomState(seed)
    factor = np.array([draws.randint(num_factors) for _ in range(sum(count))])
    codes = rng.normal(size=(len(factor), batch, dims))
    if kind == "aligned":  # factor f holds dimension f nearly still, except in a few groups
        keep = rng.random(len(factor)) < 0.85
        codes[np.arange(len(factor))[keep], :, factor[keep]] *= 0.05
    variance = rng.normal(size=(500, dims)) * np.r_[np.ones(dims - 1), 0.01]  # the last dimension is pruned
    return variance, codes, factor


@pytest.mark.parametrize("threshold", [0.0, 0.05])
@pytest.mark.parametrize("kind", ["aligned", "noise"])
def test_factor_vae_equals_disentanglement_lib(dlib_scores, kind, threshold):
    gin, _, _, factor_vae, *_ = dlib_scores
    variance, codes, factor = factor_vae_case(kind)
    gin.clear_config()
    gin.bind_parameter("prune_dims.threshold", threshold)
    theirs = factor_vae.compute_factor_vae(GroupReplay(variance, codes, 4), identity, np.random.RandomState(0),
                                           batch_size=16, num_train=300, num_eval=150, num_variance_estimate=500)
    ours = factor_vae_score(variance, codes[:300], factor[:300], codes[300:], factor[300:], 4, threshold)
    assert ours["train_accuracy"] == pytest.approx(theirs["train_accuracy"], rel=1e-9)
    assert ours["eval_accuracy"] == pytest.approx(theirs["eval_accuracy"], rel=1e-9)
    assert (ours["eval_accuracy"] > 0.7) == (kind == "aligned")  # the cases are not all alike
