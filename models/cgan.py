"""CGAN (Mirza & Osindero 2014), the paper's supervised GAN baseline (appendix G.1, Figures 28, 32, 34):
G(c, z) from the dataset's known factors c, one-hot coded and concatenated with the noise z, and no Y.
The generator is disentanglement-lib's deconv decoder on [c, z]; the discriminator is DCGAN's on the
image with c's one-hot code as constant channel maps (models/_gan.py)."""

from dataclasses import dataclass

import torch

from bench.config import require
from models._gan import GAN, Discriminator, one_hot_factors
from models._nets import DeconvDecoder


@dataclass(frozen=True)
class CGANConfig:
    z_dim: int = 8
    width: float = 1.0  # scales the generator's hidden sizes
    discriminator_width: int = 64

    def __post_init__(self):
        require(self.z_dim >= 1, "z_dim", f"{self.z_dim} is below 1")
        require(self.width > 0, "width", f"{self.width} is not positive")
        require(self.discriminator_width >= 4, "discriminator_width", f"{self.discriminator_width} is below 4")


class CGAN(GAN):
    name = "cgan"
    Config = CGANConfig
    capabilities = frozenset({"sample", "conditional"})
    test_config = {"z_dim": 2, "width": 0.25, "discriminator_width": 8}
    description = "CGAN (Mirza & Osindero 2014): G(c, z) from the known factors c concatenated with noise; no Y"
    uses_index = True  # the index gives the real image's factors

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        self.factor_sizes = ()
        self.generator_net = self.discriminator = None  # built by `prepare`, which knows the factors' sizes
        self.register_buffer("anchor", torch.zeros(0), persistent=False)  # where `.to()` put the model

    def prepare(self, data) -> None:
        if not getattr(data, "factor_sizes", ()):
            raise ValueError(f"cgan needs a dataset with known discrete factors; {data.name} has none")
        if self.generator_net is None:
            channels, size, _ = self.data_shape
            self.factor_sizes = tuple(int(k) for k in data.factor_sizes)
            code = sum(self.factor_sizes)
            self.generator_net = DeconvDecoder(self.data_shape, code + self.config.z_dim, self.config.width)
            self.discriminator = Discriminator(channels + code, size, self.config.discriminator_width)
            self.to(self.anchor.device)
        self.__dict__["factors_of"] = data.factors_of

    def real_condition(self, x, index=None):
        if index is None:
            raise ValueError("cgan needs each image's dataset index (Model.fit passes it)")
        return one_hot_factors(torch.from_numpy(self.factors_of(index)).to(x.device), self.factor_sizes)

    def fake(self, code, n):
        z = torch.randn(n, self.config.z_dim, device=code.device)
        return torch.sigmoid(self.generator_net(torch.cat([code, z], dim=1))), {}

    def discriminate(self, images, code):
        maps = code[:, :, None, None].expand(-1, -1, *images.shape[2:])
        return self.discriminator(torch.cat([images, maps], dim=1))

    @torch.no_grad()
    def generate(self, factors, generator):
        """G(c, z) for known factor values c (n, F), z ~ N(0, I) from `generator`."""
        code = one_hot_factors(torch.as_tensor(factors, device=self.device), self.factor_sizes)
        z = torch.randn(len(code), self.config.z_dim, generator=generator).to(self.device)
        return torch.sigmoid(self.generator_net(torch.cat([code, z], dim=1)))

    @torch.no_grad()
    def sample(self, n):
        factors = torch.stack([torch.randint(0, k, (n,)) for k in self.factor_sizes], dim=1)
        code = one_hot_factors(factors.to(self.device), self.factor_sizes)
        return torch.sigmoid(self.generator_net(torch.cat([code, torch.randn(n, self.config.z_dim, device=self.device)], 1)))
