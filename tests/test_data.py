import numpy as np
import pytest
import torch

from bench.data import DATASETS, UnknownDataset, load
from bench.data.dsprites import FACTOR_SIZES


def test_dsprites_has_the_original_factor_grid():
    data = load("dsprites")
    assert data.factor_names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert data.factor_sizes == (3, 6, 40, 32, 32)
    assert len(data) == 3 * 6 * 40 * 32 * 32 == 737_280


@pytest.mark.parametrize("size", [64, 32])
def test_sample_shapes_types_and_range(size):
    images, factors = load("dsprites", image_size=size).sample(16, seed=0)
    assert images.shape == (16, 1, size, size) and images.dtype == np.float32
    assert factors.shape == (16, 5) and np.issubdtype(factors.dtype, np.integer)
    assert set(np.unique(images)) <= {0.0, 1.0}  # binary, like dSprites
    assert (factors >= 0).all() and (factors < np.array(FACTOR_SIZES)).all()
    assert (images.reshape(16, -1).sum(1) > 0).all()  # every image shows its object


def test_sampling_is_deterministic_by_seed():
    data = load("dsprites", image_size=32)
    a, fa = data.sample(8, seed=5)
    b, fb = data.sample(8, seed=5)
    c, fc = data.sample(8, seed=6)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fa, fb)
    assert not np.array_equal(fa, fc)


def test_factors_control_what_is_drawn():
    data = load("dsprites", image_size=64)
    base = np.array([[0, 5, 0, 16, 16]])
    square = data.render(base)[0, 0]
    # an unrotated square near the centre covers the centre pixel and is as tall as wide
    assert square[32, 32] == 1 and square[0, 0] == 0
    rows, cols = np.flatnonzero(square.any(1)), np.flatnonzero(square.any(0))
    assert len(rows) == len(cols) and square[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
    smaller = data.render(np.array([[0, 0, 0, 16, 16]]))[0, 0]
    assert 0 < smaller.sum() < square.sum()  # scale shrinks the object
    left, right = data.render(np.array([[1, 5, 0, 0, 16], [1, 5, 0, 31, 16]]))[:, 0]
    assert np.argmax(left.sum(0)) < np.argmax(right.sum(0))  # pos_x moves it right
    top, bottom = data.render(np.array([[1, 5, 0, 16, 0], [1, 5, 0, 16, 31]]))[:, 0]
    assert np.argmax(top.sum(1)) < np.argmax(bottom.sum(1))  # pos_y moves it down the rows
    shapes = data.render(np.array([[s, 5, 0, 16, 16] for s in range(3)]))
    assert len({im.tobytes() for im in shapes}) == 3


def _box(image):
    """(first column, last column, first row, last row) of the drawn pixels."""
    cols, rows = np.flatnonzero(image.any(0)), np.flatnonzero(image.any(1))
    return cols[0], cols[-1], rows[0], rows[-1]


def test_sprites_have_the_real_dsprites_geometry():
    # bounding boxes of the real sprites at 64 px, measured on dsprites.gif of
    # github.com/deepmind/dsprites-dataset (frames with these factors, orientation 0)
    data = load("dsprites", image_size=64)

    def draw(shape, scale, x, y):
        return _box(data.render(np.array([[shape, scale, 0, x, y]]))[0, 0])

    assert draw(0, 5, 0, 0) == (6, 25, 6, 25)  # scale-1 square: 20 px, centred 16 px from the edge
    assert draw(0, 0, 0, 0) == (11, 20, 11, 20)  # scale 0.5: 10 px
    assert draw(0, 5, 31, 31) == (38, 57, 38, 57)  # pos 1: centred 48 px from the edge
    assert draw(1, 5, 0, 0) == (3, 28, 9, 22)  # ellipse 26 x 14 px
    left, right, top, bottom = draw(2, 5, 0, 0)  # heart 20 x 17 px: columns 6-25, rows 7-23
    assert (left, right, top) == (6, 25, 7) and bottom in (22, 23)  # its thin point may miss pixel centres


def test_orientation_endpoints_coincide_as_in_dsprites():
    data = load("dsprites", image_size=64)
    first, last = data.render(np.array([[2, 5, 0, 10, 20], [2, 5, 39, 10, 20]]))
    np.testing.assert_array_equal(first, last)  # 0 and 2*pi, as in the original grid


def test_bad_names_and_params():
    with pytest.raises(UnknownDataset, match="did you mean 'dsprites'"):
        load("dsprite")
    with pytest.raises(ValueError, match="image_size"):
        load("dsprites", image_size=30)
    with pytest.raises(ValueError, match="unknown parameter"):
        load("dsprites", size=32)
    with pytest.raises(ValueError, match="out of range"):
        load("dsprites").render(np.array([[3, 0, 0, 0, 0]]))


def test_every_dataset_declares_the_api():
    import dataclasses

    from bench.data import availability

    for name, cls in DATASETS.items():
        assert cls.description and cls.kind in {"images", "tables", "series"}
        if cls.kind in ("images", "series"):
            assert len(cls.factor_names) == len(cls.factor_sizes)
        else:  # continuous factors: named, but no discrete grid for MIG or factor classifiers
            assert cls.factor_names and cls.factor_sizes == ()
        assert cls.name == name
        if availability(name) is None:  # the offline sets; the file-backed ones are tested on tiny files
            data = cls(cls.Params())
            # the version is part of every job key: a changed generator or reader retrains
            assert data.spec == {"name": name, "version": cls.version, "params": dataclasses.asdict(cls.Params())}
        else:
            assert cls.source  # how to obtain the files


@pytest.mark.parametrize("name", ["dsprites", "textured_objects", "digits"])
def test_sample_with_fixed_factor_fixes_one_factor_and_draws_the_rest(name):
    data = load(name, image_size=32) if name != "digits" else load(name)
    rng = np.random.default_rng(0)
    last = len(data.factor_sizes) - 1
    values = []
    for _ in range(60):
        images, factors = data.sample_with_fixed_factor(16, last, rng)
        assert images.shape == (16, *data.image_shape) and factors.shape == (16, len(data.factor_sizes))
        assert (factors[:, last] == factors[0, last]).all()
        values.append(factors[0, last])
        if len(data.factor_sizes) > 1:
            assert len(np.unique(factors[:, 0])) > 1  # the others still vary
    assert len(set(values)) > min(data.factor_sizes[last], 60) // 3  # the fixed value is drawn anew each time
    if name == "dsprites":  # the images are those of their factors
        np.testing.assert_array_equal(images, data.render(factors))


def test_sample_with_fixed_factor_refuses_an_incomplete_grid():
    from bench.data.memory import InMemoryImages

    class Partial(InMemoryImages):
        name, factor_sizes = "partial", (2, 3)

        def __init__(self):
            super().__init__(None)
            self.factors = np.array([[0, 0], [0, 1], [1, 2]])  # 3 of the 6 combinations
            self.images = np.zeros((3, 4, 4, 1), np.uint8)

    with pytest.raises(NotImplementedError, match="not a complete factor grid"):
        Partial().sample_with_fixed_factor(4, 0, np.random.default_rng(0))


@pytest.mark.parametrize("name", ["dsprites", "textured_objects"])
def test_torch_painting_matches_numpy_from_the_same_draws(name):
    """The device path (torch) paints what the CPU path (numpy) paints, and reads the generator the same."""
    data = load(name, image_size=32)
    numpy_rng, torch_rng = np.random.default_rng(5), np.random.default_rng(5)
    factors = data.sample_factors(256, numpy_rng)
    np.testing.assert_array_equal(factors, data.sample_factors(256, torch_rng))
    expected = data.paint(np, data.draw(factors, numpy_rng))
    painted = data.render_on(factors, torch_rng, "cpu")
    assert painted.dtype == torch.float32 and painted.shape == expected.shape == (256, *data.image_shape)
    # the same pixels on this CPU (the docs say so); on a GPU a sin may differ by ulps (scripts/gpu_ensemble.py)
    np.testing.assert_array_equal(painted.numpy(), expected)
    assert numpy_rng.random() == torch_rng.random()  # the next batch's draws are the same too


@pytest.mark.parametrize("name", ["dsprites", "textured_objects"])
def test_batches_are_painted_on_their_device(name):
    """Off the CPU a batch is painted by torch on the device: on the meta device any numpy step would fail."""
    data = load(name, image_size=16)
    x, index = data.batch(8, np.random.default_rng(0), "meta", with_index=True)
    assert x.device.type == "meta" and x.shape == (8, *data.image_shape) and x.dtype == torch.float32
    cpu, cpu_index = data.batch(8, np.random.default_rng(0), "cpu", with_index=True)
    np.testing.assert_array_equal(index, cpu_index)  # the same factors either way


def test_textured_objects_read_the_generator_in_their_fixed_order():
    """The order of the draws is part of the dataset's version: factors, the background's coarse and fine
    gratings (frequency, angle, phase each), its two colours, then the object's stripes."""
    data = load("textured_objects", image_size=16)
    rng, mirror = np.random.default_rng(3), np.random.default_rng(3)
    factors = data.sample_factors(5, rng)
    drawn = data.draw(factors, rng)
    np.testing.assert_array_equal(factors, np.stack([mirror.integers(0, s, 5) for s in data.factor_sizes], 1))
    for prefix, low, high in (("coarse", 2, 6), ("fine", 6, 14), ("colours", None, None), ("stripes", 8, 20)):
        if prefix == "colours":
            np.testing.assert_array_equal(drawn["colours"], mirror.uniform(0.15, 0.6, (2, 5, 3, 1, 1)).astype(np.float32))
            continue
        np.testing.assert_array_equal(drawn[f"{prefix}_frequency"], mirror.uniform(low, high, (5, 1, 1)))
        angle = mirror.uniform(0, np.pi, (5, 1, 1))
        np.testing.assert_array_equal(drawn[f"{prefix}_cos"], np.cos(angle))
        np.testing.assert_array_equal(drawn[f"{prefix}_phase"], mirror.uniform(0, 2 * np.pi, (5, 1, 1)))
    assert rng.random() == mirror.random()


def test_dsprites_draw_checks_the_factors_for_every_device():
    with pytest.raises(ValueError, match="out of range"):
        load("dsprites").render_on(np.array([[0, 6, 0, 0, 0]]), np.random.default_rng(0), "cpu")
