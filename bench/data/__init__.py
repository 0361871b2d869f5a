"""Datasets behind one API: `load(name, **params)` gives an object with `factor_names`,
`factor_sizes`, `len()`, `kind`, `spec` and `sample(n, seed) -> (images, factors)`.

Images are float32 (n, C, H, W) in [0, 1]; factors are int64 indices (n, F).
"""

from bench.config import build, close_names
from bench.data.dsprites import DSprites

DATASETS = {cls.name: cls for cls in [DSprites]}


class UnknownDataset(KeyError):
    def __str__(self):
        return self.args[0]


def get(name: str) -> type:
    if name not in DATASETS:
        raise UnknownDataset(f"unknown dataset {name!r}{close_names(name, DATASETS)}")
    return DATASETS[name]


def load(name: str, **params):
    cls = get(name)
    return cls(build(cls.Params, params))
