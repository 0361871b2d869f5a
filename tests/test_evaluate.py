"""The evaluator: representations, shared samples, and honest 'missing' scores."""

import dataclasses

import numpy as np
import pytest
import torch

import models as zoo
from bench.data import load
from bench.evaluate import codes, evaluate
from bench.metrics import METRICS
from bench.suite import MetricSpec

DATA = load("dsprites", image_size=32)


def tiny_model():
    cls = zoo.get("beta_tcvae")
    torch.manual_seed(0)
    return cls(cls.Config(latent_dim=3), DATA.image_shape).eval()


def spec(name, **params):
    return MetricSpec(name, dataclasses.asdict(METRICS[name].Params(**params)))


def test_mean_and_sampled_representations():
    model = tiny_model()
    images, _ = DATA.sample(50, 0)
    mean = codes(model, images, "mean")
    np.testing.assert_array_equal(mean, model.encode(torch.from_numpy(images))["c"].numpy())
    sampled = codes(model, images, "sampled", seed=1)
    assert sampled.shape == mean.shape and not np.allclose(sampled, mean)
    np.testing.assert_array_equal(sampled, codes(model, images, "sampled", seed=1))  # seeded


def test_scores_and_shared_samples():
    model, shared = tiny_model(), {}
    specs = [spec("mig", num_points=300), spec("l1", num_points=100), spec("l2", num_points=100)]
    first = evaluate(model, DATA, specs, seed=3, samples=shared)
    assert set(shared) == {(3, 300), (3, 100)}
    again = evaluate(model, DATA, specs, seed=3)  # no cache: the same images are drawn again
    assert [s["value"] for s in first] == [s["value"] for s in again]
    assert all(s["details"]["num_points"] == p for s, p in zip(first, (300, 100, 100)))
    assert first[0]["higher_is_better"] and not first[1]["higher_is_better"]


def test_a_model_without_an_encoder_gets_a_missing_score_with_reason(monkeypatch):
    model = tiny_model()

    def no_encoder(x):
        raise NotImplementedError("this model has no inference network")

    monkeypatch.setattr(model, "encode", no_encoder)
    [score] = evaluate(model, DATA, [spec("mig", num_points=100)], seed=0)
    assert score["value"] is None
    assert score["missing_reason"] == "this model has no inference network"


def test_metric_warnings_are_kept_with_the_score(monkeypatch):
    model = tiny_model()

    class OneShape:  # dSprites restricted to squares: the shape factor is constant
        image_shape = DATA.image_shape
        disentanglement_factors = None

        def sample(self, n, rng):
            images, factors = DATA.sample(n, rng)
            factors[:, 0] = 0
            return DATA.render(factors), factors

    [score] = evaluate(model, OneShape(), [spec("mig", num_points=200)], seed=0)
    assert score["value"] is not None
    assert score["details"]["warnings"] == ["MIG: factor column(s) [0] are constant in this sample and are left out"]


def test_smallnorb_scores_mig_on_disentanglement_libs_four_factors():
    """disentanglement-lib's norb.py (and so the paper) scores MIG on latent_factor_indices
    [0, 2, 3, 4]: instance is left out. A code that holds those four factors exactly, one per
    dimension, and nothing of instance has MIG 1 on them; over all five it would be 0.8."""
    from bench.data import get

    norb = get("smallnorb")
    assert norb.disentanglement_factors == (0, 2, 3, 4)
    assert [norb.factor_names[i] for i in norb.disentanglement_factors] == ["category", "elevation", "azimuth",
                                                                           "lighting"]

    class NorbLike:  # images that carry their factors as pixels
        image_shape = (1, 1, 5)
        factor_sizes = norb.factor_sizes
        disentanglement_factors = norb.disentanglement_factors

        def sample(self, n, rng):
            factors = np.stack([rng.integers(0, s, n) for s in self.factor_sizes], 1)
            return factors[:, None, None, :].astype(np.float32), factors

    class Reader(torch.nn.Module):  # c = category, elevation, azimuth, lighting: no instance
        device = torch.device("cpu")

        def encode(self, x):
            return {"c": x.flatten(1)[:, [0, 2, 3, 4]]}

    [score] = evaluate(Reader(), NorbLike(), [spec("mig", num_points=5000)], seed=0)
    assert score["value"] == pytest.approx(1.0, abs=0.01)
    NorbLike.disentanglement_factors = None
    [score] = evaluate(Reader(), NorbLike(), [spec("mig", num_points=5000)], seed=0)
    assert score["value"] == pytest.approx(0.8, abs=0.01)


def test_num_points_all_scores_every_image_once():
    digits = load("digits")
    cls = zoo.get("beta_tcvae")
    torch.manual_seed(0)
    model = cls(cls.Config(latent_dim=3), digits.image_shape).eval()
    [score] = evaluate(model, digits, [spec("l1", num_points="all", reconstruction="mean")], seed=0)
    assert score["details"]["num_points"] == 1797
    images, _ = digits.every_image()
    expected = np.abs(model.reconstruct(torch.from_numpy(images)).numpy() - images).mean()
    assert score["value"] == pytest.approx(expected, rel=1e-5)
