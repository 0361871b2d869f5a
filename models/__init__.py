"""The model zoo. Every public module here is imported, and every `Model` subclass with a
`name` becomes available to suites under that name: adding a baseline is adding a file.
"""

import ast
import functools
import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

from bench.config import close_names
from models._base import CAPABILITIES, TEST_CHECKS, Model, TrainingDiverged

__all__ = ["CAPABILITIES", "Model", "TEST_CHECKS", "TrainingDiverged", "get", "registry", "source_hash"]

_REGISTRY: dict[str, type] = {}


class UnknownModel(KeyError):
    def __str__(self):
        return self.args[0]


def _collect(cls) -> None:
    for sub in cls.__subclasses__():
        if sub.name:
            other = _REGISTRY.get(sub.name)
            if other is not None and other is not sub:
                raise RuntimeError(f"model name {sub.name!r} is defined twice: "
                                   f"{other.__module__} and {sub.__module__}")
            _REGISTRY[sub.name] = sub
        _collect(sub)


def registry() -> dict[str, type]:
    if not _REGISTRY:
        for info in pkgutil.iter_modules(__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")  # errors surface, never hidden
        _collect(Model)
    return _REGISTRY


def get(name: str) -> type:
    models = registry()
    if name not in models:
        raise UnknownModel(f"unknown model {name!r}{close_names(name, models)}")
    return models[name]


def _zoo_imports(module: str) -> set[str]:
    """The modules of this package that `module`'s source imports (absolute or relative)."""
    found = set()
    for node in ast.walk(ast.parse(Path(sys.modules[module].__file__).read_bytes())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith(f"{__name__}.")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: within this package
                base = f"{__name__}.{base}".rstrip(".")
            if base == __name__:  # from models import x: x may be a module
                found |= {f"{base}.{alias.name}" for alias in node.names}
            elif base.startswith(f"{__name__}."):
                found.add(base)
    return {name for name in found if name in sys.modules or importlib.util.find_spec(name)}


@functools.lru_cache(maxsize=None)  # once per class and process: it reads and parses the files
def source_hash(cls) -> str:
    """A hash of the source files behind `cls`: the modules of this package that define it and its
    base classes, and every module of this package they import, transitively (`_base.py` for all).
    Part of every job key, so that a change to a model's code retrains it instead of reusing stale
    weights."""
    pending = {c.__module__ for c in cls.__mro__ if c.__module__.startswith(f"{__name__}.")}
    seen = set()
    while pending:
        module = pending.pop()
        if module not in seen:
            importlib.import_module(module)
            seen.add(module)
            pending |= _zoo_imports(module) - seen
    digest = hashlib.sha256()
    for module in sorted(seen):
        digest.update(module.encode() + b"\0" + Path(sys.modules[module].__file__).read_bytes() + b"\0")
    return digest.hexdigest()[:16]
