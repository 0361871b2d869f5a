"""Metrics for synthetic tables (the paper's section 6.3): per-feature Jensen-Shannon divergence,
correlation difference, and classifier two-sample tests. Pure functions on DataFrames.

The classifiers (xgboost, scikit-learn) are imported when a test runs, so that this module
imports with numpy, scipy and pandas alone.
"""

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from bench.config import require
from bench.metrics.registry import Rows, metric

JSD_BINS = 20  # histogram bins for continuous columns; the paper does not say how many it used


def jensen_shannon(p, q) -> float:
    """JSD(p, q) in bits (base 2), in [0, 1]: the mean KL divergence of p and q from their midpoint."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a):
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return min(1.0, max(0.0, 0.5 * kl(p) + 0.5 * kl(q)))


def _split(real, synthetic, categorical):
    missing = [c for c in real.columns if c not in synthetic.columns]
    if missing:
        raise ValueError(f"synthetic table lacks columns {missing}")
    unknown = sorted(set(categorical) - set(real.columns))
    if unknown:
        raise ValueError(f"categorical columns {unknown} are not in the real table")
    cats = [c for c in real.columns if c in set(categorical)]
    return cats, [c for c in real.columns if c not in set(cats)]


def jsd_per_feature(real: pd.DataFrame, synthetic: pd.DataFrame, categorical=(), bins: int = JSD_BINS) -> pd.Series:
    """JSD per column: the divergence itself, base 2, in [0, 1] (not its square root, the
    Jensen-Shannon distance). The paper applies it to the normalised tables (section 6.3.1): the
    evaluator passes them so; this function compares whatever values it is given.
    Categorical columns compare category frequencies (a category only one side has counts as
    zero on the other); continuous columns compare histograms on `bins` shared edges spanning
    both tables' joint min-max range."""
    cats, _ = _split(real, synthetic, categorical)
    values = {}
    for column in real.columns:
        a, b = real[column].to_numpy(), synthetic[column].to_numpy()
        if column in cats:
            levels = pd.unique(np.concatenate([a, b]))
            p = pd.Series(a).value_counts().reindex(levels, fill_value=0).to_numpy()
            q = pd.Series(b).value_counts().reindex(levels, fill_value=0).to_numpy()
        else:
            a, b = a.astype(np.float64), b.astype(np.float64)
            low, high = min(a.min(), b.min()), max(a.max(), b.max())
            edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
            p, q = np.histogram(a, edges)[0], np.histogram(b, edges)[0]
        values[column] = jensen_shannon(p, q)
    return pd.Series(values, name="jsd")


def _entropy(counts) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * np.log(p)))


def theils_u(x, y) -> float:
    """Theil's uncertainty coefficient U(x | y) = (H(x) - H(x | y)) / H(x): the share of x's
    entropy that y explains. Asymmetric; 1 when x is constant."""
    table = pd.crosstab(np.asarray(x), np.asarray(y)).to_numpy(dtype=np.float64)
    h_x = _entropy(table.sum(axis=1))
    if h_x == 0:
        return 1.0
    weights = table.sum(axis=0) / table.sum()
    h_x_given_y = sum(w * _entropy(column) for w, column in zip(weights, table.T))
    return (h_x - h_x_given_y) / h_x


def correlation_ratio(categories, values) -> float:
    """eta: the square root of the share of `values`' variance between the `categories`' means."""
    values = np.asarray(values, dtype=np.float64)
    codes, _ = pd.factorize(np.asarray(categories))
    counts = np.bincount(codes)
    means = np.bincount(codes, weights=values) / counts
    total = np.sum((values - values.mean()) ** 2)
    if total == 0:
        return 0.0
    return float(np.sqrt(np.sum(counts * (means - values.mean()) ** 2) / total))


def associations(frame: pd.DataFrame, categorical=()) -> pd.DataFrame:
    """The association matrix of section 6.3.1: Pearson for continuous pairs, Theil's U for
    categorical pairs ([i, j] = U(i | j)), the correlation ratio for mixed pairs; 1 on the diagonal.
    The layout of dython's associations(..., nom_nom_assoc="theil")."""
    cats = set(categorical)
    columns = list(frame.columns)
    matrix = pd.DataFrame(np.eye(len(columns)), index=columns, columns=columns)
    for i, a in enumerate(columns):
        for b in columns[i + 1:]:
            x, y = frame[a], frame[b]
            if a in cats and b in cats:
                matrix.loc[a, b], matrix.loc[b, a] = theils_u(x, y), theils_u(y, x)
            elif a in cats or b in cats:
                matrix.loc[a, b] = matrix.loc[b, a] = correlation_ratio(*((x, y) if a in cats else (y, x)))
            else:
                matrix.loc[a, b] = matrix.loc[b, a] = float(np.corrcoef(x.astype(float), y.astype(float))[0, 1])
    return matrix


def correlation_difference(real: pd.DataFrame, synthetic: pd.DataFrame, categorical=()) -> float:
    """Frobenius norm of the difference of the two tables' association matrices (section 6.3.1).
    A column constant in either table has no correlation: it is left out, with a warning."""
    cats, _ = _split(real, synthetic, categorical)
    constant = [c for c in real.columns if real[c].nunique() < 2 or synthetic[c].nunique() < 2]
    if constant:
        warnings.warn(f"correlation_difference: columns {constant} are constant in one table and are left out",
                      RuntimeWarning)
    keep = [c for c in real.columns if c not in constant]
    if len(keep) < 2:
        raise ValueError("correlation_difference needs at least two non-constant columns")
    difference = associations(real[keep], cats) - associations(synthetic[keep], cats)
    return float(np.linalg.norm(difference.to_numpy()))


CLASSIFIERS = ("xgboost", "logistic", "random_forest")


def decimals(values, most: int = 6) -> int:
    """The fewest decimal places that represent every value exactly (at most `most`)."""
    values = np.asarray(values, dtype=np.float64)
    for places in range(most + 1):
        if np.allclose(np.round(values, places), values, rtol=0, atol=1e-9):
            return places
    return most


def match_precision(real: pd.DataFrame, synthetic: pd.DataFrame, categorical=()) -> pd.DataFrame:
    """Synthetic values rounded to the real table's decimals, and numeric categories snapped to the
    nearest real category: otherwise a classifier tells the two apart by decimal places alone."""
    cats, continuous = _split(real, synthetic, categorical)
    out = synthetic[list(real.columns)].copy()
    for c in continuous:
        out[c] = np.round(out[c].astype(np.float64), decimals(real[c]))
    for c in cats:
        levels = np.sort(real[c].unique())
        if pd.api.types.is_numeric_dtype(real[c]) and pd.api.types.is_numeric_dtype(out[c]):
            nearest = np.abs(out[c].to_numpy(np.float64)[:, None] - levels[None, :].astype(np.float64)).argmin(axis=1)
            out[c] = levels[nearest]
    return out


def _classifier(name: str, seed: int):
    if name == "xgboost":
        from xgboost import XGBClassifier
        return XGBClassifier(n_estimators=100, tree_method="hist", random_state=seed, n_jobs=1, verbosity=0)  # OpenMP threads spin under contention
    if name == "logistic":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier
        return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=2)
    raise ValueError(f"unknown classifier {name!r}; expected one of {', '.join(CLASSIFIERS)}")


def _detection(real: pd.DataFrame, fake: pd.DataFrame, classifier: str, cats, seed: int,
               test_fraction: float) -> tuple[float, float]:
    """Steps (3)-(5) of section 6.3.2 for one real set: (AUC on the held-out part, AUC on the
    classifier's own training part)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    both = pd.concat([real, fake], ignore_index=True)
    both[cats] = both[cats].astype(str)
    x = pd.get_dummies(both, columns=cats, dtype=np.float32).to_numpy(np.float32)
    y = np.concatenate([np.ones(len(real)), np.zeros(len(fake))]).astype(np.int64)
    x_fit, x_held, y_fit, y_held = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=seed)
    model = _classifier(classifier, seed).fit(x_fit, y_fit)
    return (float(roc_auc_score(y_held, model.predict_proba(x_held)[:, 1])),
            float(roc_auc_score(y_fit, model.predict_proba(x_fit)[:, 1])))


def c2st(real: pd.DataFrame, synthetic: pd.DataFrame, classifier: str = "xgboost", categorical=(), seed: int = 0,
         test_fraction: float = 0.3, real_train: pd.DataFrame | None = None) -> dict:
    """Classifier two-sample test (section 6.3.2): label the real rows 1 and the synthetic rows 0,
    split the union (stratified), train `classifier` on one part and return its raw ROC AUC on
    the held-out part. 0.5: indistinguishable.

    `real` is D_test, giving "test_auc" (the paper's Table 2, Test). With `real_train` (D_train),
    "train_auc" repeats the same test with a |D_test|-sized sample of D_train as the real set:
    the Train column, which parallels Table 1's comparison with D_train. The AUC on the
    classifier's own training part is kept only as a diagnostic ("*_fit_auc"); it is near 1 for
    any flexible classifier, and is not what Table 2 reports (there Train ~ Test).

    Categorical columns are one-hot encoded over both tables together, so a category only one
    table has is simply another column."""
    if classifier not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {classifier!r}; expected one of {', '.join(CLASSIFIERS)}")
    cats, _ = _split(real, synthetic, categorical)
    fake = match_precision(real, synthetic, cats)
    result = dict(zip(("test_auc", "test_fit_auc"), _detection(real, fake, classifier, cats, seed, test_fraction)))
    if real_train is not None:
        if len(real_train) < len(real):
            raise ValueError(f"real_train has {len(real_train)} rows, fewer than the {len(real)} of real")
        sample = real_train.sample(len(real), random_state=seed, replace=False).reset_index(drop=True)
        result.update(zip(("train_auc", "train_fit_auc"), _detection(sample, fake, classifier, cats, seed, test_fraction)))
    return result


@dataclass(frozen=True)
class TableParams:
    rows: Rows = "sample"


@dataclass(frozen=True)
class JsdParams:
    bins: int = JSD_BINS  # histogram bins of continuous columns
    space: Literal["normalised", "raw"] = "normalised"  # section 6.3.1: JSD of the normalised tables
    rows: Rows = "sample"

    def __post_init__(self):
        require(self.bins >= 2, "bins", f"{self.bins} is below 2")


@dataclass(frozen=True)
class C2stParams:
    classifier: Literal[CLASSIFIERS] = "xgboost"  # section 6.4: XGBoost, logistic regression, random forest
    test_fraction: float = 0.3  # of the real + synthetic union held out for the AUC
    rows: Rows = "sample"

    def __post_init__(self):
        require(0 < self.test_fraction < 1, "test_fraction", f"{self.test_fraction} is not in (0, 1)")


def _per_feature(series) -> dict:
    return {"mean": float(series.mean()), **series.to_dict()}


@metric(name="jsd", outputs={"jsd_train": False, "jsd_test": False}, version="2", consumes="tables", Params=JsdParams,
        description="mean per-feature Jensen-Shannon divergence (the divergence, base 2, not its square root) "
                    "of the normalised synthetic table against D_train and against D_test (section 6.3.1; "
                    "per-feature values kept in the details)")
def score_jsd(inputs, params, seed):
    tables = (inputs["train"], inputs["test"], inputs["synthetic"])
    if params.space == "normalised":
        tables = tuple(map(inputs["normalise"], tables))
    return {output: _per_feature(jsd_per_feature(real, tables[2], inputs["categorical"], bins=params.bins))
            for output, real in (("jsd_train", tables[0]), ("jsd_test", tables[1]))}


@metric(name="correlation_difference", outputs={"cd_train": False, "cd_test": False}, version="2", consumes="tables",
        Params=TableParams,
        description="Frobenius norm of the difference of association matrices (Pearson / Theil's U / "
                    "correlation ratio), synthetic against D_train and against D_test")
def score_correlation_difference(inputs, params, seed):
    return {output: correlation_difference(inputs[part], inputs["synthetic"], inputs["categorical"])
            for output, part in (("cd_train", "train"), ("cd_test", "test"))}


# an AUC below 0.5 is as telling as one above, but a classifier that separates the sets learns
# to rank real rows up: in practice AUC >= 0.5, and lower is better
@metric(name="c2st", outputs={"c2st_train_auc": False, "c2st_test_auc": False}, version="2", consumes="tables",
        Params=C2stParams,
        description="classifier two-sample test (section 6.3.2): raw held-out ROC AUC separating real rows (1) "
                    "from the synthetic table (0); Test: D_test as the real set, Train: a D_test-sized sample "
                    "of D_train; 0.5 means indistinguishable")
def score_c2st(inputs, params, seed):
    result = c2st(inputs["test"], inputs["synthetic"], params.classifier, inputs["categorical"], seed,
                  params.test_fraction, real_train=inputs["train"])
    # the AUC on the classifier's own training part is a diagnostic only, kept in the details
    return {f"c2st_{part}_auc": {"mean": result[f"{part}_auc"], "own_split_auc": result[f"{part}_fit_auc"]}
            for part in ("train", "test")}
