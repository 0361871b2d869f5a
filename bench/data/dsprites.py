"""Procedural dSprites: the factor grid of Matthey et al. 2017, rendered from factor indices.

No file needed: every image is drawn analytically (point-in-shape tests at pixel centres),
so any (shape, scale, orientation, x, y) index maps to the same binary image every time.
The factor grid is dSprites's own: shape 3 (square, ellipse, heart), scale 6 in [0.5, 1],
orientation 40 in [0, 2pi] (endpoints included, as in the original), x and y 32 in [0, 1].

So is the geometry, as measured on the real sprites in `dsprites.gif` of
github.com/deepmind/dsprites-dataset (64 px frames, binary; their factors read off the sequence):
pos 0 and 1 put a sprite's centre 16 and 48 px from the edge; at scale 1 and orientation 0 the
square is 20 px wide (20 x scale at every scale), the ellipse 26 x 14 px and the heart 20 px wide,
17 tall. Rendered with the constants below, the unrotated square matches those frames pixel for
pixel at every scale; over the frames of all orientations (and, for the heart, positions) the mean
intersection-over-union is 0.93 for the square, 0.97 for the ellipse and 0.88 for the heart (the
real heart has a deeper notch and a longer point).
"""

import numpy as np

from bench.data.params import ImageSizeParams
from bench.data.procedural import Procedural, as_float32, pixel_centres

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
# Geometry in units of the image side (see the module docstring): object centres span
# [0.25, 0.75]; a scale-1 square has half-extent 10/64, the other shapes are sized against it.
CENTRE_LOW, CENTRE_SPAN, HALF_EXTENT = 0.25, 0.5, 10 / 64


def _inside(xp, shape, u, v):
    """Point-in-shape test in object coordinates (u right, v up, unit half-extent); `xp` numpy or torch."""
    square = xp.maximum(xp.abs(u), xp.abs(v)) <= 1.0
    ellipse = (u / 1.3) ** 2 + (v / 0.7) ** 2 <= 1.0  # 26 x 14 px at 64 px and scale 1
    # Implicit heart (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0 (x in [-1.139, 1.139], y in [-1, 1.236]),
    # mapped onto the real heart's box: u in [-1, 1], v in [-0.8, 0.9] (20 x 17 px at 64 px).
    x, y = 1.139 * u, 1.315 * v + 0.052
    heart = (x**2 + y**2 - 1.0) ** 3 - x**2 * y**3 <= 0.0
    s = shape[:, None, None]
    return xp.where(s == 0, square, xp.where(s == 1, ellipse, heart))


class DSprites(Procedural):
    name = "dsprites"
    version = "2"  # 2: the real sprites' sizes, outlines and centre range (1: our own, smaller ellipse)
    Params = ImageSizeParams
    description = "procedural dSprites (3x6x40x32x32 factor grid, binary images); needs no file"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES

    def __init__(self, params: ImageSizeParams = ImageSizeParams(), root=None):
        self.params = params

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (1, self.params.image_size, self.params.image_size)

    def render(self, factors: np.ndarray) -> np.ndarray:
        return self.paint(np, self.draw(factors))

    def draw(self, factors: np.ndarray, rng=None) -> dict:
        """Each sprite's shape, half-extent, rotation and centre (float64); a sprite draws no randomness."""
        factors = np.asarray(factors, dtype=np.int64)
        if factors.ndim != 2 or factors.shape[1] != len(self.factor_sizes):
            raise ValueError(f"factors must be (n, {len(self.factor_sizes)}), got {factors.shape}")
        if (factors < 0).any() or (factors >= np.array(self.factor_sizes)).any():
            raise ValueError("factor index out of range for the dSprites grid")
        shape, scale, orient, fx, fy = factors.T
        theta = ORIENTATIONS[orient]
        return {"shape": shape, "half": HALF_EXTENT * SCALES[scale], "cos": np.cos(theta), "sin": np.sin(theta),
                "cx": CENTRE_LOW + CENTRE_SPAN * POSITIONS[fx], "cy": CENTRE_LOW + CENTRE_SPAN * POSITIONS[fy]}

    def paint(self, xp, drawn: dict):
        half, cos, sin, cx, cy = (drawn[k][:, None, None] for k in ("half", "cos", "sin", "cx", "cy"))
        centres = pixel_centres(xp, self.params.image_size, half)
        px, py = centres[None, None, :], centres[None, :, None]  # x grows right; pos_y grows down the rows
        dx = (px - cx) / half
        dy = -(py - cy) / half
        u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # rotate the frame by -theta
        return as_float32(xp, _inside(xp, drawn["shape"], u, v))[:, None]

    def images_of(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.render(factors)  # the factors alone determine a sprite

    def sample(self, n: int, seed) -> tuple[np.ndarray, np.ndarray]:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        factors = self.sample_factors(n, rng)
        return self.render(factors), factors
