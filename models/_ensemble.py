"""Batched ensembles: jobs of one model class and architecture that differ only in seed and in scalar
loss weights, trained together as one stacked model (torch.func's stack_module_state, functional_call
and vmap), so that one device runs N small models at once.

Each member keeps what it would have alone:
- its initial weights: each member is built, seeded, as its own job would be;
- its batch stream: its own numpy generator, seeded as `Model.fit` seeds it;
- its loss weights (`Model.ensemble_weights`, e.g. beta), handed to the vmapped step as a tensor;
- its posterior noise: drawn with its own torch generator, started in the state the global one had
  after it was built, and fed in through `Model.noise_like` (vmap refuses any other random draw);
- its Adam state: Adam is elementwise, so one Adam over the stacked parameters is each member's own.

A member whose loss turns NaN or inf is dropped at the next check, with the exact step named as `fit`
names it; its slice of the stack stays (members never mix) but nothing of it is kept.
"""

import contextlib
import copy

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from bench.budget import Budget
from models._base import CHECK_EVERY, Model, TrainingDiverged, compiling


def can_ensemble(cls) -> bool:
    """Whether `cls` may train in a batched ensemble: it declares the fields its members may differ in,
    and trains through the shared step and optimizer (not the GANs' alternating updates)."""
    return (cls.ensemble_weights is not None
            and cls.training_step is Model.training_step and cls.optimizers is Model.optimizers)


def member_generator(device) -> torch.Generator:
    """A generator in the state the global one for `device` is in now: called right after a member is
    built, it draws what the member's training would have drawn alone."""
    device = torch.device(device)
    generator = torch.Generator(device)
    generator.set_state(torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.random.get_rng_state())
    return generator


class _TrainingLoss(torch.nn.Module):
    """`model.training_loss` as a module's forward, for functional_call: the model's parameters are named
    "model.*", and its attached stages' (frozen, each member its own) "stages.<slot>.*"."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.stages = torch.nn.ModuleDict({slot: model.stage(slot) for slot in model.requires})

    def forward(self, x, inputs):
        return self.model.training_loss(x, **inputs)


def _stacked(members: list) -> tuple[dict, dict]:
    """(trainable, frozen): the members' parameters stacked along a new first dimension, named as in
    _TrainingLoss; frozen holds their buffers and their stages' parameters and buffers."""
    params, buffers = stack_module_state(members)
    trainable = {f"model.{name}": p.detach().requires_grad_() for name, p in params.items()}
    frozen = {f"model.{name}": b for name, b in buffers.items()}
    for slot in members[0].requires:
        stage_params, stage_buffers = stack_module_state([member.stage(slot) for member in members])
        frozen.update({f"stages.{slot}.{name}": v.detach() for name, v in {**stage_params, **stage_buffers}.items()})
    return trainable, frozen


@contextlib.contextmanager
def _member_view(model: Model, weights: dict, noise: list):
    """`model` with its loss weights replaced by `weights` (tensors, one value per member under vmap) and
    `noise_like` answered, in order, from `noise`."""
    config, draws = model.config, iter(noise)
    varied = copy.copy(config)
    for name, value in weights.items():
        object.__setattr__(varied, name, value)  # frozen config: bypass its checks, which a tensor cannot pass
    model.config = varied
    model.__dict__["noise_feed"] = lambda t: next(draws)
    try:
        yield model
    finally:
        model.config = config
        del model.__dict__["noise_feed"]


def _noise_shapes(module: _TrainingLoss, state: dict, x: torch.Tensor, inputs: dict) -> list:
    """(shape, dtype) of each `noise_like` draw of one training_loss, in order (one forward, no update)."""
    shapes = []

    def record(t):
        shapes.append((t.shape, t.dtype))
        return torch.zeros_like(t)

    with torch.no_grad():
        module.model.__dict__["noise_feed"] = record
        try:
            functional_call(module, state, (x, inputs), strict=True, tie_weights=False)
        finally:
            del module.model.__dict__["noise_feed"]
    return shapes


def _batch(member: Model, data, rng, budget: Budget, device) -> tuple:
    """One member's batch, drawn as `Model.fit` draws it: x, and its `index_inputs` when it uses indices."""
    if not member.uses_index:
        return data.batch(budget.batch_size, rng, device), {}
    x, index = data.batch(budget.batch_size, rng, device, with_index=True)
    inputs = member.index_inputs(index)
    if not all(isinstance(v, torch.Tensor) for v in inputs.values()):
        raise ValueError(f"{member.name} cannot train in a batched ensemble: its index_inputs are not all tensors")
    return x, {name: v.to(device) for name, v in inputs.items()}


def fit_ensemble(members: list, generators: list, data, budget: Budget, seeds: list, progress: bool = True,
                 desc: str = "ensemble") -> list:
    """Train `members` (built and seeded, one per job, their stages attached; `generators[i]` from
    `member_generator` right after member i was built; `seeds[i]` its job's seed) together. Their
    trained weights are copied back into them. Returns, per member, its loss log (as `Model.fit`
    gives it) or the TrainingDiverged that dropped it."""
    cls, base = type(members[0]), members[0]
    if not can_ensemble(cls) or any(type(m) is not cls for m in members):
        raise ValueError(f"{cls.name} cannot train in a batched ensemble (see models/_ensemble.can_ensemble)")
    if budget.precision != "fp32":
        raise ValueError("batched ensembles train in fp32 only")
    n, device = len(members), base.device
    for member, seed in zip(members, seeds):
        member.train()
        member.__dict__["fit_seed"] = seed  # as `fit` sets it: index-derived noise is seeded with it
    trainable, frozen = _stacked(members)
    dtype = next(iter(trainable.values())).dtype
    # float64: a weight's Python-float value reaches the loss as it does alone (cast to the loss's dtype there)
    weights = {name: torch.tensor([float(getattr(m.config, name)) for m in members], dtype=torch.float64,
                                  device=device) for name in cls.ensemble_weights}
    optimizer = torch.optim.Adam(trainable.values(), lr=budget.learning_rate)  # as Model.optimizers: elementwise
    rngs = [np.random.default_rng(seed) for seed in seeds]
    module = _TrainingLoss(base)

    def member_loss(p, f, x, inputs, w, noise):
        with _member_view(base, w, noise):
            return functional_call(module, {**p, **f}, (x, inputs), strict=True, tie_weights=False)

    step_all = vmap(member_loss)  # randomness="error": a draw not fed through noise_like fails loudly
    if compiling():  # `--compile`: the vmapped loss as one compiled graph (the noise is fed in, so no draw inside)
        step_all = torch.compile(step_all)
    for member in members:
        member.__dict__["trained_compiled"] = compiling()  # what its artifact records (Model.training_mode)
    log_every = max(1, budget.steps // 100)
    check_every = min(log_every, CHECK_EVERY)
    logs, outcome = [[] for _ in members], [None] * n
    alive = list(range(n))
    running, unchecked, shapes = [], [], None
    bar = tqdm(range(1, budget.steps + 1), desc=f"{desc} (ensemble of {n})", disable=None if progress else True,
               leave=False, dynamic_ncols=True, unit="step")
    for step in bar:
        batches = [_batch(member, data, rng, budget, device) for member, rng in zip(members, rngs)]
        x = torch.stack([x for x, _ in batches]).to(dtype)
        inputs = {name: torch.stack([extra[name] for _, extra in batches]) for name in batches[0][1]}
        if shapes is None:
            first = {name: v[0] for name, v in {**trainable, **frozen}.items()}
            shapes = _noise_shapes(module, first, x[0], batches[0][1])
        noise = [torch.stack([torch.randn(shape, generator=g, dtype=kind, device=device) for g in generators])
                 for shape, kind in shapes]
        loss, parts = step_all(trainable, frozen, x, inputs, weights, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()  # each member's gradient is that of its own loss: members never mix
        optimizer.step()
        loss = loss.detach()
        running.append(loss)
        unchecked.append((step, loss, parts))
        if step % check_every == 0 or step == budget.steps:
            for i in _diverged(unchecked, alive, budget.steps, outcome):
                alive.remove(i)
            unchecked = []
            if not alive:
                break
        if step % log_every == 0 or step == budget.steps:
            values = torch.stack(running).double().cpu().numpy()
            last = {k: v.double().cpu().numpy() for k, v in parts.items()}
            for i in alive:
                logs[i].append({"step": step, "loss": float(np.mean(values[:, i])), **{k: float(v[i]) for k, v in last.items()}})
            running = []
    bar.close()
    with torch.no_grad():
        for i in alive:
            for name, p in members[i].named_parameters():
                p.copy_(trainable[f"model.{name}"][i])
            for name, b in members[i].named_buffers():
                b.copy_(frozen[f"model.{name}"][i])
            outcome[i] = logs[i]
    for member in members:
        member.eval()
    return outcome


def _diverged(unchecked: list, alive: list, steps: int, outcome: list) -> list:
    """The members of `alive` whose loss or a part was NaN or inf in `unchecked` (step, loss (N,),
    parts {name: (N,)}); each gets its TrainingDiverged in `outcome`, naming the first such step."""
    names = list(unchecked[0][2])
    table = torch.stack([torch.stack([loss, *parts.values()]) for _, loss, parts in unchecked])  # (S, 1+P, N)
    bad = ~torch.isfinite(table)
    dropped = []
    for i in alive:
        rows = bad[:, :, i].any(dim=1).nonzero()
        if len(rows):
            row = int(rows[0])
            column = int(bad[row, :, i].nonzero()[0])
            what = "loss" if column == 0 else f"{names[column - 1]} loss"
            outcome[i] = TrainingDiverged(f"{what} became {float(table[row, column, i])} at step {unchecked[row][0]} "
                                          f"of {steps} (in a batched ensemble; the other members went on)")
            dropped.append(i)
    return dropped
