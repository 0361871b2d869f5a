"""Datasets behind one API: `load(name, data_root=None, **params)` gives an object with
`factor_names`, `factor_sizes`, `len()`, `kind`, `version` (bumped when the data a seed gives
change; part of every job key), `spec`, `data_shape` (one item's shape) and
`batch(n, rng, device, with_index=False)` (a training batch on the device, and with `with_index`
each item's index: its row, or its factor-grid index for procedural sets).

Image datasets (kind "images") add `image_shape`, `disentanglement_factors` (the factor indices MIG
uses; None: all) and `sample(n, seed) -> (images, factors)`: images are float32 (n, C, H, W) in
[0, 1], factors int64 indices (n, F), and `sample_with_fixed_factor(n, factor, rng)` (n images sharing
one factor's value, the others uniform: the FactorVAE score's groups; refused, NotImplementedError,
where the factors are not a complete grid); those held in memory add `every_image()`. Procedural sets need no file; the
others read the files users already have (`files.py`), under the data root. Table datasets (kind
"tables", `credit.py`) add `train` and `test` frames, `categorical` and the fitted `transform`. Series
datasets (kind "series", `pendulum.py`) hold rows of observed factors and a trajectory, and add
`observed_factors`, `hidden_factors`, `targets_of(index)` (a multi-stage model's paired targets) and
`held_out_set() -> (rows, factor values)`.
"""

from bench.config import build, close_names
from bench.data.credit import Credit
from bench.data.digits import Digits
from bench.data.dsprites import DSprites
from bench.data.files import (ROOT_ENV, Cars3D, CelebA, DataFileError, DSpritesFile, FileDataset, MNIST, MPI3DReal,
                              MPI3DRealistic, MPI3DToy, Shapes3D, SmallNORB, data_root)
from bench.data.pendulum import Pendulum
from bench.data.textured import TexturedObjects

__all__ = ["DATASETS", "DataFileError", "ROOT_ENV", "UnknownDataset", "availability", "data_root", "get", "load"]

DATASETS = {cls.name: cls for cls in [DSprites, TexturedObjects, Digits, DSpritesFile, Shapes3D, Cars3D, SmallNORB,
                                      MPI3DToy, MPI3DRealistic, MPI3DReal, CelebA, MNIST, Credit, Pendulum]}


class UnknownDataset(KeyError):
    def __str__(self):
        return self.args[0]


def get(name: str) -> type:
    if name not in DATASETS:
        raise UnknownDataset(f"unknown dataset {name!r}{close_names(name, DATASETS)}")
    return DATASETS[name]


def load(name: str, data_root=None, **params):
    """The dataset, read now: a missing or bad file raises DataFileError here, before any training."""
    cls = get(name)
    return cls(build(cls.Params, params), data_root)


def availability(name: str, root=None) -> str | None:
    """None when `name` can be loaded with default params here; else what is missing."""
    cls = get(name)
    if not issubclass(cls, FileDataset):
        return None
    root = data_root(root)
    missing = [p for p in cls.required(root, build(cls.Params, {})) if not p.exists()]
    return f"needs {', '.join(str(p.relative_to(root)) for p in missing)} under {root}" if missing else None
