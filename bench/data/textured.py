"""Textured objects: a procedural dataset rich in detail that its factors do not explain.

A coloured object with five known factors (shape, size, x, y, hue) sits on a background whose
texture (two random gratings between two random colours) and the object's own stripe pattern
are random per image. The factors fix the coarse picture; the nuisance fixes the fine detail.
It stands in, offline, for Cars3D's "identity" detail (section 5): a beta-TCVAE with a few
latents reconstructs the object and blurs the texture, which a second stage should recover.
Deterministic by seed: the same seed draws the same factors and the same nuisance.
"""

import colorsys
import numpy as np

from bench.data.params import ImageSizeParams
from bench.data.procedural import Procedural, as_float32, pixel_centres

FACTOR_NAMES = ("shape", "size", "pos_x", "pos_y", "hue")
FACTOR_SIZES = (3, 4, 8, 8, 8)
SIZES = np.linspace(0.12, 0.24, 4)  # half-extent, in units of the image side
POSITIONS = np.linspace(0.3, 0.7, 8)
HUES = np.array([colorsys.hsv_to_rgb(h, 0.85, 0.95) for h in np.arange(8) / 8], np.float32)


def _draw_grating(rng, n, low, high, prefix) -> dict:
    """n random sinusoidal gratings: frequency in cycles per image side, random angle and phase."""
    frequency = rng.uniform(low, high, (n, 1, 1))
    angle = rng.uniform(0, np.pi, (n, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    return {f"{prefix}_frequency": frequency, f"{prefix}_cos": np.cos(angle), f"{prefix}_sin": np.sin(angle),
            f"{prefix}_phase": phase}


def _paint_grating(xp, drawn, prefix, x, y):
    """The drawn gratings' values in [0, 1] at pixel centres x (columns) and y (rows)."""
    frequency, cos, sin, phase = (drawn[f"{prefix}_{k}"] for k in ("frequency", "cos", "sin", "phase"))
    return 0.5 + 0.5 * xp.sin(2 * np.pi * frequency * (cos * x + sin * y) + phase)


class TexturedObjects(Procedural):
    name = "textured_objects"
    Params = ImageSizeParams
    description = ("procedural coloured objects (shape, size, x, y, hue) on random textured backgrounds "
                   "with random object patterns: detail the factors do not explain; needs no file")
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES

    def __init__(self, params: ImageSizeParams = ImageSizeParams(), root=None):
        self.params = params

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self.params.image_size, self.params.image_size)

    def sample(self, n: int, seed) -> tuple[np.ndarray, np.ndarray]:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        factors = self.sample_factors(n, rng)
        return self.render(factors, rng), factors

    def images_of(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.render(factors, rng)  # a fresh background and pattern for each image

    def render(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.paint(np, self.draw(factors, rng))

    def draw(self, factors: np.ndarray, rng: np.random.Generator) -> dict:
        """The object's shape, half-extent, centre and colour, and the nuisance: the background's two
        gratings and two colours, then the object's stripes (the order the generator is read in)."""
        n = len(factors)
        drawn = {**_draw_grating(rng, n, 2, 6, "coarse"), **_draw_grating(rng, n, 6, 14, "fine")}
        drawn["colours"] = rng.uniform(0.15, 0.6, (2, n, 3, 1, 1)).astype(np.float32)
        drawn.update(_draw_grating(rng, n, 8, 20, "stripes"))
        shape, size, px, py, hue = factors.T
        return {**drawn, "shape": shape, "half": SIZES[size], "cx": POSITIONS[px], "cy": POSITIONS[py],
                "hue": HUES[hue]}

    def paint(self, xp, drawn: dict):
        centres = as_float32(xp, pixel_centres(xp, self.params.image_size, drawn["half"]))
        x, y = centres[None, None, :], centres[None, :, None]
        # background: two gratings mixed between two muted random colours
        texture = 0.5 * (_paint_grating(xp, drawn, "coarse", x, y) + _paint_grating(xp, drawn, "fine", x, y))
        colours = drawn["colours"]
        image = colours[0] * (1 - texture[:, None]) + colours[1] * texture[:, None]
        # object: the shape's mask at its size and position, in its hue, modulated by its own stripes
        shape = drawn["shape"][:, None, None]
        half, cx, cy = (drawn[k][:, None, None] for k in ("half", "cx", "cy"))
        u, v = (x - cx) / half, (y - cy) / half
        square = xp.maximum(xp.abs(u), xp.abs(v)) <= 1
        disc = u**2 + v**2 <= 1
        triangle = (v <= 1) & (v >= 2 * xp.abs(u) - 1)  # apex up, base at v = 1
        mask = xp.where(shape == 0, square, xp.where(shape == 1, disc, triangle))
        stripes = 0.65 + 0.35 * _paint_grating(xp, drawn, "stripes", x, y)
        obj = drawn["hue"][:, :, None, None] * stripes[:, None]
        return as_float32(xp, xp.where(mask[:, None], obj, image))


def variance_split(data: TexturedObjects, n: int = 2000, seed: int = 0) -> dict:
    """Per-pixel image variance, and the part of it the factors do not explain, E||x - E[x|factors]||^2,
    estimated from two renderings of the same factors with independent nuisance. A model whose L2
    reconstruction error is near `unexplained` keeps the factors and loses the detail."""
    images, factors = data.sample(n, seed)
    rng = np.random.default_rng([seed, 1])
    first, second = data.render(factors, rng), data.render(factors, rng)
    return {"total": float(images.var(axis=0).mean()), "unexplained": float(((first - second) ** 2).mean() / 2)}
