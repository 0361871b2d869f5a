"""Jacobian supervision (Lezama 2018, "Overcoming the disentanglement vs reconstruction trade-off
via Jacobian supervision"), the single-student version the paper compares with in section 5.

A teacher, the cached beta-TCVAE of the same beta and seed (reused as MS-VAE reuses its stage
one, and frozen), gives disentangled codes c_t(x) and blurry reconstructions x_t(x). The student
is a deterministic autoencoder with |C| + |Z| latents (the paper: "the same architecture and C, Z
dimensionalities as MS-VAE"); its code splits into a factor part y (the first |C|) and a nuisance
part z. Each image x is paired with another of the batch, x' (the batch rolled by one), and:

    loss = mse(x, D(y, z))                                        reconstruction (or `bernoulli`)
         + lambda_y    * mse(c_t(x), y)                           the factor part tracks the teacher
         + lambda_jac  * mse(x_t(x') - x_t(x), D(y', z) - D(y, z)) the change when the factor part is
                                                                  swapped with x''s: as the teacher's
         + lambda_xcov * ||(y - mean y)^T (z - mean z)||_F / B     cross-covariance of the two parts

with every mse a mean over elements, the teacher's code its posterior mean and its reconstruction
its decoder mean. The losses and their weights (0.25, 0.1, 1e-3) follow the authors' comparison
code (DS-VAE/lezama/lezama_example_code.ipynb in github.com/AnonymousAuthors000/DS-VAE). That code
pairs each image with one of a second batch; rolling the batch pairs as randomly and needs one
teacher pass instead of two.

Architectures (`architecture`): `small`, disentanglement-lib's conv encoder and decoder (as
beta-TCVAE-L, the encoder's mean as the code); `paper`, the authors' `encoder_lezama` and
`decoder_lezama` (DS-VAE/lezama/lezama_models.py): 5x5 stride-2 convs 64-128-256-512 with batch
norm and leaky ReLU 0.2 and a dense code; a dense layer to 512 x S/16 x S/16, batch norm, ReLU,
then 5x5 stride-2 transposed convs 256-128-64-C with batch norm and ReLU. PyTorch's default
initialisation, not their normal(0, 0.02).
"""

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from bench.config import require
from models._base import Model
from models._nets import ConvEncoder, DeconvDecoder


@dataclass(frozen=True)
class JacobianStudentConfig:
    teacher: str = "beta_tcvae"  # any single-stage image model of the zoo
    beta: float = 1.0  # the teacher's beta
    latent_dim: int = 10  # |C|: the teacher's code size, the student's factor part
    z_dim: int = 5  # |Z|: the student's nuisance part
    # the authors' weights (lezama_example_code.ipynb: lambda_y, lambda_diff, lambda_cov)
    lambda_y: float = 0.25
    lambda_jac: float = 0.1
    lambda_xcov: float = 1e-3
    architecture: Literal["small", "paper"] = "small"
    # "mse": the authors' mean squared error; "bernoulli": binary cross-entropy, also a mean over
    # elements (so the lambdas keep their scale), for sparse binary images such as dSprites, where
    # the mse collapses to blank images at small budgets (README, the quickstart)
    reconstruction: Literal["mse", "bernoulli"] = "mse"

    def __post_init__(self):
        require(self.latent_dim >= 1, "latent_dim", f"{self.latent_dim} is below 1")
        require(self.z_dim >= 1, "z_dim", f"{self.z_dim} is below 1")
        for name in ("lambda_y", "lambda_jac", "lambda_xcov"):
            require(getattr(self, name) >= 0, name, f"{getattr(self, name)} is negative")

    @property
    def latent_size(self) -> int:
        return self.latent_dim + self.z_dim


LEZAMA_CHANNELS = (64, 128, 256, 512)


class LezamaEncoder(nn.Module):
    """The authors' `encoder_lezama`: image -> code (no variance: the student is an autoencoder)."""

    def __init__(self, data_shape, latent: int):
        super().__init__()
        channels, size, _ = data_shape
        if size % 16:
            raise ValueError(f"image side must be a multiple of 16, got {size}")
        c1, c2, c3, c4 = LEZAMA_CHANNELS
        conv = lambda a, b: nn.Conv2d(a, b, 5, 2, 2)  # noqa: E731 - TF "same" padding, stride 2
        self.net = nn.Sequential(
            conv(channels, c1), nn.LeakyReLU(0.2),
            conv(c1, c2), nn.BatchNorm2d(c2), nn.LeakyReLU(0.2),
            conv(c2, c3), nn.BatchNorm2d(c3), nn.LeakyReLU(0.2),
            conv(c3, c4), nn.BatchNorm2d(c4), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(c4 * (size // 16) ** 2, latent))

    def forward(self, x):
        return self.net(x)


class LezamaDecoder(nn.Module):
    """The authors' `decoder_lezama`: code -> image logits."""

    def __init__(self, data_shape, latent: int):
        super().__init__()
        channels, size, _ = data_shape
        c1, c2, c3, c4 = LEZAMA_CHANNELS
        up = lambda a, b: nn.ConvTranspose2d(a, b, 5, 2, 2, output_padding=1)  # noqa: E731 - doubles the side
        self.net = nn.Sequential(
            nn.Linear(latent, c4 * (size // 16) ** 2), nn.Unflatten(1, (c4, size // 16, size // 16)),
            nn.BatchNorm2d(c4), nn.ReLU(),
            up(c4, c3), nn.BatchNorm2d(c3), nn.ReLU(),
            up(c3, c2), nn.BatchNorm2d(c2), nn.ReLU(),
            up(c2, c1), nn.BatchNorm2d(c1), nn.ReLU(),
            up(c1, channels))

    def forward(self, code):
        return self.net(code)


class JacobianStudent(Model):
    name = "jacobian_student"
    Config = JacobianStudentConfig
    capabilities = frozenset({"traverse", "z"})
    test_config = {"latent_dim": 4, "z_dim": 2}
    test_steps = 80
    description = "Jacobian supervision (Lezama 2018): a |C| + |Z| autoencoder student of a frozen beta-TCVAE teacher"
    requires = ("teacher",)

    @staticmethod
    def upstream(config) -> dict:
        return {"teacher": (config.teacher, {"beta": config.beta, "latent_dim": config.latent_dim})}

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        if config.architecture == "paper":
            self.encoder = LezamaEncoder(data_shape, config.latent_size)
            self.decoder = LezamaDecoder(data_shape, config.latent_size)
        else:
            self.encoder = ConvEncoder(data_shape, config.latent_size)
            self.decoder = DeconvDecoder(data_shape, config.latent_size)
        self.__dict__["teacher"] = None  # kept out of the module tree: not trained, not saved here

    def num_params(self) -> int:
        """The student alone (the teacher is not needed once it is trained), without the small preset's
        unused log-variance head: an autoencoder's code is the encoder's mean."""
        unused = self.encoder.logvar if isinstance(self.encoder, ConvEncoder) else None
        return super().num_params() - (sum(p.numel() for p in unused.parameters()) if unused is not None else 0)

    def _code(self, x):
        out = self.encoder(x)
        return out[0] if isinstance(out, tuple) else out  # the small preset's encoder also gives a log-variance

    def training_loss(self, x):
        teacher = self.stage("teacher")
        with torch.no_grad():
            codes = teacher.encode(x)  # c: the posterior mean
            target_code, target_image = codes["c"], teacher.decode(codes)
        code = self._code(x)
        y, z = code[:, :self.config.latent_dim], code[:, self.config.latent_dim:]
        logits = self.decoder(code)
        image = torch.sigmoid(logits)
        swapped = torch.sigmoid(self.decoder(torch.cat([y.roll(1, 0), z], dim=1)))  # x' = x rolled by one
        if self.config.reconstruction == "mse":
            reconstruction = F.mse_loss(image, x)
        else:
            reconstruction = F.binary_cross_entropy_with_logits(logits, x)
        latent = F.mse_loss(y, target_code)
        jacobian = F.mse_loss(swapped - image, target_image.roll(1, 0) - target_image)
        cross = (y - y.mean(0)).T @ (z - z.mean(0))
        xcov = torch.linalg.matrix_norm(cross) / len(x)
        c = self.config
        loss = reconstruction + c.lambda_y * latent + c.lambda_jac * jacobian + c.lambda_xcov * xcov
        return loss, {"reconstruction": reconstruction.detach(), "latent": latent.detach(),
                      "jacobian": jacobian.detach(), "xcov": xcov.detach()}

    @torch.no_grad()
    def encode(self, x, c_noise=None):
        """{"c": the factor part, "z": the nuisance part}. The code is deterministic, a point mass, so
        `c_noise` changes nothing and c's log-variance is -inf (a posterior sample is the code itself)."""
        code = self._code(x)
        c = code[:, :self.config.latent_dim]
        return {"c": c, "c_logvar": torch.full_like(c, float("-inf")), "z": code[:, self.config.latent_dim:]}

    @torch.no_grad()
    def decode(self, codes):
        return torch.sigmoid(self.decoder(torch.cat([codes["c"], codes["z"]], dim=1)))
