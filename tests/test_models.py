"""The zoo's registry and what particular models promise (the shared promises: tests/test_conformance.py)."""

import pytest
import torch

import models as zoo
from bench.budget import Budget
from bench.data import load

DATA = load("dsprites", image_size=32)


def make(name, seed=0):
    cls = zoo.get(name)
    torch.manual_seed(seed)
    return cls(cls.Config(**cls.test_config), DATA.image_shape)


def test_registry_finds_the_core_models():
    assert {"beta_tcvae", "beta_tcvae_l", "big_vae", "big_beta_tcvae", "ms_vae"} <= set(zoo.registry())
    with pytest.raises(zoo.UnknownModel, match="did you mean 'beta_tcvae'"):
        zoo.get("beta_tcvea")


def test_diverging_loss_raises_with_the_step(monkeypatch):
    model = make("beta_tcvae")
    monkeypatch.setattr(type(model), "training_loss",
                        lambda self, x: (torch.tensor(float("nan"), requires_grad=True), {}))
    with pytest.raises(zoo.TrainingDiverged, match="nan at step 1"):
        model.fit(DATA, Budget(steps=3, batch_size=4), seed=0, progress=False)


def test_beta_tcvae_l_is_beta_tcvae_with_c_plus_z_latents():
    cls = zoo.get("beta_tcvae_l")
    model = cls(cls.Config(latent_dim=10, z_dim=5), DATA.image_shape)
    assert issubclass(cls, zoo.get("beta_tcvae"))
    assert model.encode(torch.zeros(1, *DATA.image_shape))["c"].shape == (1, 15)


def test_big_vae_matches_a_parameter_target():
    cls = zoo.get("big_vae")
    target = 3 * zoo.get("beta_tcvae")(zoo.get("beta_tcvae").Config(), DATA.image_shape).num_params()
    model = cls(cls.Config(target_params=target), DATA.image_shape)
    assert target <= model.num_params() <= 1.1 * target
    assert model.config.beta == 1.0
