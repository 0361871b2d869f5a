"""`budget: {precision: bf16}`: the training forward passes run under bfloat16 autocast, evaluation in
float32, the precision is part of the job key, and a model whose training cannot honour it is refused
at validation."""

import pytest
import torch

from bench.budget import Budget
from bench.data import load
from bench.suite import SuiteError, parse_suite
from conftest import zoo_model

DATA = load("dsprites", image_size=32)


def _dtypes_seen(model, budget):
    """The output dtypes of the model's first conv or linear layer during `fit`."""
    seen = set()
    layer = next(m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    handle = layer.register_forward_hook(lambda module, inputs, output: seen.add(output.dtype))
    model.fit(DATA, budget, seed=0, progress=False)
    handle.remove()
    return seen


@pytest.mark.parametrize("name", ["beta_tcvae", "cgan"])
def test_bf16_trains_under_autocast_and_evaluates_in_float32(name):
    fp32, bf16 = zoo_model(name, DATA, seed=0), zoo_model(name, DATA, seed=0)
    assert _dtypes_seen(fp32, Budget(steps=3, batch_size=8)) == {torch.float32}
    assert _dtypes_seen(bf16, Budget(steps=3, batch_size=8, precision="bf16")) == {torch.bfloat16}
    weights = bf16.state_dict()
    assert all(v.dtype == fp32.state_dict()[k].dtype for k, v in weights.items())  # the weights stay float32
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    assert any(not torch.equal(v, fp32.state_dict()[k]) for k, v in weights.items())
    drawn = bf16.sample(2)
    assert drawn.dtype == torch.float32


SUITE = {"name": "p", "dataset": {"name": "dsprites", "params": {"image_size": 32}},
         "models": [{"model": "ms_vae", "params": {"beta": 4, "latent_dim": 4, "z_dim": 2}}],
         "metrics": ["l2"]}


def test_precision_is_part_of_the_job_key_and_of_its_stages():
    fp32 = parse_suite(SUITE).jobs[0]
    bf16 = parse_suite({**SUITE, "budget": {"precision": "bf16"}}).jobs[0]
    assert fp32.key != bf16.key
    (_, stage_fp32), (_, stage_bf16) = fp32.upstream[0], bf16.upstream[0]
    assert stage_fp32.key != stage_bf16.key and stage_bf16.budget.precision == "bf16"
    assert parse_suite({**SUITE, "budget": {"precision": "fp32"}}).jobs[0].key == fp32.key  # the default


def test_an_unknown_precision_or_one_a_model_cannot_honour_is_refused():
    with pytest.raises(SuiteError, match="budget.precision: 'fp16' is not one of 'fp32', 'bf16'"):
        parse_suite({**SUITE, "budget": {"precision": "fp16"}})
    tables = {"name": "t", "dataset": {"name": "credit"}, "budget": {"precision": "bf16"},
              "models": [{"model": "tvae"}], "metrics": ["jsd"]}
    with pytest.raises(SuiteError, match="models\\[0\\].budget.precision: 'tvae' trains in fp32 only, not bf16"):
        parse_suite(tables)
