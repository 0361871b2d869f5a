"""The report's figures, each declared once beside its drawing function:

    @plot(name="traversals", kinds={"images"}, needs="stage_one")
    def traversals(frame, out, models=None) -> list[Path]: ...

`kinds`: the kinds of dataset it is drawn for; `needs`: a model capability (models._base.CAPABILITIES)
without which a model's rows never reach the plotter (asked through `Model.can`, never by registry
name). Suite validation and `write_plots` read this one registry. Every module of `bench.report`
is imported on first use, so a new figure is one new file there.
"""

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class PlotInfo:
    name: str
    draw: Callable  # (frame, out folder, CachedModels or None) -> list of paths written
    kinds: frozenset
    needs: str | None
    description: str


PLOTS: dict[str, PlotInfo] = {}


def plot(*, name: str, kinds: set, needs: str | None = None):
    """Declare the decorated function as figure `name` (its docstring is the description)."""
    if not kinds or not set(kinds) <= {"images", "tables", "series"}:
        raise ValueError(f"plot {name!r}: kinds must be a non-empty subset of images, tables, series")

    def register(draw):
        other = PLOTS.get(name)
        if other is not None and other.draw.__module__ != draw.__module__:
            raise RuntimeError(f"plot name {name!r} is declared twice: {other.draw.__module__} and {draw.__module__}")
        description = " ".join((draw.__doc__ or "").strip().split("\n\n")[0].split())  # its first paragraph
        PLOTS[name] = PlotInfo(name, draw, frozenset(kinds), needs, description)
        return draw

    return register


def plots() -> dict[str, PlotInfo]:
    """Every declared figure, by name."""
    import bench.report as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")  # errors surface, never hidden
    return PLOTS
