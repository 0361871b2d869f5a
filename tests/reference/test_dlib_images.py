"""Our Cars3D and SmallNORB images against disentanglement-lib's own code, cars3d.py `_load_mesh` and
norb.py `_resize_images`, on small files written in the real formats.

Shimmed, and only where today's Pillow breaks the 2019 code: `Image.ANTIALIAS` (removed in Pillow 10;
it was LANCZOS) and `thumbnail`'s size, which Pillow now takes as a 2-tuple only (cars3d.py passes
(64, 64, 3)). TensorFlow 2 needs nothing: both modules use `tensorflow.compat.v1`. norb.py's file
reader `_read_binary_matrix` no longer runs on numpy 2 (`int()` of a 1-element array), so
`_resize_images` gets here what that reader returns: the left camera's bytes as int8, the dtype its
`dtype_map` gives the byte-matrix magic 0x1E3D4C55.

disentanglement-lib keeps images as float64 pixel / 255 and hands them out as float32; they equal our
uint8 / 255 in float32 for every value in [0, 255]. Only SmallNORB can go past: its resize keeps
Lanczos' overshoot, which we clip.
"""

import numpy as np
import pytest
from PIL import Image

from bench.data import load
from test_data_files import write_cars, write_norb  # the real formats' writers

pytestmark = pytest.mark.reference


@pytest.fixture
def old_pillow(monkeypatch):
    monkeypatch.setattr(Image, "ANTIALIAS", Image.LANCZOS, raising=False)
    thumbnail = Image.Image.thumbnail
    monkeypatch.setattr(Image.Image, "thumbnail", lambda self, size, *args, **kwargs: thumbnail(self, size[:2], *args, **kwargs))


def as_pixels(theirs):
    """disentanglement-lib's float images back to the integers they were divided from."""
    pixels = np.rint(theirs * 255)
    np.testing.assert_allclose(theirs * 255, pixels, rtol=0, atol=1e-9)
    return pixels


def test_cars3d_equals_load_mesh(dlib_data, old_pillow, tmp_path, monkeypatch):
    cars3d, _ = dlib_data
    write_cars(tmp_path, count=2)  # 128 x 128, the real size
    with pytest.warns(RuntimeWarning):
        ours = load("cars3d", data_root=tmp_path)
    monkeypatch.setattr(cars3d, "CARS3D_PATH", str(tmp_path / "cars"))
    paths = sorted((tmp_path / "cars").glob("*.mat"))
    assert len(paths) == 2
    for car, path in enumerate(paths):
        theirs = cars3d._load_mesh(path.name)  # (96, 64, 64, 3) float64, azimuth-major as ours
        rows = slice(car * 96, (car + 1) * 96)
        np.testing.assert_array_equal(ours.images[rows], as_pixels(theirs))
        np.testing.assert_array_equal(ours._float(ours.images[rows]), theirs.astype(np.float32).transpose(0, 3, 1, 2))
        # cars3d.py `_load_data`: elevation tiled and azimuth repeated over a file's 96 views, then the file's index
        np.testing.assert_array_equal(ours.factors[rows], np.column_stack([np.tile(np.arange(4), 24), np.repeat(np.arange(24), 4), np.full(96, car)]))


def test_smallnorb_equals_resize_images(dlib_data, old_pillow, tmp_path):
    _, norb = dlib_data
    written = write_norb(tmp_path, n=6)
    ours = load("smallnorb", data_root=tmp_path)
    # norb.py `_load_chunks`: the training then the test split, each `_resize_images(matrix[:, 0])`
    theirs = np.concatenate([norb._resize_images(dat[:, 0].view(np.int8)) for dat, _, _ in written])
    pixels = as_pixels(theirs)
    np.testing.assert_array_equal(ours.images[..., 0], np.clip(pixels, 0, 255))
    inside = (pixels >= 0) & (pixels <= 255)
    assert not inside.all()  # these noise images do overshoot: the clip is exercised
    np.testing.assert_array_equal(ours._float(ours.images)[:, 0][inside], theirs.astype(np.float32)[inside])
