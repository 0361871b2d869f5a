"""scikit-learn's bundled 8x8 handwritten digits (UCI, 1,797 real images): a real image dataset
that ships with a dependency, for MS-FLOW and quick checks.

`image_size: 16` (the default) upsamples by pixel repetition, so that the conv nets (which halve the
side four times) take it and no detail is invented; values 0..16 are scaled to 0..255.
`image_size: 8` keeps the digits as they are, 64 values of 17 levels (0..16, `pixel_max` 16), for
density models: a log-likelihood is then one of the data, not of a repeated copy of it.
`held_out` sets aside that fraction of the rows, a fixed split (a permutation seeded by 0): they
are never trained on, and `held_out_set` gives them for held-out scores (log-density).
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bench.config import require
from bench.data.memory import InMemoryImages

SPLIT_SEED = 0  # the held-out rows are the same for every job and seed


@dataclass(frozen=True)
class DigitsParams:
    image_size: Literal[8, 16] = 16
    held_out: float = 0.0

    def __post_init__(self):
        require(0 <= self.held_out < 1, "held_out", f"{self.held_out} is not a fraction in [0, 1)")
        require(self.held_out == 0 or round(self.held_out * 1797) >= 1, "held_out",
                f"{self.held_out} of the 1,797 digits is no row at all")


class Digits(InMemoryImages):
    name = "digits"
    Params = DigitsParams
    description = ("scikit-learn's bundled 8x8 digits (1,797 real images, upsampled to 16x16, or as they are with "
                   "image_size: 8); factor: digit; held_out: a fixed held-out fraction")
    factor_names = ("digit",)
    factor_sizes = (10,)

    def __init__(self, params: DigitsParams = DigitsParams(), root=None):
        from sklearn.datasets import load_digits

        super().__init__(params)
        bunch = load_digits()
        if params.image_size == 8:
            images, self.pixel_max = bunch.images.astype(np.uint8), 16  # values 0..16 as recorded
        else:
            grey = np.round(bunch.images * (255 / 16)).astype(np.uint8)
            images = grey.repeat(2, axis=1).repeat(2, axis=2)
        images, factors = images[..., None], bunch.target.astype(np.int64)[:, None]
        order = np.random.default_rng(SPLIT_SEED).permutation(len(images)) if params.held_out else np.arange(len(images))
        kept = len(images) - int(round(params.held_out * len(images)))
        self.images, self.factors = images[order[:kept]], factors[order[:kept]]
        self.held_out_images, self.held_out_factors = images[order[kept:]], factors[order[kept:]]
