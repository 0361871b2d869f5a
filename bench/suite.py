"""Suites: the YAML schema, its validation, and the expansion of sweeps into jobs.

Validation collects every problem before anything runs; each problem is one line that
names the file, the field path and the bad value, with the allowed values or a
close-name suggestion.
"""

import dataclasses
import hashlib
import itertools
import math
import re
from dataclasses import dataclass

import yaml

from bench import data as datasets
from bench.budget import Budget
from bench.config import build, close_names, param_problems, shown
from bench.metrics import METRICS
from bench.naming import canonical_json, format_cell, format_point  # noqa: F401 - re-exported

TOP_LEVEL = {"name", "description", "dataset", "models", "seeds", "budget", "metrics", "plots"}
MODEL_ENTRY = {"model", "label", "params", "budget"}
MAX_JOBS = 100_000  # a suite above this is almost surely a typo in a sweep; --max-jobs overrides it
MAX_SUITE_BYTES = 1 << 20  # a suite is a short text file
MAX_SEED = 2**32 - 1  # numpy's RandomState, scikit-learn and ctgan take seeds below 2**32
# the name becomes a folder under --out and a key in the store: no '..', no separators, no control characters
SUITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_LABEL = 100


class _SuiteLoader(yaml.SafeLoader):
    """yaml.safe_load's loader (plain data only, nothing constructed from tags), with two changes:
    a key given twice in one mapping is an error rather than silently the last value, and
    numbers follow YAML 1.2, where `1e-3` is a float (YAML 1.1 needs a dot: `1.0e-3`)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark, f"duplicate key {shown(key)}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


_SuiteLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
# YAML 1.2 core schema floats without a dot (1e-3, 5E+4); YAML 1.1's resolver still takes the rest
_SuiteLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"),
                                   list("-+0123456789"))


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
    source: str = ""  # models.source_hash of the model's code: a change to it retrains

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
            "source": self.source,
        }

    @property
    def key(self) -> str:
        return hashlib.sha256(canonical_json(self.spec).encode()).hexdigest()[:20]

    @property
    def display(self) -> str:
        return f"{format_cell(self.label, format_point(self.sweep))} seed={self.seed}"


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
    def score_specs(self) -> dict:
        """{score id: (metric version, resolved params)}: what a stored score must match to be current."""
        return {i: (METRICS[m.name].version, m.params) for m in self.metrics for i in m.ids}

    @property
    def directions(self) -> dict:
        """{score id: higher is better}."""
        return {m.output_id(out): up for m in self.metrics for out, up in METRICS[m.name].directions().items()}

    @property
    def labels(self) -> list[str]:
        """Model labels in the order the suite lists them."""
        return list(dict.fromkeys(job.label for job in self.jobs))


def _type_name(value) -> str:
    return type(value).__name__


def _key(key) -> str:
    """A mapping key as a field path shows it: bare when it is a short printable name."""
    return key if isinstance(key, str) and len(key) <= 60 and key.isprintable() else shown(key)


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
            self.add(where, f"expected a mapping, got {_type_name(value)} {shown(value)}")
            return None
        return value

    def unknown_keys(self, value: dict, allowed: set, where: str) -> None:
        for key in value:
            if key not in allowed:
                self.add(f"{where}.{_key(key)}" if where else _key(key),
                         f"unknown field {shown(key)}{close_names(key, allowed)}")

    def params(self, config_type, params: dict, where: str) -> None:
        for name, message in param_problems(config_type, params):
            self.add(f"{where}.{name}" if name else where, message)


def read_suite_text(path: str) -> str:
    """The suite file as text; SuiteError for anything that is not a short UTF-8 text file."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_SUITE_BYTES + 1)
    except OSError as exc:
        raise SuiteError([f"{path}: cannot read suite file: {exc.strerror}"]) from None
    if len(data) > MAX_SUITE_BYTES:
        raise SuiteError([f"{path}: the file is over {MAX_SUITE_BYTES >> 20} MiB; a suite is a short YAML file"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SuiteError([f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                          "save the suite as UTF-8"]) from None


def load_suite(path, max_jobs: int = MAX_JOBS) -> Suite:
    """Read and validate a suite file; raise SuiteError listing every problem."""
    path = str(path)
    text = read_suite_text(path)
    try:
        raw = yaml.load(text, Loader=_SuiteLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise SuiteError([f"{path}: YAML: nested too deeply to be a suite"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SuiteError([f"{path}: {where}: not valid YAML: {shown(reason)[1:-1]}"]) from None
    return parse_suite(raw, path, max_jobs)


def parse_suite(raw, path: str = "<suite>", max_jobs: int = MAX_JOBS) -> Suite:
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
    if "name" in raw and (not isinstance(name, str) or not SUITE_NAME.fullmatch(name)):
        check.add("name", f"expected a name of letters, digits, '.', '_' and '-' (up to 100, not starting with "
                          f"'.' or '-'), got {shown(name)}")
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
            info = METRICS[spec.name]
            if info.kind == data_kind and info.needs_factors(info.Params(**spec.params)):
                check.add(f"metrics[{i}]", f"{spec.name} needs ground-truth factors, and dataset "
                                           f"{dataset_spec['name']} has none")
    if dataset_spec and not hasattr(datasets.get(dataset_spec["name"]), "every_image"):
        for i, spec in enumerate(metrics):
            if spec.params.get("num_points") == "all":
                check.add(f"metrics[{i}]", f"num_points: all scores every image of a dataset held in memory, and "
                                           f"{dataset_spec['name']} draws its images; give a number")
    plots = raw.get("plots", [])
    if not isinstance(plots, list):
        check.add("plots", f"expected a list, got {_type_name(plots)}")
        plots = []
    if plots:
        from bench.report.registry import plots as declared_plots  # matplotlib: only when a suite asks for plots

        declared = declared_plots()
    for i, plot in enumerate(plots):
        if not isinstance(plot, str) or plot not in declared:
            check.add(f"plots[{i}]", f"unknown plot {shown(plot)}{close_names(plot, declared)}")
        elif data_kind is not None and data_kind not in declared[plot].kinds:
            check.add(f"plots[{i}]", f"{plot} is drawn for {' or '.join(sorted(declared[plot].kinds))} datasets, and "
                                     f"this suite's dataset holds {data_kind}")

    jobs = []
    if "models" in raw:
        jobs = _check_models(check, raw["models"], dataset_spec, data_kind, budget, seeds, max_jobs)
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
        check.add("dataset.name", "missing required field" if name is None else f"expected a name, got {shown(name)}")
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
    return {"name": name, "version": cls.version, "params": dataclasses.asdict(build(cls.Params, params))}, cls.kind


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
        check.add("seeds", f"expected a non-empty list of integers, got {shown(value)}")
        return []
    bad = [i for i, seed in enumerate(value)
           if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED]
    if bad:  # the first one, and a count: a list of a million bad seeds is still one line
        more = f" (and {len(bad) - 1} more bad seeds)" if len(bad) > 1 else ""
        check.add(f"seeds[{bad[0]}]", f"expected an integer from 0 to {MAX_SEED}, got {shown(value[bad[0]])}{more}")
    valid = not bad
    if valid and len(set(value)) != len(value):
        check.add("seeds", f"duplicate seeds in {shown(value)}")
    return value if valid else []


def _check_metrics(check: _Checker, value) -> list[MetricSpec]:
    if not isinstance(value, list) or not value:
        check.add("metrics", f"expected a non-empty list of metric names, got {shown(value)}")
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
            check.add(f"{where}.name", f"unknown metric {shown(name)}{close_names(name, METRICS)}")
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


def _check_models(check, value, dataset_spec, data_kind, budget, seeds, max_jobs) -> list[Job]:
    import models as zoo  # the zoo imports torch: only needed once a suite names models

    if not isinstance(value, list) or not value:
        check.add("models", f"expected a non-empty list of model entries, got {shown(value)}")
        return []
    entries = []  # (where, class, label, params) of every well-formed entry
    labels = {}
    for i, entry in enumerate(value):
        where = f"models[{i}]"
        entry = check.mapping(entry, where)
        if entry is None:
            continue
        check.unknown_keys(entry, MODEL_ENTRY, where)
        name = entry.get("model")
        if not isinstance(name, str):
            check.add(f"{where}.model", "missing required field" if name is None else f"expected a name, got {shown(name)}")
            continue
        try:
            cls = zoo.get(name)
        except zoo.UnknownModel as exc:
            check.add(f"{where}.model", str(exc))
            continue
        label = entry.get("label", name)
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL or not label.isprintable():
            check.add(f"{where}.label", f"expected a label of up to {MAX_LABEL} printable characters, got {shown(label)}")
            continue
        if label in labels:
            check.add(f"{where}.label", f"duplicate label {shown(label)} (also models[{labels[label]}]); "
                                        "give each entry its own label")
            continue
        labels[label] = i
        if data_kind is not None and data_kind not in cls.supports:
            check.add(f"{where}.model", f"{shown(name)} cannot handle {data_kind} data "
                                        f"(it supports: {', '.join(sorted(cls.supports))})")
            continue
        params = check.mapping(entry.get("params"), f"{where}.params", required=False)
        if params is None:
            continue
        entry_budget = _check_budget(check, entry.get("budget"), f"{where}.budget", budget)
        if entry_budget.precision not in cls.precisions:
            check.add(f"{where}.budget.precision", f"{shown(name)} trains in {', '.join(sorted(cls.precisions))} only, "
                                                   f"not {entry_budget.precision}")
            continue
        entries.append((where, cls, label, params, entry_budget))

    # count before expanding: a sweep grid can be far too large to build
    count = sum(math.prod(len(v) for v in params.values() if isinstance(v, list)) for *_, params, _ in entries)
    if count * max(len(seeds), 1) > max_jobs:
        check.add("models", f"the sweeps expand to {count * max(len(seeds), 1):,} jobs, over the limit of "
                            f"{max_jobs:,} (a typo in a sweep? --max-jobs raises the limit)")
        return []
    jobs, first_seen = [], {}  # job key -> (where, display) of the entry that first gave it
    for where, cls, label, params, entry_budget in entries:
        for point in _expand_sweep(check, params, f"{where}.params"):
            before = len(check.problems)
            check.params(cls.Config, point, f"{where}.params")
            if len(check.problems) > before:
                break
            config = build(cls.Config, point)
            resolved = dataclasses.asdict(config)
            sweep = {k: resolved[k] for k, v in params.items() if isinstance(v, list)}
            upstream = _check_upstream(check, cls, config, f"{where}.params", data_kind, budget)
            if upstream is None:
                break
            for seed in seeds:
                # upstream stages train on the suite budget, so that they are shared with the same
                # model listed on its own; an entry's budget override is for its own stage only
                stages = tuple((slot, Job(f"{label}/{slot}", up.name, up.version, up_params, {}, seed,
                                          budget, dataset_spec, source=zoo.source_hash(up)))
                               for slot, (up, up_params) in upstream.items())
                job = Job(label, cls.name, cls.version, resolved, sweep, seed, entry_budget, dataset_spec, stages,
                          source=zoo.source_hash(cls))
                if job.key in first_seen:
                    other_where, other = first_seen[job.key]
                    check.add(where, f"{job.display} is the same job as {other} ({other_where}): same model, "
                                     "params, budget and seed; list it once")
                    continue
                first_seen[job.key] = (where, job.display)
                jobs.append(job)
    return jobs


def _check_upstream(check, cls, config, where: str, data_kind, budget) -> dict | None:
    """{slot: (class, resolved params)} for the stages a model builds on, or None if invalid."""
    import models as zoo

    stages = {}
    for slot, (name, params) in cls.upstream(config).items():
        try:
            up = zoo.get(name)
        except zoo.UnknownModel as exc:
            check.add(where, f"{slot}: {exc}")
            return None
        if up.requires:  # one level of stages: the runner hands over a trained single-stage model
            check.add(where, f"{slot}: {name!r} builds on stages of its own; a {slot} must be a single-stage model")
            return None
        if data_kind is not None and data_kind not in up.supports:
            check.add(where, f"{slot}: {name!r} cannot handle {data_kind} data")
            return None
        if budget.precision not in up.precisions:
            check.add(where, f"{slot}: {name!r} trains in {', '.join(sorted(up.precisions))} only, not {budget.precision}")
            return None
        problems = param_problems(up.Config, params)
        for key, message in problems:
            check.add(f"{where}.{key}" if key else where, f"{slot} {name!r}: {message}")
        if problems:
            return None
        stages[slot] = (up, dataclasses.asdict(build(up.Config, params)))
    return stages


def _expand_sweep(check: _Checker, params: dict, where: str) -> list[dict]:
    """A list value is a sweep: the grid is the product of all swept params. (The caller has
    checked that the grid is small enough to build.)"""
    axes = {}
    for key, value in params.items():
        if isinstance(value, list):
            if not value:
                check.add(f"{where}.{_key(key)}", "empty sweep []; give at least one value")
                return []
            axes[key] = value
    fixed = {k: v for k, v in params.items() if k not in axes}
    return [{**fixed, **dict(zip(axes, combo))} for combo in itertools.product(*axes.values())]
