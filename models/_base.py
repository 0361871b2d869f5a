"""What every model of the zoo provides, and the shared training loop.

A model is a `torch.nn.Module` subclass with a registry `name`, a `Config` dataclass,
the data kinds it `supports` and the upstream stages it `requires`. Subclasses
implement `training_loss` and the encode/decode pair; `fit` is shared.
"""

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from bench.budget import Budget


# What a model can be asked for, declared on its class (`capabilities`) and asked through `can`:
# the figures and metrics select models by capability, never by registry name. The shared
# conformance test (tests/test_conformance.py) checks every declaration against what the model does.
CAPABILITIES = {
    "sample": "`sample(n)` draws new items from the prior",
    "traverse": "`traverse` decodes a code with one dimension of c moved",
    "z": "`encode` gives a second latent group z (the correlated factors) beside c",
    "stage_one": "builds on an attached stage one whose decoding is Y (`stage('stage_one')`)",
    "conditioning": "`conditioning_codes` gives stage one's codes of X, Y and of G(Y, Z) variants (M1-M4)",
    "elbo": "`elbo` gives per-image ELBO terms",
    "density": "`log_density` gives exact per-image log-densities on the unit cube (and of the model's stages)",
    "mixture": "`mixture_means` gives stage one's mixture components (their Y) and weights",
    "conditional": "`generate(factors, generator)` renders images from given ground-truth factor values (n, F), "
                   "its noise drawn from `generator` (a supervised conditional generator)",
    "own_code": "`recover_code(n, generator)` draws n codes of its own, renders them and reads them back with its "
                "own head (InfoGAN's Q): {'code': ..., 'recovered': ...}",
}
# What the shared conformance test checks; a model declares those that apply to it (`test_checks`):
# a GAN's losses do not fall steadily, and a scikit-learn stage takes no gradient steps.
TEST_CHECKS = frozenset({"shapes", "loss_decreases", "round_trip", "deterministic", "capabilities"})


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


# how often `fit` reads the losses on the host to check them (at most: also at every log step). A
# read waits for the device, so not every step; a diverged model wastes at most this many steps.
CHECK_EVERY = 50

# Whether this process trains with torch.compile (`msbench run --compile`): a process setting, like the
# thread count, because it changes the kernels (and so the float rounding), not what a job is.
_COMPILE = {"on": False}


def set_compile(on: bool) -> None:
    _COMPILE["on"] = bool(on)


def compiling() -> bool:
    return _COMPILE["on"]


def _check_finite(unchecked: list, steps: int) -> None:
    """Raise TrainingDiverged for the first of `unchecked` (step, loss, parts) whose loss or a part
    is NaN or inf, naming the step and the part (one host read for them all)."""
    device = unchecked[0][1].device
    values = [[loss, *parts.values()] for _, loss, parts in unchecked]
    bad = torch.stack([torch.stack([~torch.isfinite(torch.as_tensor(v, device=device)) for v in row]) for row in values])
    if not bool(bad.any()):
        return
    row = int(bad.any(dim=1).nonzero()[0])
    column = int(bad[row].nonzero()[0])
    step, value = unchecked[row][0], float(values[row][column])
    what = "loss" if column == 0 else f"{list(unchecked[row][2])[column - 1]} loss"
    raise TrainingDiverged(f"{what} became {value} at step {step} of {steps}")


@dataclass(frozen=True)
class NoConfig:
    pass


def posterior_c(mean: torch.Tensor, logvar: torch.Tensor, c_noise=None) -> torch.Tensor:
    """c from q(c|x) = N(mean, exp(logvar)): the mean when `c_noise` is None, else the sample
    mean + sigma * noise, the noise given as a standard-normal tensor of mean's shape or drawn
    from a torch.Generator (on the CPU, so that a seed gives the same draws on any device)."""
    if c_noise is None:
        return mean
    if isinstance(c_noise, torch.Generator):
        c_noise = torch.randn(mean.shape, generator=c_noise)
    return mean + c_noise.to(mean.device, mean.dtype) * torch.exp(0.5 * logvar)


class Model(torch.nn.Module):
    name: str = ""  # registry name; empty for abstract bases
    version: str = "1"  # bump when training or architecture changes: it is part of the cache key
    Config: type = NoConfig
    description: str = ""
    supports: frozenset = frozenset({"images"})
    requires: tuple = ()  # upstream stages (registry names) this model builds on
    capabilities: frozenset = frozenset()  # a subset of CAPABILITIES
    precisions: frozenset = frozenset({"fp32", "bf16"})  # the budget precisions its training honours
    # for the shared conformance test: a tiny config (params of Config), the steps of its
    # loss-decrease check, and the checks that apply (TEST_CHECKS)
    test_config: dict = {}
    test_steps: int = 60
    test_checks: frozenset = TEST_CHECKS
    # Batched ensembles (models/_ensemble.py): None, this model trains alone only; else the config fields that
    # may differ between the members of one ensemble: scalar loss weights, and fields that only choose an
    # upstream stage (each member has its own); every other field must match. Only a model whose training
    # is the shared `training_step` over `training_loss`, with every random draw taken through `noise_like`
    # and tensors for `index_inputs`, may declare it: tests/test_ensemble.py checks each member against the
    # same job trained alone.
    ensemble_weights: tuple | None = None

    def __init__(self, config, data_shape: tuple):
        super().__init__()
        self.config = config
        self.data_shape = tuple(data_shape)

    # --- what subclasses implement -------------------------------------------------
    @staticmethod
    def upstream(config) -> dict:
        """{slot: (registry name, params)} for each trained stage this model builds on."""
        return {}

    def prepare(self, data) -> None:
        """Take what the model needs from its dataset before training or loading (tables: the
        transform back to table units). Nothing for image models."""

    def attach(self, upstream: dict) -> None:
        """Receive the trained upstream models, {slot: model}, before training or loading: each slot of
        `requires` is frozen (eval mode, no gradients) and kept outside the module tree, so that it is
        neither trained nor saved with this model; `stage(slot)` gives it back."""
        if not self.requires:
            raise NotImplementedError(f"{self.name} builds on no upstream stage")
        for slot in self.requires:
            stage = upstream[slot]
            stage.eval()
            for p in stage.parameters():
                p.requires_grad_(False)
            self.__dict__[slot] = stage

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """(loss, parts) for one batch, parts as detached 0-d tensors (never `.item()`: reading a value
        on the host waits for the device every step). A model whose `uses_index` is true is also given
        `index=`: each image's index in the dataset (its factor-grid index for procedural sets)."""
        raise NotImplementedError

    uses_index = False  # True: training_loss needs each image's dataset index (see above)

    def index_inputs(self, index) -> dict:
        """What `fit` passes training_loss, as keywords, for a batch's dataset indices (when `uses_index`):
        the indices themselves, or what the model derives from them on the host (MS-VAE: each image's own
        posterior noise). A batched ensemble needs these to be tensors, one row per image."""
        return {"index": index}

    def noise_like(self, t: torch.Tensor) -> torch.Tensor:
        """Standard-normal noise of t's shape for training_loss: from the global generator alone, or,
        in a batched ensemble, the member's own draws, fed in by the ensemble's step."""
        feed = self.__dict__.get("noise_feed")
        return torch.randn_like(t) if feed is None else feed(t)

    def reconstruction_loss(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x | logits) summed over an item's values, mean over the batch: Bernoulli, as
        disentanglement-lib's VAEs use for images in [0, 1]."""
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()

    def encode(self, x: torch.Tensor) -> dict:
        raise NotImplementedError

    def decode(self, codes: dict) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, n: int) -> torch.Tensor:
        raise NotImplementedError

    def elbo(self, x: torch.Tensor, generator: torch.Generator, samples: int = 1) -> dict:
        """Per-image evidence lower bound terms in nats, for `bench.metrics.elbo`: {"log_likelihood":
        (n,), "kl": (n,), and any named parts of kl}, ELBO = log_likelihood - kl <= log p(x). The
        expectation over the posterior is estimated from `samples` draws, their noise drawn from
        `generator` (a CPU torch.Generator, so that a seed gives the same draws on any device)."""
        raise NotImplementedError(f"{self.name} defines no ELBO")

    def log_density(self, x: torch.Tensor) -> dict:
        """Exact per-image log-densities in nats of points x in the unit cube (dequantised images), for
        `bench.metrics.log_density`: {"log_density": (n,), and any stage's own, e.g. "stage_one": (n,)}."""
        raise NotImplementedError(f"{self.name} has no exact density")

    def autocast(self):
        """The context the training forward passes run in: bfloat16 autocast when the budget being
        trained asks for `precision: bf16`, else nothing."""
        if self.__dict__.get("precision", "fp32") == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def optimizers(self, budget: Budget) -> list:
        """The optimizers `training_step` updates with: one Adam over every parameter at the budget's
        rate (a GAN returns one per network)."""
        return [torch.optim.Adam(self.parameters(), lr=budget.learning_rate)]

    def training_step(self, x: torch.Tensor, optimizers: list, **batch) -> tuple[torch.Tensor, dict]:
        """One update on batch x: (loss, parts), detached tensors left on the device: `fit` checks them
        for NaN and inf every few steps, without a host sync per step. A model that alternates
        updates (a GAN) overrides this."""
        with self.autocast():
            loss, parts = self.loss_function()(x, **batch)
        (optimizer,) = optimizers
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach(), parts

    # --- shared behaviour --------------------------------------------------------------
    def loss_function(self):
        """`training_loss`, or under `--compile` its torch.compile'd form (compiled once per model, at
        the first step; backward is compiled with it). A model that trains through it is marked
        `trained_compiled`, which its artifact records; one with its own step (a GAN) trains eager.
        Batched ensembles compile their vmapped loss instead (models/_ensemble.py)."""
        if not compiling():
            return self.training_loss
        if self.__dict__.get("compiled_loss") is None:
            # the compiled loss draws its noise (noise_like's randn_like) as eager torch does, from the same
            # seeded generator, rather than from Inductor's own generator: compiled and eager training see
            # the same posterior noise and differ by rounding only (torch._inductor.config.fallback_random)
            torch._inductor.config.fallback_random = True
            self.__dict__["compiled_loss"] = torch.compile(self.training_loss)
        self.__dict__["trained_compiled"] = True
        return self.__dict__["compiled_loss"]

    def training_mode(self, ensemble: int = 1) -> str:
        """How this model was trained, as its artifact records it: "alone" or "ensemble of N", and
        ", compiled" when its steps ran through torch.compile."""
        mode = "alone" if ensemble == 1 else f"ensemble of {ensemble}"
        return mode + (", compiled" if self.__dict__.get("trained_compiled") else "")

    @classmethod
    def can(cls, capability: str) -> bool:
        """Whether this model declares `capability` (a key of CAPABILITIES)."""
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
        return capability in cls.capabilities

    def stage(self, slot: str = "stage_one"):
        """The trained upstream model attached in `slot` (one of `requires`)."""
        if slot not in self.requires:
            raise NotImplementedError(f"{self.name} builds on no {slot}")
        stage = self.__dict__.get(slot)
        if stage is None:
            raise RuntimeError(f"{self.name}: no {slot} attached")
        return stage

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def log_likelihood(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | logits) per item: minus `reconstruction_loss` taken one item at a time, so that the
        ELBO uses exactly the likelihood the model trains with (a subclass's own included)."""
        return -torch.stack([self.reconstruction_loss(lg[None], item[None]) for lg, item in zip(logits, x)])

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, c_noise=None) -> torch.Tensor:
        """Decode x's code: from the posterior mean of c, or with `c_noise` (a tensor or a
        torch.Generator, see `posterior_c`) from one posterior sample c ~ q(c|x), the paper's
        protocol (appendix J) and disentanglement-lib's."""
        return self.decode(self.encode(x) if c_noise is None else self.encode(x, c_noise=c_noise))

    @torch.no_grad()
    def traverse(self, x: torch.Tensor, dim: int, values) -> torch.Tensor:
        """For each image, decode its code with c[dim] set to each value: (n, len(values), C, H, W)."""
        codes = self.encode(x)
        rows = []
        for value in values:
            c = codes["c"].clone()
            c[:, dim] = value
            rows.append(self.decode({**codes, "c": c}))
        return torch.stack(rows, dim=1)

    def fit(self, data, budget: Budget, seed: int, progress: bool = True, desc: str = "") -> list[dict]:
        """Train on batches drawn from `data`; return the loss log (one entry per log step: the mean
        loss since the last entry, and the last step's parts).

        The losses stay on the device: the host reads them once every CHECK_EVERY steps (and at each
        log step), so a GPU never waits for it. A NaN or inf loss or part raises TrainingDiverged at
        that check, naming the exact step it first appeared and the part; the weights updated since
        are then never used (nothing is cached).
        """
        rng = np.random.default_rng(seed)
        optimizers = self.optimizers(budget)
        log_every = max(1, budget.steps // 100)
        check_every = min(log_every, CHECK_EVERY)
        log, running, unchecked = [], [], []
        self.train()
        bar = tqdm(range(1, budget.steps + 1), desc=desc or self.name, disable=None if progress else True,  # None: off when not a terminal
                   leave=False, dynamic_ncols=True, unit="step")
        self.__dict__["fit_seed"] = seed  # what index-derived noise is seeded with (not saved: derived)
        self.__dict__["precision"] = budget.precision  # what `autocast` reads while training
        self.__dict__["trained_compiled"] = False  # set by loss_function when a step runs compiled
        for step in bar:
            if self.uses_index:
                x, index = data.batch(budget.batch_size, rng, self.device, with_index=True)
                batch = self.index_inputs(index)
            else:
                x, batch = data.batch(budget.batch_size, rng, self.device), {}
            loss, parts = self.training_step(x, optimizers, **batch)
            running.append(loss)
            unchecked.append((step, loss, parts))
            if step % check_every == 0 or step == budget.steps:
                _check_finite(unchecked, budget.steps)
                unchecked = []
            if step % log_every == 0 or step == budget.steps:
                values = torch.stack(running).double().cpu().numpy()  # the float32 losses, as the host saw them
                log.append({"step": step, "loss": float(np.mean(values)), **{k: float(v) for k, v in parts.items()}})
                bar.set_postfix(loss=f"{log[-1]['loss']:.2f}", refresh=False)
                running = []
        self.__dict__["precision"] = "fp32"  # evaluation runs in float32
        self.eval()
        return log
