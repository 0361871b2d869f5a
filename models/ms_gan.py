"""MS-GAN (the paper's appendices F and G): a frozen stage one gives C and a blurry Y; stage two is a
conditional GAN (Y, z) -> X in which z enters only through FiLM/AdaIN, as in MS-VAE.

- G(y, z) is MS-VAE's small generator (models/ms_vae.py: conv down path, bottleneck, transposed convs
  up, every conv followed by instance norm and FiLM from z).
- D sees the image concatenated with Y along the channels (pix2pix's conditional discriminator,
  Isola et al. 2017, which appendix F follows), DCGAN-style (models/_gan.py).
- Two settings (`setting`, appendix G):
  - `supervised`: C is the dataset's known factors and C -> Y the `factor_decoder` (G.1);
  - `unsupervised`: C is a cached beta-VAE (or any single-stage image model of the zoo) with a narrow
    code, Y its reconstruction of x in training and its decoding of c ~ N(0, I) in sampling (G.2).

MS-GAN has no encoder for z, so it has none for x: samples come from the prior, and every score that
needs an encoder is missing (models/_gan.py).
"""

from dataclasses import dataclass
from typing import Literal

import torch

from bench.config import require
from models._gan import GAN, Discriminator
from models.ms_vae import Generator


@dataclass(frozen=True)
class MSGANConfig:
    setting: Literal["supervised", "unsupervised"] = "supervised"
    stage_one: str = "beta_vae"  # the unsupervised setting's C -> Y
    beta: float = 4.0  # its beta
    latent_dim: int = 2  # its narrow code: 2 for cars and chairs, 6 for faces (appendix G.2)
    z_dim: int = 8
    width: int = 32  # G's first block's channels
    discriminator_width: int = 64

    def __post_init__(self):
        require(self.z_dim >= 1, "z_dim", f"{self.z_dim} is below 1")
        require(self.width >= 4, "width", f"{self.width} is below 4")
        require(self.discriminator_width >= 4, "discriminator_width", f"{self.discriminator_width} is below 4")


class MSGAN(GAN):
    name = "ms_gan"
    Config = MSGANConfig
    capabilities = frozenset({"sample", "stage_one", "conditional"})
    test_config = {"z_dim": 2, "width": 8, "discriminator_width": 8}
    description = "MS-GAN: frozen stage one (known factors or a beta-VAE) + conditional GAN (Y, z) -> X, z through FiLM"
    requires = ("stage_one",)

    @staticmethod
    def upstream(config) -> dict:
        if config.setting == "supervised":
            return {"stage_one": ("factor_decoder", {})}
        return {"stage_one": (config.stage_one, {"beta": config.beta, "latent_dim": config.latent_dim})}

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        channels, size, _ = data_shape
        self.generator_net = Generator(data_shape, config.z_dim, config.width, spatial=False)
        self.discriminator = Discriminator(2 * channels, size, config.discriminator_width)
        self.__dict__["stage_one"] = None  # kept out of the module tree: not trained, not saved here

    @property
    def uses_index(self) -> bool:
        return self.config.setting == "supervised"  # the index gives the real image's factors

    def prepare(self, data) -> None:
        self.__dict__["factors_of"] = getattr(data, "factors_of", None)

    def num_params(self) -> int:
        """G and stage one, as MS-VAE counts both stages (the discriminator only trains, so it is not counted)."""
        return super().num_params() + self.stage().num_params()

    # --- training ----------------------------------------------------------------------
    def real_condition(self, x, index=None):
        if self.config.setting == "supervised":
            if index is None:
                raise ValueError("supervised MS-GAN needs each image's dataset index (Model.fit passes it)")
            return self.stage().generate(torch.from_numpy(self.factors_of(index)))
        return self.stage().reconstruct(x)  # the posterior mean's decoding

    def fake(self, y, n):
        return torch.sigmoid(self.generator_net(y, torch.randn(n, self.config.z_dim, device=y.device))), {}

    def discriminate(self, images, y):
        return self.discriminator(torch.cat([images, y], dim=1))

    # --- the model ---------------------------------------------------------------------
    @torch.no_grad()
    def render(self, y, z):
        """G(y, z) as probabilities."""
        return torch.sigmoid(self.generator_net(y, z))

    @torch.no_grad()
    def sample(self, n):
        """From the prior: known factors drawn uniformly (supervised) or c ~ N(0, I) (unsupervised)."""
        stage_one = self.stage()
        if self.config.setting == "supervised":
            y = stage_one.sample(n)
        else:
            y = stage_one.decode({"c": torch.randn(n, stage_one.config.latent_size, device=self.device)})
        return self.render(y, torch.randn(n, self.config.z_dim, device=self.device))

    @torch.no_grad()
    def generate(self, factors, generator):
        """G(Y(c), z) for known factor values c (n, F), z ~ N(0, I) from `generator` (supervised only)."""
        if self.config.setting != "supervised":
            raise NotImplementedError("unsupervised MS-GAN's c is a learned code, not the dataset's factors")
        y = self.stage().generate(factors)
        z = torch.randn(len(y), self.config.z_dim, generator=generator).to(y.device)
        return self.render(y, z)
