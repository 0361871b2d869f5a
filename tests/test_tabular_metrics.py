"""Tabular metrics (section 6.3) against known answers, scipy and dython."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon

from bench.data.credit import CATEGORICAL, simulate
from bench.metrics.tabular import (associations, c2st, correlation_difference, correlation_ratio, decimals,
                                   jensen_shannon, jsd_per_feature, match_precision, theils_u)


def shuffle_columns(frame, seed):
    """Each column permuted on its own: the marginals stay, the dependencies go."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: rng.permutation(frame[c].to_numpy()) for c in frame.columns})


@pytest.fixture(scope="module")
def credit():
    features, _ = simulate(4000, seed=3)
    return features


def test_jsd_of_half_half_against_one_zero_is_the_known_value():
    # m = (3/4, 1/4): 0.5 * [0.5 log2(2/3) + 0.5 log2(2)] + 0.5 * log2(4/3) = 0.311278 bits
    assert jensen_shannon([0.5, 0.5], [1.0, 0.0]) == pytest.approx(0.311278, abs=1e-6)
    real = pd.DataFrame({"c": [0, 1] * 50})
    fake = pd.DataFrame({"c": [0] * 100})
    assert jsd_per_feature(real, fake, ["c"])["c"] == pytest.approx(0.311278, abs=1e-6)


def test_jsd_matches_scipy_in_base_two():
    rng = np.random.default_rng(0)
    for _ in range(5):
        p, q = rng.random(7), rng.random(7)
        assert jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)


def test_jsd_is_zero_for_identical_tables_and_one_for_disjoint_supports(credit):
    assert (jsd_per_feature(credit, credit, CATEGORICAL) == 0).all()
    real = pd.DataFrame({"x": np.linspace(0, 1, 200), "c": ["a", "b"] * 100})
    fake = pd.DataFrame({"x": np.linspace(2, 3, 200), "c": ["d", "e"] * 100})
    assert jsd_per_feature(real, fake, ["c"]).to_dict() == {"x": pytest.approx(1.0), "c": pytest.approx(1.0)}


def test_jsd_grows_as_a_column_shifts():
    rng = np.random.default_rng(1)
    real = pd.DataFrame({"x": rng.normal(size=3000)})
    values = [jsd_per_feature(real, real + shift)["x"] for shift in (0.0, 0.3, 1.0, 3.0)]
    assert values[0] == 0 and values == sorted(values) and values[-1] > 0.5


def test_theils_u_and_correlation_ratio_known_cases():
    x = np.array([0, 0, 1, 1, 2, 2] * 20)
    assert theils_u(x, x) == pytest.approx(1.0)
    assert theils_u(x, x % 2 == 0) < 1.0  # y tells x only in part
    independent = np.random.default_rng(0).integers(0, 3, 20_000)
    assert theils_u(independent, np.random.default_rng(1).integers(0, 3, 20_000)) < 0.001
    categories = np.repeat([0, 1], 50)
    assert correlation_ratio(categories, categories * 5.0) == pytest.approx(1.0)  # all variance between groups
    assert correlation_ratio(categories, np.tile([1.0, 2.0], 50)) == pytest.approx(0.0)  # none


def test_associations_match_dython(credit):
    dython = pytest.importorskip("dython.nominal")
    frame = credit.sample(600, random_state=0).reset_index(drop=True)
    ours = associations(frame, CATEGORICAL)
    theirs = dython.associations(frame, nominal_columns=CATEGORICAL, nom_nom_assoc="theil", compute_only=True,
                                 multiprocessing=False)["corr"]
    np.testing.assert_allclose(ours.to_numpy(), theirs.loc[ours.index, ours.columns].to_numpy(dtype=float),
                               atol=1e-9)


def test_correlation_difference_is_zero_for_itself_and_grows_when_columns_are_shuffled(credit):
    assert correlation_difference(credit, credit, CATEGORICAL) == pytest.approx(0.0, abs=1e-12)
    shuffled = shuffle_columns(credit, 1)
    assert correlation_difference(credit, shuffled, CATEGORICAL) > 2.0


def test_correlation_difference_skips_a_constant_column_with_a_warning(credit):
    fake = credit.copy()
    fake["Mortgage"] = 1.0
    with pytest.warns(RuntimeWarning, match="Mortgage"):
        value = correlation_difference(credit, fake, CATEGORICAL)
    assert np.isfinite(value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert value == pytest.approx(correlation_difference(credit.drop(columns="Mortgage"),
                                                             fake.drop(columns="Mortgage"), CATEGORICAL))


@pytest.mark.parametrize("classifier", ["xgboost", "logistic", "random_forest"])
def test_c2st_cannot_tell_two_halves_of_the_same_table_apart(credit, classifier):
    half = len(credit) // 2
    result = c2st(credit.iloc[:half], credit.iloc[half:].reset_index(drop=True), classifier, CATEGORICAL, seed=0)
    assert set(result) == {"test_auc", "test_fit_auc"}  # no D_train given: no Train column
    assert result["test_auc"] == pytest.approx(0.5, abs=0.05)


def test_c2st_train_is_the_held_out_test_with_a_d_train_sample_as_the_real_set(credit):
    """Table 2's Train: the same held-out AUC as Test, with |D_test| rows of D_train as the real set."""
    test, train, same = credit.iloc[:1000], credit.iloc[1000:3000], credit.iloc[3000:].reset_index(drop=True)
    # a D_train from another distribution (balances ten times larger): Train detects the synthetic table, Test does not
    shifted = train.assign(Balance=train["Balance"] * 10)
    result = c2st(test, same, "xgboost", CATEGORICAL, seed=0, real_train=shifted)
    assert result["test_auc"] == pytest.approx(0.5, abs=0.06)
    assert result["train_auc"] > 0.95
    # the same distribution everywhere: Train ~ Test ~ 0.5, while the classifier's own split is ~1
    result = c2st(test, same, "xgboost", CATEGORICAL, seed=0, real_train=train)
    assert result["train_auc"] == pytest.approx(0.5, abs=0.06) and result["test_auc"] == pytest.approx(0.5, abs=0.06)
    assert result["train_fit_auc"] > 0.9 and result["test_fit_auc"] > 0.9
    # the real set is |D_test| rows of D_train: a D_train equal to D_test gives Test, up to the row order
    again = c2st(test, same, "xgboost", CATEGORICAL, seed=0, real_train=test)["train_auc"]
    assert again == pytest.approx(result["test_auc"], abs=0.03)
    with pytest.raises(ValueError, match="fewer"):
        c2st(test, same, "xgboost", CATEGORICAL, seed=0, real_train=test.iloc[:10])


@pytest.mark.parametrize("classifier", ["xgboost", "random_forest"])
def test_c2st_detects_column_shuffled_rows(credit, classifier):
    half = len(credit) // 2
    other = credit.iloc[half:].reset_index(drop=True)
    shuffled = shuffle_columns(other, 2)
    assert c2st(credit.iloc[:half], shuffled, classifier, CATEGORICAL, seed=0)["test_auc"] > 0.7


def test_c2st_does_not_separate_on_decimal_places_alone(credit):
    half = len(credit) // 2
    real, other = credit.iloc[:half], credit.iloc[half:].reset_index(drop=True)
    noisy = other.astype(float) + np.random.default_rng(0).uniform(-1e-4, 1e-4, other.shape)
    assert c2st(real, noisy, "xgboost", CATEGORICAL, seed=0)["test_auc"] == pytest.approx(0.5, abs=0.05)
    rounded = match_precision(real, noisy, CATEGORICAL)
    for c in CATEGORICAL:  # snapped back to the category each noisy value came from, where real has it
        seen = other[c].isin(real[c].unique())
        assert seen.mean() > 0.99 and (rounded[c][seen] == other[c][seen]).all(), c
    assert decimals(real["Utilization"]) == 3 and decimals(real["Balance"]) == 0


def test_c2st_survives_unseen_categories_and_is_seeded():
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"x": rng.normal(size=400), "c": rng.choice(["a", "b"], 400)})
    fake = pd.DataFrame({"x": rng.normal(size=400), "c": rng.choice(["a", "b", "never seen"], 400)})
    first = c2st(real, fake, "xgboost", ["c"], seed=4)
    assert 0.5 < first["test_auc"] <= 1.0
    assert c2st(real, fake, "xgboost", ["c"], seed=4) == first
    with pytest.raises(ValueError, match="unknown classifier"):
        c2st(real, fake, "svm", ["c"])
