"""What the procedural datasets share: images drawn from factors on demand, so nothing is held."""

import dataclasses

import numpy as np
import torch


class Procedural:
    kind = "images"
    version = "1"  # bump when the images a seed gives change: it is part of every job key

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

    def batch(self, n: int, rng: np.random.Generator, device) -> torch.Tensor:
        return torch.from_numpy(self.sample(n, rng)[0]).to(device, non_blocking=True)
