"""What the procedural datasets share: images drawn from factors on demand, so nothing is held.

A dataset renders in two halves: `draw` takes the per-image numbers (factor values, random nuisance)
from the numpy generator on the host, and `paint` turns them into pixels with array code written once
for numpy and torch (`xp`). On the CPU a batch is painted in numpy, as it always was; on another device
(a GPU) the few per-image numbers travel there and the pixels are painted on the device, so training
never waits for the host to paint images. Both read the generator identically, so a seed gives the same
factors and nuisance on every device; the pixels agree to float rounding (a device's sin may differ by
ulps; on this project's CPU, torch and numpy paint identical pixels, tests/test_data.py).
"""

import dataclasses

import numpy as np
import torch


def pixel_centres(xp, size: int, like):
    """Pixel centres in units of the image side, in `like`'s float type (and device, for torch)."""
    if xp is np:
        return ((np.arange(size) + 0.5) / size).astype(like.dtype)
    return (xp.arange(size, dtype=like.dtype, device=like.device) + 0.5) / size


def as_float32(xp, a):
    return a.astype(np.float32) if xp is np else a.to(xp.float32)


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

    # --- what subclasses implement (the two halves default to host rendering by `images_of`) ---------
    def draw(self, factors: np.ndarray, rng: np.random.Generator) -> dict:
        """The per-image numbers `paint` needs, as numpy arrays: the factors' values and any nuisance,
        drawn from `rng` in a fixed order (that order is part of the dataset's version). By default the
        whole images, rendered on the host by `images_of` (a set that splits nothing off still works)."""
        return {"images": self.images_of(factors, rng)}

    def paint(self, xp, drawn: dict):
        """Float32 images (n, C, H, W) from `draw`'s numbers, in array module `xp` (numpy or torch)."""
        return drawn["images"]

    # --- shared behaviour --------------------------------------------------------------
    def render_on(self, factors: np.ndarray, rng: np.random.Generator, device) -> torch.Tensor:
        """The images of `factors` painted by torch on `device`, from the same draws as the numpy path."""
        device = torch.device(device)
        drawn = {k: torch.as_tensor(v).to(device, non_blocking=True) for k, v in self.draw(factors, rng).items()}
        return self.paint(torch, drawn)

    def batch(self, n: int, rng: np.random.Generator, device, with_index: bool = False):
        """A training batch on `device`; with `with_index`, also each image's factor-grid index (the
        same draws either way). Sets with nuisance (textured_objects) render a new image each time:
        the index names its factors, not the image. Painted in numpy on the CPU, on the device elsewhere.
        The factors come from `sample_factors` and the images from `draw` and `paint`, as `sample`'s do:
        a subclass that draws factors otherwise overrides `sample_factors`, not `sample`."""
        device = torch.device(device)
        factors = self.sample_factors(n, rng)
        if device.type == "cpu":
            x = torch.from_numpy(self.paint(np, self.draw(factors, rng)))
        else:
            x = self.render_on(factors, rng, device)
        return (x, np.ravel_multi_index(tuple(factors.T), self.factor_sizes)) if with_index else x
