#!/usr/bin/env python3
"""The GPU figures of batched ensembles, in one run (prepared for the device machine; runs on a CPU too,
for a check of the script itself, with small --steps):

0. the procedural datasets painted on the device against numpy's pixels;
1. throughput of disentanglement-lib's β-TCVAE at 64×64×3, batch 64: N models trained one after another
   against one ensemble of N, for N in --sizes, in images/s, with the GPU's utilisation sampled by
   nvidia-smi while each side runs;
2. an estimate of a suite's training time (default suites/cars3d.yaml as it stands): its jobs grouped as
   the runner groups them (bench/trained.plan_ensembles, cap --cap), each kind of group's step time
   measured on a stand-in dataset of the suite's image shape, times the suite's steps. Evaluation is
   not in it (it needs the dataset's files) and is printed as missing.

    python scripts/gpu_ensemble.py [--device cuda] [--sizes 1,4,16,64] [--steps 20] [--suite suites/cars3d.yaml] [--compile]
"""

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import models as zoo  # noqa: E402
from bench.budget import Budget  # noqa: E402
from bench.cache import ArtifactCache  # noqa: E402
from bench.config import build  # noqa: E402
from bench.data import load  # noqa: E402
from bench.suite import load_suite  # noqa: E402
from bench.trained import all_jobs, plan_ensembles  # noqa: E402
from models._base import set_compile  # noqa: E402
from models._ensemble import fit_ensemble, member_generator  # noqa: E402


class Utilisation:
    """nvidia-smi's GPU utilisation, sampled every 200 ms while the block runs (None without a GPU)."""

    def __enter__(self):
        self.samples, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                      "-i", "0"], capture_output=True, text=True, timeout=5).stdout
                self.samples.append(float(out.split()[0]))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                return
            time.sleep(0.2)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    @property
    def mean(self):
        return statistics.mean(self.samples) if self.samples else None


def built(name, params, seeds, shape, device):
    cls = zoo.get(name)
    members = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = cls(build(cls.Config, params), shape).to(device)
        members.append((model, member_generator(device)))
    return members


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(work, device):
    sync(device)
    start = time.perf_counter()
    with Utilisation() as use:
        work()
        sync(device)
    return time.perf_counter() - start, use.mean


def throughput(data, device, sizes, steps):
    print("| N | sequential images/s | GPU util | ensemble images/s | GPU util | ratio |\n| --- | --- | --- | --- | --- | --- |")
    budget = Budget(steps=steps, batch_size=64, learning_rate=1e-4)
    for n in sizes:
        models = built("beta_tcvae", {"beta": 4.0}, range(n), data.data_shape, device)
        models[0][0].fit(data, Budget(steps=2, batch_size=64), seed=0, progress=False)  # warm-up
        alone, use_alone = timed(lambda: [m.fit(data, budget, seed=s, progress=False) for s, (m, _) in enumerate(models)],
                                 device)
        members = built("beta_tcvae", {"beta": 4.0}, range(n), data.data_shape, device)
        fit_ensemble([m for m, _ in members], [g for _, g in members], data, Budget(steps=2, batch_size=64),
                     list(range(n)), progress=False)  # warm-up (and, with --compile, the compilation)
        together, use_together = timed(lambda: fit_ensemble([m for m, _ in members], [g for _, g in members], data,
                                                            budget, list(range(n)), progress=False), device)
        images = n * steps * 64
        show = lambda u: "n/a" if u is None else f"{u:.0f}%"  # noqa: E731
        print(f"| {n} | {images / alone:.0f} | {show(use_alone)} | {images / together:.0f} | {show(use_together)} "
              f"| {alone / together:.2f} |", flush=True)


def paint_check(device):
    """The procedural sets painted on `device` against numpy's pixels from the same seed (bench/data/procedural.py)."""
    import numpy as np

    for name in ("dsprites", "textured_objects"):
        data = load(name, image_size=64)
        host, there = np.random.default_rng(0), np.random.default_rng(0)
        factors = data.sample_factors(256, host)
        data.sample_factors(256, there)
        expected = data.paint(np, data.draw(factors, host))
        painted = data.render_on(factors, there, device).cpu().numpy()
        print(f"{name} painted on {device}: largest difference {np.abs(painted - expected).max():.2g}, "
              f"pixels that differ {(painted != expected).mean():.2g}")


def suite_estimate(path, device, cap, steps):
    suite = load_suite(path)
    jobs = list(all_jobs(suite.jobs).values())
    groups = plan_ensembles(jobs, ArtifactCache("/nonexistent-msbench-cache"), cap)
    grouped = {job.key for group in groups for job in group}
    tasks = groups + [[job] for job in jobs if job.key not in grouped]
    shape = (3, suite.dataset["params"].get("image_size", 64), suite.dataset["params"].get("image_size", 64))
    data = load("textured_objects", image_size=shape[1])
    per_kind, total = {}, 0.0
    print(f"\n{path}: {len(suite.jobs)} jobs ({len(jobs)} with their stages), {len(tasks)} tasks at ensemble cap {cap}")
    for task in tasks:
        job = task[0]
        kind = (job.model, len(task), tuple(sorted((k, str(v)) for k, v in job.params.items() if k != "beta")))
        if kind not in per_kind:
            budget = Budget(steps=steps, batch_size=job.budget.batch_size, learning_rate=job.budget.learning_rate)
            per_kind[kind] = _step_seconds(job, task, data, budget, device)
            print(f"  {job.model} x{len(task)}: {per_kind[kind]:.4f} s per step", flush=True)
        total += per_kind[kind] * job.budget.steps
    print(f"training, one device: {total / 3600:.1f} hours; evaluation: missing (needs the dataset's files)")


def _step_seconds(job, task, data, budget, device):
    from bench.trained import build_model

    members = []
    for member in task:  # stages fresh from their seeds: a trained one costs the same per step
        upstream = {slot: build_model(stage, data, device, {}) for slot, stage in member.upstream}
        members.append((build_model(member, data, device, upstream), member_generator(device)))
    if len(members) == 1:
        seconds, _ = timed(lambda: members[0][0].fit(data, budget, seed=job.seed, progress=False), device)
    else:
        seconds, _ = timed(lambda: fit_ensemble([m for m, _ in members], [g for _, g in members], data, budget,
                                                [j.seed for j in task], progress=False), device)
    return seconds / budget.steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", default="1,4,16,64")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--suite", default=str(ROOT / "suites" / "cars3d.yaml"))
    parser.add_argument("--cap", type=int, default=64)
    parser.add_argument("--skip-suite", action="store_true")
    parser.add_argument("--compile", action="store_true", help="train through torch.compile, as msbench run --compile")
    args = parser.parse_args()
    set_compile(args.compile)
    torch.backends.cudnn.benchmark = False
    print(f"device {args.device}" + (f" ({torch.cuda.get_device_name(0)})" if args.device.startswith("cuda") else "")
          + (", torch.compile" if args.compile else ""))
    paint_check(args.device)
    data = load("textured_objects", image_size=64)
    throughput(data, args.device, [int(n) for n in args.sizes.split(",")], args.steps)
    if not args.skip_suite:
        suite_estimate(args.suite, args.device, args.cap, max(2, args.steps // 4))


if __name__ == "__main__":
    main()
