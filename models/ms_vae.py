"""MS-VAE (the paper's section 3.2): a frozen stage-one learner gives C and a blurry Y; stage
two is a conditional VAE for (Y, Z) -> X in which Z enters only through AdaIN/FiLM.

Stage one is any trained image model of the zoo (default beta-TCVAE), taken from the cache
by the runner and never updated here. Stage two:
- encoder R(z | x, y) sees the residual x - y (section 3.2), a Gaussian over |Z| dims;
- decoder G(y, z): y goes through a conv down path, a bottleneck and an up path; after every
  conv the activations are instance-normalised and then scaled and shifted by gamma(z) and
  beta(z) from small fully connected layers (the paper's modified AdaIN);
- Bernoulli likelihood, loss = reconstruction + kl_weight * KL(q(z | x, y) || N(0, I)).

G comes in two presets (`architecture`):
- `small` (`Generator`): conv 4x4 stride 2 down to S/4 with `width`, 2 x `width` channels, a 3x3
  bottleneck conv, transposed convs back up, ReLU, FiLM from z through a 64-unit hidden layer.
  Cheap enough for CPUs and the quickstart.
- `paper` (`PaperGenerator`): the DCGAN-style decoder of the authors' reference code
  (`simgan_decoder` in DS-VAE/source_tf/models/simgan_models.py of
  github.com/AnonymousAuthors000/DS-VAE, which the paper's appendix G names for its "exact
  architecture"), at any side S that is a multiple of 16:
    conv 5x5 s2  C -> 64 (S/2), leaky ReLU 0.2, no norm and no FiLM;
    conv 5x5 s2  64 -> 128 (S/4), 128 -> 256 (S/8), 256 -> 512 (S/16), each followed by instance
      norm, spatial FiLM and leaky ReLU 0.2;
    dense 512 (S/16)^2 -> 512 (S/16)^2 (8192 -> 8192 at 64 px: 67M weights), reshaped, then
      instance norm, spatial FiLM, ReLU;
    transposed conv 5x5 s2 512 -> 256 (S/8), 256 -> 128 (S/4), 128 -> 64 (S/2), each followed by
      instance norm, spatial FiLM and ReLU; transposed conv 5x5 s2 64 -> C (S): the logits.
  Each FiLM is one dense layer from z to a gamma and a beta map of the layer's full shape, as the
  authors' pair of `slim.fully_connected` calls. The reference code adds no bias to its transposed
  convs, so neither do we. Deliberate differences: (1) the authors' FiLM maps pass through slim's
  default ReLU and gamma is used as is; here gamma = 1 + dense(z) and beta = dense(z), unclipped,
  as in the small preset (same parameter count); (2) the reference code hard-codes 64 px, here the
  sizes follow S, so 32 px (the procedural datasets) builds too; (3) PyTorch's default
  initialisation, not the reference's normal(0, 0.02). The preset is G only: R stays the
  disentanglement-lib encoder in both presets (the reference's `residual_encoder` is a 5x5 conv
  net 64-512 with a dense head).
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.config import require
from models._base import Model, posterior_c
from models._nets import ConvEncoder
from models.beta_tcvae import gaussian_kl


@dataclass(frozen=True)
class MSVAEConfig:
    stage_one: str = "beta_tcvae"  # any image model of the zoo
    beta: float = 1.0  # stage one's beta
    latent_dim: int = 10  # |C|, stage one's latent size
    z_dim: int = 5  # |Z|: 5 for Cars3D, 10 for SmallNORB in the paper
    kl_weight: float = 1.0
    # how stage one's c is taken from q(c|x) for Y, in training and in reconstructions: "sample",
    # one c ~ q(c|x) per x, fixed (appendix J: the paper's quantitative protocol); "mean": E[c|x].
    # Either way Y is the decoder's mean for that c (appendix E.1).
    y_from: Literal["mean", "sample"] = "sample"
    y_space: Literal["probability", "logits"] = "probability"
    y_per_x: int = 1  # appendix J draws 10 cs (so 10 ys) per x for CelebA (with y_from: sample)
    modulation: Literal["channel", "spatial"] = "channel"  # spatial: the authors' reference code
    width: int = 32  # channels of G's first block (small preset only)
    architecture: Literal["small", "paper"] = "small"  # G's preset: see the module docstring

    def __post_init__(self):
        require(self.z_dim >= 1, "z_dim", f"{self.z_dim} is below 1")
        require(self.kl_weight >= 0, "kl_weight", f"{self.kl_weight} is negative")
        require(self.y_per_x >= 1, "y_per_x", f"{self.y_per_x} is below 1")
        require(self.width >= 4, "width", f"{self.width} is below 4")
        if self.architecture == "paper":
            require(self.modulation == "spatial", "modulation",
                    "the paper preset modulates every layer spatially, as the authors' code: set modulation: spatial")
            require(self.width == 32, "width", f"{self.width}: the paper preset's channels are fixed "
                                               "(64 to 512); width is for the small preset, leave it out")


class FiLM(nn.Module):
    """Instance norm without affine terms, then gamma(z) * h + beta(z) (section 3.2's AdaIN)."""

    def __init__(self, channels: int, z_dim: int, spatial: tuple | None = None, hidden: int | None = 64):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.shape = (channels, *spatial) if spatial else (channels, 1, 1)
        size = channels * (spatial[0] * spatial[1] if spatial else 1)
        if hidden:
            self.to_params = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * size))
        else:  # one dense layer, as the authors' code
            self.to_params = nn.Linear(z_dim, 2 * size)

    def forward(self, h, z):
        gamma, shift = self.to_params(z).chunk(2, dim=1)
        gamma = 1.0 + gamma.view(-1, *self.shape)  # starts near the identity
        return gamma * self.norm(h) + shift.view(-1, *self.shape)


class Generator(nn.Module):
    """G(y, z): down path, bottleneck, up path on y; z only through FiLM after every conv."""

    def __init__(self, data_shape, z_dim: int, width: int, spatial: bool):
        super().__init__()
        channels, size, _ = data_shape
        w = width
        plan = [  # (layer, output channels, output side)
            (nn.Conv2d(channels, w, 4, 2, 1), w, size // 2),
            (nn.Conv2d(w, 2 * w, 4, 2, 1), 2 * w, size // 4),
            (nn.Conv2d(2 * w, 2 * w, 3, 1, 1), 2 * w, size // 4),  # bottleneck
            (nn.ConvTranspose2d(2 * w, w, 4, 2, 1), w, size // 2),
            (nn.ConvTranspose2d(w, w, 4, 2, 1), w, size),
        ]
        self.convs = nn.ModuleList(layer for layer, _, _ in plan)
        self.films = nn.ModuleList(FiLM(c, z_dim, (s, s) if spatial else None) for _, c, s in plan)
        self.head = nn.Conv2d(w, channels, 3, 1, 1)

    def forward(self, y, z):
        h = y
        for conv, film in zip(self.convs, self.films):
            h = F.relu(film(conv(h), z))
        return self.head(h)  # logits


PAPER_CHANNELS = (64, 128, 256, 512)  # the authors' down path; the up path mirrors it


class PaperGenerator(nn.Module):
    """G(y, z) as the authors' reference decoder (layer plan in the module docstring)."""

    def __init__(self, data_shape, z_dim: int):
        super().__init__()
        channels, size, _ = data_shape
        if size % 16:
            raise ValueError(f"image side must be a multiple of 16, got {size}")
        c1, c2, c3, c4 = PAPER_CHANNELS
        self.bottom = (c4, size // 16, size // 16)

        def film(c, side):
            return FiLM(c, z_dim, (side, side), hidden=None)

        def up(a, b):  # 5x5 stride 2, exactly doubling the side; no bias, as the reference code
            return nn.ConvTranspose2d(a, b, 5, 2, 2, output_padding=1, bias=False)

        self.first = nn.Conv2d(channels, c1, 5, 2, 2)
        self.down = nn.ModuleList(nn.Conv2d(a, b, 5, 2, 2) for a, b in ((c1, c2), (c2, c3), (c3, c4)))
        self.down_films = nn.ModuleList(film(c, size // s) for c, s in ((c2, 4), (c3, 8), (c4, 16)))
        self.dense = nn.Linear(c4 * (size // 16) ** 2, c4 * (size // 16) ** 2)
        self.dense_film = film(c4, size // 16)
        self.up = nn.ModuleList(up(a, b) for a, b in ((c4, c3), (c3, c2), (c2, c1)))
        self.up_films = nn.ModuleList(film(c, size // s) for c, s in ((c3, 8), (c2, 4), (c1, 2)))
        self.head = up(c1, channels)

    def forward(self, y, z):
        h = F.leaky_relu(self.first(y), 0.2)
        for conv, film in zip(self.down, self.down_films):
            h = F.leaky_relu(film(conv(h), z), 0.2)
        h = F.relu(self.dense_film(self.dense(h.flatten(1)).view(-1, *self.bottom), z))
        for conv, film in zip(self.up, self.up_films):
            h = F.relu(film(conv(h), z))
        return self.head(h)  # logits


class MSVAE(Model):
    name = "ms_vae"
    Config = MSVAEConfig
    capabilities = frozenset({"sample", "traverse", "elbo", "z", "stage_one", "conditioning"})
    test_config = {"latent_dim": 4, "z_dim": 2, "width": 8}
    description = "MS-VAE: frozen stage one (beta-TCVAE) + conditional VAE stage two with FiLM-only Z"
    requires = ("stage_one",)
    ensemble_weights = ("kl_weight", "beta")  # beta only chooses the stage one, which each member has its own

    @staticmethod
    def upstream(config) -> dict:
        return {"stage_one": (config.stage_one, {"beta": config.beta, "latent_dim": config.latent_dim})}

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        self.encoder = ConvEncoder(data_shape, config.z_dim)
        if config.architecture == "paper":
            self.generator = PaperGenerator(data_shape, config.z_dim)
        else:
            self.generator = Generator(data_shape, config.z_dim, config.width, config.modulation == "spatial")
        self.__dict__["stage_one"] = None  # kept out of the module tree: not trained, not saved here

    def _stage_one(self):
        if self.stage_one is None:
            raise RuntimeError("MS-VAE needs its trained stage one: call attach() first")
        return self.stage_one

    def num_params(self) -> int:
        """Stage two plus stage one: the paper's capacity comparison counts both."""
        return super().num_params() + self._stage_one().num_params()

    @property
    def uses_index(self) -> bool:
        return self.config.y_from == "sample"  # each x keeps its own c: drawn from its index

    def c_noise(self, index) -> torch.Tensor:
        """Standard-normal noise for y_per_x draws of c per image, a function of the image's
        dataset index and the training seed alone: the same x always gets the same c
        (appendix J's paired training set is built once), however often it is drawn."""
        seed, latent = getattr(self, "fit_seed", 0), self._stage_one().config.latent_size
        rows = [np.random.default_rng([seed, int(i), k]).standard_normal(latent)
                for i in np.asarray(index).reshape(-1) for k in range(self.config.y_per_x)]
        return torch.from_numpy(np.stack(rows).astype(np.float32))

    @torch.no_grad()
    def paired_y(self, x, c_noise=None):
        """y for each x from stage one, c its posterior mean or the sample `c_noise` gives:
        (probabilities, G's input) per `y_space`."""
        probabilities = self._stage_one().decode(self._stage_one().encode(x, c_noise=c_noise))
        return probabilities, self._as_input(probabilities)

    def _as_input(self, probabilities):
        if self.config.y_space == "logits":
            return torch.logit(probabilities, eps=1e-6)
        return probabilities

    def index_inputs(self, index) -> dict:
        return {"c_noise": self.c_noise(index)}

    def training_loss(self, x, index=None, c_noise=None):
        """`c_noise` (or the `index` it is drawn from): each image's posterior noise, for y_from: sample."""
        if self.config.y_from == "sample" and c_noise is None:
            if index is None:
                raise ValueError("y_from: sample needs each image's dataset index (Model.fit passes it)")
            c_noise = self.c_noise(index)
        if self.config.y_per_x > 1:
            x = x.repeat_interleave(self.config.y_per_x, dim=0)
        y, y_input = self.paired_y(x, c_noise)
        mean, logvar = self.encoder(x - y)
        z = mean + self.noise_like(mean) * torch.exp(0.5 * logvar)
        logits = self.generator(y_input, z)
        reconstruction = self.reconstruction_loss(logits, x)
        kl = gaussian_kl(mean, logvar).mean()
        return reconstruction + self.config.kl_weight * kl, {"reconstruction": reconstruction.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def encode(self, x, c_noise=None):
        """Stage one's c (its posterior mean, or a sample given `c_noise`), and R's z for x - y
        with y decoded from that c."""
        codes = self._stage_one().encode(x, c_noise=c_noise)
        y = self._stage_one().decode(codes)
        z_mean, z_logvar = self.encoder(x - y)
        return {"c": codes["c"], "c_logvar": codes["c_logvar"], "z": z_mean, "z_logvar": z_logvar}

    @torch.no_grad()
    def decode(self, codes):
        y = self._stage_one().decode(codes)
        return torch.sigmoid(self.generator(self._as_input(y), codes["z"]))

    @torch.no_grad()
    def render(self, y_input, z):
        """G(y, z) as probabilities, for any y input (the M1-M4 checks feed it noise)."""
        return torch.sigmoid(self.generator(y_input, z))

    @torch.no_grad()
    def sample(self, n):
        c = torch.randn(n, self._stage_one().config.latent_size, device=self.device)
        z = torch.randn(n, self.config.z_dim, device=self.device)
        return self.decode({"c": c, "z": z})

    @torch.no_grad()
    def elbo(self, x, generator, samples=1):
        """The ELBO of the generative model `sample` draws from, c ~ N(0, I), z ~ N(0, I),
        x ~ Bernoulli(G(Y(c), z)) with Y(c) stage one's decoder mean, under the posterior
        q(c|x) q(z|x, Y(c)) (stage one's encoder, then R on x - Y):
            E_q[log p(x | Y(c), z)] - KL(q(c|x) || p(c)) - E_q(c|x)[KL(q(z|x, Y(c)) || p(z))],
        a lower bound on this model's log p(x), so comparable with a single-stage VAE's ELBO
        (appendix B compares ELBOs across |C|). Each draw takes a new c and a z given its Y; the KL of
        z is averaged over the draws. kl_c and kl_z are returned as parts: log_likelihood - kl_z is
        stage two's conditional ELBO given that Y, a bound on log p(x | Y) and not comparable."""
        stage_one = self._stage_one()
        codes = stage_one.encode(x)  # c: the posterior mean
        mean, logvar = codes["c"], codes["c_logvar"]
        log_likelihood, kl_z = 0.0, 0.0
        for _ in range(samples):
            y = stage_one.decode({**codes, "c": posterior_c(mean, logvar, generator)})
            z_mean, z_logvar = self.encoder(x - y)
            logits = self.generator(self._as_input(y), posterior_c(z_mean, z_logvar, generator))
            log_likelihood = log_likelihood + self.log_likelihood(logits, x)
            kl_z = kl_z + gaussian_kl(z_mean, z_logvar)
        kl_c = gaussian_kl(mean, logvar)
        return {"log_likelihood": log_likelihood / samples, "kl": kl_c + kl_z / samples,
                "kl_c": kl_c, "kl_z": kl_z / samples}

    @torch.no_grad()
    def conditioning_codes(self, x, generator: torch.Generator) -> dict:
        """Stage one's mean codes of X and of the images the M1-M4 check compares (section 4):
        Y, G(Y, Z), G(Y, eps_z), G(eps_img, Z), and G(Y of another image in the batch, Z)."""
        encode = lambda images: self._stage_one().encode(images)["c"]  # noqa: E731 - E, the mean encoder
        codes = self.encode(x)
        y = self._stage_one().decode(codes)
        y_input, z = self._as_input(y), codes["z"]
        eps_z = torch.randn(z.shape, generator=generator, device="cpu").to(z.device)
        eps_image = torch.randn(y.shape, generator=generator, device="cpu").to(y.device)
        shuffled = torch.randperm(len(x), generator=generator, device="cpu").to(y.device)
        return {
            "C_R": codes["c"],
            "C_Y": encode(y),
            "C_X": encode(self.render(y_input, z)),
            "C_z_eps": encode(self.render(y_input, eps_z)),
            "C_Y_eps": encode(self.render(eps_image, z)),
            "C_Y_shuffled": encode(self.render(y_input[shuffled], z)),
        }
