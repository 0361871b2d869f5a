"""What the procedural datasets share: images drawn from factors on demand, so nothing is held."""

import dataclasses

import numpy as np
import torch


class Procedural:
    kind = "images"
    version = "1"  # bump when the images a seed gives change: it is part of every job key
    # indices of the factors disentanglement scores (MIG) use; None: all. Downstream tasks use all.
    disentanglement_factors = None

    @property
    def spec(self) -> dict:
        return {"name": self.name, "version": self.version, "params": dataclasses.asdict(self.params)}

    @property
    def data_shape(self) -> tuple[int, int, int]:
        return self.image_shape

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes))  # distinct factor combinations

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1).astype(np.int64)

    def factors_of(self, index) -> np.ndarray:
        """The factors (n, F) of the images `batch(..., with_index=True)` indexed."""
        return np.stack(np.unravel_index(np.asarray(index), self.factor_sizes), axis=1).astype(np.int64)

    def sample_with_fixed_factor(self, n: int, factor: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n images whose `factor` shares one value and whose other factors are drawn uniformly
        (the FactorVAE score's groups): the factors of the first image, the others' copied from it."""
        factors = self.sample_factors(n, rng)
        factors[:, factor] = factors[0, factor]
        return self.images_of(factors, rng), factors

    def batch(self, n: int, rng: np.random.Generator, device, with_index: bool = False):
        """A training batch on `device`; with `with_index`, also each image's factor-grid index (the
        same draws either way). Sets with nuisance (textured_objects) render a new image each time:
        the index names its factors, not the image."""
        images, factors = self.sample(n, rng)
        x = torch.from_numpy(images).to(device, non_blocking=True)
        return (x, np.ravel_multi_index(tuple(factors.T), self.factor_sizes)) if with_index else x
