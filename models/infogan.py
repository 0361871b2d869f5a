"""InfoGAN (Chen et al. 2016), the paper's unsupervised GAN baseline (appendix G.2, Figure 30).

G(code, z) with a categorical code (`categories` values, one-hot) and `continuous` uniform codes in
[-1, 1] beside the noise z; an auxiliary head Q on the discriminator's features reads the code back.
Both updates minimise the variational bound on -I(code; G(code, z)) (Chen et al. eq. 5): the
categorical code's cross-entropy plus `info_weight` times the continuous codes' Gaussian negative
log-likelihood with unit variance (a squared error; section 5 and appendix C, lambda = 1 for
discrete codes); the discriminator's update trains its shared layers and Q on it, the generator's
trains G. The generator is disentanglement-lib's deconv decoder, the discriminator DCGAN's
(models/_gan.py); Q is one dense layer on the discriminator's features.

Q reads through the discriminator's batch norm: in training with each fake batch's statistics, in
`recover_code` (evaluation) with its running ones, an average over real and fake batches, which can
read a little worse than training did.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.config import require
from models._gan import GAN, Discriminator
from models._nets import DeconvDecoder


@dataclass(frozen=True)
class InfoGANConfig:
    categories: int = 10  # the categorical code's values (Chen et al. on MNIST: 10)
    continuous: int = 2  # continuous codes, each U(-1, 1)
    z_dim: int = 8
    info_weight: float = 1.0
    width: float = 1.0
    discriminator_width: int = 64

    def __post_init__(self):
        require(self.categories >= 2, "categories", f"{self.categories} is below 2")
        require(self.continuous >= 0, "continuous", f"{self.continuous} is negative")
        require(self.z_dim >= 1, "z_dim", f"{self.z_dim} is below 1")
        require(self.info_weight >= 0, "info_weight", f"{self.info_weight} is negative")


class InfoGAN(GAN):
    name = "infogan"
    Config = InfoGANConfig
    capabilities = frozenset({"sample", "own_code"})
    test_config = {"categories": 3, "continuous": 1, "z_dim": 2, "width": 0.25, "discriminator_width": 8}
    description = "InfoGAN (Chen et al. 2016): categorical and continuous codes, an auxiliary Q head"

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        channels, size, _ = data_shape
        code = config.categories + config.continuous
        self.generator_net = DeconvDecoder(data_shape, code + config.z_dim, config.width)
        self.discriminator = Discriminator(channels, size, config.discriminator_width)
        self.q_head = nn.Linear(self.discriminator.feature_size, code)

    def discriminator_parameters(self):
        return [*self.discriminator.parameters(), *self.q_head.parameters()]

    def draw_code(self, n, generator=None, device=None):
        """(categorical values (n,), continuous codes (n, continuous)), from `generator` when given."""
        device = device or self.device
        category = torch.randint(0, self.config.categories, (n,), generator=generator).to(device)
        continuous = (torch.rand(n, self.config.continuous, generator=generator) * 2 - 1).to(device)
        return category, continuous

    def _render(self, category, continuous, z):
        code = torch.cat([F.one_hot(category, self.config.categories).float(), continuous, z], dim=1)
        return torch.sigmoid(self.generator_net(code))

    def real_condition(self, x, index=None):
        return None  # InfoGAN conditions on nothing it is given

    def fake(self, condition, n):
        category, continuous = self.draw_code(n)
        z = torch.randn(n, self.config.z_dim, device=self.device)
        return self._render(category, continuous, z), {"category": category, "continuous": continuous}

    def discriminate(self, images, condition):
        return self.discriminator(images)

    def read_code(self, images):
        """Q's reading of the code: (categorical logits, continuous means)."""
        out = self.q_head(self.discriminator.features(images))
        return out[:, :self.config.categories], out[:, self.config.categories:]

    def auxiliary_loss(self, images, drawn):
        logits, means = self.read_code(images)
        loss = F.cross_entropy(logits, drawn["category"])
        if self.config.continuous:
            loss = loss + self.config.info_weight * 0.5 * ((means - drawn["continuous"]) ** 2).sum(1).mean()
        return loss

    @torch.no_grad()
    def sample(self, n):
        category, continuous = self.draw_code(n)
        return self._render(category, continuous, torch.randn(n, self.config.z_dim, device=self.device))

    @torch.no_grad()
    def recover_code(self, n, generator):
        """n codes drawn from `generator`, rendered, and read back by Q: {"code": categorical values,
        "recovered": Q's most probable category, "continuous" and "continuous_recovered"}."""
        category, continuous = self.draw_code(n, generator)
        z = torch.randn(n, self.config.z_dim, generator=generator).to(self.device)
        logits, means = self.read_code(self._render(category, continuous, z))
        return {"code": category, "recovered": logits.argmax(1), "continuous": continuous,
                "continuous_recovered": means}
