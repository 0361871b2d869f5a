"""DCI, SAP, the FactorVAE score and modularity/explicitness on cases with known answers, against
independent references (scipy's entropy, numpy's correlation, a plain loop), and through the
evaluator. Equality with disentanglement-lib itself: tests/reference/test_dlib_scores.py."""

import dataclasses

import numpy as np
import pytest
import scipy.stats
import torch

from bench.evaluate import evaluate
from bench.metrics import METRICS
from bench.metrics.dci import completeness, disentanglement, importance_matrix
from bench.metrics.factor_vae import factor_vae_score, votes
from bench.metrics.modularity import explicitness, modularity
from bench.metrics.sap import sap, score_matrix
from bench.suite import MetricSpec

RNG = np.random.default_rng(0)
FACTORS = np.stack([RNG.integers(0, s, 1500) for s in (3, 4, 5)], axis=1)
NOISE = RNG.normal(size=(1500, 3))


def test_dci_entropies_match_scipy():
    importance = RNG.random((6, 3))
    per_code = 1 - scipy.stats.entropy(importance.T + 1e-11, base=3)
    share = importance.sum(axis=1) / importance.sum()
    assert disentanglement(importance) == pytest.approx(float(np.sum(per_code * share)), rel=1e-12)
    per_factor = 1 - scipy.stats.entropy(importance + 1e-11, base=6)
    assert completeness(importance) == pytest.approx(float(np.sum(per_factor * importance.sum(0) / importance.sum())),
                                                     rel=1e-12)


def test_dci_known_answers():
    assert disentanglement(np.eye(3)) == pytest.approx(1, abs=1e-8)
    assert completeness(np.eye(3)) == pytest.approx(1, abs=1e-8)
    assert disentanglement(np.ones((4, 3))) == pytest.approx(0, abs=1e-12)  # each code serves every factor
    assert completeness(np.ones((4, 3))) == pytest.approx(0, abs=1e-12)
    assert disentanglement(np.zeros((4, 3))) == pytest.approx(0, abs=1e-9)  # no importance at all
    codes = FACTORS + 0.01 * NOISE  # one code per factor
    importance, train, test = importance_matrix(codes[:1000], FACTORS[:1000], codes[1000:], FACTORS[1000:])
    assert importance.shape == (3, 3) and train == test == 1.0
    assert disentanglement(importance) > 0.95 and completeness(importance) > 0.95
    _, _, chance = importance_matrix(NOISE[:1000], FACTORS[:1000], NOISE[1000:], FACTORS[1000:])
    assert chance < 0.45  # noise predicts the factors at about chance (1/3, 1/4, 1/5)


def test_sap_known_answers():
    assert sap(np.array([[1.0, 0.2], [0.5, 0.9], [0.1, 0.1]])) == pytest.approx((0.5 + 0.7) / 2)
    codes = np.concatenate([FACTORS + 0.01 * NOISE, NOISE], axis=1).astype(np.float64)
    continuous = score_matrix(codes, FACTORS, None, None, continuous=True)
    reference = np.array([[np.corrcoef(codes[:, i], FACTORS[:, j])[0, 1] ** 2 for j in range(3)] for i in range(6)])
    np.testing.assert_allclose(continuous, reference, rtol=1e-10, atol=1e-15)
    constant = score_matrix(np.ones((50, 2)), FACTORS[:50], None, None, continuous=True)
    assert (constant == 0).all()  # a constant code predicts nothing
    discrete = score_matrix(codes[:1000], FACTORS[:1000], codes[1000:], FACTORS[1000:])
    # one linear SVM on one dimension tells 3-5 ordered classes apart only partly, but each factor's
    # own code is its best predictor, well ahead of the rest
    assert (discrete[:3].argmax(axis=0) == [0, 1, 2]).all() and discrete[0, 0] == 1.0 and sap(discrete) > 0.3


def test_modularity_known_answers():
    assert modularity(np.eye(3)) == 1.0
    assert modularity(np.ones((2, 3))) == pytest.approx(0.0)  # every code informs every factor equally
    assert modularity(np.zeros((2, 3))) == 0.0  # codes with no information score 0, as in dlib
    mi = np.array([[2.0, 1.0, 0.0]])
    assert modularity(mi) == pytest.approx(1 - (5 - 4) / (4 * 2))
    codes = FACTORS + 0.01 * NOISE
    train, test = explicitness(codes[:1000], FACTORS[:1000], codes[1000:], FACTORS[1000:])
    assert train > 0.99 and test > 0.99
    _, chance = explicitness(NOISE[:1000], FACTORS[:1000], NOISE[1000:], FACTORS[1000:])
    assert 0.4 < chance < 0.6


def _groups(count, fixed_dim_of, rng, size=16, dims=4):
    """Groups whose factor f leaves code dimension fixed_dim_of[f] nearly constant."""
    factor = rng.integers(0, len(fixed_dim_of), count)
    codes = rng.normal(size=(count, size, dims))
    for g, f in enumerate(factor):
        codes[g, :, fixed_dim_of[f]] *= 0.01
    return codes, factor


def test_factor_vae_known_answers_and_a_plain_loop():
    rng = np.random.default_rng(1)
    variance = rng.normal(size=(500, 4))
    train, eval_ = _groups(300, [2, 0, 1], rng), _groups(200, [2, 0, 1], rng)
    result = factor_vae_score(variance, *train, *eval_, num_factors=3)
    assert result == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "active_dims": 4}
    shuffled = factor_vae_score(variance, *train, eval_[0], rng.permutation(eval_[1]), num_factors=3)
    assert shuffled["eval_accuracy"] < 0.6
    # votes against a loop over groups, with one dimension pruned
    variance[:, 3] *= 0.01
    global_variances = variance.var(axis=0, ddof=1)
    active = np.sqrt(global_variances) >= 0.05
    assert active.tolist() == [True, True, True, False]
    expected = np.zeros((3, 4), dtype=np.int64)
    for codes, f in zip(*train):
        local = codes.var(axis=0, ddof=1)
        expected[f, np.argmin(local[active] / global_variances[active])] += 1
    np.testing.assert_array_equal(votes(*train, global_variances, active, 3), expected)
    dead = factor_vae_score(np.zeros((10, 4)), *train, *eval_, num_factors=3)
    assert dead == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "active_dims": 0}


class Encoder(torch.nn.Module):
    """A stand-in model: all the evaluator asks of it for these scores is `encode`."""

    name = "stand_in"
    device = torch.device("cpu")


class FactorCodes(Encoder):
    """Codes read off a dSprites image: its ink (scale and shape), its centre of mass (position),
    and two dimensions that follow no factor."""

    def encode(self, x):
        side = x.shape[-1]
        grid = torch.arange(side, dtype=torch.float32) / side
        mass = x[:, 0].sum(dim=(1, 2)).clamp_min(1)
        cx, cy = (x[:, 0].sum(1) * grid).sum(1) / mass, (x[:, 0].sum(2) * grid).sum(1) / mass
        noise = torch.sin(1e3 * mass)[:, None] * torch.ones(1, 2)  # two dims that follow no factor
        return {"c": torch.cat([mass[:, None] / side**2, cx[:, None], cy[:, None], noise], dim=1)}


def spec(name, **params):
    return MetricSpec(name, dataclasses.asdict(METRICS[name].Params(**params)))


def test_the_four_scores_through_the_evaluator():
    from bench.data import load

    data = load("dsprites", image_size=32)
    specs = [spec("dci", num_points=600, num_test=200), spec("sap", num_points=600, num_test=200),
             spec("modularity", num_points=600, num_test=200),
             spec("factor_vae", batch_size=16, num_train=60, num_eval=40, num_variance_estimate=300)]
    records = {r["metric_id"].split("[")[0]: r for r in evaluate(FactorCodes(), data, specs, seed=0)}
    assert set(records) == {"dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", "modularity",
                            "explicitness", "factor_vae"}
    for record in records.values():
        assert record["missing_reason"] is None and 0 <= record["value"] <= 1, record
    # position codes carry pos_x and pos_y: well above chance where they can
    assert records["explicitness"]["value"] > 0.6 and records["dci_informativeness"]["value"] > 0.3
    assert records["factor_vae"]["details"]["factor_vae"]["active_dims"] >= 3
    again = {r["metric_id"].split("[")[0]: r["value"] for r in evaluate(FactorCodes(), data, specs, seed=0)}
    assert again == {k: r["value"] for k, r in records.items()}  # seeded: the same numbers


def test_factor_vae_is_missing_with_the_reason_on_a_one_factor_dataset():
    from bench.data import load

    class Flat(Encoder):
        def encode(self, x):
            return {"c": x.flatten(1)[:, :3]}

    records = evaluate(Flat(), load("digits"), [spec("factor_vae", batch_size=4, num_train=5, num_eval=5,
                                                     num_variance_estimate=20)], seed=0)
    assert records[0]["value"] is None and "two or more factors" in records[0]["missing_reason"]


def test_the_disentanglement_figure_draws_every_score_of_every_model(tmp_path):
    import pandas as pd

    from bench.report.registry import plots

    info = plots()["disentanglement_scores"]
    assert info.kinds == {"images"} and info.needs is None
    rows = [{"metric": metric, "metric_id": output, "label": label, "sweep_point": point, "seed": seed,
             "value": 0.1 * seed + 0.5}
            for metric, output in [("mig", "mig"), ("dci", "dci_completeness[num_points=600]"), ("sap", "sap"),
                                   ("l1", "l1")]
            for label, point in [("beta-TCVAE", "beta=1"), ("Big-VAE", "")] for seed in (0, 1)]
    paths = info.draw(pd.DataFrame(rows), tmp_path)
    assert [p.name for p in paths] == ["disentanglement_scores.png"] and paths[0].stat().st_size > 10_000
    assert info.draw(pd.DataFrame(rows[-4:]), tmp_path) == []  # no disentanglement score: nothing drawn


def test_degenerate_inputs_are_missing_with_a_reason_not_a_failed_job():
    from bench.metrics.dci import DciParams
    from bench.metrics.dci import score as dci
    from bench.metrics.modularity import ModularityParams
    from bench.metrics.modularity import score as modularity
    from bench.metrics.sap import SapParams
    from bench.metrics.sap import score as sap

    one_dim = {"codes": NOISE[:300, :1], "factors": FACTORS[:300]}
    assert "two or more" in sap(one_dim, SapParams(300, 100), 0)["sap"]
    constant_factor = {"codes": NOISE[:300], "factors": np.c_[FACTORS[:300, :1], np.zeros(300, int)]}
    found = dci(constant_factor, DciParams(300, 100), 0)
    assert all("take one value" in found[out] for out in found)
    with_constant_code = {"codes": np.c_[FACTORS[:600] + 0.01 * NOISE[:600], np.ones(600)], "factors": FACTORS[:600]}
    found = modularity(with_constant_code, ModularityParams(600, 200), 0)
    assert found["explicitness"]["mean"] > 0.99 and 0 < found["modularity"]["mean"] <= 1
