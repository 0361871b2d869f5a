"""Big-beta-TCVAE (the paper's appendix I, Table 4): a beta-TCVAE with MS-VAE's capacity.

Appendix I: "a beta-TCVAE that has the same capacity in terms of the number of parameters and
the latent dimensionality" as MS-VAE, so |C| + |Z| latents and a network widened (as Big-VAE's)
until its parameter count reaches MS-VAE's total (`target_params`). Unlike Big-VAE, beta is
swept like beta-TCVAE's.
"""

from dataclasses import dataclass

from bench.config import require
from models.big_vae import BigVAE


@dataclass(frozen=True)
class BigBetaTCVAEConfig:
    beta: float = 1.0
    latent_dim: int = 10  # |C|
    z_dim: int = 5  # |Z|: the code has |C| + |Z| dims, MS-VAE's latent dimensionality
    width: float = 2.0
    target_params: int = 0  # 0: use `width` as given

    def __post_init__(self):
        require(self.beta >= 0, "beta", f"{self.beta} is negative")
        require(self.latent_dim >= 1, "latent_dim", f"{self.latent_dim} is below 1")
        require(self.z_dim >= 0, "z_dim", f"{self.z_dim} is negative")
        require(self.width > 0, "width", f"{self.width} is not positive")
        require(self.target_params >= 0, "target_params", f"{self.target_params} is negative")

    @property
    def latent_size(self) -> int:
        return self.latent_dim + self.z_dim


class BigBetaTCVAE(BigVAE):
    name = "big_beta_tcvae"
    Config = BigBetaTCVAEConfig
    test_config = {"latent_dim": 4, "z_dim": 2, "width": 0.5}
    description = "beta-TCVAE with |C| + |Z| latents widened to a parameter budget (the paper's Big-beta-TCVAE)"
