"""Speed: msbench's training loop (`Model.fit`), eager and under `--compile`, against the plain eager loop
research code writes (each step's loss read on the host with `.item()`, then backward and step), side by
side on the same β-TCVAE (disentanglement-lib's network, 64×64×3, batch 64) and the same batches.

The issue's target is 1.3× the eager step (channels-last, a fused TC estimator, no host syncs and
torch.compile are the candidates). The host syncs are gone from `fit`, which on a CPU costs next to
nothing (one run: 0.90, within the noise); `--compile` (off by default) is the one that moves it;
channels-last (the eager loop with the model in NHWC) is measured beside them, not adopted. On
2 shared cores the machine's speed drifts by several percent within a run, so the asserted floors catch
a real slowdown only: the eager fit no slower than 0.85× the eager loop, and the compiled fit faster
than it. The four loops are timed in alternation, the best of 3 each. Run with `tox -e bench`.
"""

import time

import pytest
import torch

import models as zoo
from bench.budget import Budget
from bench.data import load
from models._base import set_compile
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
    model, compiled_model = _model(data), _model(data)
    channels_last = _model(data).to(memory_format=torch.channels_last)  # convolutions then run NHWC kernels
    eager_loop(channels_last, data, Budget(steps=3, batch_size=BATCH), 0)
    eager_loop(model, data, Budget(steps=3, batch_size=BATCH), 0)  # warm up the allocator and the kernels

    def fit_compiled(seed):
        set_compile(True)
        try:
            compiled_model.fit(data, budget, seed=seed, progress=False)
        finally:
            set_compile(False)

    start = time.perf_counter()
    set_compile(True)
    try:
        compiled_model.fit(data, Budget(steps=3, batch_size=BATCH), seed=0, progress=False)  # compiles here
    finally:
        set_compile(False)
    compile_seconds = time.perf_counter() - start
    eager, fitted, compiled, nhwc = [], [], [], []
    for _ in range(ROUNDS):  # interleaved, so that drifts of the machine's speed hit all alike
        eager.append(_best(lambda seed: eager_loop(model, data, budget, seed), repeat=1))
        fitted.append(_best(lambda seed: model.fit(data, budget, seed=seed, progress=False), repeat=1))
        compiled.append(_best(fit_compiled, repeat=1))
        nhwc.append(_best(lambda seed: eager_loop(channels_last, data, budget, seed), repeat=1))
    eager, fitted, compiled, nhwc = min(eager), min(fitted), min(compiled), min(nhwc)
    benchmark.pedantic(model.fit, args=(data, budget), kwargs={"seed": 0, "progress": False}, rounds=1, iterations=1)
    ratio, compiled_ratio = eager / fitted, eager / compiled
    benchmark.extra_info.update({"eager_steps_per_s": STEPS / eager, "fit_steps_per_s": STEPS / fitted,
                                 "compiled_fit_steps_per_s": STEPS / compiled, "ratio": ratio,
                                 "compiled_ratio": compiled_ratio, "compile_seconds": compile_seconds,
                                 "channels_last_ratio": eager / nhwc})
    print(f"\nβ-TCVAE 64x64x3, batch {BATCH}, 2 threads: eager loop {STEPS / eager:.2f} steps/s, "
          f"fit {STEPS / fitted:.2f} steps/s (ratio {ratio:.2f}), fit --compile {STEPS / compiled:.2f} steps/s "
          f"(ratio {compiled_ratio:.2f}; compiling took {compile_seconds:.0f}s), eager loop channels-last "
          f"{STEPS / nhwc:.2f} steps/s (ratio {eager / nhwc:.2f})")
    assert ratio >= FLOOR
    assert compiled_ratio > 1.0
