"""The training budget a suite grants each model (steps, batch size, learning rate)."""

from dataclasses import dataclass

from bench.config import require


@dataclass(frozen=True)
class Budget:
    steps: int = 1000
    batch_size: int = 64  # disentanglement-lib's default for its VAEs
    learning_rate: float = 1e-4  # Adam 1e-4: disentanglement-lib's model defaults

    def __post_init__(self):
        require(self.steps >= 1, "steps", f"{self.steps} is not a positive step count")
        # the total-correlation estimator needs at least two samples per batch
        require(self.batch_size >= 2, "batch_size", f"{self.batch_size} is below the minimum of 2")
        require(self.learning_rate > 0, "learning_rate", f"{self.learning_rate} is not positive")
