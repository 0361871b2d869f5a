"""The tabular experiment's tables and figures (the paper's sections 6-7 and appendix N), from the
store and, where a figure needs a model, from the cached models:

- `paper_tables`: Tables 1 and 2 (JSD and CD, C2ST AUCs; Train and Test), mean ± sd over seeds;
- `latent_correlation`: Tables 3 and 7, |Pearson| between each latent coordinate and each feature,
  at the 0.75 and 0.2 thresholds, plus a heatmap;
- `latent_perturbation`: Figure 12, Mortgage and Utilization before and after one coordinate is set to 5;
- `feature_distributions`: Figures 7-11, real against each model for each kind of column;
- `jsd_by_feature`: Figure 48, per-feature JSD against D_test;
- `sweep_heatmap`: Figure 6, mean JSD over latent dim x beta.
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402

from bench.generate import synthetic_table  # noqa: E402
from bench.report.plots import save_figure  # noqa: E402
from bench.report.registry import plot  # noqa: E402

# one column of each kind section 6.5 discusses (Figures 7-11)
SHOWCASE = {"Credit Inquiry_3m": "discrete", "Amount Past Due": "mixed", "Balance_6m": "skewed",
            "Mortgage": "skewed with a peak", "Utilization": "multi-mode"}
PERTURBED_VALUE = 5.0  # section 7.2: the coordinate is replaced by 5
THRESHOLDS = (0.75, 0.2)  # Table 3 and Table 7
DPI = 110  # the tabular figures' resolution


def _labels(frame) -> list[str]:
    """Model labels in the order the rows come (write_plots puts them in the suite's order)."""
    return list(dict.fromkeys(frame["label"]))


def _first_runs(frame) -> dict:
    """{label: job key of its lowest seed} for the suite's single-point models."""
    rows = frame.sort_values(["seed", "sweep_point"], kind="stable")
    return {label: rows[rows["label"] == label]["job_key"].iloc[0] for label in _labels(frame)}


def _summary(frame, metric_id: str) -> pd.Series:
    rows = frame[frame["metric_id"] == metric_id].groupby("label")["value"]
    mean, std, n = rows.mean(), rows.std(), rows.count()
    return pd.Series({label: f"{mean[label]:.3f}" + (f" ± {std[label]:.3f}" if n[label] > 1 else "")
                      for label in mean.index})


@plot(name="paper_tables", kinds={"tables"})
def paper_tables(frame, out: Path, models=None) -> list[Path]:
    """tables.md: the layout of the paper's Tables 1 and 2."""
    labels = _labels(frame)
    lines = ["# Statistical similarity and detection (the paper's Tables 1 and 2)", "",
             "Mean ± sd over seeds. Train and Test: for JSD and CD, the synthetic table against D_train and "
             "against D_test; for C2ST, the classifier's held-out AUC separating the synthetic table from a "
             "D_test-sized sample of D_train (Train) and from D_test (Test) (0.5: indistinguishable). Synthetic "
             "rows are drawn from each model's likelihood and clipped. Lower is better everywhere.", ""]
    table1 = pd.DataFrame({"JSD Train": _summary(frame, "jsd_train"), "JSD Test": _summary(frame, "jsd_test"),
                           "CD Train": _summary(frame, "cd_train"), "CD Test": _summary(frame, "cd_test")})
    detection = {}
    for classifier, suffix in (("XGBoost", ""), ("Logistic Regression", "[classifier=logistic]"),
                               ("Random Forest", "[classifier=random_forest]")):
        for part in ("train", "test"):
            key = f"c2st_{part}_auc{suffix}"
            if suffix == "" and key not in set(frame["metric_id"]):
                key = f"c2st_{part}_auc[classifier=xgboost]"
            detection[f"{classifier} {part.title()}"] = _summary(frame, key)
    for title, table in (("Table 1: statistical similarity", table1), ("Table 2: detection test (C2ST AUC)",
                                                                        pd.DataFrame(detection))):
        table = table.reindex(labels).fillna("—")
        lines += [f"## {title}", "", "| model | " + " | ".join(table.columns) + " |",
                  "| --- |" + " --- |" * len(table.columns)]
        lines += [f"| {label} | " + " | ".join(row) + " |" for label, row in table.iterrows()]
        lines.append("")
    path = out / "tables.md"
    path.write_text("\n".join(lines))
    return [path]


@torch.no_grad()
def latent_codes(model, rows: np.ndarray) -> dict:
    """{"C": ..., "Z": ...} latent means of transformed rows (Z for multi-stage models only)."""
    codes = model.encode(torch.from_numpy(rows).to(model.device))
    found = {"C": codes["c"].float().cpu().numpy()}
    if "z" in codes:
        found["Z"] = codes["z"].float().cpu().numpy()
    return found


def feature_correlations(latents: np.ndarray, rows: np.ndarray, features) -> pd.DataFrame:
    """|Pearson| of each latent coordinate (rows z_1..) with each feature (columns), on the model's
    own input space (log + min-max: the same rows it encodes); a constant column gives 0."""
    def standardise(a):
        a = a - a.mean(axis=0)
        norm = np.linalg.norm(a, axis=0)
        return a / np.where(norm > 0, norm, np.inf)

    matrix = np.abs(standardise(latents).T @ standardise(rows.astype(np.float64)))
    return pd.DataFrame(matrix, index=[f"z_{i + 1}" for i in range(latents.shape[1])], columns=list(features))


def _threshold_lines(table: pd.DataFrame, threshold: float) -> list[str]:
    lines = []
    for coordinate, row in table.iterrows():
        kept = row[row >= threshold].sort_values(ascending=False)
        text = ", ".join(f"{feature} {value:.3f}" for feature, value in kept.items()) or "no significant correlation"
        lines.append(f"| {coordinate} | {text} |")
    return lines


@plot(name="latent_correlation", kinds={"tables"})
def latent_correlation(frame, out: Path, models=None) -> list[Path]:
    """latent_correlation.md (Tables 3 and 7) and latent_correlation.png, for each model's lowest seed."""
    if models is None:
        return []
    rows, columns = models.data.transform(models.data.test), models.data.test.columns
    tables = {}
    for label, key in _first_runs(frame).items():
        for space, latents in latent_codes(models.load(key), rows).items():
            tables[f"{label} {space}"] = feature_correlations(latents, rows, columns)
    lines = ["# Latent coordinates against features (the paper's Tables 3 and 7)", "",
             "The absolute Pearson correlation of each latent mean coordinate and each feature (log + min-max scaled) over D_test, "
             "for each model's lowest seed. C: stage one's (MS-VAE's C is its beta-TCVAE's); Z: MS-VAE's "
             "second stage.", ""]
    for threshold in THRESHOLDS:
        lines += [f"## Correlations of at least {threshold}", ""]
        for name, table in tables.items():
            lines += [f"### {name}", "", "| coordinate | features |", "| --- | --- |",
                      *_threshold_lines(table, threshold), ""]
    paths = [out / "latent_correlation.md"]
    paths[0].write_text("\n".join(lines))
    fig, axes = plt.subplots(len(tables), 1, figsize=(11, 2.2 + 0.35 * sum(len(t) for t in tables.values())),
                             squeeze=False, gridspec_kw={"height_ratios": [len(t) for t in tables.values()]})
    for ax, (name, table) in zip(axes[:, 0], tables.items()):
        sns.heatmap(table, vmin=0, vmax=1, cmap="viridis", ax=ax, cbar=ax is axes[0, 0],
                    xticklabels=ax is axes[-1, 0])
        ax.set(title=name, ylabel="")
    paths.append(save_figure(fig, out / "latent_correlation.png", dpi=DPI))
    return paths


@plot(name="latent_perturbation", kinds={"tables"})
@torch.no_grad()
def latent_perturbation(frame, out: Path, models=None, features=("Mortgage", "Utilization")) -> list[Path]:
    """Figure 12: per model, decode D_test's latent means as they are and with one coordinate set
    to 5 (the one most correlated with Mortgage; for MS-VAE, a coordinate of Z), and compare
    the two features' histograms."""
    if models is None:
        return []
    data = models.data
    rows = torch.from_numpy(data.transform(data.test))
    panels = []
    for label, key in _first_runs(frame).items():
        model = models.load(key)
        codes = model.encode(rows.to(model.device))
        space = "z" if "z" in codes else "c"
        table = feature_correlations(codes[space].float().cpu().numpy(), rows.numpy(), data.test.columns)
        coordinate = int(np.argmax(table[features[0]].to_numpy()))
        moved = {**codes, space: codes[space].clone()}
        moved[space][:, coordinate] = PERTURBED_VALUE
        panels.append((f"{label}: {space.upper()}_{coordinate + 1} = {PERTURBED_VALUE:g}",
                       data.transform.inverse(model.decode(codes).cpu().numpy()),
                       data.transform.inverse(model.decode(moved).cpu().numpy())))
    fig, axes = plt.subplots(len(panels), len(features), figsize=(5 * len(features), 2.6 * len(panels)), squeeze=False)
    for (title, before, after), row in zip(panels, axes):
        for feature, ax in zip(features, row):
            edges = np.histogram_bin_edges(np.concatenate([data.test[feature], before[feature], after[feature]]), 40)
            ax.hist(before[feature], edges, alpha=0.6, label="reconstruction")
            ax.hist(after[feature], edges, alpha=0.6, label="perturbed")
            ax.set(title=f"{title}: {feature}", yticks=[])
            ax.legend(fontsize=7)
    return [save_figure(fig, out / "latent_perturbation.png", dpi=DPI)]


@plot(name="feature_distributions", kinds={"tables"}, needs="sample")
def feature_distributions(frame, out: Path, models=None) -> list[Path]:
    """Figures 7-11: for one column of each kind, D_test's distribution and each model's synthetic
    table (the one its scores were computed on: same model, same seed)."""
    if models is None:
        return []
    data = models.data
    tables = {"real (D_test)": data.test}
    for label, key in _first_runs(frame).items():
        seed = int(frame.loc[frame["job_key"] == key, "seed"].iloc[0])
        tables[label] = synthetic_table(models.load(key), data, seed)
    fig, axes = plt.subplots(len(SHOWCASE), len(tables), figsize=(3.2 * len(tables), 2.4 * len(SHOWCASE)),
                             squeeze=False)
    for row, (feature, kind) in zip(axes, SHOWCASE.items()):
        values = np.concatenate([t[feature].to_numpy(np.float64) for t in tables.values()])
        discrete = feature in data.categorical
        edges = (np.arange(values.min() - 0.5, values.max() + 1.0) if discrete
                 else np.histogram_bin_edges(values, 50))
        for ax, (name, table) in zip(row, tables.items()):
            ax.hist(table[feature], edges, density=True, color="grey" if name.startswith("real") else None)
            ax.set(title=f"{name}\n{feature} ({kind})", yticks=[])
    return [save_figure(fig, out / "feature_distributions.png", dpi=DPI)]


@plot(name="jsd_by_feature", kinds={"tables"})
def jsd_by_feature(frame, out: Path, models=None) -> list[Path]:
    """Figure 48: per-feature JSD of each model's synthetic table against D_test, mean over seeds."""
    rows = frame[frame["metric_id"] == "jsd_test"]
    if rows.empty:
        return []
    records = [{"label": label, "feature": feature, "jsd": value}
               for label, details in zip(rows["label"], rows["details"])
               for feature, value in json.loads(details)["jsd_test"].items() if feature != "mean"]
    table = pd.DataFrame(records)
    fig, ax = plt.subplots(figsize=(12, 4))
    sns.barplot(data=table, x="feature", y="jsd", hue="label", errorbar="sd", ax=ax)
    ax.set(xlabel="", ylabel="JSD against D_test ↓", title="JSD by feature")
    ax.tick_params(axis="x", rotation=60)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    return [save_figure(fig, out / "jsd_by_feature.png", dpi=DPI)]


@plot(name="sweep_heatmap", kinds={"tables"})
def sweep_heatmap(frame, out: Path, models=None, metric_id: str = "jsd_test") -> list[Path]:
    """Figure 6: the mean over seeds of `metric_id` for each (latent_dim, beta), one heatmap per model."""
    rows = frame[frame["metric_id"] == metric_id].copy()
    params = rows["model_params"].map(json.loads)
    rows["latent_dim"], rows["beta"] = params.map(lambda p: p.get("latent_dim")), params.map(lambda p: p.get("beta"))
    rows = rows.dropna(subset=["latent_dim", "beta"])
    if rows.empty:
        return []
    labels = _labels(rows)
    fig, axes = plt.subplots(1, len(labels), figsize=(6 * len(labels), 4.5), squeeze=False)
    for ax, label in zip(axes[0], labels):
        grid = rows[rows["label"] == label].pivot_table(index="latent_dim", columns="beta", values="value")
        sns.heatmap(grid, annot=True, fmt=".3f", cmap="viridis_r", ax=ax)
        ax.set(title=f"{label}: mean {metric_id} ↓", xlabel="β", ylabel="latent dim")
    return [save_figure(fig, out / f"{metric_id}_heatmap.png", dpi=DPI)]
