"""Throughput of batched ensembles (models/_ensemble.py) against training the same jobs one after another:
disentanglement-lib's β-TCVAE at 64×64×3, batch 64, N = 1, 4, 16 and 64 members (seeds 0..N-1), each
side given the same number of images (N members × max(2, 128 / N) steps), timed side by side in one run.

On the CPU a batched ensemble is not expected to win: the cores are busy with one model already, and
vmap turns each convolution into a grouped one. `--ensemble-size auto` is therefore 1 on the CPU
(bench/devices.AUTO_ENSEMBLE), and this benchmark is what that default rests on: it fails if an
ensemble of 4 ever trains more than 10% faster than sequential training here, so that the default is
revisited. The GPU figures come from scripts/gpu_ensemble.py on a GPU, never from these.
Run with `tox -e bench` (about 4 minutes on 2 cores).
"""

import time

import pytest
import torch

import models as zoo
from bench.budget import Budget
from bench.data import load
from bench.devices import AUTO_ENSEMBLE
from models._ensemble import fit_ensemble, member_generator

BATCH = 64
SIZES = (1, 4, 16, 64)
RESULTS = {}


@pytest.fixture(scope="module")
def data():
    return load("textured_objects", image_size=64)


def members(data, n):
    cls = zoo.get("beta_tcvae")
    built = []
    for seed in range(n):
        torch.manual_seed(seed)
        model = cls(cls.Config(beta=4.0), data.data_shape)
        built.append((model, member_generator("cpu")))
    return built


def sequential(data, n, budget) -> float:
    models = members(data, n)
    start = time.perf_counter()
    for seed, (model, _) in enumerate(models):
        model.fit(data, budget, seed=seed, progress=False)
    return time.perf_counter() - start


def ensemble(data, n, budget) -> float:
    models, generators = zip(*members(data, n))
    start = time.perf_counter()
    fit_ensemble(list(models), list(generators), data, budget, list(range(n)), progress=False)
    return time.perf_counter() - start


@pytest.mark.parametrize("n", SIZES)
def test_ensemble_throughput_against_sequential(benchmark, data, n):
    torch.set_num_threads(2)
    budget = Budget(steps=max(2, 128 // n), batch_size=BATCH)
    images = n * budget.steps * BATCH
    sequential(data, 1, Budget(steps=2, batch_size=BATCH))  # warm up the allocator and the kernels
    alone = sequential(data, n, budget)
    together = benchmark.pedantic(ensemble, args=(data, n, budget), rounds=1, iterations=1)  # its own timing
    RESULTS[n] = (images / alone, images / together)
    benchmark.extra_info.update({"members": n, "sequential_images_per_s": images / alone,
                                 "ensemble_images_per_s": images / together, "ratio": alone / together})
    print(f"\nN={n}: sequential {images / alone:.0f} images/s, ensemble {images / together:.0f} images/s, "
          f"ratio {alone / together:.2f} ({images} images each, 2 threads)")
    if n == 4 and AUTO_ENSEMBLE["cpu"] == 1:
        assert alone / together < 1.1, "ensembles now win on the CPU: revisit AUTO_ENSEMBLE['cpu']"
