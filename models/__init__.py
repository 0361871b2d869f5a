"""The model zoo. Every public module here is imported, and every `Model` subclass with a
`name` becomes available to suites under that name: adding a baseline is adding a file.
"""

import importlib
import pkgutil

from bench.config import close_names
from models._base import CAPABILITIES, TEST_CHECKS, Model, TrainingDiverged

__all__ = ["CAPABILITIES", "Model", "TEST_CHECKS", "TrainingDiverged", "get", "registry"]

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

