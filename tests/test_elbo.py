"""The ELBO: the metric's averaging, the models' per-image terms against values worked out by hand,
and the evaluator's seeding and missing scores."""

import dataclasses
import math

import numpy as np
import pytest
import torch

import models as zoo
from bench.data import load
from bench.evaluate import elbo_terms, evaluate
from bench.metrics import METRICS, elbo
from bench.suite import MetricSpec
from models._base import Model

DATA = load("dsprites", image_size=32)
IMAGES = DATA.sample(12, np.random.default_rng(0))[0]


def tiny(name="beta_tcvae", **config):
    cls = zoo.get(name)
    torch.manual_seed(0)
    return cls(cls.Config(**config), DATA.image_shape).eval()


def tiny_ms_vae(**config):
    model = tiny("ms_vae", latent_dim=3, z_dim=2, width=8, **config)
    model.attach({"stage_one": tiny(latent_dim=3)})
    return model


def constant(layer, bias):
    """Zero a layer's weights and set its bias: its output no longer depends on its input."""
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.fill_(bias)


def bernoulli_log_likelihood(images, logit):
    """sum over pixels of x log sigmoid(b) + (1 - x) log(1 - sigmoid(b)), per image, by hand."""
    p = 1 / (1 + math.exp(-logit))
    x = images.reshape(len(images), -1).astype(np.float64)
    return (x * math.log(p) + (1 - x) * math.log(1 - p)).sum(1)


# --- the metric: a pure function on per-image terms ---

def test_metric_averages_per_image_terms():
    result = elbo([-10.0, -20.0], [1.0, 3.0], kl_c=[1.0, 2.0])
    # per image: -11 and -23; their sample sd is 6 * sqrt(2), so the standard error is 6
    assert result == {"mean": -17.0, "log_likelihood": -15.0, "kl": 2.0, "kl_c": 1.5, "std_error": pytest.approx(6.0)}
    assert elbo([-4.0], [0.0]) == {"mean": -4.0, "log_likelihood": -4.0, "kl": 0.0, "std_error": 0.0}


@pytest.mark.parametrize("args, message", [
    (([-1.0, -2.0], [0.0]), "one each per image"),
    (([-1.0, np.nan], [0.0, 0.0]), "not finite"),
    (([-1.0], [-0.5]), "non-negative"),
    (([], []), "non-empty"),
    (([[-1.0]], [[0.0]]), "1-D"),
])
def test_metric_refuses_bad_terms(args, message):
    with pytest.raises(ValueError, match=message):
        elbo(*args)


# --- the models' terms ---

def test_beta_tcvae_elbo_by_hand():
    """Encoder heads constant (posterior N(m, e^lv) for every x), decoder logits constant b: then
    ELBO(x) = sum_pixels Bernoulli(x; sigmoid(b)) - 0.5 * sum_d (m^2 + e^lv - lv - 1), whatever c is drawn."""
    model = tiny(latent_dim=3)
    constant(model.encoder.mean, 0.5)
    constant(model.encoder.logvar, -1.0)
    constant(model.decoder.net[-1], -2.0)
    terms = model.elbo(torch.from_numpy(IMAGES), torch.Generator().manual_seed(0))
    np.testing.assert_allclose(terms["log_likelihood"].numpy(), bernoulli_log_likelihood(IMAGES, -2.0), rtol=1e-5)
    np.testing.assert_allclose(terms["kl"].numpy(), 3 * 0.5 * (0.25 + math.exp(-1.0) + 1.0 - 1.0), rtol=1e-6)
    # logits 0 everywhere and the prior as posterior: log 2 nats per pixel, and nothing else
    constant(model.encoder.mean, 0.0)
    constant(model.encoder.logvar, 0.0)
    constant(model.decoder.net[-1], 0.0)
    value = elbo(**{k: v.numpy() for k, v in model.elbo(torch.from_numpy(IMAGES), torch.Generator()).items()})
    assert value["mean"] == pytest.approx(-32 * 32 * math.log(2), rel=1e-6) and value["kl"] == 0


def test_at_beta_one_the_elbo_is_minus_the_training_loss():
    """The same posterior draw (CPU: torch's default stream and a Generator with one seed agree)."""
    model = tiny(beta=1.0, latent_dim=4)
    x = torch.from_numpy(IMAGES)
    torch.manual_seed(7)
    with torch.no_grad():
        loss, _ = model.training_loss(x)
    terms = model.elbo(x, torch.Generator().manual_seed(7))
    assert (terms["log_likelihood"] - terms["kl"]).mean().item() == pytest.approx(-loss.item(), rel=1e-5)


def test_several_draws_average_single_draws():
    model, x = tiny(latent_dim=3), torch.from_numpy(IMAGES)
    stream = torch.Generator().manual_seed(3)
    one, two = model.elbo(x, stream), model.elbo(x, stream)
    both = model.elbo(x, torch.Generator().manual_seed(3), samples=2)
    assert not torch.equal(one["log_likelihood"], two["log_likelihood"])
    torch.testing.assert_close(both["log_likelihood"], (one["log_likelihood"] + two["log_likelihood"]) / 2)
    torch.testing.assert_close(both["kl"], one["kl"])


@pytest.mark.parametrize("name, config", [("beta_tcvae_l", {"latent_dim": 3, "z_dim": 2}),
                                          ("big_vae", {"latent_dim": 3, "z_dim": 2, "width": 0.5}),
                                          ("big_beta_tcvae", {"latent_dim": 3, "z_dim": 2, "width": 0.5})])
def test_the_beta_tcvae_family_inherits_the_elbo(name, config):
    model, x = tiny(name, **config), torch.from_numpy(IMAGES)
    terms = model.elbo(x, torch.Generator().manual_seed(0))
    assert set(terms) == {"log_likelihood", "kl"}
    assert terms["kl"].shape == (len(x),) and (terms["kl"] >= 0).all()
    assert (terms["log_likelihood"] < 0).all()  # Bernoulli on binary images


def test_ms_vae_elbo_by_hand():
    """R's heads constant at the prior (KL of z = 0) and G's logits constant b: ELBO = Bernoulli(x; b)
    minus stage one's KL of c, which is exactly the stage one's own KL term."""
    model = tiny_ms_vae()
    constant(model.encoder.mean, 0.0)
    constant(model.encoder.logvar, 0.0)
    constant(model.generator.head, 1.5)
    x = torch.from_numpy(IMAGES)
    terms = model.elbo(x, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(terms["log_likelihood"].numpy(), bernoulli_log_likelihood(IMAGES, 1.5), rtol=1e-5)
    assert torch.equal(terms["kl_z"], torch.zeros(len(x)))
    torch.testing.assert_close(terms["kl_c"], model.stage_one.elbo(x, torch.Generator())["kl"])
    torch.testing.assert_close(terms["kl"], terms["kl_c"] + terms["kl_z"])


def test_ms_vae_elbo_draws_c_from_the_posterior():
    """The likelihood term follows the drawn c (through Y): a stage one with a wide posterior gives
    different terms for different seeds, while R and G are untouched."""
    model = tiny_ms_vae()
    constant(model.stage_one.encoder.logvar, 2.0)
    x = torch.from_numpy(IMAGES)
    first = model.elbo(x, torch.Generator().manual_seed(0))
    again = model.elbo(x, torch.Generator().manual_seed(0))
    other = model.elbo(x, torch.Generator().manual_seed(1))
    assert torch.equal(first["log_likelihood"], again["log_likelihood"])
    assert not torch.allclose(first["log_likelihood"], other["log_likelihood"])
    assert (first["kl_c"] > 0).all() and (first["kl_z"] > 0).all()


# --- the evaluator ---

def spec(**params):
    return MetricSpec("elbo", dataclasses.asdict(METRICS["elbo"].Params(**params)))


def test_evaluator_scores_are_seeded_and_keep_the_terms():
    model = tiny(latent_dim=3)
    constant(model.encoder.logvar, 1.0)  # a wide posterior, so that the draw matters
    [first] = evaluate(model, DATA, [spec(num_points=40)], seed=3)
    [again] = evaluate(model, DATA, [spec(num_points=40)], seed=3)
    assert first["value"] == again["value"] and first["higher_is_better"] and first["version"] == "1"
    # the posterior draws follow the seed (the images held fixed)
    same, again_same, other = (elbo_terms(model, IMAGES, seed)["log_likelihood"] for seed in (4, 4, 5))
    np.testing.assert_array_equal(same, again_same)
    assert not np.allclose(same, other)
    details = first["details"]["elbo"]
    assert first["value"] == pytest.approx(details["log_likelihood"] - details["kl"])
    assert first["value"] < 0 and details["std_error"] > 0


def test_a_model_without_an_elbo_gets_a_missing_score_with_reason(monkeypatch):
    model = tiny(latent_dim=3)
    monkeypatch.setattr(model, "elbo", lambda x, generator, samples=1: Model.elbo(model, x, generator, samples))
    [score] = evaluate(model, DATA, [spec(num_points=10)], seed=0)
    assert score["value"] is None and score["missing_reason"] == "beta_tcvae defines no ELBO"


def test_ms_vae_scores_its_parts():
    [score] = evaluate(tiny_ms_vae(), DATA, [spec(num_points=20, samples=2)], seed=0)
    parts = score["details"]["elbo"]
    assert parts["kl"] == pytest.approx(parts["kl_c"] + parts["kl_z"])
    assert score["metric_id"] == "elbo[num_points=20,samples=2]"
