"""Turn a trained model and its dataset into the arrays the metrics need, and score them.

Evaluation data come from their own random stream (seeded by the job seed), separate
from the training batches. A metric the model cannot support is recorded as missing
with the reason; a metric's warnings are kept with its score.
"""

import warnings

import numpy as np
import torch

from bench.metrics import METRICS

EVAL_BATCH = 256
SAMPLE_CACHE_BYTES = 512 * 2**20  # evaluation images kept across jobs; beyond this, drawn again


def _batches(images: np.ndarray, device):
    for start in range(0, len(images), EVAL_BATCH):
        # a copy, so no model can alter the evaluation images shared across jobs
        yield torch.tensor(images[start:start + EVAL_BATCH], device=device)


@torch.no_grad()
def codes(model, images: np.ndarray, representation: str = "mean", seed: int = 0) -> np.ndarray:
    """The representation for disentanglement metrics: encoder mean, or one posterior sample."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    for x in _batches(images, model.device):
        enc = model.encode(x)
        c = enc["c"].float().cpu()
        if representation == "sampled":
            c = c + torch.exp(0.5 * enc["c_logvar"].float().cpu()) * torch.randn(c.shape, generator=generator)
        out.append(c.numpy())
    return np.concatenate(out)


@torch.no_grad()
def reconstructions(model, images: np.ndarray) -> np.ndarray:
    return np.concatenate([model.reconstruct(x).float().cpu().numpy() for x in _batches(images, model.device)])


def evaluate(model, data, metric_specs, seed: int, samples: dict | None = None) -> list[dict]:
    """Score `model` on every metric spec; return one score record per metric.

    `samples` caches evaluation data by (seed, size) across calls: models evaluated with the
    same seed see the same images, drawn once.
    """
    model.eval()
    samples = {} if samples is None else samples

    def sample(n):
        if (seed, n) not in samples:  # a stream of its own ([seed, 1]): never the training batches
            drawn = data.sample(n, np.random.default_rng([seed, 1]))
            if sum(images.nbytes for images, _ in samples.values()) + drawn[0].nbytes > SAMPLE_CACHE_BYTES:
                samples.clear()
            samples[seed, n] = drawn
        return samples[seed, n]

    records = []
    for spec in metric_specs:
        info = METRICS[spec.name]
        params = spec.params
        record = {"metric_id": spec.id, "metric": spec.name, "version": info.version,
                  "higher_is_better": info.higher_is_better, "params": params, "value": None}
        images, factors = sample(params["num_points"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if info.needs == "codes":
                    value = info.fn(codes(model, images, params["representation"], seed), factors,
                                    num_bins=params["num_bins"])
                else:
                    value = info.fn(images, reconstructions(model, images))
                record["value"] = float(value)
            except NotImplementedError as exc:
                record["missing_reason"] = f"{model.name} does not provide {info.needs}: {exc}"
        record["details"] = {"num_points": len(images),
                             "warnings": sorted({str(w.message) for w in caught})}
        records.append(record)
    return records

