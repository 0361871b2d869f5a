"""The training budget a suite grants each model (steps, batch size, learning rate, precision)."""

from dataclasses import dataclass
from typing import Literal

from bench.config import require


@dataclass(frozen=True)
class Budget:
    steps: int = 1000
    batch_size: int = 64  # disentanglement-lib's default for its VAEs
    learning_rate: float = 1e-4  # Adam 1e-4: disentanglement-lib's model defaults
    # "bf16": the training forward passes run under bfloat16 autocast (weights, optimiser state and
    # evaluation stay float32). It changes the results, so it is part of every job key, set in the
    # suite file (never on the command line, so that the file alone says which jobs a suite holds)
    precision: Literal["fp32", "bf16"] = "fp32"

    def __post_init__(self):
        require(self.steps >= 1, "steps", f"{self.steps} is not a positive step count")
        # the total-correlation estimator needs at least two samples per batch
        require(self.batch_size >= 2, "batch_size", f"{self.batch_size} is below the minimum of 2")
        require(self.learning_rate > 0, "learning_rate", f"{self.learning_rate} is not positive")
