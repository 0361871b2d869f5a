"""MS-VAE: what the paper's model promises, on tiny models trained for seconds."""

import numpy as np
import pytest
import torch

import models as zoo
from bench.budget import Budget
from bench.data import load

DATA = load("dsprites", image_size=32)


@pytest.fixture(scope="module")
def trained():
    """A stage one and an MS-VAE on top of it, each trained briefly."""
    torch.manual_seed(0)
    stage_one = zoo.get("beta_tcvae")(zoo.get("beta_tcvae").Config(beta=1.0, latent_dim=4), DATA.image_shape)
    stage_one.fit(DATA, Budget(steps=150, batch_size=32, learning_rate=1e-3), seed=0, progress=False)
    before = {k: v.clone() for k, v in stage_one.state_dict().items()}
    cls = zoo.get("ms_vae")
    torch.manual_seed(0)
    model = cls(cls.Config(latent_dim=4, z_dim=2, width=16), DATA.image_shape)
    model.attach({"stage_one": stage_one})
    log = model.fit(DATA, Budget(steps=150, batch_size=32, learning_rate=1e-3), seed=0, progress=False)
    return stage_one, before, model, log


def test_stage_two_never_updates_stage_one(trained):
    stage_one, before, model, log = trained
    for key, value in stage_one.state_dict().items():
        assert torch.equal(value, before[key]), key
    own = {id(p) for p in model.parameters()}
    assert not any(id(p) in own for p in stage_one.parameters())
    assert log[-1]["loss"] < log[0]["loss"]


def test_parameter_count_includes_stage_one(trained):
    stage_one, _, model, _ = trained
    stage_two = sum(p.numel() for p in model.parameters())
    assert model.num_params() == stage_two + stage_one.num_params()


def test_saved_state_holds_stage_two_only(trained):
    _, _, model, _ = trained
    assert all(k.startswith(("encoder.", "generator.")) for k in model.state_dict())


def test_reconstructions_follow_y_when_z_is_replaced(trained):
    _, _, model, _ = trained
    x = torch.from_numpy(DATA.sample(256, 5)[0])
    codes = model.encode(x)
    y = model.stage_one.decode(codes)
    noise = torch.rand_like(y)
    l2_noise = ((noise - y) ** 2).mean().item()
    for z in (torch.zeros_like(codes["z"]), torch.randn_like(codes["z"])):
        l2_zero = ((model.render(y, z) - y) ** 2).mean().item()
        assert l2_zero < 0.25 * l2_noise, (l2_zero, l2_noise)


def test_interface_shapes(trained):
    _, _, model, _ = trained
    x = torch.from_numpy(DATA.sample(6, 1)[0])
    codes = model.encode(x)
    assert codes["c"].shape == (6, 4) and codes["z"].shape == (6, 2)
    assert model.reconstruct(x).shape == x.shape
    assert model.sample(3).shape == (3, *DATA.image_shape)
    assert model.traverse(x[:2], 1, [-2.0, 0.0, 2.0]).shape == (2, 3, *DATA.image_shape)
    views = model.conditioning_codes(x, torch.Generator().manual_seed(0))
    assert set(views) == {"C_R", "C_Y", "C_X", "C_z_eps", "C_Y_eps", "C_Y_shuffled"}
    assert all(v.shape == (6, 4) for v in views.values())


@pytest.mark.parametrize("options", [{"modulation": "spatial"}, {"y_space": "logits"},
                                     {"y_from": "sample", "y_per_x": 3}])
def test_options_train(options):
    stage_one = zoo.get("beta_tcvae")(zoo.get("beta_tcvae").Config(latent_dim=3), DATA.image_shape)
    cls = zoo.get("ms_vae")
    model = cls(cls.Config(latent_dim=3, z_dim=2, width=8, **options), DATA.image_shape)
    model.attach({"stage_one": stage_one})
    log = model.fit(DATA, Budget(steps=4, batch_size=4), seed=0, progress=False)
    assert np.isfinite(log[-1]["loss"])
    assert model.reconstruct(torch.from_numpy(DATA.sample(2, 0)[0])).shape == (2, *DATA.image_shape)


def test_unattached_ms_vae_says_what_is_missing():
    cls = zoo.get("ms_vae")
    model = cls(cls.Config(latent_dim=3, z_dim=2, width=8), DATA.image_shape)
    with pytest.raises(RuntimeError, match="needs its trained stage one"):
        model.encode(torch.zeros(1, *DATA.image_shape))
