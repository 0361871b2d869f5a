"""Speed: msbench's training loop (`Model.fit`) against the plain eager loop research code writes (each
step's loss read on the host with `.item()`, then backward and step), side by side on the same
β-TCVAE (disentanglement-lib's network, 64×64×3, batch 64) and the same batches.

The issue's target is 1.3× the eager step (channels-last, a fused TC estimator and no host syncs are the
candidates); so far only the host syncs are gone, which on a CPU cost next to nothing, so this asserts
only that the loop is not slower than eager beyond the noise, and reports the ratio. On 2 shared cores
one run gave 0.90, and the machine's speed drifts by several percent within a run, so the floor (0.85)
catches a real slowdown only. The two loops are timed in alternation, the best of 3 each. Run with
`tox -e bench`.
"""

import time

import pytest
import torch

import models as zoo
from bench.budget import Budget
from bench.data import load
from test_training_loop import eager_loop  # the loop research code writes, as the equivalence test has it

STEPS, BATCH = 300, 64  # fit logs and checks every 3 steps here (every 50 from 5,000 steps)
ROUNDS = 3
FLOOR = 0.85


@pytest.fixture(scope="module")
def data():
    return load("textured_objects", image_size=64)


def _model(data):
    cls = zoo.get("beta_tcvae")
    torch.manual_seed(0)
    model = cls(cls.Config(beta=4.0), data.data_shape)
    model.prepare(data)
    return model


def _best(run, repeat: int = 3) -> float:
    times = []
    for seed in range(repeat):
        start = time.perf_counter()
        run(seed)
        times.append(time.perf_counter() - start)
    return min(times)


def test_fit_step_against_the_eager_step(benchmark, data):
    torch.set_num_threads(2)
    budget = Budget(steps=STEPS, batch_size=BATCH)
    model = _model(data)
    eager_loop(model, data, Budget(steps=3, batch_size=BATCH), 0)  # warm up the allocator and the kernels
    eager, fitted = [], []
    for _ in range(ROUNDS):  # interleaved, so that drifts of the machine's speed hit both alike
        eager.append(_best(lambda seed: eager_loop(model, data, budget, seed), repeat=1))
        fitted.append(_best(lambda seed: model.fit(data, budget, seed=seed, progress=False), repeat=1))
    eager, fitted = min(eager), min(fitted)
    benchmark.pedantic(model.fit, args=(data, budget), kwargs={"seed": 0, "progress": False}, rounds=1, iterations=1)
    ratio = eager / fitted
    benchmark.extra_info.update({"eager_steps_per_s": STEPS / eager, "fit_steps_per_s": STEPS / fitted,
                                 "ratio": ratio})
    print(f"\nβ-TCVAE 64x64x3, batch {BATCH}, 2 threads: eager {STEPS / eager:.2f} steps/s, "
          f"fit {STEPS / fitted:.2f} steps/s, ratio {ratio:.2f}")
    assert ratio >= FLOOR
