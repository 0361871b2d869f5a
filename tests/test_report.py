"""Leaderboards from a store filled by hand: aggregation, arrows, missing scores, failures."""

import pandas as pd
import pytest

from bench.budget import Budget
from bench.metrics import METRICS
from bench.report import write_report
from bench.store import Store
from bench.suite import Job, MetricSpec, Suite

METRIC_SPECS = [MetricSpec("mig", {"num_points": 10_000, "num_bins": 20, "representation": "mean"}),
                MetricSpec("l1", {"num_points": 2_000})]


def job(label, beta, seed, model="beta_tcvae"):
    params = {"beta": beta} if beta is not None else {}
    sweep = {"beta": beta} if beta is not None else {}
    return Job(label, model, "1", params, sweep, seed, Budget(), {"name": "dsprites", "params": {}})


def score(metric, value, reason=None, spec=None):
    spec = spec or next(m for m in METRIC_SPECS if m.name == metric)
    return {"metric_id": spec.id, "metric": metric, "value": value, "version": METRICS[metric].version,
            "higher_is_better": METRICS[metric].higher_is_better, "params": spec.params, "missing_reason": reason}


def suite_of(jobs, name="s", plots=("score_vs_beta",), description="", metrics=METRIC_SPECS):
    return Suite(f"{name}.yaml", name, description, {"name": "dsprites", "params": {}}, list(jobs), list(metrics),
                 list(plots))


def finished(store, j, values, n_params=1000, suite="s"):
    store.start(suite, j, "cpu", {"git_sha": "abc"}, "t0")
    store.finish(suite, j.key, [score(m, v) for m, v in values.items()], n_params, False, 1.0, 0.1, "t1")


VALUES = {(1.0, 0): (0.10, 0.30), (1.0, 1): (0.20, 0.50), (4.0, 0): (0.40, 0.90), (4.0, 1): (0.60, 0.70)}
JOBS = [job("beta-TCVAE", beta, seed) for beta, seed in VALUES] + [job("Big-VAE", None, 0, "big_vae"),
                                                                    job("beta-TCVAE", 8.0, 0)]
SUITE = suite_of(JOBS)


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    for j, (mig, l1) in zip(JOBS, VALUES.values()):
        finished(store, j, {"mig": mig, "l1": l1})
    big, bad = JOBS[-2:]
    store.start("s", big, "cpu", {"git_sha": "abc"}, "t0")
    store.finish("s", big.key, [score("mig", None, "model has no encoder"), score("l1", 0.05)],
                 5000, True, 0.0, 0.1, "t1")
    store.start("s", bad, "cpu", {"git_sha": "abc"}, "t0")
    store.fail("s", bad.key, "train", "TrainingDiverged: loss became nan at step 7 of 10", "t1")
    return store


def test_markdown_leaderboard(store, tmp_path):
    write_report(store, SUITE, tmp_path / "out")
    text = (tmp_path / "out/leaderboard.md").read_text()
    assert "| model | sweep | seeds | params | mig ↑ | l1 ↓ |" in text  # the suite's metric order
    assert "| beta-TCVAE | beta=1 | 2 | 1,000 | 0.15 ± 0.071 | 0.4 ± 0.14 |" in text
    assert "| beta-TCVAE | beta=4 | 2 | 1,000 | **0.5 ± 0.14** | 0.8 ± 0.14 |" in text
    assert "| Big-VAE | — | 1 | 5,000 | — [1] | **0.05** |" in text
    assert "[1] missing: model has no encoder" in text
    assert "| beta-TCVAE[beta=8] seed=0 | failed | train | TrainingDiverged: loss became nan at step 7 of 10 |" in text


def test_csv_has_raw_numbers(store, tmp_path):
    write_report(store, SUITE, tmp_path / "out")
    table = pd.read_csv(tmp_path / "out/leaderboard.csv")
    row = table[(table["label"] == "beta-TCVAE") & (table["sweep_point"] == "beta=4")].iloc[0]
    assert row["mig_mean"] == pytest.approx(0.5) and row["mig_n"] == 2
    assert row["l1_std"] == pytest.approx(pd.Series([0.9, 0.7]).std())
    assert pd.isna(table[table["label"] == "Big-VAE"].iloc[0]["mig_mean"])  # missing, never a number


def test_plots_and_html(store, tmp_path):
    paths = write_report(store, SUITE, tmp_path / "out")
    assert sorted(p.name for p in paths["plots"]) == ["l1_vs_beta.png", "mig_vs_beta.png"]
    assert all(p.stat().st_size > 1000 for p in paths["plots"])
    assert "<table" in (tmp_path / "out/leaderboard.html").read_text()


def test_empty_suite(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    write_report(store, suite_of(JOBS, "none"), tmp_path / "out")
    assert "No successful runs stored yet." in (tmp_path / "out/leaderboard.md").read_text()


def test_rows_follow_the_suite_order(store, tmp_path):
    write_report(store, suite_of(JOBS[-2:] + JOBS[:-2]), tmp_path / "out")
    text = (tmp_path / "out/leaderboard.md").read_text()
    assert text.index("| Big-VAE |") < text.index("| beta-TCVAE | beta=1 |") < text.index("| beta-TCVAE | beta=4 |")


def test_image_figures_from_cached_models(tmp_path, monkeypatch):
    """reconstructions and traversals rebuild MS-VAE (and its stage one) from the cache alone."""
    from bench.cache import ArtifactCache
    from bench.cli import main
    from bench.data import load
    from bench.runner import CachedModels
    from bench.suite import load_suite
    from conftest import SUITES

    monkeypatch.chdir(tmp_path)
    assert main(["run", str(SUITES / "smoke.yaml"), "--no-progress", "--device", "cpu"]) == 0
    store = Store(".msbench/results.sqlite")
    smoke = load_suite(SUITES / "smoke.yaml")
    models = CachedModels(smoke.jobs, ArtifactCache(".msbench/artifacts"), load("dsprites", image_size=32))
    smoke.plots = ["reconstructions", "traversals", "conditioning", "downstream"]
    paths = write_report(store, smoke, tmp_path / "figs", models=models)
    assert sorted(p.name for p in paths["plots"]) == ["conditioning_mi.png", "downstream_accuracy.png",
                                                       "reconstructions.png", "traversals.png"]
    assert all(p.stat().st_size > 2000 for p in paths["plots"])
    # without models the image figures are skipped, the rest drawn
    smoke.plots = ["reconstructions", "conditioning"]
    paths = write_report(store, smoke, tmp_path / "figs2")
    assert [p.name for p in paths["plots"]] == ["conditioning_mi.png"]
