"""Encoders and decoders shared by the VAE family: convolutional for images, MLPs for tables.

The shapes follow disentanglement-lib's `conv_encoder` / `deconv_decoder`
(methods/shared/architectures.py): conv 32-32-64-64, kernels 4-4-2-2, stride 2, dense 256;
the decoder mirrors it (dense 256, dense to 64 x S/16 x S/16, transposed convs 64-32-32-C,
kernel 4, stride 2). `width` scales every hidden size (Big-VAE uses it).
"""

from torch import nn


def _channels(width: float) -> tuple[int, int, int, int, int]:
    return tuple(max(1, round(c * width)) for c in (32, 32, 64, 64, 256))


class ConvEncoder(nn.Module):
    """Image (C, S, S) -> Gaussian mean and log-variance of size `latent`."""

    def __init__(self, data_shape, latent: int, width: float = 1.0):
        super().__init__()
        channels, size, _ = data_shape
        if size % 16:
            raise ValueError(f"image side must be a multiple of 16, got {size}")
        c1, c2, c3, c4, hidden = _channels(width)
        self.net = nn.Sequential(
            nn.Conv2d(channels, c1, 4, 2, 1), nn.ReLU(),  # TF "same" padding for k=4, s=2
            nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(c2, c3, 2, 2), nn.ReLU(),
            nn.Conv2d(c3, c4, 2, 2), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c4 * (size // 16) ** 2, hidden), nn.ReLU(),
        )
        self.mean = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)

    def forward(self, x):
        h = self.net(x)
        return self.mean(h), self.logvar(h)


class DeconvDecoder(nn.Module):
    """Code of size `latent` -> image logits (C, S, S)."""

    def __init__(self, data_shape, latent: int, width: float = 1.0):
        super().__init__()
        channels, size, _ = data_shape
        c1, c2, c3, c4, hidden = _channels(width)
        self.start = (c4, size // 16, size // 16)
        self.net = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(),
            nn.Linear(hidden, c4 * (size // 16) ** 2), nn.ReLU(),
            nn.Unflatten(1, self.start),
            nn.ConvTranspose2d(c4, c3, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(c3, c2, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(c1, channels, 4, 2, 1),
        )

    def forward(self, c):
        return self.net(c)


def mlp(sizes, final_activation: bool = False) -> nn.Sequential:
    """Linear layers through `sizes` with ReLU between them (and after the last if asked)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """Row of `features` values -> Gaussian mean and log-variance of size `latent`."""

    def __init__(self, features: int, latent: int, hidden=(128, 128)):
        super().__init__()
        self.net = mlp([features, *hidden], final_activation=True)
        self.mean = nn.Linear(hidden[-1], latent)
        self.logvar = nn.Linear(hidden[-1], latent)

    def forward(self, x):
        h = self.net(x)
        return self.mean(h), self.logvar(h)


class MLPDecoder(nn.Module):
    """Code of size `latent` -> logits for a row of `features` values."""

    def __init__(self, latent: int, features: int, hidden=(128, 128)):
        super().__init__()
        self.net = mlp([latent, *hidden, features])

    def forward(self, c):
        return self.net(c)
