"""Issue 12, items 10 and 11: MS-VAE's `paper` G preset and Big-beta-TCVAE.

The paper preset has ~10^8 parameters at 64 px: it is counted and shape-checked on the meta
device, run for real only at 32 px, and never trained here.
"""

import pytest
import torch

import models as zoo
from bench.config import ParamError
from bench.data import load
from models.ms_vae import PaperGenerator


def conv(kernel, a, b, bias=True):
    return kernel * kernel * a * b + (b if bias else 0)


def film(z_dim, channels, side):  # one dense layer z -> gamma and beta maps of the layer's shape
    return 2 * (z_dim + 1) * channels * side * side


def paper_g_by_hand(channels, z_dim):
    """The authors' decoder at 64 px, layer by layer (DS-VAE simgan_models.py `simgan_decoder`)."""
    down = conv(5, channels, 64) + conv(5, 64, 128) + conv(5, 128, 256) + conv(5, 256, 512)
    dense = 8192 * 8192 + 8192  # 512 x 4 x 4 in and out
    up = conv(5, 512, 256, False) + conv(5, 256, 128, False) + conv(5, 128, 64, False) + conv(5, 64, channels, False)
    films = sum(film(z_dim, c, s) for c, s in ((128, 16), (256, 8), (512, 4),  # down path
                                              (512, 4),  # the dense bottleneck
                                              (256, 8), (128, 16), (64, 32)))  # up path
    return down + dense + up + films


@pytest.mark.parametrize("channels, z_dim, expected", [(3, 5, 77_891_904), (1, 10, 79_687_744)])
def test_paper_preset_parameter_count_at_64px(channels, z_dim, expected):
    """Cars3D (RGB, |Z| = 5) and SmallNORB (grey, |Z| = 10): the README's and the suites' numbers."""
    assert paper_g_by_hand(channels, z_dim) == expected
    with torch.device("meta"):
        generator = PaperGenerator((channels, 64, 64), z_dim)
    assert sum(p.numel() for p in generator.parameters()) == expected


def test_paper_preset_shapes_at_64px():
    with torch.device("meta"):
        generator = PaperGenerator((3, 64, 64), 5)
        out = generator(torch.empty(2, 3, 64, 64), torch.empty(2, 5))
    assert out.shape == (2, 3, 64, 64)


def test_paper_preset_runs_at_32px_and_every_layer_learns():
    torch.manual_seed(0)
    generator = PaperGenerator((1, 32, 32), 3)
    y, z = torch.rand(4, 1, 32, 32), torch.randn(4, 3)
    out = generator(y, z)
    assert out.shape == (4, 1, 32, 32)
    assert not torch.allclose(out, generator(y, torch.randn(4, 3)))  # z reaches the output
    out.square().mean().backward()
    silent = [name for name, p in generator.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent


def test_ms_vae_builds_the_paper_preset_only_when_asked():
    cls = zoo.get("ms_vae")
    assert cls.Config().architecture == "small"
    shape = load("dsprites", image_size=32).image_shape
    paper = cls(cls.Config(latent_dim=4, z_dim=2, architecture="paper", modulation="spatial"), shape)
    assert isinstance(paper.generator, PaperGenerator)
    assert not isinstance(cls(cls.Config(latent_dim=4, z_dim=2), shape).generator, PaperGenerator)


@pytest.mark.parametrize("params, field", [({"modulation": "channel"}, "modulation"),
                                           ({"modulation": "spatial", "width": 16}, "width")])
def test_paper_preset_refuses_settings_it_ignores(params, field):
    with pytest.raises(ParamError) as error:
        zoo.get("ms_vae").Config(architecture="paper", **params)
    assert error.value.field == field


def test_paper_preset_needs_a_side_that_is_a_multiple_of_16():
    with pytest.raises(ValueError, match="multiple of 16"):
        PaperGenerator((1, 40, 40), 5)


def test_big_beta_tcvae_weighs_tc_by_its_beta():
    cls = zoo.get("big_beta_tcvae")
    shape = load("dsprites", image_size=32).image_shape
    model = cls(cls.Config(beta=4.0, latent_dim=4, z_dim=2, width=0.5), shape)
    assert model.encode(torch.zeros(1, *shape))["c"].shape == (1, 6)  # |C| + |Z|
    torch.manual_seed(0)
    loss, parts = model.training_loss(torch.rand(16, *shape).round())
    assert parts["tc"] != 0
    assert loss.item() == pytest.approx(float(parts["reconstruction"] + parts["kl"] + 3.0 * parts["tc"]), rel=1e-5)


def test_big_beta_tcvae_matches_a_parameter_target():
    cls = zoo.get("big_beta_tcvae")
    shape = load("dsprites", image_size=32).image_shape
    target = 3 * zoo.get("beta_tcvae")(zoo.get("beta_tcvae").Config(), shape).num_params()
    model = cls(cls.Config(beta=6.0, target_params=target), shape)
    assert target <= model.num_params() <= 1.1 * target
    assert model.config.beta == 6.0 and model.config.width != cls.Config().width  # the target chose it
