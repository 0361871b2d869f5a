"""The shared training loop reads the losses on the host only every few steps (no sync per step):
this changes no result on the CPU, and a diverging loss is still caught, at the exact step."""

import math

import numpy as np
import pytest
import torch

import models as zoo
from bench.budget import Budget
from bench.data import load
from conftest import zoo_model
from models._base import CHECK_EVERY

DATA = load("dsprites", image_size=32)


def eager_loop(model, data, budget: Budget, seed: int) -> None:
    """The loop as research code (and msbench before) wrote it: every step's loss and parts read on
    the host and checked before the update."""
    rng = np.random.default_rng(seed)
    optimizers = model.optimizers(budget)
    model.train()
    model.__dict__["fit_seed"] = seed
    for _ in range(budget.steps):
        if model.uses_index:
            x, index = data.batch(budget.batch_size, rng, model.device, with_index=True)
            batch = {"index": index}
        else:
            x, batch = data.batch(budget.batch_size, rng, model.device), {}
        if type(model).training_step is zoo.Model.training_step:
            loss, parts = model.training_loss(x, **batch)
            assert math.isfinite(loss.item()) and all(math.isfinite(float(v)) for v in parts.values())
            (optimizer,) = optimizers
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        else:  # a GAN's alternating updates, read after each step
            loss, parts = model.training_step(x, optimizers, **batch)
            assert math.isfinite(loss.item()) and all(math.isfinite(float(v)) for v in parts.values())


@pytest.mark.parametrize("name", ["beta_tcvae", "ms_vae", "jacobian_student", "ms_gan", "infogan"])
def test_fit_trains_exactly_as_the_step_by_step_eager_loop(name):
    budget = Budget(steps=7, batch_size=16)
    trained = []
    for train in (lambda m: m.fit(DATA, budget, seed=3, progress=False), lambda m: eager_loop(m, DATA, budget, 3)):
        model = zoo_model(name, DATA, seed=3)
        torch.manual_seed(3)  # the runner seeds torch once per job, before training
        train(model)
        trained.append(model.state_dict())
    fitted, eager = trained
    assert fitted.keys() == eager.keys()
    for key in fitted:
        assert torch.equal(fitted[key], eager[key]), key


def _counting_nan(model, first_bad: int, part: str | None = None):
    """Make the model's loss (or one part) NaN from step `first_bad` on; count the steps taken."""
    real = model.training_loss
    model.__dict__["steps_taken"] = 0

    def training_loss(x, **batch):
        model.__dict__["steps_taken"] += 1
        loss, parts = real(x, **batch)
        if model.steps_taken >= first_bad:
            if part is None:
                loss = loss * float("nan")
            else:
                parts = {**parts, part: parts[part] * float("nan")}
        return loss, parts

    model.training_loss = training_loss
    return model


def test_a_diverging_loss_is_caught_at_its_exact_step_within_one_check():
    steps = 400  # a log every 4 steps, so a check every 4
    model = _counting_nan(zoo_model("beta_tcvae", DATA, seed=0), first_bad=37)
    with pytest.raises(zoo.TrainingDiverged, match=r"^loss became nan at step 37 of 400$"):
        model.fit(DATA, Budget(steps=steps, batch_size=8), seed=0, progress=False)
    check_every = min(steps // 100, CHECK_EVERY)
    assert 37 <= model.steps_taken < 37 + check_every


def test_a_diverging_part_is_named():
    model = _counting_nan(zoo_model("beta_tcvae", DATA, seed=0), first_bad=2, part="kl")
    with pytest.raises(zoo.TrainingDiverged, match=r"^kl loss became nan at step 2 of 3$"):
        model.fit(DATA, Budget(steps=3, batch_size=8), seed=0, progress=False)


def test_the_loss_log_is_the_mean_of_the_losses_the_steps_gave():
    model = zoo_model("beta_tcvae", DATA, seed=0)
    seen = []
    real = model.training_loss

    def training_loss(x, **batch):
        loss, parts = real(x, **batch)
        seen.append(loss.item())
        return loss, parts

    model.training_loss = training_loss
    log = model.fit(DATA, Budget(steps=200, batch_size=8), seed=0, progress=False)
    assert [e["step"] for e in log][:3] == [2, 4, 6] and len(log) == 100
    assert log[0]["loss"] == np.mean(seen[:2]) and log[-1]["loss"] == np.mean(seen[-2:])
    assert isinstance(log[0]["kl"], float)
