"""MS-FLOW (models/ms_flow.py) and the log-density score (bench/metrics/log_density.py): known answers
for the score, and the paper's appendix E claim that the flow improves on its mixture."""

import math

import numpy as np
import pytest
import torch

import models as zoo
from bench.budget import Budget
from bench.config import build
from bench.data import load
from bench.evaluate import evaluate
from bench.metrics.log_density import discrete_log_likelihood
from bench.suite import MetricSpec

DIGITS = load("digits", image_size=8, held_out=0.2)


def test_a_uniform_density_scores_the_uniform_distribution_over_the_levels():
    # p = 1 on the unit cube gives P(v) = levels^-D for every v: D log(levels) nats, log2(levels) bits per dim
    scores = discrete_log_likelihood(np.zeros(10), dims=64, levels=17)
    assert scores["nats"] == pytest.approx(-64 * math.log(17))
    assert scores["bits_per_dim"] == pytest.approx(math.log2(17))
    assert scores["std_error"] == 0
    with pytest.raises(ValueError, match="not finite"):
        discrete_log_likelihood(np.array([0.0, np.nan]), dims=64, levels=17)


class Uniform(zoo.Model):
    """The uniform density on the unit cube, and a 'stage one' of log-density -1 everywhere."""

    def __init__(self):
        super().__init__(None, (1, 8, 8))
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def log_density(self, x):
        self.seen.append(x)
        return {"log_density": torch.zeros(len(x)), "stage_one": torch.full((len(x),), -1.0)}


def test_the_evaluator_dequantises_the_held_out_rows_once_into_their_own_cells():
    model = Uniform()
    record = {r["metric_id"]: r for r in evaluate(model, DIGITS, [MetricSpec("log_density", {})], seed=3)}
    held_out, _ = DIGITS.held_out_set()
    x = torch.cat(model.seen).numpy()
    assert x.shape == held_out.shape == (len(DIGITS.held_out_images), 1, 8, 8)
    values = np.round(held_out * 16)  # each point lies in its own value's cell [v, v + 1) / 17
    assert ((x * 17 >= values) & (x * 17 < values + 1)).all()
    assert record["log_density"]["value"] == pytest.approx(-64 * math.log(17))
    assert record["log_density_bits_per_dim"]["value"] == pytest.approx(math.log2(17))
    assert record["log_density"]["details"]["num_points"] == len(held_out)
    assert record["log_density_stage_one"]["value"] == pytest.approx(-1 - 64 * math.log(17))


def test_a_dataset_without_held_out_rows_gives_a_missing_score_with_the_reason():
    records = evaluate(Uniform(), load("digits", image_size=8), [MetricSpec("log_density", {})], seed=0)
    assert {r["value"] for r in records} == {None}
    assert "holds no rows out of training (set its held_out param)" in records[0]["missing_reason"]


def test_the_flow_beats_its_mixture_on_held_out_digits():
    cls = zoo.get("ms_flow")
    torch.manual_seed(0)
    model = cls(build(cls.Config, {"transforms": 3, "hidden": 256}), DIGITS.data_shape)
    model.prepare(DIGITS)
    model.fit(DIGITS, Budget(steps=300, batch_size=128, learning_rate=1e-3), seed=0, progress=False)
    scores = {r["metric_id"]: r["value"] for r in evaluate(model, DIGITS, [MetricSpec("log_density", {})], seed=0)}
    # the paper's MNIST: -1585 (mixture) -> -1356 (with the flow)
    assert scores["log_density"] > scores["log_density_stage_one"] + 5, scores
    assert scores["log_density_bits_per_dim"] < scores["log_density_stage_one_bits_per_dim"]
