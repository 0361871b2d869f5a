"""Feature spaces for the distribution metrics (FID, fd_domain, KID), and the cache of the
dataset's reference features.

`FeatureSpaces.extractor(space, data, seed)` gives an `Extractor`: a function from images to
features plus a record of exactly how the features were made (network, weights checksum,
preprocessing), stored with every score. A space that cannot be built (no Inception weights)
raises FeaturesUnavailable with the reason, and the score is recorded as missing.
"""

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from bench.cache import CorruptArtifact, share
from bench.features import domain, inception
from bench.provenance import training_record

SPACES = ("inception", "domain")
BATCH = 64


class FeaturesUnavailable(RuntimeError):
    """This feature space cannot be built here; the message says why and how to fix it."""


@dataclass
class Extractor:
    space: str
    record: dict  # how the features are made: stored with every score computed in this space
    fn: Callable[[torch.Tensor], torch.Tensor]
    device: str
    classify: Callable[[torch.Tensor], torch.Tensor] | None = None  # images -> (n, F) predicted factors

    @torch.inference_mode()
    def factors(self, images, batch_size: int = BATCH) -> np.ndarray:
        """(N, C, H, W) images -> (N, F) the factor values the space's classifier heads read from them
        (the domain net only: Inception knows no factors)."""
        if self.classify is None:
            raise NotImplementedError(f"the {self.space} feature space has no factor classifier")
        return np.concatenate([self.classify(_as_float(images[start:start + batch_size]).to(self.device)).cpu().numpy()
                               for start in range(0, len(images), batch_size)])

    @torch.inference_mode()
    def __call__(self, images, batch_size: int = BATCH) -> np.ndarray:
        """(N, C, H, W) uint8 or float images -> (N, d) float64 features, batch by batch."""
        out = []
        for start in range(0, len(images), batch_size):
            x = inception.as_float_rgb(images[start:start + batch_size]) if self.space == "inception" \
                else _as_float(images[start:start + batch_size])
            out.append(self.fn(x.to(self.device)).double().cpu().numpy())
        return np.concatenate(out)


def _as_float(images) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images)) if not torch.is_tensor(images) else images
    return x.float() / 255 if x.dtype == torch.uint8 else x.float()


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:32]


class FeatureSpaces:
    """Builds each feature space once per run. `cache` (an ArtifactCache) keeps the trained domain
    nets and the reference features across runs; `fid_weights` overrides where the Inception
    weights are looked for (else $MSBENCH_FID_WEIGHTS, else torch's hub cache)."""

    def __init__(self, cache=None, device: str = "cpu", fid_weights=None, progress: bool = True, log=print):
        self.cache, self.device, self.fid_weights = cache, device, fid_weights
        self.progress, self.log = progress, log
        self._extractors, self._references = {}, {}

    def extractor(self, space: str, data, seed: int = 0, steps: int | None = None) -> Extractor:
        """The feature space `space` ("inception" or "domain"); `seed` and `steps` (the training steps,
        which the metric's params give) choose the domain net."""
        if space == "domain" and steps is None:
            raise ValueError("the domain feature net needs its training steps")
        key = ("inception",) if space == "inception" else (space, json.dumps(data.spec, sort_keys=True), seed, steps)
        if key not in self._extractors:
            self._extractors[key] = self._inception() if space == "inception" else self._domain(data, seed, steps)
        found = self._extractors[key]
        if isinstance(found, FeaturesUnavailable):
            raise found
        return found

    def _inception(self):
        try:
            path = inception.find_weights(self.fid_weights)
        except inception.WeightsUnavailable as exc:
            return FeaturesUnavailable(str(exc))  # remembered: every model is told the same reason
        net, sha256 = inception.load_fid_inception(path)  # a wrong file stops the run: the user named it
        net = net.to(self.device, memory_format=torch.channels_last)  # ~1.5x faster convolutions on CPU
        self.log(f"FID: Inception weights {path} (sha256 {sha256[:12]}...)")
        record = {"space": "inception", "network": "pytorch-fid InceptionV3 pool3", "weights": str(path),
                  "weights_sha256": sha256, "resize": f"bilinear to {inception.INPUT_SIZE}x{inception.INPUT_SIZE}",
                  "input_range": "uint8 /255 or float [0,1], then 2x-1", "grayscale": "repeated to 3 channels"}
        return Extractor("inception", record, lambda x: net(x.contiguous(memory_format=torch.channels_last)),
                         self.device)

    def _domain(self, data, seed, steps):
        spec = domain.spec(data, seed, steps)
        key = "domain-" + _digest(spec)
        net = domain.build(data, seed, self.device)
        if self.cache is not None and self.cache.has(key):
            try:
                self.cache.load_into(key, net)
            except CorruptArtifact as exc:  # trained again, the bad copy kept aside
                self.log(f"domain feature net: {exc}; training again")
                self.cache.set_aside(key)
                net = domain.build(data, seed, self.device)
            else:
                return self._domain_extractor(net, key, spec)
        self.log(f"domain feature net for {data.name}: training ({steps} steps, once per dataset spec)")
        log = domain.train(net, data, seed, steps, self.progress)
        self.log(f"domain feature net: held-out factor accuracy {log[-1]['heldout_accuracy']}")
        if self.cache is not None:
            self.cache.save(key, net, spec, log, trained_on=training_record(self.device))
        return self._domain_extractor(net, key, spec)

    def _domain_extractor(self, net, key, spec):
        net.eval()
        record = {"space": "domain", "network": f"domain feature net v{domain.VERSION}", "artifact": key,
                  "seed": spec["seed"], "steps": spec["steps"], "input_range": "uint8 /255 or float [0,1]", "resize": "none"}
        return Extractor("domain", record, net.features, self.device,
                         classify=lambda x: torch.stack([head.argmax(1) for head in net(x)], dim=1))

    def reference(self, extractor: Extractor, data, images) -> np.ndarray:
        """Features of the dataset's evaluation images, cached on disk under a key of the feature
        space and the images' content (so a changed dataset or sampler never reuses stale ones)."""
        content = hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()
        key = _digest({"features": extractor.record, "dataset": data.spec, "images": content,
                       "shape": list(np.shape(images)), "dtype": str(np.asarray(images).dtype)})
        if key in self._references:
            return self._references[key]
        path = self.cache.root / "reference-features" / f"{key}.npz" if self.cache is not None else None
        features = None
        if path is not None and path.is_file() and not self.cache.fresh:  # a --fresh run computes its own
            try:
                with np.load(path, allow_pickle=False) as stored:
                    features = stored["features"]
            except (OSError, ValueError, KeyError) as exc:
                self.log(f"reference features {path} unreadable ({exc}); computing them again")
        if features is None or features.shape[0] != len(images):
            features = extractor(images)
            if path is not None:
                _save_npz(path, features=features, mean=features.mean(0), cov=np.cov(features, rowvar=False))
        self._references[key] = features
        return features


def _save_npz(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        share(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
