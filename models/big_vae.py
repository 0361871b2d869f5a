"""Big-VAE: a beta = 1 VAE with MS-VAE's latent size and a widened network.

The paper's capacity control (section 5, appendix I): a plain VAE with as many parameters
as MS-VAE. `width` scales every hidden layer of the disentanglement-lib architecture;
`target_params`, when set, picks the smallest width (in steps of 1/32) that reaches it.
"""

import dataclasses
from dataclasses import dataclass

import torch

from bench.config import require
from models._nets import ConvEncoder, DeconvDecoder
from models.beta_tcvae import BetaTCVAE


@dataclass(frozen=True)
class BigVAEConfig:
    latent_dim: int = 10
    z_dim: int = 5
    width: float = 2.0
    target_params: int = 0  # 0: use `width` as given

    beta = 1.0  # a plain VAE by definition, not a knob

    def __post_init__(self):
        require(self.width > 0, "width", f"{self.width} is not positive")
        require(self.target_params >= 0, "target_params", f"{self.target_params} is negative")

    @property
    def latent_size(self) -> int:
        return self.latent_dim + self.z_dim


def count_params(data_shape, latent: int, width: float) -> int:
    with torch.device("meta"):  # shapes only: no memory, no initialisation (targets reach 10^8)
        parts = (ConvEncoder(data_shape, latent, width), DeconvDecoder(data_shape, latent, width))
    return sum(p.numel() for part in parts for p in part.parameters())


def width_for(data_shape, latent: int, target: int) -> float:
    """Smallest width (in steps of 1/32, up to 64) whose parameter count reaches `target`.

    The count never falls as the width grows, so a bisection over the steps finds it."""
    low, high = 1, 64 * 32
    while low < high:
        middle = (low + high) // 2
        if count_params(data_shape, latent, middle / 32) >= target:
            high = middle
        else:
            low = middle + 1
    return low / 32


class BigVAE(BetaTCVAE):
    name = "big_vae"
    Config = BigVAEConfig
    test_config = {"latent_dim": 4, "z_dim": 2, "width": 0.5}
    description = "beta=1 VAE widened to a parameter budget (the paper's Big-VAE)"

    def __init__(self, config, data_shape):
        if config.target_params:
            config = dataclasses.replace(
                config, width=width_for(data_shape, config.latent_size, config.target_params))
        super().__init__(config, data_shape)
