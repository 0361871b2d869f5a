"""Leaderboards from a store filled by hand: aggregation, arrows, missing scores, failures."""

import pandas as pd
import pytest

from bench.budget import Budget
from bench.report import write_report
from bench.store import Store
from bench.suite import Job


def job(label, beta, seed, model="beta_tcvae"):
    params = {"beta": beta} if beta is not None else {}
    sweep = {"beta": beta} if beta is not None else {}
    return Job(label, model, "1", params, sweep, seed, Budget(), {"name": "dsprites", "params": {}})


def score(metric, value, higher, reason=None):
    return {"metric_id": metric, "metric": metric, "value": value, "version": "1", "higher_is_better": higher,
            "params": {"num_points": 10}, "missing_reason": reason}


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    values = {(1.0, 0): (0.10, 0.30), (1.0, 1): (0.20, 0.50), (4.0, 0): (0.40, 0.90), (4.0, 1): (0.60, 0.70)}
    for (beta, seed), (mig, l1) in values.items():
        j = job("beta-TCVAE", beta, seed)
        store.start("s", j, "cpu", {"git_sha": "abc"}, "t0")
        store.finish("s", j.key, [score("mig", mig, True), score("l1", l1, False)], 1000, False, 1.0, 0.1, "t1")
    big = job("Big-VAE", None, 0, "big_vae")
    store.start("s", big, "cpu", {"git_sha": "abc"}, "t0")
    store.finish("s", big.key, [score("mig", None, True, "model has no encoder"), score("l1", 0.05, False)],
                 5000, True, 0.0, 0.1, "t1")
    bad = job("beta-TCVAE", 8.0, 0)
    store.start("s", bad, "cpu", {"git_sha": "abc"}, "t0")
    store.fail("s", bad.key, "train", "TrainingDiverged: loss became nan at step 7 of 10", "t1")
    return store


def test_markdown_leaderboard(store, tmp_path):
    write_report(store, "s", tmp_path / "out")
    text = (tmp_path / "out/leaderboard.md").read_text()
    assert "| model | sweep | seeds | params | l1 ↓ | mig ↑ |" in text
    assert "| beta-TCVAE | beta=1 | 2 | 1,000 | 0.4 ± 0.14 | 0.15 ± 0.071 |" in text
    assert "| beta-TCVAE | beta=4 | 2 | 1,000 | 0.8 ± 0.14 | **0.5 ± 0.14** |" in text
    assert "| Big-VAE | — | 1 | 5,000 | **0.05** | — [1] |" in text
    assert "[1] missing: model has no encoder" in text
    assert "| beta-TCVAE[beta=8] seed=0 | failed | train | TrainingDiverged: loss became nan at step 7 of 10 |" in text


def test_csv_has_raw_numbers(store, tmp_path):
    write_report(store, "s", tmp_path / "out")
    table = pd.read_csv(tmp_path / "out/leaderboard.csv")
    row = table[(table["label"] == "beta-TCVAE") & (table["sweep_point"] == "beta=4")].iloc[0]
    assert row["mig_mean"] == pytest.approx(0.5) and row["mig_n"] == 2
    assert row["l1_std"] == pytest.approx(pd.Series([0.9, 0.7]).std())
    assert pd.isna(table[table["label"] == "Big-VAE"].iloc[0]["mig_mean"])  # missing, never a number


def test_plots_and_html(store, tmp_path):
    paths = write_report(store, "s", tmp_path / "out")
    assert sorted(p.name for p in paths["plots"]) == ["l1_vs_beta.png", "mig_vs_beta.png"]
    assert all(p.stat().st_size > 1000 for p in paths["plots"])
    assert "<table" in (tmp_path / "out/leaderboard.html").read_text()


def test_empty_suite(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    write_report(store, "none", tmp_path / "out")
    assert "No successful runs stored yet." in (tmp_path / "out/leaderboard.md").read_text()


def test_rows_follow_the_suite_order(store, tmp_path):
    write_report(store, "s", tmp_path / "out", order=["Big-VAE", "beta-TCVAE"])
    text = (tmp_path / "out/leaderboard.md").read_text()
    assert text.index("| Big-VAE |") < text.index("| beta-TCVAE | beta=1 |") < text.index("| beta-TCVAE | beta=4 |")


def test_image_figures_from_cached_models(tmp_path, monkeypatch):
    """reconstructions and traversals rebuild MS-VAE (and its stage one) from the cache alone."""
    from bench.cache import ArtifactCache
    from bench.cli import main
    from bench.data import load
    from bench.runner import CachedModels
    from conftest import SUITES

    monkeypatch.chdir(tmp_path)
    assert main(["run", str(SUITES / "smoke.yaml"), "--no-progress", "--device", "cpu"]) == 0
    store = Store(".msbench/results.sqlite")
    models = CachedModels(ArtifactCache(".msbench/artifacts"), load("dsprites", image_size=32))
    paths = write_report(store, "smoke", tmp_path / "figs", plots=["reconstructions", "traversals",
                                                                   "conditioning", "downstream"], models=models)
    assert sorted(p.name for p in paths["plots"]) == ["conditioning_mi.png", "downstream_accuracy.png",
                                                       "reconstructions.png", "traversals.png"]
    assert all(p.stat().st_size > 2000 for p in paths["plots"])
    # without models the image figures are skipped, the rest drawn
    paths = write_report(store, "smoke", tmp_path / "figs2", plots=["reconstructions", "conditioning"])
    assert [p.name for p in paths["plots"]] == ["conditioning_mi.png"]
