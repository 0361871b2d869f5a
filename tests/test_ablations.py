"""Appendix M's ablation variants are what their names say: where Z enters, what G is given, which
stage is learnt first, and which latents the β penalty falls on."""

import torch

import models as zoo
from bench.budget import Budget
from bench.config import build
from bench.data import load
from conftest import zoo_model
from models.ms_vae import FiLM

DATA = load("dsprites", image_size=32)


def _x(n=8):
    return torch.from_numpy(DATA.sample(n, 0)[0])


def test_ms_vae_c_with_film_takes_z_only_through_film_and_with_concat_only_at_the_input():
    film = zoo_model("ms_vae_c", DATA, seed=0)
    assert film.config.z_entry == "film" and film.generator.dense.in_features == film.config.latent_dim
    assert sum(isinstance(m, FiLM) for m in film.generator.modules()) == 3
    cls = zoo.get("ms_vae_c")
    concat = cls(build(cls.Config, {**cls.test_config, "z_entry": "concat"}), DATA.data_shape)
    assert concat.generator.dense.in_features == concat.config.latent_dim + concat.config.z_dim
    assert not any(isinstance(m, FiLM) for m in concat.generator.modules())


def test_ms_vae_c_renders_from_c_not_from_y():
    model = zoo_model("ms_vae_c", DATA, seed=0).eval()
    codes = model.encode(_x())
    out = model.decode(codes)
    moved = model.decode({**codes, "c": codes["c"] + 1.0})
    assert not torch.allclose(out, moved)  # c moves the image directly, with z held
    views = model.conditioning_codes(_x(), torch.Generator().manual_seed(0))
    assert set(views) == {"C_R", "C_Y", "C_X", "C_z_eps", "C_Y_eps", "C_Y_shuffled"}
    torch.testing.assert_close(views["C_R"], codes["c"])


def test_ms_vae_zc_learns_c_beside_a_frozen_z_stage():
    model = zoo_model("ms_vae_zc", DATA, seed=0)
    stage = model.stage("z_stage")
    before = {k: v.clone() for k, v in stage.state_dict().items()}
    model.fit(DATA, Budget(steps=3, batch_size=16), seed=0, progress=False)
    assert all(torch.equal(before[k], v) for k, v in stage.state_dict().items())  # Z is learnt first, then kept
    assert stage.config.beta == 1.0 and stage.config.latent_dim == model.config.z_dim  # a plain VAE's code
    x = _x()
    torch.testing.assert_close(model.encode(x)["z"], stage.encode(x)["c"])


def test_beta_vae_z_penalises_c_with_beta_and_z_with_the_plain_kl():
    model = zoo_model("beta_vae_z", DATA, seed=0)
    torch.manual_seed(1)
    loss, parts = model.training_loss(_x(16))
    expected = parts["reconstruction"] + model.config.beta * parts["kl_c"] + parts["kl_z"]
    assert abs(loss.item() - expected) < 1e-3 * abs(expected)
    codes = model.encode(_x())
    assert codes["c"].shape[1] == model.config.latent_dim and codes["z"].shape[1] == model.config.z_dim
