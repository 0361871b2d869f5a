"""The disentanglement scores side by side: every score of MIG, DCI, SAP, the FactorVAE score and
modularity/explicitness for each model (and sweep point), mean ± sd over seeds, on one figure.
All lie in [0, 1] and higher is better, so one axis serves them."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from bench.naming import format_cell  # noqa: E402
from bench.report.cells import column_names  # noqa: E402
from bench.report.plots import save_figure  # noqa: E402
from bench.report.registry import plot  # noqa: E402

METRICS = ("mig", "dci", "sap", "factor_vae", "modularity")  # their declared names (bench/metrics)


@plot(name="disentanglement_scores", kinds={"images"})
def disentanglement_scores(frame, out: Path, models=None) -> list[Path]:
    """MIG, DCI, SAP, FactorVAE and modularity/explicitness per model, mean ± sd over seeds."""
    rows = frame[frame["metric"].isin(METRICS)].dropna(subset=["value"])
    if rows.empty:
        return []
    if "metric_rank" in rows:  # write_plots gives the suite's order
        rows = rows.sort_values("metric_rank", kind="stable")
    names = column_names(list(dict.fromkeys(rows["metric_id"])))  # params shown only where two ids share a name
    rows = rows.assign(score=rows["metric_id"].map(names),
                       model=[format_cell(label, point) for label, point in zip(rows["label"], rows["sweep_point"])])
    scores = list(dict.fromkeys(rows["score"]))
    fig, ax = plt.subplots(figsize=(1.1 * len(scores) + 3, 4))
    sns.barplot(data=rows, x="score", y="value", hue="model", order=scores, errorbar="sd", ax=ax)
    ax.set(xlabel="", ylabel="score ↑", ylim=(0, 1), title="Disentanglement scores (mean ± sd over seeds)")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(fontsize=7, ncols=2)
    return [save_figure(fig, out / "disentanglement_scores.png")]
