"""The Inception network of FID (pool3, 2048 features), loaded from a local weights file only.

The architecture is pytorch-fid's: torchvision's Inception3 with the blocks the original
TensorFlow graph differs in (pytorch-fid's FIDInception*), so that the published weights file
`pt_inception-2015-12-05-6726825d.pth` loads into it. Nothing is ever downloaded: a missing
file makes FID missing, and a file whose checksum is wrong is refused.
"""

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_fid.inception import FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2
from torch import nn
from torchvision.models.inception import Inception3

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
# torch.hub's convention: the name's suffix is the first 8 hex digits of the file's SHA-256
WEIGHTS_SHA256_PREFIX = "6726825d"
WEIGHTS_ENV = "MSBENCH_FID_WEIGHTS"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_NAME
INPUT_SIZE = 299
FEATURE_DIM = 2048


class WeightsUnavailable(FileNotFoundError):
    """No FID weights file where msbench looked; the message lists the paths searched."""


class WeightsChecksumError(ValueError):
    """A file was found but is not the FID Inception weights."""


def candidate_paths(explicit: str | os.PathLike | None = None) -> list[Path]:
    """Where the weights are looked for, in order: the explicit path (--fid-weights), else
    $MSBENCH_FID_WEIGHTS, else torch's hub cache ($TORCH_HOME/hub/checkpoints/)."""
    chosen = explicit or os.environ.get(WEIGHTS_ENV)
    if chosen:
        return [Path(chosen).expanduser()]
    return [Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME]


def find_weights(explicit=None) -> Path:
    paths = candidate_paths(explicit)
    for path in paths:
        if path.is_file():
            return path
    raise WeightsUnavailable(
        f"FID Inception weights not found (looked for {', '.join(map(str, paths))}); download {WEIGHTS_URL} "
        f"once and put it there, or pass --fid-weights PATH / set {WEIGHTS_ENV}")


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fid_inception3() -> Inception3:
    """pytorch-fid's FID variant of Inception3 (its `fid_inception_v3` without the download)."""
    net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE_1(1280)
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net


class FidInception(nn.Module):
    """Images in [0, 1], (N, 3, H, W) -> pool3 features (N, 2048), preprocessed as pytorch-fid does:
    bilinear resize to 299x299 (align_corners=False), then scaled to [-1, 1]."""

    def __init__(self, state_dict: dict):
        super().__init__()
        net = _fid_inception3()
        net.load_state_dict(state_dict, strict=True)
        self.layers = nn.Sequential(
            net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(3, stride=2),
            net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(3, stride=2),
            net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d,
            net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return self.layers(2 * x - 1)


def load_fid_inception(path, expected_sha256_prefix: str | None = None) -> tuple[FidInception, str]:
    """The FID network from a local weights file, checked by checksum (the published file's unless
    told otherwise); returns (net, sha256)."""
    expected_sha256_prefix = expected_sha256_prefix or WEIGHTS_SHA256_PREFIX
    digest = sha256_of(path)
    if not digest.startswith(expected_sha256_prefix):
        raise WeightsChecksumError(
            f"{path} is not the FID Inception weights: its SHA-256 is {digest[:16]}..., expected one starting "
            f"with {expected_sha256_prefix} ({WEIGHTS_NAME} from {WEIGHTS_URL})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return FidInception(state), digest
    except (RuntimeError, KeyError, ValueError, TypeError, EOFError, pickle.UnpicklingError) as exc:
        raise WeightsChecksumError(f"{path} cannot be loaded as the FID Inception weights: {exc}") from exc


def random_state_dict(seed: int = 0) -> dict:
    """A state dict of the right keys and shapes with random values: for tests and timing only."""
    torch.manual_seed(seed)
    net = _fid_inception3()
    for module in net.modules():  # torchvision's own init is slow (truncated normals); any values do
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight)
    return net.state_dict()


def as_float_rgb(images) -> torch.Tensor:
    """uint8 in [0, 255] or floats in [0, 1], (N, 1|3, H, W) -> float32 RGB in [0, 1]. uint8 is divided
    by 255, as pytorch-fid's ToTensor does, so uint8 images and the same images as floats agree."""
    x = torch.as_tensor(np.asarray(images)) if not torch.is_tensor(images) else images
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"need images shaped (N, 1 or 3, H, W), got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        x = x.float() / 255
    elif x.is_floating_point():
        x = x.float()
        low, high = float(x.min()), float(x.max())
        if low < -1e-6 or high > 1 + 1e-6:
            raise ValueError(f"float images must lie in [0, 1]; these span [{low:.4g}, {high:.4g}]")
    else:
        raise ValueError(f"images must be uint8 or float, got {x.dtype}")
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
