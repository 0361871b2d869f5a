"""One conformance test set run over every model in the zoo: what each model promises."""

import dataclasses

import numpy as np
import pytest
import torch

import models as zoo
from bench.budget import Budget
from bench.cache import ArtifactCache
from bench.data import load

DATA = load("dsprites", image_size=32)
IMAGE_MODELS = sorted(name for name, cls in zoo.registry().items() if "images" in cls.supports)


SMALL = {"latent_dim": 4, "z_dim": 2, "width": 0.5}  # small nets keep the tests fast


def small_config(cls, **extra):
    fields = {f.name: f.type for f in dataclasses.fields(cls.Config)}
    small = {k: (v if fields[k] in (float, "float") else 8) for k, v in SMALL.items() if k in fields}
    return cls.Config(**{**small, **extra})


def make(name, seed=0):
    """A model with its upstream stages attached (small, freshly initialised ones)."""
    cls = zoo.get(name)
    config = small_config(cls)
    upstream = {}
    for slot, (up_name, params) in cls.upstream(config).items():
        up_cls = zoo.get(up_name)
        torch.manual_seed(seed + 100)
        upstream[slot] = up_cls(small_config(up_cls, **params), DATA.image_shape)
    torch.manual_seed(seed)
    model = cls(config, DATA.image_shape)
    if upstream:
        model.attach(upstream)
    return model


def test_registry_finds_the_core_models():
    assert {"beta_tcvae", "beta_tcvae_l", "big_vae", "big_beta_tcvae", "ms_vae"} <= set(zoo.registry())
    with pytest.raises(zoo.UnknownModel, match="did you mean 'beta_tcvae'"):
        zoo.get("beta_tcvea")


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_output_shapes(name):
    model = make(name).eval()
    x = torch.from_numpy(DATA.sample(5, 0)[0])
    codes = model.encode(x)
    assert codes["c"].shape[0] == 5 and codes["c"].ndim == 2
    recon = model.reconstruct(x)
    assert recon.shape == x.shape and recon.min() >= 0 and recon.max() <= 1
    assert model.sample(3).shape == (3, *DATA.image_shape)
    trav = model.traverse(x[:2], dim=0, values=[-1.0, 0.0, 1.0])
    assert trav.shape == (2, 3, *DATA.image_shape)
    assert model.num_params() > 0


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_loss_decreases_on_smoke_data(name):
    model = make(name)
    log = model.fit(DATA, Budget(steps=60, batch_size=32, learning_rate=1e-3), seed=0, progress=False)
    first, last = log[0]["loss"], np.mean([e["loss"] for e in log[-5:]])
    assert last < 0.8 * first, (first, last)


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_save_load_round_trip_gives_identical_outputs(name, tmp_path):
    model = make(name, seed=1)
    model.fit(DATA, Budget(steps=3, batch_size=8), seed=1, progress=False)
    cache = ArtifactCache(tmp_path)
    cache.save("k", model, {"spec": 1}, [{"step": 1, "loss": 1.0}])
    clone = make(name, seed=2)  # different init, so equality proves the load
    for slot, stage in getattr(model, "__dict__", {}).items():
        if slot in type(model).requires:
            clone.attach({slot: stage})  # the same upstream stage, as the runner hands over
    assert cache.load_into("k", clone) == [{"step": 1, "loss": 1.0}]
    x = torch.from_numpy(DATA.sample(4, 3)[0])
    torch.testing.assert_close(model.eval().reconstruct(x), clone.eval().reconstruct(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_same_seed_gives_identical_weights(name):
    budget = Budget(steps=5, batch_size=8)
    a, b, c = make(name, seed=3), make(name, seed=3), make(name, seed=4)
    torch.manual_seed(3)
    a.fit(DATA, budget, seed=3, progress=False)
    torch.manual_seed(3)
    b.fit(DATA, budget, seed=3, progress=False)
    for (key, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), key
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))


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
