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

    def factors_of(self, index) -> np.ndarray:
        """The factors (n, F) of the images `batch(..., with_index=True)` indexed."""
        return self.factors[np.asarray(index)]

    def held_out_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows set aside from training (never in `batch` or `sample`): float32 (n, C, H, W) in
        [0, 1] and their factors, for held-out scores. Raises NotImplementedError, with the reason,
        for a dataset that keeps none."""
        held_out = getattr(self, "held_out_images", None)
        if held_out is None or not len(held_out):
            raise NotImplementedError(f"dataset {self.name} holds no rows out of training"
                                      + (" (set its held_out param)" if "held_out" in self.Params.__dataclass_fields__ else ""))
        return self._float(held_out), self.held_out_factors

    def sample_with_fixed_factor(self, n: int, factor: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n images sharing the value of `factor` (that of one row drawn uniformly), the others drawn
        uniformly among the rows that have it: the FactorVAE score's groups. On a complete factor
        grid this fixes the factor and samples the rest uniformly, as disentanglement-lib does; on
        anything less it would not, so it is refused."""
        if not self._complete_grid():
            raise NotImplementedError(f"dataset {self.name} is not a complete factor grid, so fixing one factor "
                                      "would not sample the others uniformly")
        value = self.factors[rng.integers(0, len(self.factors)), factor]
        rows = self._rows_with(factor, value)
        index = rows[rng.integers(0, len(rows), size=n)]
        return self._float(self.images[index]), self.factors[index]

    def _complete_grid(self) -> bool:
        if "_grid" not in self.__dict__:
            sizes = np.asarray(self.factor_sizes, dtype=np.int64)
            seen = np.unique(np.ravel_multi_index(tuple(self.factors.T), tuple(sizes))) if len(sizes) else []
            self._grid = len(sizes) > 0 and len(seen) == int(np.prod(sizes))
        return self._grid

    def _rows_with(self, factor: int, value: int) -> np.ndarray:
        """The rows whose `factor` equals `value`, found once per factor."""
        by_factor = self.__dict__.setdefault("_by_factor", {})
        if factor not in by_factor:
            order = np.argsort(self.factors[:, factor], kind="stable")
            bounds = np.searchsorted(self.factors[order, factor], np.arange(self.factor_sizes[factor] + 1))
            by_factor[factor] = [order[bounds[v]:bounds[v + 1]] for v in range(self.factor_sizes[factor])]
        return by_factor[factor][value]

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
