"""Compare a suite's current scores with a committed baseline, telling a regression from noise.

A cell is one (label, sweep point, output) over the suite's seeds. Its mean moved by
d = mean_now - mean_baseline (signed so that d < 0 is worse, in the output's direction) is
compared with

    threshold = max(k * sigma * sqrt(1/n_baseline + 1/n_now), floor)

sigma: the per-seed standard deviation of that output, pooled over all its cells in both the
baseline and the current run (two seeds alone estimate it badly); sigma * sqrt(1/n_b + 1/n_n) is
the standard error of the difference of the two means. floor: the metric's `floor` (bench.metrics),
the largest movement of a 3-seed mean between thread counts on one host (scripts/kernel_drift.py),
below which nothing is flagged. d < -threshold regresses, d > threshold improves.

With `exact`, every per-seed value must be bit-identical to the baseline's (same machine, same
lock file: a refactor meant to change nothing).

A comparison that cannot be trusted is reported as problems (exit code 2): a failed or missing
job, zero cells compared, a metric version that differs from the baseline's, a malformed
baseline, or another device kind, CPU kernel capability or thread count (unless allowed).
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.naming import format_cell

FORMAT = 1
DEFAULT_K = 3.0


class BaselineError(ValueError):
    """The baseline file cannot be read: one line naming the file and the problem."""


@dataclass
class Verdict:
    label: str
    point: str
    output: str
    higher_is_better: bool
    baseline: dict  # {"mean", "std", "n"}
    now: dict
    threshold: float
    verdict: str  # regressed | improved | same | changed (exact)

    @property
    def name(self) -> str:
        return f"{format_cell(self.label, self.point)} {self.output}"


@dataclass
class Comparison:
    verdicts: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # each makes the comparison untrustworthy

    @property
    def regressions(self) -> list:
        return [v for v in self.verdicts if v.verdict in ("regressed", "changed")]

    @property
    def exit_code(self) -> int:
        return 2 if self.problems else 1 if self.regressions else 0


def _stats(values: list) -> dict:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return {"mean": mean, "std": std, "n": n}


def cells(frame) -> dict:
    """{(label, point, output): {"metric", "version", "higher_is_better", "values": {seed: value}}}
    from a suite's current scores (bench.results.current_scores); missing scores are left out."""
    out = {}
    for row in frame.to_dict("records") if len(frame) else []:
        if row["value"] is None or (isinstance(row["value"], float) and math.isnan(row["value"])):
            continue
        key = (row["label"], row["sweep_point"], row["metric_id"])
        cell = out.setdefault(key, {"metric": row["metric"], "version": row["version"],
                                    "higher_is_better": bool(row["higher_is_better"]), "values": {}})
        cell["values"][str(row["seed"])] = float(row["value"])
    return out


def make_baseline(suite, frame, code: dict, environment: dict) -> dict:
    """The baseline document for `suite` from its current scores `frame`."""
    rows = []
    for (label, point, output), cell in sorted(cells(frame).items()):
        rows.append({"label": label, "point": point, "output": output, "metric": cell["metric"],
                     "version": cell["version"], "higher_is_better": cell["higher_is_better"],
                     **_stats(list(cell["values"].values())), "values": cell["values"]})
    run_ids = sorted(set(frame["run_id"])) if len(frame) and "run_id" in frame else []
    return {"format": FORMAT, "suite": suite.name, "code": code, "lock": code.get("lock"), "runs": run_ids,
            "device": environment.get("device"), "device_kind": environment.get("device_kind"),
            "cpu_capability": environment.get("cpu_capability"), "threads": environment.get("threads"),
            "training": environment.get("training"), "cells": rows}


def floors() -> dict:
    """{metric name: floor} as the metrics declare them."""
    from bench.metrics import METRICS

    return {name: info.floor for name, info in METRICS.items()}


def run_environment(runs: list) -> dict:
    """The environment the runs recorded (the first that has one): what matters is where the
    scores were made, not where the comparison runs. "training": how the runs' models were trained,
    every mode that occurs ("alone", "ensemble of N"), sorted."""
    for run in runs:
        if run.get("environment"):
            modes = sorted({json.loads(r["environment"]).get("training") or "alone" for r in runs if r.get("environment")})
            return {**json.loads(run["environment"]), "training": modes}
    kinds = {"cuda" if (r.get("device") or "").startswith("cuda") else "cpu" for r in runs if r.get("device")}
    return {"device_kind": kinds.pop() if len(kinds) == 1 else None}


def load_baseline(path) -> dict:
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise BaselineError(f"no baseline at {path}: write one with `msbench baseline SUITE`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"baseline {path} cannot be read: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or not isinstance(document.get("cells"), list):
        raise BaselineError(f"baseline {path} is not an msbench baseline of format {FORMAT}")
    needed = {"label", "point", "output", "version", "higher_is_better", "mean", "std", "n", "values"}
    for i, cell in enumerate(document["cells"]):
        if not isinstance(cell, dict) or not needed <= cell.keys() or not isinstance(cell["values"], dict):
            raise BaselineError(f"baseline {path}: cell {i} lacks one of {', '.join(sorted(needed))}")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in cell["values"].values()):
            raise BaselineError(f"baseline {path}: cell {i} has a value that is not a finite number")
    return document


def pooled_sigma(groups: list[list[float]]) -> float | None:
    """sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)) over groups of per-seed values; None without
    any group of two or more."""
    dof = sum(len(g) - 1 for g in groups if len(g) > 1)
    if not dof:
        return None
    squares = sum(sum((v - sum(g) / len(g)) ** 2 for v in g) for g in groups if len(g) > 1)
    return math.sqrt(squares / dof)


def compare(baseline: dict, frame, runs: list, environment: dict, floors: dict, k: float = DEFAULT_K,
            exact: bool = False, allow_device_change: bool = False) -> Comparison:
    """Compare the current scores `frame` and run rows `runs` (bench.results) with `baseline`.
    `floors`: {metric name: floor}."""
    result = Comparison()
    for run in runs:
        if run["status"] != "ok":
            reason = f": {run['error']}" if run.get("error") else ""
            result.problems.append(f"job {run['label']} seed {run['seed']} is {run['status']}{reason}")
    if baseline.get("device_kind") and baseline["device_kind"] != environment.get("device_kind") \
            and not allow_device_change:
        result.problems.append(f"the baseline ran on {baseline['device_kind']} ({baseline.get('device')}), this "
                               f"run on {environment.get('device_kind')}: pass --allow-device-change to compare")
    for what in ("cpu_capability", "threads"):  # another kernel path moves scores beyond any floor (README)
        then, here = baseline.get(what), environment.get(what)
        if then is not None and here is not None and then != here and not allow_device_change:
            result.problems.append(f"the baseline ran with {what} {then}, this run with {here}: scores move with "
                                   "the kernel path (README, Determinism); pass --allow-device-change to compare")
    then, here = baseline.get("training"), environment.get("training")
    if exact and then is not None and here is not None and then != here and not allow_device_change:
        # batched ensembles sum in another order than one model alone: like another kernel path
        result.problems.append(f"the baseline's models were trained {' and '.join(then)}, this run's "
                               f"{' and '.join(here)}: with --exact that moves scores as the kernel path does "
                               "(README, Batched ensembles); pass --allow-device-change to compare")
    now = cells(frame)
    by_output = {}
    for cell in baseline["cells"]:
        key = (cell["label"], cell["point"], cell["output"])
        if key in now:
            by_output.setdefault(cell["output"], []).extend(
                [list(cell["values"].values()), list(now[key]["values"].values())])
    sigmas = {output: pooled_sigma(groups) for output, groups in by_output.items()}
    for cell in baseline["cells"]:
        key = (cell["label"], cell["point"], cell["output"])
        current = now.get(key)
        name = f"{format_cell(cell['label'], cell['point'])} {cell['output']}"
        if current is None:  # a score now missing or not a number, a failed job, or a label the suite dropped
            result.problems.append(f"{name}: in the baseline, but this run has no value for it (missing, not a "
                                   "number, or its jobs failed or are gone)")
            continue
        if current["version"] != cell["version"]:
            result.problems.append(f"{name}: metric version {current['version']} here, {cell['version']} in the "
                                   "baseline")
            continue
        values = list(current["values"].values())
        stats = _stats(values)
        sign = 1.0 if cell["higher_is_better"] else -1.0
        change = sign * (stats["mean"] - cell["mean"])  # > 0: better
        if exact:
            verdict = "same" if current["values"] == cell["values"] else "changed"
            threshold = 0.0
        else:
            sigma = sigmas.get(cell["output"]) or 0.0
            threshold = max(k * sigma * math.sqrt(1 / cell["n"] + 1 / stats["n"]),
                            floors.get(cell.get("metric"), 0.0))
            verdict = "regressed" if change < -threshold else "improved" if change > threshold else "same"
        result.verdicts.append(Verdict(cell["label"], cell["point"], cell["output"], cell["higher_is_better"],
                                       {k_: cell[k_] for k_ in ("mean", "std", "n")}, stats, threshold, verdict))
    if not result.verdicts:
        result.problems.append("no cell of the baseline has a current score: nothing was compared")
    return result


DEFAULT_RATIO = 1.25


def _benchmarks(path) -> tuple[dict, dict]:
    """({name: stats}, machine_info) of a pytest-benchmark JSON file; BaselineError if unreadable."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
        stats = {b["fullname"]: b["stats"] for b in document["benchmarks"]}
        assert all(isinstance(s.get("median"), (int, float)) and s["median"] > 0 for s in stats.values())
    except FileNotFoundError:
        raise BaselineError(f"no benchmark file at {path} (`tox -e bench` writes .msbench/benchmarks.json)") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AssertionError):
        raise BaselineError(f"{path} is not a pytest-benchmark JSON file with a positive median per benchmark") \
            from None
    return stats, document.get("machine_info") or {}


def compare_bench(old_path, new_path, ratio: float = DEFAULT_RATIO, allow_device_change: bool = False) -> Comparison:
    """Benchmarks of NEW against OLD (pytest-benchmark JSON): a benchmark whose median time grew by
    more than `ratio` regressed, one that shrank by as much improved. Timings from two machines
    are not comparable: another CPU is a problem unless allowed, as is a benchmark NEW lacks."""
    result = Comparison()
    try:
        old, old_machine = _benchmarks(old_path)
        new, new_machine = _benchmarks(new_path)
    except BaselineError as exc:
        result.problems.append(str(exc))
        return result
    old_cpu, new_cpu = (m.get("cpu", {}).get("brand_raw") for m in (old_machine, new_machine))
    if old_cpu != new_cpu and not allow_device_change:
        result.problems.append(f"the benchmarks ran on different CPUs ({old_cpu} and {new_cpu}): pass "
                               "--allow-device-change to compare anyway")
    def stats(s):  # a benchmark's median in the place of a cell's mean
        return {"mean": s["median"], "std": s.get("iqr"), "n": s.get("rounds", 1)}

    for name, before in old.items():
        after = new.get(name)
        if after is None:
            result.problems.append(f"benchmark {name} is in {old_path} but not in {new_path}")
            continue
        change = after["median"] / before["median"]
        verdict = "regressed" if change > ratio else "improved" if change < 1 / ratio else "same"
        result.verdicts.append(Verdict(name.split("::")[-1], "", "median s", False, stats(before), stats(after),
                                       ratio, verdict))
    if not result.verdicts and not result.problems:
        result.problems.append(f"{old_path} has no benchmarks: nothing was compared")
    return result


def report(comparison: Comparison) -> str:
    """A plain-text table of every compared cell, then the problems and the verdict."""
    lines = [f"{'cell':<48} {'baseline':>22} {'now':>22} {'threshold':>10}  verdict"]

    def shown(s):
        return f"{s['mean']:.4g} ± {s['std']:.2g} (n={s['n']})" if s["std"] is not None else f"{s['mean']:.4g} (n={s['n']})"

    for v in comparison.verdicts:
        lines.append(f"{v.name:<48} {shown(v.baseline):>22} {shown(v.now):>22} {v.threshold:>10.3g}  {v.verdict}")
    for problem in comparison.problems:
        lines.append(f"cannot be trusted: {problem}")
    regressed = [v.name for v in comparison.regressions]
    improved = [v.name for v in comparison.verdicts if v.verdict == "improved"]
    lines.append(f"{len(comparison.verdicts)} cells compared: {len(regressed)} regressed, {len(improved)} improved"
                 + (f"; regressed: {', '.join(regressed)}" if regressed else ""))
    return "\n".join(lines)


def as_json(comparison: Comparison) -> str:
    return json.dumps({
        "exit_code": comparison.exit_code,
        "problems": comparison.problems,
        "cells": [{"label": v.label, "point": v.point, "output": v.output, "higher_is_better": v.higher_is_better,
                   "baseline": v.baseline, "now": v.now, "threshold": v.threshold, "verdict": v.verdict}
                  for v in comparison.verdicts],
    }, indent=2)
