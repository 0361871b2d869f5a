"""Metrics: pure functions on arrays, each declared once, beside its definition, with what the
harness needs to know about it (`bench.metrics.registry`: outputs and their directions, version,
typed Params, the input it consumes).

Every module of this package is imported here, so that its `@metric` declarations register:
adding a metric is adding a file. Imports without torch.
"""

import importlib
import pkgutil

from bench.metrics.registry import INPUTS, METRICS, MetricInfo, Missing, metric

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry" and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")  # errors surface, never hidden

# the pure functions the tests and scripts use, importable from the package
from bench.metrics.conditioning import conditioning_mi  # noqa: E402
from bench.metrics.downstream import downstream_accuracy  # noqa: E402
from bench.metrics.elbo import elbo  # noqa: E402
from bench.metrics.frechet import frechet_distance, frechet_distance_of_features, gaussian_statistics, kid  # noqa: E402
from bench.metrics.mig import histogram_discretize, mig, mutual_info_matrix  # noqa: E402
from bench.metrics.reconstruction import l1, l2  # noqa: E402
from bench.metrics.tabular import c2st, correlation_difference, jsd_per_feature  # noqa: E402

__all__ = ["INPUTS", "METRICS", "MetricInfo", "Missing", "c2st", "conditioning_mi", "correlation_difference",
           "downstream_accuracy", "elbo", "frechet_distance", "frechet_distance_of_features", "gaussian_statistics",
           "histogram_discretize", "jsd_per_feature", "kid", "l1", "l2", "metric", "mig", "mutual_info_matrix"]
