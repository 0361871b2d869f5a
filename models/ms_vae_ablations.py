"""The ablations of MS-VAE's design (the paper's appendix M), as small variants of `ms_vae`. The paper
names them M1-M5; the suite calls them A1-A5 so that they never collide with the M1-M4 scores.

- A1 `beta_vae_z` (M.1, "β-VAE + Z"): one model trained end to end. One encoder gives |C| + |Z|
  latents; the β penalty falls on C only, Z has the plain VAE's KL; the decoder is MS-VAE's: a
  β-VAE decoder turns C into Y, and Z enters G(Y, Z) through AdaIN. Y is computed, never observed.
- A2 `ms_vae_c` with `z_entry: concat` (M.2, "MS-VAE-C"): a frozen stage one as MS-VAE's, but
  stage two renders X from C concatenated with Z, with no AdaIN.
- A3 `ms_vae_c` with `z_entry: film` (M.2, "MS-VAE-C-IN"): stage two renders X from C, with Z
  through AdaIN.
- A4 `ms_vae_zc` (M.3, "MS-VAE-ZC"): Z first, C second. Stage one is a plain VAE whose code is Z;
  stage two learns C from X with a β KL penalty and renders X from C concatenated with Z.
- A5 is `ms_vae` itself.

In A2 and A3, R still reads the residual x - Y (the paper's Figure 45: "we encode X using the
β-VAE to get C and Y, then we extract Z using Y"), so only what G is given changes. Their G is the
up half of MS-VAE's small G, fed C through a dense layer instead of Y through the down path; the
two `z_entry` settings differ only in where Z enters (FiLM after every conv, or concatenated with C
at the input, every conv then instance-normalised without modulation).
"""

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from bench.config import require
from models._base import Model, posterior_c
from models._nets import ConvEncoder, DeconvDecoder
from models.beta_tcvae import gaussian_kl
from models.ms_vae import FiLM, Generator, MSVAE, MSVAEConfig


class CodeGenerator(nn.Module):
    """G(c, z) for a code c: dense c -> (2w, S/4, S/4), then MS-VAE's bottleneck and up path. Z enters
    through FiLM after every conv (`film`), or concatenated with c at the input (`concat`), the
    convs then instance-normalised without modulation."""

    def __init__(self, data_shape, c_dim: int, z_dim: int, width: int, z_entry: str, spatial: bool = False):
        super().__init__()
        channels, size, _ = data_shape
        w, self.z_entry = width, z_entry
        self.start = (2 * w, size // 4, size // 4)
        self.dense = nn.Linear(c_dim + (z_dim if z_entry == "concat" else 0), 2 * w * (size // 4) ** 2)
        plan = [(nn.Conv2d(2 * w, 2 * w, 3, 1, 1), 2 * w, size // 4),
                (nn.ConvTranspose2d(2 * w, w, 4, 2, 1), w, size // 2),
                (nn.ConvTranspose2d(w, w, 4, 2, 1), w, size)]
        self.convs = nn.ModuleList(layer for layer, _, _ in plan)
        if z_entry == "film":
            self.films = nn.ModuleList(FiLM(c, z_dim, (s, s) if spatial else None) for _, c, s in plan)
        else:
            self.films = nn.ModuleList(nn.InstanceNorm2d(c, affine=False) for _, c, _ in plan)
        self.head = nn.Conv2d(w, channels, 3, 1, 1)

    def forward(self, c, z):
        h = self.dense(c if self.z_entry == "film" else torch.cat([c, z], 1))
        h = F.relu(h).view(-1, *self.start)
        for conv, norm in zip(self.convs, self.films):
            h = F.relu(norm(conv(h), z) if self.z_entry == "film" else norm(conv(h)))
        return self.head(h)  # logits


@dataclass(frozen=True)
class MSVAECConfig(MSVAEConfig):
    z_entry: Literal["film", "concat"] = "film"  # A3 (MS-VAE-C-IN) or A2 (MS-VAE-C)

    def __post_init__(self):
        super().__post_init__()
        require(self.architecture == "small", "architecture", "the C-input variants build the small G only")
        require(self.y_space == "probability", "y_space", "G takes C, not Y, so y_space has no effect: leave it out")
        require(self.y_per_x == 1, "y_per_x", "one c per image in the C-input variants")


class MSVAEC(MSVAE):
    """A2/A3: MS-VAE with C in Y's place as G's input (R still reads x - Y)."""

    name = "ms_vae_c"
    Config = MSVAECConfig
    capabilities = frozenset({"sample", "traverse", "z", "stage_one", "conditioning"})
    description = ("MS-VAE ablation (appendix M.2): stage two renders X from stage one's C instead of Y, Z through "
                   "AdaIN (z_entry: film, MS-VAE-C-IN) or concatenated with C (z_entry: concat, MS-VAE-C)")

    def __init__(self, config, data_shape):
        Model.__init__(self, config, data_shape)
        self.encoder = ConvEncoder(data_shape, config.z_dim)
        self.generator = CodeGenerator(data_shape, config.latent_dim, config.z_dim, config.width, config.z_entry,
                                       config.modulation == "spatial")
        self.__dict__["stage_one"] = None

    def training_loss(self, x, index=None, c_noise=None):
        """As MS-VAE's: `c_noise` (or the `index` it is drawn from) for y_from: sample."""
        if self.config.y_from == "sample" and c_noise is None:
            if index is None:
                raise ValueError("y_from: sample needs each image's dataset index (Model.fit passes it)")
            c_noise = self.c_noise(index)
        with torch.no_grad():
            codes = self._stage_one().encode(x, c_noise=c_noise)
            y = self._stage_one().decode(codes)
        mean, logvar = self.encoder(x - y)
        z = mean + self.noise_like(mean) * torch.exp(0.5 * logvar)
        reconstruction = self.reconstruction_loss(self.generator(codes["c"], z), x)
        kl = gaussian_kl(mean, logvar).mean()
        return reconstruction + self.config.kl_weight * kl, {"reconstruction": reconstruction.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def decode(self, codes):
        return torch.sigmoid(self.generator(codes["c"], codes["z"]))

    def elbo(self, x, generator, samples=1):
        raise NotImplementedError(f"{self.name}: MS-VAE's ELBO is of G(Y, Z); this variant renders from C")

    @torch.no_grad()
    def conditioning_codes(self, x, generator: torch.Generator) -> dict:
        """MS-VAE's M1-M4 views with C in Y's place, G's input: X rendered from (C, Z), from (C, noise
        for Z), from (noise for C, Z) and from (another image's C, Z). C_Y is stage one's code of Y."""
        encode = lambda images: self._stage_one().encode(images)["c"]  # noqa: E731 - E, the mean encoder
        codes = self.encode(x)
        c, z = codes["c"], codes["z"]
        eps_z = torch.randn(z.shape, generator=generator, device="cpu").to(z.device)
        eps_c = torch.randn(c.shape, generator=generator, device="cpu").to(c.device)
        shuffled = torch.randperm(len(x), generator=generator, device="cpu").to(c.device)
        render = lambda code, noise: torch.sigmoid(self.generator(code, noise))  # noqa: E731
        return {"C_R": c, "C_Y": encode(self._stage_one().decode(codes)), "C_X": encode(render(c, z)),
                "C_z_eps": encode(render(c, eps_z)), "C_Y_eps": encode(render(eps_c, z)),
                "C_Y_shuffled": encode(render(c[shuffled], z))}


@dataclass(frozen=True)
class BetaVAEZConfig:
    beta: float = 4.0  # the penalty on C
    latent_dim: int = 5  # |C|: appendix M's β-VAE has 5
    z_dim: int = 5  # |Z|: appendix M's M1 has 5 more
    width: int = 32  # G's channels, as MS-VAE's small preset
    modulation: Literal["channel", "spatial"] = "channel"

    def __post_init__(self):
        require(self.beta >= 0, "beta", f"{self.beta} is negative")
        require(self.latent_dim >= 1, "latent_dim", f"{self.latent_dim} is below 1")
        require(self.z_dim >= 1, "z_dim", f"{self.z_dim} is below 1")
        require(self.width >= 4, "width", f"{self.width} is below 4")

    @property
    def latent_size(self) -> int:
        return self.latent_dim


class BetaVAEZ(Model):
    """A1: β-VAE + Z trained end to end, the penalty on C only, Z through AdaIN (appendix M.1)."""

    name = "beta_vae_z"
    Config = BetaVAEZConfig
    capabilities = frozenset({"sample", "traverse", "z"})
    description = ("MS-VAE ablation (appendix M.1): β-VAE + Z end to end, β on C only, Y = decoder(C) and Z through "
                   "AdaIN in G(Y, Z), Y never observed")
    test_config = {"latent_dim": 3, "z_dim": 2, "width": 8}

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        self.encoder = ConvEncoder(data_shape, config.latent_dim + config.z_dim)
        self.decoder = DeconvDecoder(data_shape, config.latent_dim)
        self.generator = Generator(data_shape, config.z_dim, config.width, config.modulation == "spatial")

    def _split(self, x):
        mean, logvar = self.encoder(x)
        k = self.config.latent_dim
        return mean[:, :k], logvar[:, :k], mean[:, k:], logvar[:, k:]

    def _render(self, c, z):
        return self.generator(torch.sigmoid(self.decoder(c)), z)  # logits

    def training_loss(self, x):
        c_mean, c_logvar, z_mean, z_logvar = self._split(x)
        c = c_mean + torch.randn_like(c_mean) * torch.exp(0.5 * c_logvar)
        z = z_mean + torch.randn_like(z_mean) * torch.exp(0.5 * z_logvar)
        reconstruction = self.reconstruction_loss(self._render(c, z), x)
        kl_c, kl_z = gaussian_kl(c_mean, c_logvar).mean(), gaussian_kl(z_mean, z_logvar).mean()
        loss = reconstruction + self.config.beta * kl_c + kl_z
        return loss, {"reconstruction": reconstruction.detach(), "kl_c": kl_c.detach(), "kl_z": kl_z.detach()}

    @torch.no_grad()
    def encode(self, x, c_noise=None):
        c_mean, c_logvar, z_mean, z_logvar = self._split(x)
        return {"c": posterior_c(c_mean, c_logvar, c_noise), "c_logvar": c_logvar, "z": z_mean, "z_logvar": z_logvar}

    @torch.no_grad()
    def decode(self, codes):
        return torch.sigmoid(self._render(codes["c"], codes["z"]))

    @torch.no_grad()
    def sample(self, n):
        return self.decode({"c": torch.randn(n, self.config.latent_dim, device=self.device),
                            "z": torch.randn(n, self.config.z_dim, device=self.device)})


@dataclass(frozen=True)
class MSVAEZCConfig:
    z_stage: str = "beta_vae"  # stage one, learnt first: a plain VAE (β = 1) whose code is Z
    z_dim: int = 5
    beta: float = 4.0  # stage two's KL penalty on C
    latent_dim: int = 5  # |C|

    def __post_init__(self):
        require(self.beta >= 0, "beta", f"{self.beta} is negative")
        require(self.latent_dim >= 1, "latent_dim", f"{self.latent_dim} is below 1")
        require(self.z_dim >= 1, "z_dim", f"{self.z_dim} is below 1")

    @property
    def latent_size(self) -> int:
        return self.latent_dim


class MSVAEZC(Model):
    """A4: Z first (a frozen VAE), then C learnt from X with a β KL penalty; X rendered from C ⊕ Z."""

    name = "ms_vae_zc"
    Config = MSVAEZCConfig
    requires = ("z_stage",)
    capabilities = frozenset({"sample", "traverse", "z"})
    description = ("MS-VAE ablation (appendix M.3, MS-VAE-ZC): Z learnt first by a plain VAE, then C from X with a "
                   "β KL penalty, X decoded from C concatenated with Z")
    test_config = {"latent_dim": 3, "z_dim": 2}

    @staticmethod
    def upstream(config) -> dict:
        return {"z_stage": (config.z_stage, {"beta": 1.0, "latent_dim": config.z_dim})}

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        self.encoder = ConvEncoder(data_shape, config.latent_dim)
        self.decoder = DeconvDecoder(data_shape, config.latent_dim + config.z_dim)

    def num_params(self) -> int:
        """Stage two plus its Z stage, as MS-VAE counts its stage one."""
        return super().num_params() + self.stage("z_stage").num_params()

    def _z(self, x):
        with torch.no_grad():
            return self.stage("z_stage").encode(x)["c"]  # the first stage's posterior mean

    def training_loss(self, x):
        mean, logvar = self.encoder(x)
        c = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        reconstruction = self.reconstruction_loss(self.decoder(torch.cat([c, self._z(x)], 1)), x)
        kl = gaussian_kl(mean, logvar).mean()
        return reconstruction + self.config.beta * kl, {"reconstruction": reconstruction.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def encode(self, x, c_noise=None):
        mean, logvar = self.encoder(x)
        return {"c": posterior_c(mean, logvar, c_noise), "c_logvar": logvar, "z": self._z(x),
                "z_logvar": torch.full((len(x), self.config.z_dim), -math.inf, device=x.device)}

    @torch.no_grad()
    def decode(self, codes):
        return torch.sigmoid(self.decoder(torch.cat([codes["c"], codes["z"]], 1)))

    @torch.no_grad()
    def sample(self, n):
        return self.decode({"c": torch.randn(n, self.config.latent_dim, device=self.device),
                            "z": torch.randn(n, self.config.z_dim, device=self.device)})
