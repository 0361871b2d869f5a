"""MS-VAE for the pendulum (the paper's appendix D, Figure 22): three stages, each trained on its own
paired data, the earlier ones frozen and cached for the later (as MS-VAE reuses its stage one).

1. `pendulum_undamped`: L -> Y0, the undamped trajectory, a conditional Gaussian of fixed variance
   (trained by mean squared error, which is its negative log-likelihood up to constants);
2. `pendulum_damped`: (b, Y0) -> Y1, the damped trajectory at m = 1, likewise;
3. `ms_vae_pendulum`: (Z, Y1) -> θ, a VAE whose encoder reads the residual θ - Ŷ1 and whose decoder
   renders θ from Ŷ1 and z, where Ŷ1 = damped(b, undamped(L)) comes from the frozen stages 1 and 2.

L and b are observed (each row of the `pendulum` dataset carries them); the mass is never seen, so
whatever of θ that L and b cannot explain is left to z: after training z should track the mass.
The code c of stage three is the observed (L, b) itself, so traversing c moves L or b through the
learned stages, and traversing z moves the mass (Figure 23).

Networks, likelihood and optimiser settings follow the authors' code (pendulum/models/*.py in
github.com/AnonymousAuthors000/DS-VAE): two hidden layers of 400 sigmoid units in every decoder, a
400-unit ReLU encoder with a softplus variance, z of size 1, a Gaussian likelihood of scale 0.25
(their `likelihood_var`, which they pass to Normal as the scale), the KL to N(0, I) unweighted.
One difference: stage two trains on the true Y0 of each row, as the paper's text says (the paired
data {b, y0, y1}); the authors' notebook feeds it stage one's prediction instead. Stage three sees
stage two's prediction in both.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.config import require
from models._base import TEST_CHECKS, Model

OBSERVED = 2  # a row is [L, b, θ_0 .. θ_{T-1}]


def _decoder(inputs: int, outputs: int, hidden: int) -> nn.Sequential:
    """The authors' decoders: two hidden layers of sigmoid units."""
    return nn.Sequential(nn.Linear(inputs, hidden), nn.Sigmoid(), nn.Linear(hidden, hidden), nn.Sigmoid(),
                         nn.Linear(hidden, outputs))


@dataclass(frozen=True)
class StageConfig:
    hidden: int = 400

    def __post_init__(self):
        require(self.hidden >= 1, "hidden", f"{self.hidden} is below 1")


class _Stage(Model):
    """A supervised stage: a regression from observed factors (and the previous stage's target) to
    its own target trajectory. It reads no θ, so it has no encoder and does not sample."""

    Config = StageConfig
    supports = frozenset({"series"})
    uses_index = True  # each row's index gives its paired targets
    test_config = {"hidden": 32}
    test_checks = TEST_CHECKS - {"shapes"}  # no encode, no sample: `predict` is checked in tests/test_pendulum.py

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        self.steps = data_shape[0] - OBSERVED
        self.net = _decoder(self.inputs(), self.steps, config.hidden)

    def prepare(self, data) -> None:
        if not hasattr(data, "targets_of"):
            raise ValueError(f"{self.name} needs a dataset with paired trajectory targets (pendulum); "
                             f"{data.name} has none")
        self.__dict__["targets_of"] = data.targets_of  # not a module or a state: derived from the data

    def training_loss(self, x, index=None):
        if index is None:
            raise ValueError(f"{self.name} needs each row's dataset index (Model.fit passes it)")
        y0, y1 = (torch.from_numpy(t).to(x.device) for t in self.targets_of(index))
        loss = F.mse_loss(self.fit_prediction(x, y0), self.target(y0, y1))
        return loss, {"mse": loss.detach()}


class PendulumUndamped(_Stage):
    name = "pendulum_undamped"
    description = "pendulum stage one (appendix D): L -> Y0, the undamped trajectory, a conditional Gaussian"

    def inputs(self) -> int:
        return 1

    def fit_prediction(self, x, y0):
        return self.predict(x[:, :1])

    def target(self, y0, y1):
        return y0

    def predict(self, length):
        """Ŷ0 (n, T) for lengths (n, 1)."""
        return self.net(length)


class PendulumDamped(_Stage):
    name = "pendulum_damped"
    description = "pendulum stage two (appendix D): (b, Y0) -> Y1, the damped trajectory at m = 1, a conditional Gaussian"

    def inputs(self) -> int:
        return 1 + self.steps

    def fit_prediction(self, x, y0):
        return self.predict(x[:, 1:2], y0)  # the true Y0: the paper's paired data {b, y0, y1}

    def target(self, y0, y1):
        return y1

    def predict(self, damping, y0):
        """Ŷ1 (n, T) for damping coefficients (n, 1) and undamped trajectories (n, T)."""
        return self.net(torch.cat([damping, y0], dim=1))


@dataclass(frozen=True)
class MSVAEPendulumConfig:
    z_dim: int = 1  # the authors' z_size
    hidden: int = 400
    likelihood_scale: float = 0.25  # the authors' likelihood_var, passed to Normal as its scale

    def __post_init__(self):
        require(self.z_dim >= 1, "z_dim", f"{self.z_dim} is below 1")
        require(self.hidden >= 1, "hidden", f"{self.hidden} is below 1")
        require(self.likelihood_scale > 0, "likelihood_scale", f"{self.likelihood_scale} is not positive")


class MSVAEPendulum(Model):
    name = "ms_vae_pendulum"
    Config = MSVAEPendulumConfig
    supports = frozenset({"series"})
    requires = ("undamped", "damped")
    capabilities = frozenset({"sample", "traverse", "z"})
    description = ("MS-VAE for the pendulum (appendix D): L -> Y0 and (b, Y0) -> Y1 supervised, then (Z, Y1) -> θ "
                   "a VAE on the residual; c is the observed (L, b), z should learn the unobserved mass")
    test_config = {"z_dim": 1, "hidden": 32}

    @staticmethod
    def upstream(config) -> dict:
        return {"undamped": ("pendulum_undamped", {"hidden": config.hidden}),
                "damped": ("pendulum_damped", {"hidden": config.hidden})}

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        steps = data_shape[0] - OBSERVED
        self.encoder = nn.Sequential(nn.Linear(steps, config.hidden), nn.ReLU())
        self.mean = nn.Linear(config.hidden, config.z_dim)
        self.variance = nn.Linear(config.hidden, config.z_dim)
        self.decoder = _decoder(steps + config.z_dim, steps, config.hidden)

    def prepare(self, data) -> None:
        """Keeps the observed factors' values, from which `sample` draws L and b."""
        grids = getattr(data, "grids", None)
        if grids is None or not hasattr(data, "observed_factors"):
            raise ValueError(f"{self.name} needs a dataset with observed factor grids (pendulum); {data.name} has none")
        self.__dict__["observed_grids"] = [np.asarray(grids[i], dtype=np.float32) for i in data.observed_factors]

    def num_params(self) -> int:
        """The VAE plus its two stages, as MS-VAE counts its stage one."""
        return super().num_params() + sum(self.stage(slot).num_params() for slot in self.requires)

    def y1(self, c):
        """Ŷ1 (n, T) of observed (L, b) (n, 2), through the frozen stages one and two."""
        with torch.no_grad():
            y0 = self.stage("undamped").predict(c[:, :1])
            return self.stage("damped").predict(c[:, 1:2], y0)

    def _posterior(self, x):
        c = x[:, :OBSERVED]
        y1 = self.y1(c)
        h = self.encoder(x[:, OBSERVED:] - y1)
        variance = F.softplus(self.variance(h)) + 1e-6  # the authors' encoder
        return c, y1, self.mean(h), variance

    def training_loss(self, x):
        c, y1, mean, variance = self._posterior(x)
        z = mean + variance.sqrt() * torch.randn_like(mean)
        theta = x[:, OBSERVED:]
        scale = self.config.likelihood_scale
        nll = (0.5 * ((self.decoder(torch.cat([y1, z], 1)) - theta) / scale) ** 2
               + math.log(scale) + 0.5 * math.log(2 * math.pi)).sum(1).mean()
        kl = 0.5 * (variance + mean ** 2 - 1 - variance.log()).sum(1).mean()
        return nll + kl, {"nll": nll.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def encode(self, x, c_noise=None):
        """c: the observed (L, b), exact (so `c_noise` changes nothing); z: the posterior of the residual."""
        c, _, mean, variance = self._posterior(x)
        return {"c": c, "c_logvar": torch.full_like(c, -math.inf), "z": mean, "z_logvar": variance.log()}

    @torch.no_grad()
    def decode(self, codes):
        c, z = codes["c"], codes["z"]
        return torch.cat([c, self.decoder(torch.cat([self.y1(c), z], 1))], dim=1)

    @torch.no_grad()
    def sample(self, n):
        """L and b drawn uniformly from the observed grids, z from the prior."""
        c = torch.stack([torch.from_numpy(grid)[torch.randint(0, len(grid), (n,))] for grid in self.observed_grids], 1)
        return self.decode({"c": c.to(self.device), "z": torch.randn(n, self.config.z_dim, device=self.device)})

