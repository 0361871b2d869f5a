"""Datasets held in memory once, as uint8, in the layout their files have (N, H, W, C).

Nothing is converted up front: a float copy of a whole dataset would be 4x its size. A batch
is cut by one fancy index and converted on its own, and `batch` keeps a copy of the uint8
array on the training device so that training batches never cross the bus.
"""

import dataclasses

import numpy as np
import torch


class InMemoryImages:
    """Base for file-backed and bundled datasets. Subclasses set `name`, `kind`, `Params`,
    `description`, `factor_names`, `factor_sizes` and fill `images` (N, H, W, C) uint8,
    `factors` (N, F) int64 and `pixel_max` (255, or 1 for binary images stored as 0/1)."""

    kind = "images"
    version = "1"  # bump when the reader or resampling changes the arrays: it is part of every job key
    # indices of the factors disentanglement scores (MIG) use; None: all. Downstream tasks use all.
    disentanglement_factors = None
    pixel_max = 255

    def __init__(self, params):
        self.params = params
        self.images: np.ndarray
        self.factors: np.ndarray
        self._on_device = {}

    @property
    def spec(self) -> dict:
        return {"name": self.name, "version": self.version, "params": dataclasses.asdict(self.params)}

    @property
    def image_shape(self) -> tuple[int, int, int]:
        _, height, width, channels = self.images.shape
        return (channels, height, width)

    @property
    def data_shape(self) -> tuple[int, int, int]:
        return self.image_shape

    def __len__(self) -> int:
        return len(self.images)

    def _float(self, raw: np.ndarray) -> np.ndarray:
        return (raw.transpose(0, 3, 1, 2).astype(np.float32) / self.pixel_max)

    def sample(self, n: int, seed) -> tuple[np.ndarray, np.ndarray]:
        """n rows drawn uniformly with replacement: float32 (n, C, H, W) in [0, 1] and their factors."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        index = rng.integers(0, len(self.images), size=n)
        return self._float(self.images[index]), self.factors[index]

    def every_image(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole dataset once, in order (a metric's `num_points: all`, as the paper's FID)."""
        return self._float(self.images), self.factors

    def batch(self, n: int, rng: np.random.Generator, device, with_index: bool = False):
        """A training batch on `device`, cut there from a resident uint8 copy (one gather); with
        `with_index`, also the rows' indices."""
        device = torch.device(device)
        if device not in self._on_device:
            self._on_device = {device: torch.from_numpy(self.images).to(device)}  # one resident copy at most
        rows = rng.integers(0, len(self.images), size=n)
        x = self._on_device[device][torch.from_numpy(rows).to(device)].permute(0, 3, 1, 2).float().div_(self.pixel_max)
        return (x, rows) if with_index else x
