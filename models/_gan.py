"""What the zoo's GANs share (MS-GAN, CGAN, InfoGAN): a DCGAN discriminator, the alternating
updates of the non-saturating GAN loss (Goodfellow et al. 2014, section 3), and Adam with beta1 = 0.5
(Radford et al. 2015, section 4; the paper's appendix G uses DCGAN throughout).

A GAN has no encoder: `encode` and `reconstruct` raise NotImplementedError, so every score that needs
one (MIG, L1/L2, reconstructions' FD) is stored as missing with the reason, never a substitute.
"""

import torch
import torch.nn.functional as F
from torch import nn

from models._base import TEST_CHECKS, Model

DCGAN_BETAS = (0.5, 0.999)


class Discriminator(nn.Module):
    """DCGAN's discriminator on (C_in, S, S): 4x4 stride-2 convs width, 2 width, 4 width, batch norm
    after all but the first, leaky ReLU 0.2; `features` gives the flattened last activations (an
    auxiliary head may read them, as InfoGAN's Q), `forward` the real/fake logit."""

    def __init__(self, channels: int, size: int, width: int = 64):
        super().__init__()
        if size % 8:
            raise ValueError(f"image side must be a multiple of 8, got {size}")
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 4, 2, 1), nn.BatchNorm2d(4 * width), nn.LeakyReLU(0.2),
            nn.Flatten())
        self.feature_size = 4 * width * (size // 8) ** 2
        self.logit = nn.Linear(self.feature_size, 1)

    def features(self, x):
        return self.trunk(x)

    def forward(self, x):
        return self.logit(self.trunk(x)).squeeze(1)


def one_hot_factors(factors: torch.Tensor, sizes) -> torch.Tensor:
    """(n, F) integer factor values -> (n, sum(sizes)) concatenated one-hot codes."""
    return torch.cat([F.one_hot(factors[:, i].long(), int(k)).float() for i, k in enumerate(sizes)], dim=1)


class GAN(Model):
    """Subclasses build `generator_net` and `discriminator` and implement `real_condition` (what D
    and G condition on for a real batch), `fake` (G's images for a condition, with any code it drew)
    and `discriminate`; InfoGAN adds `auxiliary_loss`, which both updates minimise (Chen et al. 2016,
    eq. 5: the discriminator's side through its shared layers and Q, the generator's through G).

    `num_params` counts what generates (G and any stage it builds on), not the discriminator, which
    only trains it."""

    test_checks = TEST_CHECKS - {"loss_decreases"}  # adversarial losses do not fall steadily

    def discriminator_parameters(self):
        return self.discriminator.parameters()

    def num_params(self) -> int:
        return sum(p.numel() for p in self.generator_net.parameters())

    def optimizers(self, budget) -> list:
        return [torch.optim.Adam(self.discriminator_parameters(), lr=budget.learning_rate, betas=DCGAN_BETAS),
                torch.optim.Adam(self.generator_net.parameters(), lr=budget.learning_rate, betas=DCGAN_BETAS)]

    def real_condition(self, x, index=None):
        raise NotImplementedError

    def fake(self, condition, n: int) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def discriminate(self, images, condition) -> torch.Tensor:
        raise NotImplementedError

    def auxiliary_loss(self, images, drawn: dict) -> torch.Tensor | None:
        return None

    def training_step(self, x, optimizers, **batch):
        """One discriminator update on a real and a fake batch, then one generator update."""
        d_optimizer, g_optimizer = optimizers
        with self.autocast():  # the forward passes (bfloat16 under `precision: bf16`); updates outside
            with torch.no_grad():
                condition = self.real_condition(x, **batch)
            fake, drawn = self.fake(condition, len(x))
            real_logit, fake_logit = self.discriminate(x, condition), self.discriminate(fake.detach(), condition)
            d_loss = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                      + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))
            d_value = d_loss.detach()
            auxiliary = self.auxiliary_loss(fake.detach(), drawn)
            if auxiliary is not None:  # the discriminator's side of the code's loss: its shared layers and Q
                d_loss = d_loss + auxiliary
        d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        d_optimizer.step()
        with self.autocast():
            logit = self.discriminate(fake, condition)
            g_loss = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))  # non-saturating
            parts = {"discriminator": d_value, "generator": g_loss.detach()}
            auxiliary = self.auxiliary_loss(fake, drawn)
            if auxiliary is not None:
                parts["auxiliary"] = auxiliary.detach()
                g_loss = g_loss + auxiliary
        g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        g_optimizer.step()
        return g_loss.detach(), parts

    def encode(self, x, c_noise=None):
        raise NotImplementedError(f"{self.name} has no encoder: a GAN maps codes to images only")

    def reconstruct(self, x, c_noise=None):
        raise NotImplementedError(f"{self.name} has no encoder, so it cannot reconstruct an image")
