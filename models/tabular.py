"""beta-TCVAE and MS-VAE for tables (the paper's section 6): the image models' objectives and
stages, with MLPs in place of the conv nets.

Rows arrive in the dataset's [0, 1] space (section 6.2's log + min-max transform). The likelihood
is Gaussian around the decoder's sigmoid output, with a learned scale per feature (as ctgan's
TVAE has): with only 19 values per row, the images' Bernoulli likelihood barely rewards
reconstruction against the KL and TC penalties, and the decoded rows collapse towards the mean
(`likelihood: bernoulli` keeps it for comparison). `TableModel.prepare` keeps the dataset's
transform so that samples can be turned back into table rows.
"""

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from bench.config import require
from models._nets import MLPDecoder, MLPEncoder
from models.beta_tcvae import BetaTCVAE
from models.ms_vae import MSVAE


SIGMA_RANGE = (0.01, 1.0)  # ctgan's TVAE clamps its learned output scales to this range
SIGMA_START = 0.1  # and starts them here


class TableModel:
    """What the tabular models add: the dataset's transform, to turn rows in [0, 1] back into a
    table, and, for the VAEs trained here, the Gaussian likelihood (they create `log_sigma`, one
    per feature; TVAE trains with ctgan's own loss)."""

    supports = frozenset({"tables"})

    def _clamped_log_sigma(self):
        """The learned per-feature log scale within SIGMA_RANGE: what training and sampling both use."""
        return self.log_sigma.clamp(*map(math.log, SIGMA_RANGE))

    def reconstruction_loss(self, logits, x):
        if self.config.likelihood == "bernoulli":
            return super().reconstruction_loss(logits, x)
        log_sigma = self._clamped_log_sigma()
        nll = 0.5 * ((x - torch.sigmoid(logits)) * torch.exp(-log_sigma)) ** 2 + log_sigma + 0.5 * math.log(2 * math.pi)
        return nll.sum(1).mean()

    def prepare(self, data) -> None:
        self.__dict__["transform"] = data.transform  # not a module: nothing to train or save

    @torch.no_grad()
    def sample(self, n: int, rows: str = "sample") -> torch.Tensor:
        """n rows in [0, 1]-space from the prior: "sample" draws each value from the Gaussian
        likelihood around the decoder mean (values may leave [0, 1]; turning them into a table
        clips them, section 6.2), "mean" returns the decoder means."""
        means = super().sample(n)
        if rows == "mean":
            return means
        if rows != "sample":
            raise ValueError(f"rows must be 'sample' or 'mean', got {rows!r}")
        if self.config.likelihood == "bernoulli":
            raise NotImplementedError("rows: sample needs the gaussian likelihood; a Bernoulli draw of "
                                      "a [0, 1] value is 0 or 1 (use rows: mean)")
        sigma = torch.exp(self._clamped_log_sigma())
        return means + sigma * torch.randn_like(means)

    def to_frame(self, rows: torch.Tensor):
        """Model output rows in [0, 1] -> a DataFrame in the table's own units (section 6.2's post-processing)."""
        return self.transform.inverse(rows.detach().float().cpu().numpy())

    def to_rows(self, frame, clip: bool = False) -> torch.Tensor:
        """A table -> rows in [0, 1] on the model's device; `clip` for generated tables that
        may leave the training range."""
        return torch.from_numpy(self.transform(frame, clip=clip)).to(self.device)


def _check_mlp(config, prefix: str = "") -> None:
    width, depth = getattr(config, f"{prefix}width"), getattr(config, f"{prefix}depth")
    require(width >= 1, f"{prefix}width", f"{width} is below 1")
    require(depth >= 1, f"{prefix}depth", f"{depth} is below 1")


@dataclass(frozen=True)
class TabularBetaTCVAEConfig:
    beta: float = 7.0  # section 6.4: the sweep's best, beta 7 with latent dim 9
    latent_dim: int = 9
    width: int = 128  # hidden units per MLP layer (ctgan's TVAE default: two layers of 128)
    depth: int = 2  # hidden layers in the encoder and in the decoder
    likelihood: Literal["gaussian", "bernoulli"] = "gaussian"

    def __post_init__(self):
        require(self.beta >= 0, "beta", f"{self.beta} is negative")
        require(self.latent_dim >= 1, "latent_dim", f"{self.latent_dim} is below 1")
        _check_mlp(self)

    @property
    def latent_size(self) -> int:
        return self.latent_dim


class TabularBetaTCVAE(TableModel, BetaTCVAE):
    name = "tabular_beta_tcvae"
    Config = TabularBetaTCVAEConfig
    test_config = {"latent_dim": 3, "width": 16}
    test_steps = 150
    description = "beta-TCVAE with MLP encoder and decoder, for tables (stage one of tabular MS-VAE)"

    def __init__(self, config, data_shape):
        nn.Module.__init__(self)  # BetaTCVAE builds conv nets; ours are MLPs
        self.config, self.data_shape = config, tuple(data_shape)
        (features,) = self.data_shape
        hidden = (config.width,) * config.depth
        self.encoder = MLPEncoder(features, config.latent_dim, hidden)
        self.decoder = MLPDecoder(config.latent_dim, features, hidden)
        self.log_sigma = nn.Parameter(torch.full((features,), math.log(SIGMA_START)))


class FiLMLayer(nn.Module):
    """Linear, layer norm without affine terms, then gamma(z) * h + beta(z): section 3.2's
    AdaIN for vectors, so that z enters only through the scale and shift."""

    def __init__(self, inputs: int, outputs: int, z_dim: int):
        super().__init__()
        self.linear = nn.Linear(inputs, outputs)
        self.norm = nn.LayerNorm(outputs, elementwise_affine=False)
        self.to_params = nn.Sequential(nn.Linear(z_dim, 64), nn.ReLU(), nn.Linear(64, 2 * outputs))

    def forward(self, h, z):
        gamma, shift = self.to_params(z).chunk(2, dim=1)
        return torch.relu((1.0 + gamma) * self.norm(self.linear(h)) + shift)


class TabularGenerator(nn.Module):
    """G(y, z) for rows: an MLP on y with FiLM(z) after every hidden layer."""

    def __init__(self, features: int, z_dim: int, hidden):
        super().__init__()
        sizes = [features, *hidden]
        self.layers = nn.ModuleList(FiLMLayer(a, b, z_dim) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], features)

    def forward(self, y, z):
        h = y
        for layer in self.layers:
            h = layer(h, z)
        return self.head(h)  # logits


@dataclass(frozen=True)
class TabularMSVAEConfig:
    stage_one: str = "tabular_beta_tcvae"
    beta: float = 7.0  # stage one's
    latent_dim: int = 9  # |C|, stage one's
    stage_one_width: int = 128
    stage_one_depth: int = 2
    z_dim: int = 5  # |Z|: the paper does not give it for tables
    kl_weight: float = 1.0
    y_from: Literal["mean", "sample"] = "mean"  # as for images (appendix E.1)
    y_space: Literal["probability", "logits"] = "probability"
    y_per_x: int = 1
    width: int = 128  # stage two's MLPs: R(z | x - y) and G(y, z)
    depth: int = 2
    likelihood: Literal["gaussian", "bernoulli"] = "gaussian"  # stage two's; stage one has the same

    def __post_init__(self):
        require(self.z_dim >= 1, "z_dim", f"{self.z_dim} is below 1")
        require(self.kl_weight >= 0, "kl_weight", f"{self.kl_weight} is negative")
        require(self.y_per_x >= 1, "y_per_x", f"{self.y_per_x} is below 1")
        _check_mlp(self)
        _check_mlp(self, "stage_one_")


class TabularMSVAE(TableModel, MSVAE):
    name = "tabular_ms_vae"
    Config = TabularMSVAEConfig
    test_config = {"latent_dim": 3, "z_dim": 2, "width": 16, "stage_one_width": 16}
    test_steps = 150
    description = "MS-VAE for tables: frozen tabular beta-TCVAE + MLP conditional VAE with FiLM-only Z"

    @staticmethod
    def upstream(config) -> dict:
        return {"stage_one": (config.stage_one, {"beta": config.beta, "latent_dim": config.latent_dim,
                                                 "width": config.stage_one_width, "depth": config.stage_one_depth,
                                                 "likelihood": config.likelihood})}

    def __init__(self, config, data_shape):
        nn.Module.__init__(self)
        self.config, self.data_shape = config, tuple(data_shape)
        (features,) = self.data_shape
        hidden = (config.width,) * config.depth
        self.encoder = MLPEncoder(features, config.z_dim, hidden)  # R(z | x - y)
        self.generator = TabularGenerator(features, config.z_dim, hidden)
        self.log_sigma = nn.Parameter(torch.full((features,), math.log(SIGMA_START)))
        self.__dict__["stage_one"] = None
