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


@pytest.mark.parametrize("options", [{"modulation": "spatial"}, {"y_space": "logits"}, {"y_from": "mean"},
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


def test_y_from_sample_draws_one_c_per_x_fixed_by_its_index():
    """Appendix J: the paired set holds one c ~ q(c|x) per x. Procedural data draw new images
    each step, so c's noise comes from the image's factor-grid index: the same x, drawn at any
    step, gets the same c; another x another."""
    stage_one = zoo.get("beta_tcvae")(zoo.get("beta_tcvae").Config(latent_dim=3), DATA.image_shape)
    cls = zoo.get("ms_vae")
    model = cls(cls.Config(latent_dim=3, z_dim=2, width=8, y_per_x=2), DATA.image_shape)
    assert model.config.y_from == "sample" and model.uses_index  # the paper's protocol is the default
    model.attach({"stage_one": stage_one})
    model.__dict__["fit_seed"] = 4
    noise = model.c_noise(np.array([5, 9, 5]))
    assert noise.shape == (6, 3)  # y_per_x draws per image, each its own
    torch.testing.assert_close(noise[:2], noise[4:])
    assert not torch.allclose(noise[0], noise[1]) and not torch.allclose(noise[0], noise[2])

    seen = []
    real = model.paired_y
    model.paired_y = lambda x, c_noise=None: seen.append(real(x, c_noise)[0]) or real(x, c_noise)
    x, index = DATA.batch(4, np.random.default_rng(0), "cpu", with_index=True)
    np.testing.assert_array_equal(DATA.render(np.stack(np.unravel_index(index, DATA.factor_sizes), 1)), x.numpy())
    model.training_loss(x, index=index)
    model.training_loss(x.flip(0), index=index[::-1])  # the same images at another step, in another order
    torch.testing.assert_close(seen[0], seen[1].view(4, 2, *DATA.image_shape).flip(0).reshape(seen[0].shape))
    with pytest.raises(ValueError, match="index"):
        model.training_loss(x)


def test_sampled_reconstructions_decode_one_posterior_draw_per_image(trained):
    """The reconstruction protocol: "sample" decodes c ~ q(c|x) (MS-VAE: Y from that c), seeded,
    the same across calls; "mean" decodes E[c|x]."""
    from bench.evaluate import reconstructions

    stage_one, _, model, _ = trained
    images = DATA.sample(40, 2)[0]
    x = torch.from_numpy(images)
    codes = stage_one.encode(x)
    noise = torch.randn(codes["c"].shape, generator=torch.Generator().manual_seed(7))
    expected = stage_one.decode({"c": codes["c"] + noise * torch.exp(0.5 * codes["c_logvar"])}).numpy()
    np.testing.assert_allclose(reconstructions(stage_one, images, "sample", seed=7), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(reconstructions(model, images, "sample", 7), reconstructions(model, images, "sample", 7))
    np.testing.assert_allclose(reconstructions(model, images, "mean"), model.reconstruct(x).numpy(), rtol=1e-5, atol=1e-6)
    sampled = model.encode(x, c_noise=torch.Generator().manual_seed(7))
    torch.testing.assert_close(sampled["c"], codes["c"] + noise * torch.exp(0.5 * codes["c_logvar"]))
    assert not np.allclose(reconstructions(model, images, "sample", 7), reconstructions(model, images, "mean"))
