"""Does MS-VAE reconstruct dSprites' shapes at the quickstart's budget? (issue 12, item 13)

Trains the quickstart's stage one (beta-TCVAE) once, then MS-VAE's stage two under each variant
given, and scores how recognisable the shapes of held-out reconstructions are:

    shape accuracy = the share of images whose reconstruction is nearer (L2) to the true image
                     than to the same sprite (scale, orientation, position) drawn as either
                     other shape.

The targets score 1 by construction; a reconstruction that draws every sprite as a disc scores
about chance (1/3). Reconstructions decode one c ~ q(c|x) per image, as the quickstart's figure
and its L1/L2 do. Run:

    OMP_NUM_THREADS=2 python scripts/quickstart_shapes.py --variant base: \\
        --variant lr3e-3:learning_rate=3e-3 --variant long:steps=1000

A variant is NAME:key=value,... over MS-VAE's config fields and the budget's steps,
batch_size and learning_rate (defaults: the quickstart's).
"""

import argparse
import time
from dataclasses import fields, replace

import numpy as np
import torch

import models
from bench.budget import Budget
from bench.data.dsprites import DSprites
from bench.data.params import ImageSizeParams


def shape_accuracy(dataset: DSprites, reconstructions: np.ndarray, factors: np.ndarray) -> float:
    """Share of reconstructions nearest to the true shape among the three (see the docstring)."""
    distances = []
    for shape in range(3):
        other = factors.copy()
        other[:, 0] = shape
        drawn = dataset.render(other)
        distances.append(((reconstructions - drawn) ** 2).reshape(len(drawn), -1).sum(1))
    return float(np.mean(np.argmin(np.stack(distances, 1), 1) == factors[:, 0]))


def parse_variant(text: str, budget: Budget, config):
    name, _, assignments = text.partition(":")
    budget_keys = {f.name for f in fields(Budget)}
    b, c = {}, {}
    for item in filter(None, assignments.split(",")):
        key, value = item.split("=")
        target = b if key in budget_keys else c
        kind = type(getattr(budget if key in budget_keys else config, key))
        target[key] = kind(float(value)) if kind in (int, float) else value
    return name, replace(budget, **b), replace(config, **c)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage-one-steps", type=int, default=350)
    parser.add_argument("--stage-one-batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="both stages' default")
    parser.add_argument("--stage-one-learning-rate", type=float, default=None)
    parser.add_argument("--points", type=int, default=1000, help="held-out images scored")
    parser.add_argument("--variant", action="append", default=[], help="NAME:key=value,...")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    dataset = DSprites(ImageSizeParams(image_size=args.image_size))
    shape = dataset.image_shape
    budget = Budget(steps=args.stage_one_steps, batch_size=args.stage_one_batch_size,
                    learning_rate=args.stage_one_learning_rate or args.learning_rate)
    start = time.perf_counter()
    stage_one_cls = models.get("beta_tcvae")
    torch.manual_seed(args.seed)
    stage_one = stage_one_cls(stage_one_cls.Config(beta=args.beta, latent_dim=10), shape)
    stage_one.fit(dataset, budget, args.seed, progress=False)
    print(f"stage one: beta-TCVAE beta={args.beta:g}, {args.image_size} px, {budget.steps} steps "
          f"of {budget.batch_size} at lr {budget.learning_rate:g}, "
          f"{time.perf_counter() - start:.0f} s")

    images, factors = dataset.sample(args.points, np.random.default_rng(10_000 + args.seed))
    x = torch.from_numpy(images)
    noise = torch.Generator().manual_seed(args.seed)
    y = stage_one.reconstruct(x, c_noise=noise).numpy()
    print(f"{'targets':<24} shape accuracy {shape_accuracy(dataset, images, factors):.3f}")
    print(f"{'beta-TCVAE (Y)':<24} shape accuracy {shape_accuracy(dataset, y, factors):.3f}")

    ms_cls = models.get("ms_vae")
    base_config = ms_cls.Config(beta=args.beta, latent_dim=10, z_dim=5, width=16)
    base_budget = Budget(steps=250, batch_size=64, learning_rate=args.learning_rate)
    for text in args.variant:
        name, budget_v, config = parse_variant(text, base_budget, base_config)
        torch.manual_seed(args.seed)
        model = ms_cls(config, shape)
        model.attach({"stage_one": stage_one})
        start = time.perf_counter()
        log = model.fit(dataset, budget_v, args.seed, progress=False)
        seconds = time.perf_counter() - start
        noise = torch.Generator().manual_seed(args.seed)
        recon = model.reconstruct(x, c_noise=noise).numpy()
        mean_recon = model.reconstruct(x).numpy()
        print(f"{name:<24} shape accuracy {shape_accuracy(dataset, recon, factors):.3f} "
              f"(from E[c|x]: {shape_accuracy(dataset, mean_recon, factors):.3f}), "
              f"L1 {np.abs(recon - images).mean():.4f}, KL(z) {log[-1]['kl']:.2f}, "
              f"{budget_v.steps} steps in {seconds:.0f} s")


if __name__ == "__main__":
    main()
