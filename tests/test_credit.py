"""The credit simulator (section 6.2), its reversible transform, and the credit dataset."""

import numpy as np
import pandas as pd
import pytest
import torch

from bench.data import load
from bench.data.credit import CATEGORICAL, CONTINUOUS, FACTORS, FEATURES, MORTGAGE_PEAK, TableTransform, simulate


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
    peak = (features["Mortgage"] == MORTGAGE_PEAK).mean()
    assert 0.01 < peak < 0.05  # a small abrupt peak
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
    assert data.spec == {"name": "credit", "params": {"n_rows": 1000, "seed": 0, "test_fraction": 0.25}}
