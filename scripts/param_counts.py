#!/usr/bin/env python3
"""Parameter counts of MS-VAE's two G presets and of the capacity-matched baselines (issue 12).

    .venv/bin/python scripts/param_counts.py           # the README's table, in Markdown
    .venv/bin/python scripts/param_counts.py --suites  # and each suite's target_params against MS-VAE's total

For each image shape the paper uses (and the quickstart's), MS-VAE with the small and the paper
preset of G: stage one (beta-TCVAE, |C| = 10), the residual encoder R, G, and the total that
`MSVAE.num_params` reports (stage one included); then the width Big-VAE and Big-beta-TCVAE
(|C| + |Z| latents) get for that total and their own count. Everything is built on PyTorch's meta
device: shapes only, no memory, a second or two in all.

`--suites` prints, for every suite with an `ms_vae` entry, the `target_params` of each `big_vae` /
`big_beta_tcvae` entry beside the MS-VAE total it should equal (the suites carry the number;
tests/test_suite.py checks that they agree).
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import models as zoo  # noqa: E402
from bench.config import build  # noqa: E402
from models.big_vae import count_params, width_for  # noqa: E402

SUITES = Path(__file__).resolve().parents[1] / "suites"
SETTINGS = [  # (what, image shape, |Z|, small preset width)
    ("Cars3D 3×64×64, z_dim 5", (3, 64, 64), 5, 32),
    ("SmallNORB 1×64×64, z_dim 10", (1, 64, 64), 10, 32),
    ("quickstart dSprites 1×32×32, z_dim 5", (1, 32, 32), 5, 16),
]
SUITE_SHAPES = {"quickstart": (1, 32, 32), "cars3d": (3, 64, 64), "smallnorb": (1, 64, 64)}


def ms_vae(shape, **params):
    """An MS-VAE with its stage one attached, on the meta device."""
    cls = zoo.get("ms_vae")
    config = build(cls.Config, params)
    with torch.device("meta"):
        model = cls(config, shape)
        stage_one = {slot: zoo.get(name)(build(zoo.get(name).Config, p), shape)
                     for slot, (name, p) in cls.upstream(config).items()}
    model.attach(stage_one)
    return model


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def table() -> str:
    rows = ["| data, G preset | stage one | R | G | MS-VAE total | Big-VAE / Big-β-TCVAE width | their count |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    paper = {"architecture": "paper", "modulation": "spatial"}
    for what, shape, z_dim, width in SETTINGS:
        for preset, extra in (("small", {"width": width}), ("paper", paper)):
            model = ms_vae(shape, latent_dim=10, z_dim=z_dim, **extra)
            total, latent = model.num_params(), 10 + z_dim
            big = width_for(shape, latent, total)
            name = f"{preset} (width {width})" if preset == "small" else preset
            rows.append(f"| {what}, {name} | {model.stage_one.num_params():,} | {count(model.encoder):,} | "
                        f"{count(model.generator):,} | {total:,} | {big} | {count_params(shape, latent, big):,} |")
    return "\n".join(rows)


def suites() -> list[str]:
    from bench.suite import load_suite

    lines, seen = [], set()
    for name, shape in SUITE_SHAPES.items():
        suite = load_suite(SUITES / f"{name}.yaml")
        ms = next(job for job in suite.jobs if job.model == "ms_vae")
        total = ms_vae(shape, **ms.params).num_params()
        for job in suite.jobs:
            if job.model in ("big_vae", "big_beta_tcvae") and (name, job.label) not in seen:
                seen.add((name, job.label))
                target = job.params["target_params"]
                verdict = "equal" if target == total else f"DIFFERS by {target - total:+,}"
                lines.append(f"{name}: {job.label} target_params {target:,}, MS-VAE total {total:,}: {verdict}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", action="store_true", help="also check the suites' target_params")
    args = parser.parse_args()
    print(table())
    if args.suites:
        print("\n".join(["", *suites()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
