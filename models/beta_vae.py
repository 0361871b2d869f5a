"""beta-VAE (Higgins et al. 2017), as disentanglement-lib's `BetaVAE`: Bernoulli reconstruction +
beta * KL(q(c|x) || N(0, I)), with beta-TCVAE's conv encoder and decoder. A stage one the paper's
MS-GAN can build on (appendix G: "C is a beta-VAE"), and the plainest penalty-based baseline."""

import torch

from models.beta_tcvae import BetaTCVAE, gaussian_kl


class BetaVAE(BetaTCVAE):
    name = "beta_vae"
    description = "beta-VAE (Higgins et al. 2017): reconstruction + beta * KL, disentanglement-lib's conv architecture"

    def training_loss(self, x):
        mean, logvar = self.encoder(x)
        c = mean + self.noise_like(mean) * torch.exp(0.5 * logvar)
        reconstruction = self.reconstruction_loss(self.decoder(c), x)
        kl = gaussian_kl(mean, logvar).mean()
        return reconstruction + self.config.beta * kl, {"reconstruction": reconstruction.detach(), "kl": kl.detach()}
