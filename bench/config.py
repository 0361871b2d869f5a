"""Typed parameter checking for dataclass configs (models, datasets).

One place that turns a dict from a suite into a config dataclass, or into a list of
precise complaints that the suite validator shows one per line.
"""

import dataclasses
import difflib
import math
import reprlib
import types
import typing
from typing import Any, Literal, get_args, get_origin


class ParamError(ValueError):
    """A range check on one named field failed (raised from a config's __post_init__)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ParamError(field, message)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxset = 2, 4, 4, 4, 4
_SHORT.maxstring = _SHORT.maxother = 60


def shown(value) -> str:
    """repr(value) cut to a few dozen characters: error messages echo what a user wrote, and a
    YAML alias bomb or a 10 MB string must not turn one line into gigabytes."""
    return _SHORT.repr(value)


def close_names(name, choices) -> str:
    """' (did you mean: a, b?)' or ', allowed: ...' — the hint appended to a bad-name error."""
    choices = sorted(choices)
    near = difflib.get_close_matches(name, choices, n=3, cutoff=0.6) if isinstance(name, str) and len(name) < 200 else []
    if near:
        return f"; did you mean {', '.join(repr(n) for n in near)}?"
    return f"; allowed: {', '.join(choices)}"


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Literal:
        return value in get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def describe_type(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in get_args(annotation))
    return getattr(annotation, "__name__", str(annotation))


def param_problems(config_type: type, params: dict) -> list[tuple[str, str]]:
    """[(param name, problem)] for unknown names, wrong types and failed range checks."""
    hints = typing.get_type_hints(config_type)
    fields = {f.name for f in dataclasses.fields(config_type)}
    problems = []
    for key, value in params.items():
        if key not in fields:
            problems.append((key, f"unknown parameter {shown(key)}{close_names(key, fields)}"))
        elif not _type_ok(value, hints[key]):
            problems.append((key, f"{shown(value)} is not {describe_type(hints[key])}"))
        elif isinstance(value, float) and not math.isfinite(value):  # .inf/.nan would pass every range check
            problems.append((key, f"{value} is not a finite number"))
    if not problems:
        try:
            config_type(**params)
        except ParamError as exc:  # __post_init__ range checks
            problems.append((exc.field, exc.message))
        except (ValueError, TypeError) as exc:
            problems.append(("", str(exc)))
    return problems


def build(config_type: type, params: dict):
    """The config for `params`, with ints given for float fields stored as floats (so that
    `beta: 4` and `beta: 4.0` resolve to the same job)."""
    problems = param_problems(config_type, params)
    if problems:
        raise ValueError("; ".join(f"{k}: {m}" if k else m for k, m in problems))
    hints = typing.get_type_hints(config_type)
    coerced = {k: float(v) if hints[k] is float else v for k, v in params.items()}
    return config_type(**coerced)
