"""The supervised C -> Y of MS-GAN (the paper's appendix G.1): C is the dataset's known factors and Y
a decoder of them, trained by regression (Bernoulli likelihood, as the zoo's VAEs) on the images
those factors drew. Y is then the mean image of each factor combination: the factors' picture with
every detail they do not fix averaged away, the blurry Y of the paper's Figure 28.

It reads no images, so it has no encoder: `encode` raises NotImplementedError. Its code c is the
factors themselves, one integer per factor, one-hot coded into disentanglement-lib's deconv decoder.
"""

from dataclasses import dataclass

import torch

from models._base import Model
from models._gan import one_hot_factors
from models._nets import DeconvDecoder


@dataclass(frozen=True)
class FactorDecoderConfig:
    width: float = 1.0  # scales the decoder's hidden sizes


class FactorDecoder(Model):
    name = "factor_decoder"
    Config = FactorDecoderConfig
    capabilities = frozenset({"sample", "conditional"})
    description = "supervised C -> Y: a decoder of the dataset's known factors, trained by regression (MS-GAN's stage one)"
    uses_index = True  # each image's index gives its factors

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        self.factor_sizes = ()
        self.decoder = None  # built by `prepare`, which knows the factors' sizes
        self.register_buffer("anchor", torch.zeros(0), persistent=False)  # where `.to()` put the model

    def prepare(self, data) -> None:
        """Takes the dataset's factor sizes (the code's layout) and how to read a batch's factors."""
        if not getattr(data, "factor_sizes", ()):
            raise ValueError(f"factor_decoder needs a dataset with known discrete factors; {data.name} has none")
        if self.decoder is None:
            self.factor_sizes = tuple(int(k) for k in data.factor_sizes)
            self.decoder = DeconvDecoder(self.data_shape, sum(self.factor_sizes), self.config.width).to(self.anchor.device)
        self.__dict__["factors_of"] = data.factors_of  # not a module or a state: derived from the data

    def training_loss(self, x, index=None):
        if index is None:
            raise ValueError("factor_decoder needs each image's dataset index (Model.fit passes it)")
        factors = torch.from_numpy(self.factors_of(index)).to(x.device)
        reconstruction = self.reconstruction_loss(self.decoder(one_hot_factors(factors, self.factor_sizes)), x)
        return reconstruction, {"reconstruction": reconstruction.detach()}

    def encode(self, x, c_noise=None):
        raise NotImplementedError("factor_decoder reads no images: its c is the dataset's factors")

    def reconstruct(self, x, c_noise=None):
        raise NotImplementedError("factor_decoder reads no images, so it cannot reconstruct one")

    @torch.no_grad()
    def decode(self, codes):
        return torch.sigmoid(self.decoder(one_hot_factors(codes["c"], self.factor_sizes)))

    @torch.no_grad()
    def generate(self, factors, generator=None):
        """Y for given factor values (n, F): deterministic, so `generator` is not used."""
        return self.decode({"c": torch.as_tensor(factors, device=self.device)})

    @torch.no_grad()
    def sample(self, n):
        factors = torch.stack([torch.randint(0, k, (n,)) for k in self.factor_sizes], dim=1)
        return self.generate(factors)

