"""The domain feature space behind `fd_domain` and domain-space `kid`: a small CNN trained once
per dataset to predict that dataset's ground-truth factors, whose penultimate layer serves as
the features. It needs no download, so it is the offline default; it is not FID and its values
are only comparable within one dataset spec and feature seed.
"""

import hashlib
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

VERSION = "1"  # bump when the architecture or training below changes: it is part of the cache key
FEATURE_DIM = 256
BATCH_SIZE = 64
LEARNING_RATE = 1e-3


class DomainNet(nn.Module):
    """(C, S, S) images in [0, 1] -> FEATURE_DIM features, plus one classifier head per factor."""

    def __init__(self, image_shape, factor_sizes):
        super().__init__()
        channels, size, _ = image_shape
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 128, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(128, 128, 4, 2, 1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(128 * (size // 16) ** 2, FEATURE_DIM),
        )
        self.heads = nn.ModuleList(nn.Linear(FEATURE_DIM, int(k)) for k in factor_sizes)
        # set after training from held-out data, so that features are in units of the data's own spread
        self.register_buffer("feature_mean", torch.zeros(FEATURE_DIM))
        self.register_buffer("feature_std", torch.ones(FEATURE_DIM))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised pre-activations of the last layer: no unit is identically zero (the covariance
        stays well conditioned) and each has unit variance on the data, which keeps distances
        comparable across units and KID's cubic kernel in its intended range."""
        return (self.trunk(x) - self.feature_mean) / self.feature_std

    def forward(self, x):
        h = torch.relu(self.trunk(x))
        return [head(h) for head in self.heads]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def source_hash() -> str:
    """A hash of this file: a change to the net or its training retrains it (as models' keys do)."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def spec(data, seed: int, steps: int) -> dict:
    """Everything that determines the trained net: its artifact's identity."""
    return {"kind": "domain_feature_net", "version": VERSION, "dataset": data.spec, "seed": seed,
            "steps": steps, "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE, "source": source_hash()}


def build(data, seed: int, device) -> DomainNet:
    torch.manual_seed(seed)
    return DomainNet(data.image_shape, data.factor_sizes).to(device)


def train(net: DomainNet, data, seed: int, steps: int, progress: bool = True) -> list[dict]:
    """Fit every factor head with cross-entropy on fresh batches; return the loss log with the
    final held-out accuracy per factor (so a reader can see what the features know)."""
    rng = np.random.default_rng([seed, 7])  # its own stream, apart from every model's training batches
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    log, net_device = [], net.device
    net.train()
    for step in tqdm(range(1, steps + 1), desc="domain feature net", leave=False,
                     disable=None if progress else True, unit="step"):
        images, factors = data.sample(BATCH_SIZE, rng)
        logits = net(torch.from_numpy(images).to(net_device))
        targets = torch.from_numpy(factors).to(net_device)
        loss = sum(nn.functional.cross_entropy(out, targets[:, i]) for i, out in enumerate(logits))
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"domain feature net: loss became {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            log.append({"step": step, "loss": loss.item()})
    net.eval()
    images, factors = data.sample(2000, np.random.default_rng([seed, 8]))
    with torch.no_grad():
        x = torch.from_numpy(images).to(net_device)
        raw = net.trunk(x)
        net.feature_mean.copy_(raw.mean(0))
        net.feature_std.copy_(raw.std(0).clamp_min(1e-6))
        logits = net(x)
    accuracy = {name: float((out.argmax(1).cpu().numpy() == factors[:, i]).mean())
                for i, (name, out) in enumerate(zip(data.factor_names, logits))}
    log.append({"step": steps, "heldout_accuracy": accuracy})
    return log
