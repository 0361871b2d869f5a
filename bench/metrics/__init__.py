"""Metrics: pure functions on arrays, plus the facts the harness needs about each.

Every metric declares its direction and a version (bump it whenever the definition
changes, so that old stored scores are never compared with new ones), the typed
parameters a suite may set, and what the evaluator must hand it.
"""

from dataclasses import dataclass
from typing import Literal

from bench.config import require
from bench.metrics.mig import histogram_discretize, mig, mutual_info_matrix
from bench.metrics.reconstruction import l1, l2

__all__ = ["METRICS", "MetricInfo", "histogram_discretize", "l1", "l2", "mig", "mutual_info_matrix"]


@dataclass(frozen=True)
class MigParams:
    num_points: int = 10_000  # disentanglement-lib's mig.num_train
    num_bins: int = 20  # disentanglement-lib's discretizer.num_bins; part of the definition
    representation: Literal["mean", "sampled"] = "mean"  # disentanglement-lib's "mean" postprocessing

    def __post_init__(self):
        require(self.num_points >= 2, "num_points", f"{self.num_points} is below 2")
        require(self.num_bins >= 2, "num_bins", f"{self.num_bins} is below 2")


@dataclass(frozen=True)
class ReconstructionParams:
    num_points: int = 2_000

    def __post_init__(self):
        require(self.num_points >= 1, "num_points", f"{self.num_points} is below 1")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    fn: object
    higher_is_better: bool
    version: str
    needs: Literal["codes", "reconstructions"]  # what the evaluator must produce
    Params: type
    description: str


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo("mig", mig, True, "1", "codes", MigParams,
                   "Mutual Information Gap, disentanglement-lib's discrete_mig"),
        MetricInfo("l1", l1, False, "1", "reconstructions", ReconstructionParams,
                   "mean absolute per-pixel reconstruction error, images in [0, 1]"),
        MetricInfo("l2", l2, False, "1", "reconstructions", ReconstructionParams,
                   "mean squared per-pixel reconstruction error, images in [0, 1]"),
    ]
}
