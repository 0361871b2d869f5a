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


def test_ms_vae_c_renders_from_c_not_from_y_and_reads_z_from_the_residual():
    model = zoo_model("ms_vae_c", DATA, seed=0).eval()
    x = _x()
    codes = model.encode(x)
    stage_one = model.stage()
    z_mean, _ = model.encoder(x - stage_one.decode(codes))  # R reads x - Y, as MS-VAE's (Figure 45)
    torch.testing.assert_close(codes["z"], z_mean)
    out = model.decode(codes)

    def no_y(codes):
        raise AssertionError("G asked for Y")

    stage_one.decode = no_y  # G renders without stage one's decoder: from C alone
    torch.testing.assert_close(model.decode(codes), out)
    assert not torch.allclose(out, model.decode({**codes, "c": codes["c"] + 1.0}))
    del stage_one.decode
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
    x = _x(16)
    k = model.config.latent_dim
    original = model.encoder.forward

    def shifted(part):  # move the encoder's means of one latent group only
        def forward(images):
            mean, logvar = original(images)
            mean = mean.clone()
            mean[:, :k] += 3.0 if part == "c" else 0.0
            mean[:, k:] += 3.0 if part == "z" else 0.0
            return mean, logvar
        return forward

    losses = {}
    for part in ("none", "c", "z"):
        model.encoder.forward = shifted(part)
        torch.manual_seed(1)
        loss, parts = model.training_loss(x)
        losses[part] = (loss.item(), parts)
    model.encoder.forward = original
    base, on_c, on_z = (losses[p][1] for p in ("none", "c", "z"))
    assert on_c["kl_z"] == base["kl_z"] and on_c["kl_c"] > base["kl_c"] + 1  # the first latent_dim are C
    assert on_z["kl_c"] == base["kl_c"] and on_z["kl_z"] > base["kl_z"] + 1
    for total, parts in losses.values():  # β weighs KL(C) only
        expected = parts["reconstruction"] + model.config.beta * parts["kl_c"] + parts["kl_z"]
        assert abs(total - expected) < 1e-4 * abs(expected)
    # Z enters G only through FiLM, after every conv; G's input is the image-shaped Y
    assert sum(isinstance(m, FiLM) for m in model.generator.modules()) == len(model.generator.convs)
    assert model.generator.convs[0].in_channels == DATA.data_shape[0]
