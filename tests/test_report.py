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
    higher_is_better = METRICS[metric].directions().get(spec.id.split("[")[0], True)
    return {"metric_id": spec.id, "metric": metric, "value": value, "version": METRICS[metric].version,
            "higher_is_better": higher_is_better, "params": spec.params, "missing_reason": reason}


def suite_of(jobs, name="s", plots=("score_vs_beta",), description="", metrics=METRIC_SPECS):
    return Suite(f"{name}.yaml", name, description, {"name": "dsprites", "params": {}}, list(jobs), list(metrics),
                 list(plots))


def finished(store, j, values, n_params=1000, suite="s"):
    store.start(suite, j, {"device": "cpu"}, {"git_sha": "abc"}, "t0")
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
    store.start("s", big, {"device": "cpu"}, {"git_sha": "abc"}, "t0")
    store.finish("s", big.key, [score("mig", None, "model has no encoder"), score("l1", 0.05)],
                 5000, True, 0.0, 0.1, "t1")
    store.start("s", bad, {"device": "cpu"}, {"git_sha": "abc"}, "t0")
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
    page = (tmp_path / "out/index.html").read_text()
    assert page.count("missing: model has no encoder") == 1 and 'href="#note-1">[1]' in page  # once, linked
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
    assert "<table" in (tmp_path / "out/index.html").read_text()


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
    from bench.trained import CachedModels
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


# --- only the suite as it is now: reproductions of stale rows and columns from the hostile-input sweep ---

def test_runs_of_another_budget_are_not_averaged_in(store, tmp_path):
    """Changing steps 5 -> 6 used to give a row saying "seeds 1" whose mean averaged both budgets."""
    longer = [Job(j.label, j.model, j.model_version, j.params, j.sweep, j.seed, Budget(steps=6), j.dataset)
              for j in JOBS[:2]]  # beta=1, seeds 0 and 1, with another budget
    finished(store, longer[0], {"mig": 0.9, "l1": 0.01})
    write_report(store, suite_of(longer[:1]), tmp_path / "out")
    table = pd.read_csv(tmp_path / "out/leaderboard.csv")
    assert len(table) == 1 and table.iloc[0]["seeds"] == 1 and table.iloc[0]["mig_n"] == 1
    assert table.iloc[0]["mig_mean"] == pytest.approx(0.9)
    text = (tmp_path / "out/leaderboard.md").read_text()
    assert "| beta-TCVAE | beta=1 | 1 | 1,000 | 0.9 | 0.01 |" in text
    assert "The store holds 6 older run(s) of this suite name that the suite no longer asks for" in text


def test_labels_come_from_the_suite(store, tmp_path):
    import dataclasses

    renamed = [dataclasses.replace(j, label="β-TCVAE (renamed)") if j.label == "beta-TCVAE" else j for j in JOBS]
    write_report(store, suite_of(renamed), tmp_path / "out")
    table = pd.read_csv(tmp_path / "out/leaderboard.csv")
    assert set(table["label"]) == {"β-TCVAE (renamed)", "Big-VAE"}  # the stored label "beta-TCVAE" is gone


def test_scores_under_other_metric_params_or_versions_are_not_current(store, tmp_path, monkeypatch):
    """Changing a metric's params used to leave a stale column, its stale value bolded as best."""
    import dataclasses

    from bench.metrics import METRICS

    more_points = MetricSpec("l1", {"num_points": 500})
    write_report(store, suite_of(JOBS, metrics=[METRIC_SPECS[0], more_points]), tmp_path / "out")
    table = pd.read_csv(tmp_path / "out/leaderboard.csv")
    assert "l1[num_points=500]_mean" in table and table["l1[num_points=500]_mean"].isna().all()
    assert not [c for c in table if c.startswith("l1_")]
    monkeypatch.setitem(METRICS, "mig", dataclasses.replace(METRICS["mig"], version="99"))
    write_report(store, SUITE, tmp_path / "out2")
    table = pd.read_csv(tmp_path / "out2/leaderboard.csv")
    assert table["mig_mean"].isna().all() and table["l1_mean"].notna().all()  # old-definition scores are not shown


def test_jobs_not_run_yet_are_listed(store, tmp_path):
    extra = job("beta-TCVAE", 16.0, 0)
    write_report(store, suite_of(JOBS + [extra]), tmp_path / "out")
    assert "| beta-TCVAE[beta=16] seed=0 | not run | — | not run yet |" in (tmp_path / "out/leaderboard.md").read_text()


HOSTILE_LABELS = ["a|b", "<script>alert(1)</script>", '=HYPERLINK("http://x")', "+1", "-x", "@x"]


def test_user_text_is_escaped_and_never_a_formula(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    jobs = [job(label, 1.0, 0) for label in HOSTILE_LABELS]
    jobs = [Job(j.label, j.model, j.model_version, {"beta": float(i)}, {"beta": float(i)}, 0, j.budget, j.dataset)
            for i, j in enumerate(jobs)]
    for j in jobs:
        finished(store, j, {"mig": 0.5, "l1": 0.1})
    suite = suite_of(jobs, description="<b>bold</b> | with a pipe\nand a second line")
    write_report(store, suite, tmp_path / "out")
    text = (tmp_path / "out/leaderboard.md").read_text()
    assert "&lt;b&gt;bold&lt;/b&gt; \\| with a pipe and a second line" in text.splitlines()[2]
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + len(HOSTILE_LABELS)
    unescaped_bars = {len(line.replace("\\|", "")) - len(line.replace("\\|", "").replace("|", "")) for line in rows}
    assert unescaped_bars == {7}  # 6 columns in every row
    table = pd.read_csv(tmp_path / "out/leaderboard.csv")
    assert not [v for v in table["label"] if v.startswith(("=", "+", "-", "@"))]
    assert "'=HYPERLINK(\"http://x\")" in set(table["label"]) and "a|b" in set(table["label"])
    page = (tmp_path / "out/index.html").read_text()
    assert page.count("<script>") == 1 and "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # only our sorter
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<h1>Leaderboard: s</h1>" in page


def test_the_conditioning_bias_floor_is_printed_beside_m4(tmp_path):
    """M4 cannot go below what two independent codes score at its sample size: the leaderboard says
    how much that is, for the N and bins the suite uses (0.0297 at 2,000 points, 0.0063 at 10,000)."""
    from bench.metrics.conditioning import independence_floor

    assert independence_floor(2000) == pytest.approx(0.0297, abs=5e-4)
    assert independence_floor(10_000) == pytest.approx(0.0063, abs=3e-4)
    assert independence_floor(48_600) < independence_floor(17_568) < independence_floor(10_000)
    conditioning = MetricSpec("conditioning_mi", {"num_points": 2000, "num_bins": 20})
    store = Store(tmp_path / "r.sqlite")
    j = job("MS-VAE", 1.0, 0, "ms_vae")
    store.start("s", j, {"device": "cpu"}, {"git_sha": "abc"}, "t0")
    store.finish("s", j.key, [{**score("conditioning_mi", 0.03, spec=conditioning), "metric_id": conditioning.output_id("M4"),
                               "higher_is_better": False}], 10, False, 1.0, 0.1, "t1")
    write_report(store, suite_of([j], metrics=[conditioning], plots=()), tmp_path / "out")
    text = (tmp_path / "out/leaderboard.md").read_text()
    assert "two independent codes score 0.0297 at 2,000 points and 20 bins" in text
    assert "0.0297" in (tmp_path / "out/index.html").read_text()
