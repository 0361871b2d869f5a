"""beta-TCVAE (Chen et al. 2018) and beta-TCVAE-L, as disentanglement-lib trains them.

Loss = Bernoulli reconstruction + KL(q(c|x) || N(0, I)) + (beta - 1) * TC, with the total
correlation TC estimated by minibatch-weighted sampling (disentanglement-lib's
`BetaTCVAE.regularizer`). beta-TCVAE-L is the same model with |C| + |Z| latents.
"""

import math
from dataclasses import dataclass

import torch

from bench.config import require
from models._base import Model, posterior_c
from models._nets import ConvEncoder, DeconvDecoder


def gaussian_log_density(x, mean, logvar):
    return -0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 * torch.exp(-logvar))


def total_correlation(z, mean, logvar):
    """Minibatch estimate of TC = KL(q(z) || prod_d q(z_d)) in nats.

    q(z) is estimated by the batch's mixture (1/B) sum_j q(z | x_j), as in Chen et al.'s
    minibatch sampling; disentanglement-lib drops the -log B normalisers, which changes the
    value by (D - 1) log B but not the gradients. Keeping them makes the estimate comparable
    with the analytic TC of a known distribution.
    """
    batch = z.shape[0]
    log_q = gaussian_log_density(z[:, None, :], mean[None, :, :], logvar[None, :, :])  # (B, B, D)
    log_qz = torch.logsumexp(log_q.sum(dim=2), dim=1) - math.log(batch)
    log_qz_product = (torch.logsumexp(log_q, dim=1) - math.log(batch)).sum(dim=1)
    return (log_qz - log_qz_product).mean()


def gaussian_kl(mean, logvar):
    """KL(N(mean, exp(logvar)) || N(0, I)), summed over dimensions, per sample."""
    return 0.5 * (mean**2 + logvar.exp() - logvar - 1).sum(dim=1)


@dataclass(frozen=True)
class BetaTCVAEConfig:
    beta: float = 1.0
    latent_dim: int = 10  # |C| = 10, as in Locatello et al. 2018 and the paper

    def __post_init__(self):
        require(self.beta >= 0, "beta", f"{self.beta} is negative")
        require(self.latent_dim >= 1, "latent_dim", f"{self.latent_dim} is below 1")

    @property
    def latent_size(self) -> int:
        return self.latent_dim

    width = 1.0


class BetaTCVAE(Model):
    name = "beta_tcvae"
    Config = BetaTCVAEConfig
    capabilities = frozenset({"sample", "traverse", "elbo"})
    ensemble_weights = ("beta",)
    test_config = {"latent_dim": 4}
    description = "beta-TCVAE, disentanglement-lib's conv architecture (stage one of MS-VAE)"

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        self.encoder = ConvEncoder(data_shape, config.latent_size, config.width)
        self.decoder = DeconvDecoder(data_shape, config.latent_size, config.width)

    def training_loss(self, x):
        mean, logvar = self.encoder(x)
        z = mean + self.noise_like(mean) * torch.exp(0.5 * logvar)
        logits = self.decoder(z)
        reconstruction = self.reconstruction_loss(logits, x)
        kl = gaussian_kl(mean, logvar).mean()
        tc = total_correlation(z, mean, logvar)
        loss = reconstruction + kl + (self.config.beta - 1.0) * tc
        return loss, {"reconstruction": reconstruction.detach(), "kl": kl.detach(), "tc": tc.detach()}

    @torch.no_grad()
    def encode(self, x, c_noise=None):
        """{"c", "c_logvar"}: c is the posterior mean, or a posterior sample given `c_noise`."""
        mean, logvar = self.encoder(x)
        return {"c": posterior_c(mean, logvar, c_noise), "c_logvar": logvar}

    @torch.no_grad()
    def decode(self, codes):
        return torch.sigmoid(self.decoder(codes["c"]))

    @torch.no_grad()
    def sample(self, n):
        return self.decode({"c": torch.randn(n, self.config.latent_size, device=self.device)})

    @torch.no_grad()
    def elbo(self, x, generator, samples=1):
        """Per image: E_q(c|x)[log p(x|c)] from `samples` draws c ~ q(c|x), and the KL to N(0, I) in closed
        form (Kingma & Welling 2014, eq. 3 and appendix B). It does not depend on beta: at beta = 1 it
        is minus the training loss (the TC term then has weight 0)."""
        mean, logvar = self.encoder(x)
        log_likelihood = sum(self.log_likelihood(self.decoder(posterior_c(mean, logvar, generator)), x)
                             for _ in range(samples)) / samples
        return {"log_likelihood": log_likelihood, "kl": gaussian_kl(mean, logvar)}


@dataclass(frozen=True)
class BetaTCVAELConfig(BetaTCVAEConfig):
    z_dim: int = 5  # |Z| of the MS-VAE it is compared with (5 for Cars3D in the paper)

    @property
    def latent_size(self) -> int:
        return self.latent_dim + self.z_dim


class BetaTCVAEL(BetaTCVAE):
    name = "beta_tcvae_l"
    Config = BetaTCVAELConfig
    description = "beta-TCVAE with |C| + |Z| latents (the paper's beta-TCVAE-L)"
