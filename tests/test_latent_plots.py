"""The appendix figures: scores against |C| and |Z| (Figures 14/15) and the variability of Y (39/40)."""

import json

import numpy as np
import pytest
import torch

import models as zoo
from bench.budget import Budget
from bench.data import load
from bench.metrics import METRICS
from bench.report import write_report
from bench.report.plots import latent_size_rows, y_draws
from bench.results import current_scores
from bench.store import Store
from bench.suite import Job, MetricSpec, Suite

DATA = load("dsprites", image_size=32)
SPECS = [MetricSpec("mig", {"num_points": 10_000, "num_bins": 20, "representation": "mean"}),
         MetricSpec("elbo", {"num_points": 2_000, "samples": 1})]


def job(label, model, sweep, seed, **fixed):
    return Job(label, model, "1", {**fixed, **sweep}, sweep, seed, Budget(), {"name": "dsprites", "params": {}})


def record(spec, value):
    info = METRICS[spec.name]
    return {"metric_id": spec.id, "metric": spec.name, "value": value, "version": info.version,
            "higher_is_better": info.directions()[spec.name], "params": spec.params, "missing_reason": None}


def filled_store(path, scores: list) -> tuple[Store, Suite]:
    """scores: [(job, (mig, elbo))]."""
    store = Store(path)
    for j, values in scores:
        store.start("s", j, {"device": "cpu"}, {"git_sha": "abc"}, "t0")
        store.finish("s", j.key, [record(s, v) for s, v in zip(SPECS, values)], 1000, False, 1.0, 0.1, "t1")
    suite = Suite("s.yaml", "s", "", {"name": "dsprites", "params": {}}, [j for j, _ in scores], SPECS, ["latent_size"])
    return store, suite


C_SWEEP = [(job("beta-TCVAE", "beta_tcvae", {"latent_dim": d}, seed, beta=4), (0.1 * d + seed, -100.0 + d))
           for d in (2, 5) for seed in (0, 1)]
Z_SWEEP = [(job("MS-VAE", "ms_vae", {"beta": b, "z_dim": z}, 0, latent_dim=10), (0.3, -90.0 - z))
           for b in (1, 4) for z in (1, 5)]
FIXED = [(job("Big-VAE", "big_vae", {}, 0, latent_dim=10, z_dim=5), (0.05, -95.0))]


def test_latent_size_rows_take_the_swept_size_and_name_other_swept_params(tmp_path):
    store, suite = filled_store(tmp_path / "r.sqlite", C_SWEEP + Z_SWEEP + FIXED)
    frame = current_scores(store, suite)
    c_rows = latent_size_rows(frame, "latent_dim")
    assert set(c_rows["line"]) == {"beta-TCVAE"} and sorted(set(c_rows["size"])) == [2, 5]
    mig = c_rows[c_rows["metric_id"] == "mig"].groupby("size")["value"].agg(["mean", "std"])
    np.testing.assert_allclose(mig["mean"], [0.7, 1.0])  # 0.1 d + seed over seeds 0 and 1
    np.testing.assert_allclose(mig["std"], [np.sqrt(0.5)] * 2)
    z_rows = latent_size_rows(frame, "z_dim")
    assert set(z_rows["line"]) == {"MS-VAE [beta=1]", "MS-VAE [beta=4]"}  # Big-VAE's z_dim is not swept
    assert sorted(z_rows[z_rows["metric_id"] == "elbo"]["value"]) == [-95.0, -95.0, -91.0, -91.0]


def test_latent_size_draws_one_figure_per_swept_size(tmp_path, monkeypatch):
    from bench.report import plots

    titles, save = [], plots.save_figure

    def recording_save(fig, path, **options):
        titles.append([ax.get_title() for ax in fig.axes])
        return save(fig, path, **options)

    monkeypatch.setattr(plots, "save_figure", recording_save)
    store, suite = filled_store(tmp_path / "r.sqlite", C_SWEEP + Z_SWEEP + FIXED)
    paths = write_report(store, suite, tmp_path / "out")["plots"]
    assert sorted(p.name for p in paths) == ["latent_size_C.png", "latent_size_Z.png"]
    # one panel per score, in the suite's order (the store returns them sorted by name)
    assert titles == [["mig vs |C|", "elbo vs |C|"], ["mig vs |Z|", "elbo vs |Z|"]]
    assert all(p.stat().st_size > 5000 for p in paths)
    store, suite = filled_store(tmp_path / "r2.sqlite", FIXED)  # nothing swept: no figure
    assert write_report(store, suite, tmp_path / "out2")["plots"] == []


# --- Figures 39/40 ---

def constant(layer, bias):
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.fill_(bias)


def ms_vae(stage_one_logvar: float):
    torch.manual_seed(0)
    one = zoo.get("beta_tcvae")(zoo.get("beta_tcvae").Config(latent_dim=3), DATA.image_shape).eval()
    constant(one.encoder.logvar, stage_one_logvar)  # the posterior's spread: what makes Ys vary
    model = zoo.get("ms_vae")(zoo.get("ms_vae").Config(latent_dim=3, z_dim=2, width=8), DATA.image_shape).eval()
    model.attach({"stage_one": one})
    return model


IMAGES = DATA.sample(6, np.random.default_rng(0))[0]


def test_y_draws_follow_the_posterior():
    model = ms_vae(2.0)
    ys, xs = y_draws(model, IMAGES, draws=3)
    assert ys.shape == xs.shape == (6, 3, *DATA.image_shape)
    assert ys.std(axis=1).mean() > 1e-4 and xs.std(axis=1).mean() > 1e-4  # untrained: small but clear
    again, _ = y_draws(model, IMAGES, draws=3)
    np.testing.assert_array_equal(ys, again)  # seeded
    # draw k is stage one's reconstruction from c = mean + sd * noise_k, and X is decoded from the same c
    noise = torch.randn((6, 3), generator=torch.Generator().manual_seed(0))
    x = torch.from_numpy(IMAGES)
    np.testing.assert_allclose(ys[:, 0], model.stage_one.reconstruct(x, c_noise=noise).numpy(), atol=1e-6)
    np.testing.assert_allclose(xs[:, 0], model.reconstruct(x, c_noise=noise).numpy(), atol=1e-6)
    # a near-deterministic posterior: every draw gives the same Y and the same X
    ys, xs = y_draws(ms_vae(-60.0), IMAGES, draws=3)
    assert ys.std(axis=1).max() < 1e-6 and xs.std(axis=1).max() < 1e-6


def test_an_x_that_ignores_y_does_not_vary():
    """G with its input conv zeroed sees a constant y, and R with constant heads gives z = 0: the Ys
    vary, the Xs cannot."""
    model = ms_vae(2.0)
    constant(model.generator.convs[0], 0.0)
    constant(model.encoder.mean, 0.0)
    ys, xs = y_draws(model, IMAGES, draws=4)
    assert ys.std(axis=1).mean() > 1e-4 and xs.std(axis=1).max() < 1e-6


class FakeModels:
    """CachedModels' interface: the dataset and a model per job key."""

    def __init__(self, by_key):
        self.data, self.by_key, self.loaded = DATA, by_key, []

    def load(self, key):
        self.loaded.append(key)
        return self.by_key[key]


def test_y_variability_figure_and_table(tmp_path):
    wide, stiff = job("MS-VAE", "ms_vae", {"beta": 4}, 0), job("MS-VAE", "ms_vae", {"beta": 8}, 0)
    one = job("beta-TCVAE", "beta_tcvae", {"beta": 4}, 0)
    seed1 = job("MS-VAE", "ms_vae", {"beta": 4}, 1)
    store, suite = filled_store(tmp_path / "r.sqlite", [(j, (0.1, -90.0)) for j in (wide, stiff, one, seed1)])
    suite.plots = ["y_variability"]
    fake = FakeModels({wide.key: ms_vae(2.0), stiff.key: ms_vae(-60.0)})
    paths = write_report(store, suite, tmp_path / "out", models=fake)["plots"]
    assert [p.name for p in paths] == ["y_variability_MS-VAE_beta=4.png", "y_variability_MS-VAE_beta=8.png",
                                       "y_variability.md"]
    assert fake.loaded == [wide.key, stiff.key]  # the lowest seed; the single-stage model is never loaded
    rows = [line.split(" | ") for line in paths[-1].read_text().splitlines() if line.startswith("| MS-VAE")]
    assert [r[0] for r in rows] == ["| MS-VAE [beta=4]", "| MS-VAE [beta=8]"]
    sd_y, sd_x = float(rows[0][2]), float(rows[0][3])
    assert sd_y > 0 and sd_x > 0
    assert rows[1][2:4] == ["0.0000", "0.0000"] and rows[1][4] == "— |"
    # without cached models there is nothing to draw
    assert write_report(store, suite, tmp_path / "out2")["plots"] == []


def test_suite_validation_accepts_the_new_metric_and_plots(tmp_path):
    from bench.suite import SuiteError, parse_suite

    raw = {"name": "t", "dataset": {"name": "dsprites", "params": {"image_size": 32}},
           "models": [{"model": "beta_tcvae", "params": {"latent_dim": [2, 4]}}],
           "metrics": ["elbo", {"name": "elbo", "params": {"samples": 3}}], "plots": ["latent_size", "y_variability"]}
    suite = parse_suite(json.loads(json.dumps(raw)))
    assert suite.metric_ids == ["elbo", "elbo[samples=3]"]
    for bad, message in ((0, "samples"), ("x", "samples")):
        raw["metrics"] = [{"name": "elbo", "params": {"samples": bad}}]
        with pytest.raises(SuiteError, match=message):
            parse_suite(raw)
