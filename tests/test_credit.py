"""The credit simulator (section 6.2), its reversible transform, and the credit dataset."""

import numpy as np
import pandas as pd
import pytest
import torch

from bench.data import load
from bench.data.credit import (CATEGORICAL, CONTINUOUS, FACTORS, FEATURES, MORTGAGE_PEAK, TableTransform, draw_factors,
                               render, simulate)
from bench.metrics.tabular import c2st


@pytest.fixture(scope="module")
def table():
    return simulate(20_000, seed=0)


def test_columns_and_seeding(table):
    features, factors = table
    assert list(features.columns) == FEATURES and len(FEATURES) == 19
    assert list(factors.columns) == FACTORS and len(FACTORS) == 11
    assert len(features) == len(factors) == 20_000
    assert set(CATEGORICAL) | set(CONTINUOUS) == set(FEATURES) and not set(CATEGORICAL) & set(CONTINUOUS)
    again, _ = simulate(20_000, seed=0)
    pd.testing.assert_frame_equal(features, again)
    assert not features.equals(simulate(20_000, seed=1)[0])


def test_the_column_kinds_section_6_5_discusses(table):
    features, _ = table
    assert sorted(features["Credit Inquiry_3m"].unique()) == list(range(7))  # counts 0..6: 7 values
    assert set(features["Delinquency Status"].unique()) <= set(range(5))
    past_due = features["Amount Past Due"]
    assert 0.4 < (past_due == 0).mean() < 0.9 and past_due.max() > 1000  # zero-inflated, mixed
    near = np.abs(features["Mortgage"] / MORTGAGE_PEAK - 1)
    assert 0.01 < (near < 0.003).mean() < 0.05  # a small abrupt peak: within 0.3 % of 150k...
    assert (near < 0.003).mean() > 5 * ((near > 0.003) & (near < 0.006)).mean()  # ...far denser than beside it
    assert features["Balance"].skew() > 2 and features["Mortgage"].skew() > 1  # skewed
    counts, _ = np.histogram(features["Utilization"], bins=24, range=(0, 1.2))
    padded = np.concatenate([[0], counts, [0]])
    peaks = [i for i in range(1, 25) if padded[i - 1] < padded[i] >= padded[i + 1] and padded[i] > 200]
    assert len(peaks) >= 3, counts  # multi-mode


def test_each_feature_group_is_driven_by_its_own_factors(table):
    features, factors = table
    corr = lambda a, b: abs(np.corrcoef(a, b)[0, 1])  # noqa: E731
    assert corr(np.log(features["Balance"]), factors["Ub"]) > 0.9
    assert corr(np.log(features["Balance_12m"]), factors["Ub_3"]) > 0.2
    assert corr(np.log(features["Balance_12m"]), factors["S"]) < 0.05
    assert corr(features["Credit Inquiry_6m"], factors["S_2"]) > 0.4
    assert corr(features["Credit Inquiry_6m"], factors["S_1"]) < 0.05
    assert corr(np.log(features["Mortgage"]), factors["L"]) > 0.2
    assert corr(np.log(features["Mortgage"]), factors["Ub"]) < 0.05
    assert corr(features["Delinquency Status"], factors["T"]) > 0.3


def test_features_are_mostly_determined_by_their_factors(table):
    """R^2 >= 0.8 for every continuous feature from the true factors, by gradient boosting in the
    transformed space (out of fold): what a latent code can recover (the paper's Table 3)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import cross_val_score

    features, factors = table
    rows = TableTransform(features, CATEGORICAL)(features)[:6000]
    x = factors.to_numpy(np.float64)[:6000]
    for column in CONTINUOUS:
        target = rows[:, FEATURES.index(column)]
        r2 = cross_val_score(HistGradientBoostingRegressor(max_iter=100, random_state=0), x, target, cv=3,
                             scoring="r2").mean()
        assert r2 >= 0.8, (column, r2)


def test_point_masses_sit_at_a_column_end_where_clipping_makes_them(table):
    """A value far more frequent than its neighbouring values is a point mass no Gaussian
    likelihood draws: it may only be a column's minimum or maximum, which clipping a sampled
    value reproduces (the old simulator's 150,000 spike failed this)."""
    features, _ = table
    for column in CONTINUOUS:
        shares = features[column].value_counts(normalize=True).sort_index()
        values, p = shares.index.to_numpy(), shares.to_numpy()
        for i in np.flatnonzero(p > 0.005):
            neighbours = np.concatenate([p[max(0, i - 3):i], p[i + 1:i + 4]])
            if p[i] > 5 * neighbours.mean():
                assert values[i] in (values[0], values[-1]), (column, values[i], p[i])


def test_oracle_generator_is_undetectable(table):
    """Rows rendered from fresh factors by the simulator itself (the true conditional
    distributions) must score C2ST AUC ~ 0.5, Train and Test, for all three classifiers."""
    data = load("credit")
    rng = np.random.default_rng(123)
    oracle = render(draw_factors(len(data.test), rng), rng)
    for classifier in ("xgboost", "logistic", "random_forest"):
        result = c2st(data.test, oracle, classifier, CATEGORICAL, seed=0, real_train=data.train)
        # 1,500 rows a side held out: the AUC's standard error under the null is about 0.011
        assert result["test_auc"] == pytest.approx(0.5, abs=0.04), (classifier, result)
        assert result["train_auc"] == pytest.approx(0.5, abs=0.04), (classifier, result)


def test_transform_round_trip(table):
    features, _ = table
    transform = TableTransform(features, CATEGORICAL)
    rows = transform(features)
    assert rows.dtype == np.float32 and rows.min() >= 0 and rows.max() <= 1
    back = transform.inverse(rows)
    pd.testing.assert_frame_equal(back[CATEGORICAL], features[CATEGORICAL].astype(back[CATEGORICAL].dtypes))
    np.testing.assert_allclose(back[CONTINUOUS].to_numpy(), features[CONTINUOUS].to_numpy(), rtol=1e-5, atol=1e-4)


def test_inverse_clips_rounds_categoricals_and_undoes_the_log():
    frame = pd.DataFrame({"amount": [0.0, 9.0, 99.0], "status": [0, 2, 4]})
    transform = TableTransform(frame, ["status"])
    assert transform(frame)[:, 0].tolist() == pytest.approx([0.0, np.log(10) / np.log(100), 1.0])
    back = transform.inverse(np.array([[1.7, 0.3], [-0.2, 0.6], [0.5, 0.76]]))
    assert back["amount"].tolist() == pytest.approx([99.0, 0.0, 9.0])  # clipped to [0, 1], then expm1
    assert back["status"].tolist() == [2, 2, 4]  # 1.2 -> 2, 2.4 -> 2, 3.04 -> 4: the nearest seen value
    with pytest.raises(ValueError, match="negative"):
        TableTransform(pd.DataFrame({"x": [-1.0, 2.0]}), [])


def test_generated_rows_outside_the_range_are_clipped():
    frame = pd.DataFrame({"amount": [0.0, 99.0]})
    transform = TableTransform(frame, [])
    rows = transform(pd.DataFrame({"amount": [-5.0, 1e6]}), clip=True)
    assert rows[:, 0].tolist() == [0.0, 1.0]


def test_credit_dataset_splits_and_batches():
    data = load("credit", n_rows=1000, test_fraction=0.25)
    assert data.kind == "tables" and data.data_shape == (19,)
    assert len(data.train) == len(data) == 750 and len(data.test) == 250
    features, _ = simulate(1000, 0)
    both = pd.concat([data.train, data.test]).sort_values(FEATURES).reset_index(drop=True)
    pd.testing.assert_frame_equal(both, features.sort_values(FEATURES).reset_index(drop=True))  # a partition
    batch = data.batch(16, np.random.default_rng(0), "cpu")
    assert batch.shape == (16, 19) and batch.dtype == torch.float32
    assert torch.equal(batch, data.batch(16, np.random.default_rng(0), "cpu"))
    assert data.spec == {"name": "credit", "version": "2", "params": {"n_rows": 1000, "seed": 0, "test_fraction": 0.25}}
