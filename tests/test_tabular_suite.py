"""A credit suite end to end through the CLI: scores on Train and Test, the paper's tables and
figures, and a re-run that does nothing again."""

import json
import sqlite3

import pytest

from bench.cli import main
from conftest import write_suite

SUITE = """
name: tiny_credit
dataset: {name: credit, params: {n_rows: 400}}
budget: {steps: 40, batch_size: 64, learning_rate: 1.0e-3}
seeds: [0]
models:
  - {model: tabular_beta_tcvae, label: beta-TCVAE, params: {beta: 7, latent_dim: 4, width: 16}}
  - {model: tabular_ms_vae, label: MS-VAE, params: {beta: 7, latent_dim: 4, stage_one_width: 16, z_dim: 2, width: 16}}
  - {model: tvae, label: TVAE, params: {latent_dim: 4, width: 16}}
metrics:
  - jsd
  - correlation_difference
  - {name: c2st, params: {classifier: logistic}}
plots: [paper_tables, jsd_by_feature, feature_distributions, latent_correlation, latent_perturbation]
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("credit")
    suite = write_suite(root / "tiny.yaml", SUITE)
    args = ["--store", str(root / "r.sqlite"), "--cache", str(root / "cache"), "--out", str(root / "boards")]
    assert main(["run", str(suite), *args]) == 0
    return root, suite, args


def test_every_model_gets_train_and_test_scores(finished):
    root, _, _ = finished
    rows = sqlite3.connect(root / "r.sqlite").execute(
        "SELECT r.label, s.metric_id, s.value, s.details FROM scores s JOIN runs r USING (suite, job_key)").fetchall()
    ids = {"jsd_train", "jsd_test", "cd_train", "cd_test",
           "c2st_train_auc[classifier=logistic]", "c2st_test_auc[classifier=logistic]"}
    for label in ("beta-TCVAE", "MS-VAE", "TVAE"):
        scores = {metric: value for row_label, metric, value, _ in rows if row_label == label}
        assert set(scores) == ids
        assert all(0 <= scores[m] <= 1 for m in ids if not m.startswith("cd"))
        assert scores["cd_test"] > 0
    details = next(json.loads(d) for label, metric, _, d in rows if metric == "jsd_test")
    assert len(details["jsd_test"]) == 20 and details["num_points"] == 100  # 19 features and the mean; D_test


def test_the_papers_tables_and_figures_are_written(finished):
    root, _, _ = finished
    plots = root / "boards" / "tiny_credit" / "plots"
    for name in ("tables.md", "jsd_by_feature.png", "feature_distributions.png", "latent_correlation.md",
                 "latent_correlation.png", "latent_perturbation.png"):
        assert (plots / name).stat().st_size > 0, name
    tables = (plots / "tables.md").read_text()
    assert "## Table 1" in tables and "## Table 2" in tables and "Logistic Regression Test" in tables
    correlation = (plots / "latent_correlation.md").read_text()
    assert "at least 0.75" in correlation and "at least 0.2" in correlation
    assert "### MS-VAE Z" in correlation and "### TVAE C" in correlation
    board = (root / "boards" / "tiny_credit" / "leaderboard.md").read_text()
    assert "- [tables.md](plots/tables.md)" in board and "(plots/latent_perturbation.png)" in board


def test_a_rerun_trains_nothing(finished, capsys):
    _, suite, args = finished
    capsys.readouterr()
    assert main(["run", str(suite), *args]) == 0
    assert "0 jobs ran, 3 already done" in capsys.readouterr().err
