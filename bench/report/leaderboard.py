"""Leaderboard tables (Markdown, CSV, HTML): a row per model label and sweep point of the
suite as it is now, mean ± std over seeds, the number of seeds and the parameter count.

Labels, descriptions and reasons are user text: Markdown gets them with HTML and `|`
escaped, and a CSV text cell never starts like a spreadsheet formula."""

import datetime
import html
import json
from pathlib import Path

import pandas as pd

from bench.metrics.conditioning import independence_floor
from bench.regress import BaselineError, compare, floors, load_baseline, run_environment
from bench.report.cells import cell_text, headers, is_best, param_count, short_version
from bench.report.page import write_page
from bench.results import current_runs, current_scores, stale_keys
from bench.naming import format_point

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets read as the start of a formula (OWASP's CSV injection list)


def md_text(text) -> str:
    """User text for a Markdown table cell or paragraph: no raw HTML, no column breaks, one line."""
    return " ".join(html.escape(str(text), quote=False).replace("|", "\\|").split())


def csv_safe(value):
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def summarise(frame: pd.DataFrame, order=(), metric_ids=()) -> pd.DataFrame:
    """Aggregate over seeds: columns `<metric>_mean`, `_std`, `_n` and `_missing` (the reason a
    score is absent) per metric id, for every id in `metric_ids` (empty where none is stored
    yet) and every id in `frame`."""
    keys = ["label", "model", "sweep_point"]
    table = frame.groupby(keys).agg(seeds=("seed", "nunique"), params=("n_params", "max"))
    for metric in dict.fromkeys([*metric_ids, *frame["metric_id"]]):
        rows = frame[frame["metric_id"] == metric]
        stats = rows.groupby(keys).agg(mean=("value", "mean"), std=("value", "std"), n=("value", "count"),
                                       missing=("missing_reason", lambda r: next(iter(r.dropna()), None)))
        stats.columns = [f"{metric}_{c}" for c in stats.columns]
        table = table.join(stats)
        table[f"{metric}_n"] = table[f"{metric}_n"].fillna(0).astype(int)
    table = table.reset_index()
    rank = {label: i for i, label in enumerate(order)}  # the suite's order; unknown labels last
    table["_rank"] = table["label"].map(lambda label: rank.get(label, len(rank)))
    table = table.sort_values(["_rank", "label", "sweep_point"], kind="stable").drop(columns="_rank")
    return table.reset_index(drop=True)


def _display_table(table, direction, metric_order=()) -> tuple[pd.DataFrame, list[str]]:
    columns = headers(direction, metric_order)
    notes = {}  # one footnote per distinct reason
    shown = pd.DataFrame({
        "model": table["label"],
        "sweep": table["sweep_point"].replace("", "—"),
        "seeds": table["seeds"],
        "params": table["params"].map(param_count),
    })
    for m, header in columns.items():
        means = table[f"{m}_mean"]
        cells = []
        for mean, std, count, reason in zip(means, table[f"{m}_std"], table[f"{m}_n"], table[f"{m}_missing"]):
            text = cell_text(mean, std, count)
            if text == "—" and reason:
                text += f" [{notes.setdefault(reason, len(notes) + 1)}]"
            elif is_best(means, mean, direction[m]):
                text = f"**{text}**"
            cells.append(text)
        shown[header] = cells
    footnotes = [f"[{n}] missing: {reason}" for reason, n in notes.items()]
    return shown, footnotes


def _markdown(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(df.columns) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(md_text(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _bias_floors(suite) -> list[str]:
    """A note beside M4 for each conditioning_mi setting: what two independent codes score at its
    sample size, the level below which M4 and the shuffled-Y control cannot go."""
    notes = []
    for spec in suite.metrics:
        if spec.name == "conditioning_mi":
            n, bins = spec.params["num_points"], spec.params["num_bins"]
            notes.append(f"M4 and M_shuffled_y: two independent codes score {independence_floor(n, bins):.4f} at "
                         f"{n:,} points and {bins} bins (the estimator's bias floor); values near it mean no "
                         f"information about C is left.")
    return notes


def write_leaderboard(store, suite, out_dir, plots=()) -> dict:
    """Write leaderboard.md, leaderboard.csv and index.html for `suite` (a Suite) from its current
    results: rows in the suite's label order, columns in its metric order; `plots`: the figures
    to link (Markdown) and embed (HTML). With OUT/baseline.json, the page marks each cell that
    regressed or improved against it (bench.regress)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = current_runs(store, suite)
    frame = current_scores(store, suite)
    title = f"Leaderboard: {suite.name}"
    lines = [f"# {title}", ""]
    if suite.description.strip():
        lines += [md_text(suite.description), ""]
    if frame.empty:
        lines.append("No successful runs stored yet.")
        table = pd.DataFrame()
    else:
        table = summarise(frame, suite.labels, suite.metric_ids)
        shown, footnotes = _display_table(table, suite.directions, suite.metric_ids)
        bias_notes = _bias_floors(suite)
        footnotes += bias_notes
        lines += ["Mean ± std over seeds; ↑ higher is better, ↓ lower is better; best in bold.", "",
                  _markdown(shown), ""]
        lines += [md_text(f) for f in footnotes] + ([""] if footnotes else [])
        settings = frame.groupby("metric")[["version", "params"]].first()
        lines.append("Metric settings: " + "; ".join(
            f"{m} v{row.version} ({', '.join(f'{k}={v}' for k, v in json.loads(row.params).items())})"
            for m, row in settings.iterrows()))
        verdicts, notes = _against_baseline(out / "baseline.json", suite, frame, runs)
        write_page(out / "index.html", suite, table, runs, plots, verdicts, bias_notes + notes)  # the page numbers its own missing-score footnotes
    failed = [r for r in runs if r["status"] != "ok"]
    if failed:
        lines += ["", "## Jobs without a result", "", "| job | status | phase | reason |", "| --- | --- | --- | --- |"]
        for r in failed:
            sweep = format_point(json.loads(r["sweep"]))
            reason = r["error"] or ("not run yet" if r["status"] == "not run" else "started but never finished (killed?)")
            job = f"{r['label']}{f'[{sweep}]' if sweep else ''} seed={r['seed']}"
            lines.append("| " + " | ".join(md_text(c) for c in (job, r["status"], r["phase"] or "—", reason)) + " |")
    ok = [r for r in runs if r["status"] == "ok"]
    if ok:
        versions = [json.loads(r["code_version"]) for r in ok]
        shas = sorted({short_version(v) for v in versions})
        devices = sorted({r["device"] for r in ok})
        train = sum(r["train_seconds"] or 0 for r in ok)
        lines += ["", f"Runs: {len(ok)} ok, {len(failed)} without result. Code: {', '.join(shas)}. "
                      f"Devices: {md_text('; '.join(devices))}. Training time: {train:.0f}s "
                      f"({sum(r['reused'] for r in ok)} runs reused a cached model)."]
    stale = stale_keys(store, suite)
    if stale:
        lines += ["", f"The store holds {len(stale)} older run(s) of this suite name that the suite no longer "
                      "asks for (another budget, params or model); they are kept as history and not shown "
                      f"(`msbench show {suite.name}` lists them)."]
    if plots:  # linked from the leaderboard, so that it is the one page to open
        lines += ["", "## Figures and tables", "", *(f"- [{p.name}]({Path(p).relative_to(out).as_posix()})"
                                                       for p in plots)]
    lines += ["", f"_Written {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC by msbench._", ""]
    (out / "leaderboard.md").write_text("\n".join(lines))
    (out / "leaderboard.html").unlink(missing_ok=True)  # index.html replaced it
    if not table.empty:
        table.map(csv_safe).to_csv(out / "leaderboard.csv", index=False)
    else:
        for name in ("leaderboard.csv", "index.html"):  # never leave an older suite's table beside this one
            (out / name).unlink(missing_ok=True)
    return {"markdown": out / "leaderboard.md", "csv": out / "leaderboard.csv", "html": out / "index.html"}


def _against_baseline(path: Path, suite, frame, runs) -> tuple[dict | None, list]:
    """({(label, point, metric id): Verdict}, notes) against the baseline at `path`; (None, [])
    without one. The page shows the latest rows; `msbench regress` tests one run."""
    if not path.is_file():
        return None, []
    try:
        baseline = load_baseline(path)
    except BaselineError as exc:
        return None, [f"No comparison with the baseline: {exc}"]
    comparison = compare(baseline, frame, runs, run_environment(runs), floors(), allow_device_change=True)
    verdicts = {(v.label, v.point, v.output): v for v in comparison.verdicts}
    return verdicts, [f"Baseline comparison caveat: {p}" for p in comparison.problems]
