"""What a trained model makes, reproducibly per seed: samples, and synthetic tables. Shared by
the evaluator (bench.evaluate) and the report's figures (bench.report), which both import it."""

import numpy as np
import torch

EVAL_BATCH = 256


@torch.no_grad()
def generated(model, n: int, seed: int, **options) -> np.ndarray:
    """n random samples from the model (`options` go to its `sample`), reproducible per seed,
    leaving the global RNG as it was."""
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        parts = [model.sample(min(EVAL_BATCH, n - start), **options).float().cpu().numpy()
                 for start in range(0, n, EVAL_BATCH)]
    return np.concatenate(parts)


def synthetic_table(model, data, seed: int, rows: str = "sample"):
    """As many generated rows as D_test has (section 6.3.2), in the table's own units: `rows`
    "sample" draws them from the model's likelihood, "mean" takes decoder means; either way
    section 6.2's post-processing clips them to [0, 1] before inverting the transform."""
    return data.transform.inverse(generated(model, len(data.test), seed, rows=rows))
