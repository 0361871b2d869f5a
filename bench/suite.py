"""Suites: the YAML schema, its validation, and the expansion of sweeps into jobs.

Validation collects every problem before anything runs; each problem is one line that
names the file, the field path and the bad value, with the allowed values or a
close-name suggestion.
"""

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import data as datasets
from bench.budget import Budget
from bench.config import build, close_names, param_problems
from bench.metrics import METRICS

TOP_LEVEL = {"name", "description", "dataset", "models", "seeds", "budget", "metrics", "plots"}
MODEL_ENTRY = {"model", "label", "params", "budget"}
PLOT_KINDS = {  # each plot and the kinds of dataset it can be drawn for
    "score_vs_beta": {"images", "tables"},
    **dict.fromkeys(["conditioning", "downstream", "reconstructions", "traversals"], {"images"}),
    **dict.fromkeys(["paper_tables", "latent_correlation", "latent_perturbation", "feature_distributions",
                     "jsd_by_feature", "sweep_heatmap"], {"tables"}),
}
PLOTS = set(PLOT_KINDS)


class SuiteError(Exception):
    """A suite failed validation; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class MetricSpec:
    name: str
    params: dict  # fully resolved, defaults included

    @property
    def id(self) -> str:
        return self.output_id(self.name)

    def output_id(self, output: str) -> str:
        """`output` plus any non-default params, e.g. mig[num_bins=10] or M1[num_points=500]."""
        defaults = dataclasses.asdict(METRICS[self.name].Params())
        changed = {k: v for k, v in self.params.items() if defaults.get(k) != v}
        return output + ("[" + ",".join(f"{k}={v}" for k, v in sorted(changed.items())) + "]" if changed else "")

    @property
    def ids(self) -> list[str]:
        """The score ids this metric stores: one, or one per named output."""
        return [self.output_id(o) for o in METRICS[self.name].directions()]


def format_point(sweep: dict) -> str:
    """'beta=4,latent_dim=10': how a sweep point is named everywhere (benchopt style)."""
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sweep.items())


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Job:
    """One model at one sweep point and seed: everything that determines its trained artifact."""

    label: str
    model: str
    model_version: str
    params: dict  # the model's full config, defaults included
    sweep: dict  # the swept params only, for display
    seed: int
    budget: Budget
    dataset: dict  # {"name": ..., "params": {...}} fully resolved
    upstream: tuple = ()  # (slot, Job) pairs this one builds on (trained first, or taken from the cache)

    @property
    def spec(self) -> dict:
        return {
            "dataset": self.dataset,
            "model": self.model,
            "model_version": self.model_version,
            "params": self.params,
            "seed": self.seed,
            "budget": dataclasses.asdict(self.budget),
            "upstream": {slot: job.key for slot, job in self.upstream},
        }

    @property
    def key(self) -> str:
        return hashlib.sha256(canonical_json(self.spec).encode()).hexdigest()[:20]

    @property
    def display(self) -> str:
        point = format_point(self.sweep)
        return f"{self.label}[{point}] seed={self.seed}" if point else f"{self.label} seed={self.seed}"


@dataclass
class Suite:
    path: str
    name: str
    description: str
    dataset: dict
    jobs: list[Job]
    metrics: list[MetricSpec]
    plots: list[str]

    @property
    def metric_ids(self) -> list[str]:
        """Every stored score id, in the order the suite lists its metrics."""
        return [i for m in self.metrics for i in m.ids]

    @property
    def labels(self) -> list[str]:
        """Model labels in the order the suite lists them."""
        return list(dict.fromkeys(job.label for job in self.jobs))


def _type_name(value) -> str:
    return type(value).__name__


class _Checker:
    def __init__(self, path: str):
        self.path = path
        self.problems: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(f"{self.path}: {where}: {message}")

    def mapping(self, value, where: str, required: bool = True) -> dict | None:
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            self.add(where, f"expected a mapping, got {_type_name(value)} {value!r}")
            return None
        return value

    def unknown_keys(self, value: dict, allowed: set, where: str) -> None:
        for key in value:
            if key not in allowed:
                self.add(f"{where}.{key}" if where else str(key), f"unknown field {key!r}{close_names(key, allowed)}")

    def params(self, config_type, params: dict, where: str) -> None:
        for name, message in param_problems(config_type, params):
            self.add(f"{where}.{name}" if name else where, message)


def load_suite(path) -> Suite:
    """Read and validate a suite file; raise SuiteError listing every problem."""
    path = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SuiteError([f"{path}: cannot read suite file: {exc.strerror}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SuiteError([f"{path}: {where}: not valid YAML: {reason}"]) from None
    return parse_suite(raw, path)


def parse_suite(raw, path: str = "<suite>") -> Suite:
    check = _Checker(path)
    if raw is None:
        raise SuiteError([f"{path}: top level: the suite is empty; it needs name, dataset, models and metrics"])
    if not isinstance(raw, dict):
        raise SuiteError([f"{path}: top level: expected a mapping of suite fields, got {_type_name(raw)}"])
    check.unknown_keys(raw, TOP_LEVEL, "")
    for key in ("name", "dataset", "models", "metrics"):
        if key not in raw:
            check.add(key, "missing required field")

    name = raw.get("name")
    if "name" in raw and (not isinstance(name, str) or not name.strip() or "/" in name):
        check.add("name", f"expected a non-empty name without '/', got {name!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        check.add("description", f"expected text, got {_type_name(description)}")

    dataset_spec, data_kind = _check_dataset(check, raw.get("dataset")) if "dataset" in raw else (None, None)
    budget = _check_budget(check, raw.get("budget"), "budget", Budget())
    seeds = _check_seeds(check, raw.get("seeds", [0]))
    metrics = _check_metrics(check, raw.get("metrics")) if "metrics" in raw else []
    for i, spec in enumerate(metrics):
        if data_kind is not None and METRICS[spec.name].kind != data_kind:
            check.add(f"metrics[{i}]", f"{spec.name} is a metric for {METRICS[spec.name].kind}, and this "
                                       f"suite's dataset holds {data_kind}")
    if dataset_spec and not datasets.get(dataset_spec["name"]).factor_sizes:
        for i, spec in enumerate(metrics):
            needs_factors = METRICS[spec.name].needs in ("codes", "representations") or spec.params.get("space") == "domain"
            if needs_factors and METRICS[spec.name].kind == data_kind:
                check.add(f"metrics[{i}]", f"{spec.name} needs ground-truth factors, and dataset "
                                           f"{dataset_spec['name']} has none")
    plots = raw.get("plots", [])
    if not isinstance(plots, list):
        check.add("plots", f"expected a list, got {_type_name(plots)}")
        plots = []
    for i, plot in enumerate(plots):
        if not isinstance(plot, str) or plot not in PLOTS:
            check.add(f"plots[{i}]", f"unknown plot {plot!r}{close_names(str(plot), PLOTS)}")
        elif data_kind is not None and data_kind not in PLOT_KINDS[plot]:
            check.add(f"plots[{i}]", f"{plot} is drawn for {' or '.join(sorted(PLOT_KINDS[plot]))} datasets, and this "
                                     f"suite's dataset holds {data_kind}")

    jobs = []
    if "models" in raw:
        jobs = _check_models(check, raw["models"], dataset_spec, data_kind, budget, seeds)
    if check.problems:
        raise SuiteError(check.problems)
    return Suite(path, name, description, dataset_spec, jobs, metrics, plots)


def _check_dataset(check: _Checker, value):
    value = check.mapping(value, "dataset")
    if value is None:
        return None, None
    check.unknown_keys(value, {"name", "params"}, "dataset")
    name = value.get("name")
    if not isinstance(name, str):
        check.add("dataset.name", "missing required field" if name is None else f"expected a name, got {name!r}")
        return None, None
    try:
        cls = datasets.get(name)
    except datasets.UnknownDataset as exc:
        check.add("dataset.name", str(exc))
        return None, None
    params = check.mapping(value.get("params"), "dataset.params", required=False)
    if params is None:
        return None, None
    before = len(check.problems)
    check.params(cls.Params, params, "dataset.params")
    if len(check.problems) > before:
        return None, cls.kind
    # the spec the dataset object will report, without reading any file: validation needs no data
    return {"name": name, "params": dataclasses.asdict(build(cls.Params, params))}, cls.kind


def _check_budget(check: _Checker, value, where: str, base: Budget) -> Budget:
    value = check.mapping(value, where, required=False)
    if not value:
        return base
    merged = {**dataclasses.asdict(base), **value}
    before = len(check.problems)
    check.params(Budget, merged, where)
    return base if len(check.problems) > before else build(Budget, merged)


def _check_seeds(check: _Checker, value) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        check.add("seeds", f"expected a non-empty list of integers, got {value!r}")
        return []
    for i, seed in enumerate(value):
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            check.add(f"seeds[{i}]", f"expected a non-negative integer, got {seed!r}")
    if len(set(map(repr, value))) != len(value):
        check.add("seeds", f"duplicate seeds in {value!r}")
    return value


def _check_metrics(check: _Checker, value) -> list[MetricSpec]:
    if not isinstance(value, list) or not value:
        check.add("metrics", f"expected a non-empty list of metric names, got {value!r}")
        return []
    specs = []
    for i, entry in enumerate(value):
        where = f"metrics[{i}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        entry = check.mapping(entry, where)
        if entry is None:
            continue
        check.unknown_keys(entry, {"name", "params"}, where)
        name = entry.get("name")
        if not isinstance(name, str) or name not in METRICS:
            check.add(f"{where}.name", f"unknown metric {name!r}{close_names(str(name), METRICS)}")
            continue
        params = check.mapping(entry.get("params"), f"{where}.params", required=False)
        if params is None:
            continue
        before = len(check.problems)
        check.params(METRICS[name].Params, params, f"{where}.params")
        if len(check.problems) == before:
            specs.append(MetricSpec(name, dataclasses.asdict(build(METRICS[name].Params, params))))
    ids = [i for s in specs for i in s.ids]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        check.add("metrics", f"metric {dup!r} is listed twice")
    return specs


def _check_models(check, value, dataset_spec, data_kind, budget, seeds) -> list[Job]:
    import models as zoo  # the zoo imports torch: only needed once a suite names models

    if not isinstance(value, list) or not value:
        check.add("models", f"expected a non-empty list of model entries, got {value!r}")
        return []
    jobs, labels = [], {}
    for i, entry in enumerate(value):
        where = f"models[{i}]"
        entry = check.mapping(entry, where)
        if entry is None:
            continue
        check.unknown_keys(entry, MODEL_ENTRY, where)
        name = entry.get("model")
        if not isinstance(name, str):
            check.add(f"{where}.model", "missing required field" if name is None else f"expected a name, got {name!r}")
            continue
        try:
            cls = zoo.get(name)
        except zoo.UnknownModel as exc:
            check.add(f"{where}.model", str(exc))
            continue
        label = entry.get("label", name)
        if not isinstance(label, str) or not label.strip():
            check.add(f"{where}.label", f"expected a non-empty label, got {label!r}")
            continue
        if label in labels:
            check.add(f"{where}.label", f"duplicate label {label!r} (also models[{labels[label]}]); "
                                        "give each entry its own label")
            continue
        labels[label] = i
        if data_kind is not None and data_kind not in cls.supports:
            check.add(f"{where}.model", f"{name!r} cannot handle {data_kind} data "
                                        f"(it supports: {', '.join(sorted(cls.supports))})")
            continue
        params = check.mapping(entry.get("params"), f"{where}.params", required=False)
        if params is None:
            continue
        entry_budget = _check_budget(check, entry.get("budget"), f"{where}.budget", budget)
        points = _expand_sweep(check, params, f"{where}.params")
        for point in points:
            before = len(check.problems)
            check.params(cls.Config, point, f"{where}.params")
            if len(check.problems) > before:
                break
            config = build(cls.Config, point)
            resolved = dataclasses.asdict(config)
            sweep = {k: resolved[k] for k, v in params.items() if isinstance(v, list)}
            upstream = _check_upstream(check, cls, config, f"{where}.params", data_kind)
            if upstream is None:
                break
            for seed in seeds:
                # upstream stages train on the suite budget, so that they are shared with the same
                # model listed on its own; an entry's budget override is for its own stage only
                stages = tuple((slot, Job(f"{label}/{slot}", up.name, up.version, up_params, {}, seed,
                                          budget, dataset_spec)) for slot, (up, up_params) in upstream.items())
                jobs.append(Job(label, cls.name, cls.version, resolved, sweep, seed, entry_budget, dataset_spec,
                                stages))
    return jobs


def _check_upstream(check, cls, config, where: str, data_kind) -> dict | None:
    """{slot: (class, resolved params)} for the stages a model builds on, or None if invalid."""
    import models as zoo

    stages = {}
    for slot, (name, params) in cls.upstream(config).items():
        try:
            up = zoo.get(name)
        except zoo.UnknownModel as exc:
            check.add(where, f"{slot}: {exc}")
            return None
        if data_kind is not None and data_kind not in up.supports:
            check.add(where, f"{slot}: {name!r} cannot handle {data_kind} data")
            return None
        problems = param_problems(up.Config, params)
        for key, message in problems:
            check.add(f"{where}.{key}" if key else where, f"{slot} {name!r}: {message}")
        if problems:
            return None
        stages[slot] = (up, dataclasses.asdict(build(up.Config, params)))
    return stages


def _expand_sweep(check: _Checker, params: dict, where: str) -> list[dict]:
    """A list value is a sweep: the grid is the product of all swept params."""
    axes = {}
    for key, value in params.items():
        if isinstance(value, list):
            if not value:
                check.add(f"{where}.{key}", "empty sweep []; give at least one value")
                return []
            if len(set(map(repr, value))) != len(value):
                check.add(f"{where}.{key}", f"repeated values in sweep {value!r}")
                return []
            axes[key] = value
    fixed = {k: v for k, v in params.items() if k not in axes}
    return [{**fixed, **dict(zip(axes, combo))} for combo in itertools.product(*axes.values())]
