"""TVAE (Xu et al. 2019), the paper's tabular baseline, trained by the `ctgan` package itself and
wrapped into the zoo's interface.

ctgan's own preprocessing (mode-specific normalisation, one-hot categories) and training loop
run unchanged on the table's rows in their own units. Two things are added around it:
- the encoder: ctgan builds it inside `TVAE.fit` and drops it afterwards, but the latent
  means are needed for the latent-feature correlation table (section 7.1). `_keeping_encoder`
  wraps ctgan's `Encoder.__init__` so that it records the instance while `fit` runs;
- the cache: the weights of encoder and decoder are the state dict. ctgan's data transformer
  is not saved: it is refitted on D_train when loading (its fit is deterministic; a test
  checks that a loaded model samples exactly what the trained one does).

Rows cross the interface in the dataset's [0, 1] space like every tabular model's.
"""

import contextlib
import sys
import math
from dataclasses import dataclass

import numpy as np
import torch

from bench.config import require
from models._base import Model
from models.tabular import TableModel


@contextlib.contextmanager
def _keeping_encoder(found: list):
    """While active, every encoder ctgan's TVAE builds is appended to `found`."""
    from ctgan.synthesizers.tvae import Encoder

    original = Encoder.__init__  # the class itself must stay: its __init__ calls super(Encoder, self)

    def recording_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        found.append(self)

    Encoder.__init__ = recording_init
    try:
        yield
    finally:
        Encoder.__init__ = original


@dataclass(frozen=True)
class TVAEConfig:
    latent_dim: int = 9  # ctgan's embedding_dim; the suite's latent dimension
    width: int = 128  # ctgan's defaults: compress_dims = decompress_dims = (128, 128)
    depth: int = 2
    l2scale: float = 1e-5  # ctgan's default weight decay
    loss_factor: float = 2.0  # ctgan's default reconstruction weight

    def __post_init__(self):
        require(self.latent_dim >= 1, "latent_dim", f"{self.latent_dim} is below 1")
        require(self.width >= 1, "width", f"{self.width} is below 1")
        require(self.depth >= 1, "depth", f"{self.depth} is below 1")
        require(self.l2scale >= 0, "l2scale", f"{self.l2scale} is negative")


class TVAE(TableModel, Model):
    name = "tvae"
    Config = TVAEConfig
    capabilities = frozenset({"sample", "traverse"})
    precisions = frozenset({"fp32"})  # ctgan's own training loop
    test_config = {"latent_dim": 3, "width": 16}
    test_steps = 150
    description = "TVAE from the ctgan package (Xu et al. 2019), latent means exposed"

    def __init__(self, config, data_shape):
        super().__init__(config, data_shape)
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)  # tracks the device before fit
        self.__dict__["synth"] = None

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    def prepare(self, data) -> None:
        super().prepare(data)
        self.__dict__["table"] = (data.train, list(data.categorical))

    def _synthesizer(self, batch_size: int, epochs: int):
        from ctgan import TVAE as CtganTVAE

        hidden = (self.config.width,) * self.config.depth
        return CtganTVAE(embedding_dim=self.config.latent_dim, compress_dims=hidden, decompress_dims=hidden,
                         l2scale=self.config.l2scale, batch_size=batch_size, epochs=epochs,
                         loss_factor=self.config.loss_factor, enable_gpu=self.device.type == "cuda")

    def _adopt(self, synth, encoder) -> None:
        self.__dict__["synth"] = synth
        self.encoder, self.decoder = encoder.to(self.device), synth.decoder.to(self.device)

    def fit(self, data, budget, seed: int, progress: bool = True, desc: str = "") -> list[dict]:
        """ctgan's training for as many epochs as the budget's steps x batch size covers of D_train."""
        if budget.precision not in self.precisions:
            raise ValueError(f"tvae trains with ctgan's own loop, in float32 only; got precision {budget.precision}")
        train, categorical = self.table
        epochs = max(1, math.ceil(budget.steps * budget.batch_size / len(train)))
        synth = self._synthesizer(budget.batch_size, epochs)
        synth.set_random_state(seed)
        synth.verbose = progress and sys.stderr.isatty()  # ctgan draws its own bar; none in logs
        found = []
        with _keeping_encoder(found):
            synth.fit(train, discrete_columns=categorical)
        if len(found) != 1:
            raise RuntimeError(f"expected ctgan's TVAE.fit to build one encoder, it built {len(found)}")
        self._adopt(synth, found[0])
        self.eval()
        losses = synth.loss_values.groupby("Epoch")["Loss"].mean()
        if not np.isfinite(losses.to_numpy()).all():
            from models._base import TrainingDiverged
            raise TrainingDiverged(f"TVAE loss became non-finite by epoch {int(losses.index[-1]) + 1}")
        return [{"step": int(epoch) + 1, "loss": float(loss)} for epoch, loss in losses.items()]

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        if self.synth is None:  # rebuild ctgan's transformer and networks, then take the weights
            from ctgan.data_transformer import DataTransformer
            from ctgan.synthesizers.tvae import Decoder, Encoder

            train, categorical = self.table
            synth = self._synthesizer(batch_size=500, epochs=1)
            synth.transformer = DataTransformer()
            synth.transformer.fit(train, categorical)
            dim, hidden = synth.transformer.output_dimensions, (self.config.width,) * self.config.depth
            synth.decoder = Decoder(self.config.latent_dim, hidden, dim)
            self._adopt(synth, Encoder(dim, hidden, self.config.latent_dim))
        return super().load_state_dict(state, strict=strict, assign=assign)

    def _fitted(self):
        """ctgan's synthesizer, its column transformers' random streams reset: rdt's transformers
        advance their own generators on every call, which would make outputs depend on history."""
        if self.synth is None:
            raise RuntimeError("TVAE is not trained: call fit() or load a cached state first")
        for column in self.synth.transformer._column_transform_info_list:
            column.transform.reset_randomization()
        return self.synth

    @torch.no_grad()
    def sample(self, n: int, rows: str = "sample") -> torch.Tensor:
        """n rows from the prior, seeded from torch's global generator so that `torch.manual_seed`
        makes samples repeatable. "sample": ctgan's own sampler, which draws each continuous value
        from N(decoder output, its learned sigma) (`DataTransformer.inverse_transform` with
        sigmas); "mean": the decoder outputs without that noise."""
        if rows == "mean":
            return self.decode({"c": torch.randn(n, self.config.latent_dim, device=self.device)})
        if rows != "sample":
            raise ValueError(f"rows must be 'sample' or 'mean', got {rows!r}")
        synth = self._fitted()
        synth.set_random_state(int(torch.randint(0, 2**31 - 1, (1,))))
        synth.set_device(self.device)
        return self.to_rows(synth.sample(n), clip=True)

    def _ctgan_rows(self, x: torch.Tensor) -> torch.Tensor:
        frame = self.to_frame(x)
        return torch.from_numpy(self._fitted().transformer.transform(frame).astype(np.float32)).to(self.device)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> dict:
        mean, _, logvar = self.encoder(self._ctgan_rows(x))
        return {"c": mean, "c_logvar": logvar}

    @torch.no_grad()
    def decode(self, codes: dict) -> torch.Tensor:
        """Decoder means through ctgan's inverse transform (no output noise)."""
        synth = self._fitted()
        rows, _ = self.decoder(codes["c"])
        frame = synth.transformer.inverse_transform(torch.tanh(rows).cpu().numpy())
        return self.to_rows(frame, clip=True)
