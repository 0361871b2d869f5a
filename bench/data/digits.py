"""scikit-learn's bundled 8x8 handwritten digits (UCI, 1,797 real images): a real image dataset
that ships with a dependency, for MS-FLOW and quick checks. Upsampled to 16x16 (the conv nets
halve the side four times) by pixel repetition, so no detail is invented."""

from dataclasses import dataclass

import numpy as np

from bench.data.memory import InMemoryImages


@dataclass(frozen=True)
class DigitsParams:
    pass


class Digits(InMemoryImages):
    name = "digits"
    Params = DigitsParams
    description = "scikit-learn's bundled 8x8 digits (1,797 real images, upsampled to 16x16); factor: digit"
    factor_names = ("digit",)
    factor_sizes = (10,)

    def __init__(self, params: DigitsParams = DigitsParams(), root=None):
        from sklearn.datasets import load_digits

        super().__init__(params)
        bunch = load_digits()
        grey = np.round(bunch.images * (255 / 16)).astype(np.uint8)  # values 0..16 in the original
        self.images = grey.repeat(2, axis=1).repeat(2, axis=2)[..., None]
        self.factors = bunch.target.astype(np.int64)[:, None]
