"""The tabular models (section 6): what each promises, on a small credit table."""

import math

import numpy as np
import pytest
import torch

import models as zoo
from bench.budget import Budget
from bench.cache import ArtifactCache
from bench.data import load
from bench.generate import synthetic_table
from conftest import zoo_model
from models.tabular import SIGMA_RANGE

DATA = load("credit", n_rows=600, test_fraction=0.25)
TABLE_MODELS = sorted(name for name, cls in zoo.registry().items() if "tables" in cls.supports)


def make(name, seed=0):
    """A model prepared on DATA, with a small trained stage one attached where it needs one."""
    return zoo_model(name, DATA, seed, stage_budget=Budget(steps=20, batch_size=32, learning_rate=1e-3))


def test_the_zoo_has_the_papers_three_tabular_models():
    assert {"tabular_beta_tcvae", "tabular_ms_vae", "tvae"} <= set(TABLE_MODELS)
    assert issubclass(zoo.get("tabular_beta_tcvae"), zoo.get("beta_tcvae"))  # the same loss as for images
    assert issubclass(zoo.get("tabular_ms_vae"), zoo.get("ms_vae"))


@pytest.fixture(scope="module")
def trained():
    """Each model fitted once on a short budget (TVAE's epochs: steps x batch / rows)."""
    found = {}
    for name in TABLE_MODELS:
        model = make(name)
        log = model.fit(DATA, Budget(steps=150, batch_size=64, learning_rate=1e-3), seed=0, progress=False)
        found[name] = (model, log)
    return found


@pytest.mark.parametrize("name", TABLE_MODELS)
def test_fit_lowers_the_loss_and_samples_a_table(name, trained):
    model, log = trained[name]
    first, last = log[0]["loss"], np.mean([e["loss"] for e in log[-3:]])
    assert last < 0.9 * first, (first, last)
    torch.manual_seed(0)
    means = model.sample(7, rows="mean")
    assert means.shape == (7, 19) and means.min() >= 0 and means.max() <= 1
    rows = model.sample(7)  # drawn from the likelihood: may leave [0, 1]; to_frame clips (section 6.2)
    assert rows.shape == (7, 19)
    frame = model.to_frame(rows)
    assert list(frame.columns) == list(DATA.train.columns)
    for column in DATA.categorical:  # categoricals come back as values the data has
        assert set(frame[column]) <= set(DATA.train[column])
    codes = model.encode(torch.from_numpy(DATA.transform(DATA.test)))
    assert codes["c"].shape == (len(DATA.test), model.config.latent_dim)
    assert ("z" in codes) == model.can("z")


@pytest.mark.parametrize("name", ["tabular_beta_tcvae", "tabular_ms_vae"])
def test_rows_are_drawn_from_the_likelihood_around_the_means(name, trained):
    """rows: sample = the decoder means of the same prior draw plus N(0, sigma) per feature, with
    sigma the learned scale; clipping then leaves point masses at the ends of the range."""
    model, _ = trained[name]
    torch.manual_seed(1)
    means = model.sample(4000, rows="mean")
    torch.manual_seed(1)
    rows = model.sample(4000, rows="sample")
    sigma = torch.exp(model.log_sigma.clamp(*map(math.log, SIGMA_RANGE)))
    torch.testing.assert_close((rows - means).std(0), sigma, rtol=0.06, atol=0)
    below = (rows < 0).numpy()
    assert below.any()
    clipped = DATA.transform(model.to_frame(rows), clip=True)
    np.testing.assert_allclose(clipped[below], 0, atol=1e-5)  # the column's minimum, as often as it was drawn
    with pytest.raises(ValueError, match="rows"):
        model.sample(3, rows="median")


def test_tvae_samples_with_ctgans_sigmas_and_means_without(trained, monkeypatch):
    """ctgan's TVAE draws each continuous value from N(output, its learned sigma) when it samples:
    check that our rows: sample goes through that path, and rows: mean does not."""
    from ctgan.data_transformer import DataTransformer

    model, _ = trained["tvae"]
    seen = []
    original = DataTransformer.inverse_transform

    def spy(self, data, sigmas=None):
        seen.append(sigmas)
        return original(self, data, sigmas)

    monkeypatch.setattr(DataTransformer, "inverse_transform", spy)
    model.sample(5)
    model.sample(5, rows="mean")
    assert seen[0] is not None and np.all(seen[0] > 0) and seen[1] is None


@pytest.mark.parametrize("name", TABLE_MODELS)
def test_same_seed_same_samples_and_another_seed_others(name, trained):
    model, _ = trained[name]
    first = synthetic_table(model, DATA, seed=5)
    assert len(first) == len(DATA.test)
    assert first.equals(synthetic_table(model, DATA, seed=5))
    assert not first.equals(synthetic_table(model, DATA, seed=6))


@pytest.mark.parametrize("name", TABLE_MODELS)
def test_save_load_round_trip_samples_and_encodes_identically(name, trained, tmp_path):
    model, log = trained[name]
    cache = ArtifactCache(tmp_path)
    cache.save("k", model, {"spec": 1}, log)
    clone = make(name, seed=9)  # fresh init, so equality proves the load
    if model.requires:
        clone.attach({"stage_one": model.stage_one})  # the runner hands over the same cached stage one
    assert cache.load_into("k", clone) == log
    x = torch.from_numpy(DATA.transform(DATA.test[:50]))
    torch.testing.assert_close(clone.eval().encode(x)["c"], model.encode(x)["c"], rtol=0, atol=0)
    assert synthetic_table(clone, DATA, seed=3).equals(synthetic_table(model, DATA, seed=3))


@pytest.mark.parametrize("name", ["tabular_beta_tcvae", "tabular_ms_vae"])
def test_training_is_determined_by_the_seed(name):
    budget = Budget(steps=5, batch_size=16)
    a, b = make(name, seed=3), make(name, seed=3)
    for model in (a, b):  # the runner seeds torch once per job, before building the model
        torch.manual_seed(3)
        model.fit(DATA, budget, seed=3, progress=False)
    for (key, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), key


def test_tvae_training_is_determined_by_the_seed():
    budget = Budget(steps=10, batch_size=100)
    a, b, c = make("tvae"), make("tvae"), make("tvae")
    a.fit(DATA, budget, seed=3, progress=False)
    b.fit(DATA, budget, seed=3, progress=False)
    c.fit(DATA, budget, seed=4, progress=False)
    for (key, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), key
    assert not torch.equal(a.decoder.seq[0].weight, c.decoder.seq[0].weight)


def test_tvae_exposes_the_encoder_ctgan_trained(trained):
    """The recorded encoder is the one ctgan optimised: its means decode back near the input."""
    from ctgan.synthesizers.tvae import Encoder

    model, _ = trained["tvae"]
    assert isinstance(model.encoder, Encoder) and Encoder.__init__.__name__ == "__init__"  # patch undone
    x = torch.from_numpy(DATA.transform(DATA.test))
    recon = model.reconstruct(x)
    torch.manual_seed(0)
    prior = model.sample(len(x))
    assert (recon - x).abs().mean() < (prior - x).abs().mean()  # the encoding carries information about x


def test_ms_vae_z_enters_only_through_film():
    model = make("tabular_ms_vae")
    y = torch.rand(4, 19)
    outputs = model.render(y, torch.zeros(4, 2)), model.render(y, torch.ones(4, 2))
    assert not torch.equal(*outputs)
    for name, module in model.generator.named_modules():
        if isinstance(module, torch.nn.Linear) and module.in_features == 2:  # z's only readers
            assert ".to_params." in f".{name}.", name


def test_ms_vae_reuses_stage_one_and_keeps_it_frozen():
    model = make("tabular_ms_vae")
    before = {k: v.clone() for k, v in model.stage_one.state_dict().items()}
    model.fit(DATA, Budget(steps=5, batch_size=16), seed=0, progress=False)
    for key, value in model.stage_one.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert model.num_params() > model.stage_one.num_params()


def test_tables_models_refuse_image_suites_and_image_models_refuse_tables(tmp_path):
    from bench.suite import SuiteError, load_suite

    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndataset: {name: credit}\nmodels: [{model: beta_tcvae}, {model: tvae}]\n"
                    "metrics: [jsd, mig]\nplots: [traversals, paper_tables]\n")
    with pytest.raises(SuiteError) as error:
        load_suite(path)
    text = "\n".join(error.value.problems)
    assert "'beta_tcvae' cannot handle tables data" in text
    assert "mig is a metric for images, and this suite's dataset holds tables" in text
    assert "plots[0]: traversals is drawn for images datasets, and this suite's dataset holds tables" in text
    assert "tvae" not in text and "jsd" not in text and "paper_tables" not in text


def test_gaussian_likelihood_known_value_and_bernoulli_option():
    cls = zoo.get("tabular_beta_tcvae")
    model = cls(cls.Config(latent_dim=2, width=8), DATA.data_shape)
    x = torch.full((3, 19), 0.25)
    logits = torch.logit(x)  # the decoder mean is exactly x: only the scale terms remain
    expected = 19 * (math.log(0.1) + 0.5 * math.log(2 * math.pi))
    assert model.reconstruction_loss(logits, x).item() == pytest.approx(expected, rel=1e-5)
    assert model.reconstruction_loss(logits + 1.0, x) > model.reconstruction_loss(logits, x)
    bernoulli = cls(cls.Config(latent_dim=2, width=8, likelihood="bernoulli"), DATA.data_shape)
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))  # BCE at p = x is x's entropy
    assert bernoulli.reconstruction_loss(logits, x).item() == pytest.approx(19 * entropy, rel=1e-5)
