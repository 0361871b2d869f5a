"""MS-FLOW (the paper's appendix E): C -> Y a Gaussian mixture, (Y, Z) -> X a conditional coupling flow.

Stage one is a mixture of `n_components` diagonal Gaussians over the flattened image, fitted by
scikit-learn's EM (k-means initialisation, as the authors' DS-FLOW/src/gmm.jl in
github.com/AnonymousAuthors000/DS-VAE). C is the component k, a categorical factor; Y is its mean.
Stage two is a conditional RealNVP flow p(x | y) (zuko's `NICE` with affine couplings and
alternating masks, Dinh et al. 2016) whose base noise is Z, of the image's size. The model is

    k ~ Categorical(weights),  y = mean_k,  x = f(z; y) with z ~ N(0, I),
    log p(x) = logsumexp_k [log weight_k + log p_flow(x | mean_k)]   (exact).

Training (`y_from`, appendix E.1 and Figure 27): for each training image a component is drawn from
its mixture posterior p(k | x) (the authors' `pxz_by_logposterior`) and the flow learns
p(x | y) with y that component's mean ("mean", the paper's choice: it converges faster) or a draw
from that component ("sample"). Either way the model scored and sampled is the one above, with Y
the component means; "sample" only changes what the flow is trained on.

Images are discrete, so both stages fit uniformly dequantised data, (v + u) / levels with v the
pixel values and u ~ U[0, 1): their densities are then densities of the unit cube
(`bench.metrics.log_density`). Differences from the authors' Julia code: zuko's coupling (one
ReLU hypernetwork giving shift and log-scale) instead of separate tanh/softplus scale and ReLU
shift networks, and no invertible batch norm between couplings.
"""

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import zuko

from bench.budget import Budget
from bench.config import require
from models._base import Model


@dataclass(frozen=True)
class MSFlowConfig:
    n_components: int = 10  # appendix E: "a mixture of 10 Gaussians"
    y_from: Literal["mean", "sample"] = "mean"
    transforms: int = 5  # coupling layers, as the authors' n_coupling_layers
    hidden: int = 1000  # units of each of the hypernetwork's two hidden layers, as nn_hidden_dim
    mixture_points: int = 20_000  # images the mixture is fitted on (every training image when fewer)
    reg_covar: float = 1e-6  # scikit-learn's default floor on each variance

    def __post_init__(self):
        for name in ("n_components", "transforms", "hidden", "mixture_points"):
            require(getattr(self, name) >= 1, name, f"{getattr(self, name)} is below 1")
        require(self.reg_covar > 0, "reg_covar", f"{self.reg_covar} is not positive")


def diagonal_gaussian_log_density(x, means, variances):
    """log N(x; means_k, diag(variances_k)) for every item and component: (n, K)."""
    diff = x[:, None, :] - means[None]
    return -0.5 * ((diff**2 / variances[None]).sum(-1) + torch.log(variances).sum(-1)[None]
                   + x.shape[1] * math.log(2 * math.pi))


class MSFlow(Model):
    name = "ms_flow"
    Config = MSFlowConfig
    capabilities = frozenset({"sample", "z", "density", "mixture"})
    test_config = {"n_components": 3, "transforms": 2, "hidden": 32, "mixture_points": 400}
    test_steps = 80
    description = "MS-FLOW: a Gaussian mixture C -> Y, then a conditional coupling flow (Y, Z) -> X"

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        dims, k = int(np.prod(data_shape)), config.n_components
        self.flow = zuko.flows.NICE(dims, context=dims, transforms=config.transforms,
                                    hidden_features=(config.hidden, config.hidden))
        # stage one, fitted by EM before the flow trains; buffers, so the cache saves them
        self.register_buffer("component_means", torch.zeros(k, dims))
        self.register_buffer("component_variances", torch.ones(k, dims))
        self.register_buffer("component_log_weights", torch.full((k,), -math.log(k)))
        self.levels = 256

    def prepare(self, data) -> None:
        self.levels = int(getattr(data, "pixel_max", 255)) + 1  # values per pixel, for dequantisation

    def dequantise(self, x, generator=None):
        """(v + u) / levels for images x = v / (levels - 1) in [0, 1], u ~ U[0, 1)."""
        values = torch.round(x * (self.levels - 1))
        noise = torch.rand(x.shape, generator=generator).to(x.device) if generator else torch.rand_like(x)
        return (values + noise) / self.levels

    # --- stage one ---------------------------------------------------------------------
    def fit_mixture(self, data, seed: int) -> None:
        from sklearn.mixture import GaussianMixture

        every = getattr(data, "every_image", None)
        if every is not None and len(data) <= self.config.mixture_points:
            images = every()[0]
        else:
            images = data.sample(self.config.mixture_points, np.random.default_rng([seed, 7]))[0]
        generator = torch.Generator().manual_seed(seed)
        x = self.dequantise(torch.from_numpy(images), generator).flatten(1).double().numpy()
        mixture = GaussianMixture(self.config.n_components, covariance_type="diag", reg_covar=self.config.reg_covar,
                                  random_state=seed).fit(x)
        for buffer, value in ((self.component_means, mixture.means_), (self.component_variances, mixture.covariances_),
                              (self.component_log_weights, np.log(mixture.weights_))):
            buffer.copy_(torch.from_numpy(value))

    def _joint(self, flat):
        """log weight_k + log N(x; mean_k, var_k): (n, K)."""
        return self.component_log_weights + diagonal_gaussian_log_density(flat, self.component_means, self.component_variances)

    def posterior(self, x):
        """p(k | x) under the mixture: (n, K)."""
        return torch.softmax(self._joint(x.flatten(1)), dim=1)

    @torch.no_grad()
    def mixture_means(self):
        """The components' means as images (K, C, H, W), the Y values, and their weights (K,)."""
        return self.component_means.view(-1, *self.data_shape).clamp(0, 1), self.component_log_weights.exp()

    @torch.no_grad()
    def sample_mixture(self, n):
        """Draws from the mixture alone (stage one's density, Figure 26's middle rows)."""
        k = torch.multinomial(self.component_log_weights.exp(), n, replacement=True)
        draws = self.component_means[k] + self.component_variances[k].sqrt() * torch.randn_like(self.component_means[k])
        return draws.view(n, *self.data_shape).clamp(0, 1)

    # --- training ----------------------------------------------------------------------
    def fit(self, data, budget: Budget, seed: int, progress: bool = True, desc: str = "") -> list[dict]:
        self.fit_mixture(data, seed)
        return super().fit(data, budget, seed, progress, desc)

    def training_loss(self, x):
        flat = self.dequantise(x).flatten(1)
        with torch.no_grad():
            k = torch.multinomial(torch.softmax(self._joint(flat), dim=1), 1).squeeze(1)
            y = self.component_means[k]
            if self.config.y_from == "sample":
                y = y + self.component_variances[k].sqrt() * torch.randn_like(y)
        nll = -self.flow(y).log_prob(flat).mean()
        return nll, {"nll": nll.detach()}

    # --- the model ---------------------------------------------------------------------
    def log_density(self, x):
        """log p(x) of the whole model and of the mixture alone, for points x in the unit cube."""
        flat = x.flatten(1)
        per_component = torch.stack([self.flow(mean.expand_as(flat)).log_prob(flat) for mean in self.component_means], 1)
        return {"log_density": torch.logsumexp(self.component_log_weights + per_component, dim=1),
                "stage_one": torch.logsumexp(self._joint(flat), dim=1)}

    @torch.no_grad()
    def encode(self, x, c_noise=None):
        """c: the mixture posterior p(k | x); z: the flow's noise for x given the most probable
        component's mean. The mixture posterior is exact, so `c_noise` changes nothing."""
        c = self.posterior(x)
        y = self.component_means[c.argmax(1)]
        return {"c": c, "z": self.flow(y).transform(x.flatten(1))}

    @torch.no_grad()
    def decode(self, codes):
        y = self.component_means[codes["c"].argmax(1)]
        return self.flow(y).transform.inv(codes["z"]).view(-1, *self.data_shape).clamp(0, 1)

    @torch.no_grad()
    def sample(self, n):
        k = torch.multinomial(self.component_log_weights.exp(), n, replacement=True)
        c = torch.nn.functional.one_hot(k, self.config.n_components).float()
        return self.decode({"c": c, "z": torch.randn(n, self.component_means.shape[1], device=self.device)})

    def traverse(self, x, dim, values):
        raise NotImplementedError("MS-FLOW's C is one categorical component, not a dimension to move along; "
                                  "its components are the mixture means (`mixture_means`)")
