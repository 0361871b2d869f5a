"""Every real-data reader, on tiny files written here in the exact on-disk format, through the
public API; and each missing-file and bad-file error. Also the offline datasets."""

import gzip
import struct

import numpy as np
import pytest

from bench import data as datasets
from bench.data import DataFileError, files, load


def pixel_pattern(n, h, w, c, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


def check_api(data, names, sizes, shape, n):
    assert data.factor_names == names and tuple(data.factor_sizes) == sizes
    assert len(data) == n and data.image_shape == shape
    images, factors = data.sample(5, seed=0)
    assert images.shape == (5, *shape) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    assert factors.shape == (5, len(sizes)) and (factors < np.array(sizes, dtype=np.int64)).all()
    again, _ = data.sample(5, seed=0)
    np.testing.assert_array_equal(images, again)


# --- dSprites ---------------------------------------------------------------------------------
def write_dsprites(root, n=6):
    folder = root / "dsprites"
    folder.mkdir(parents=True)
    imgs = (pixel_pattern(n, 64, 64, 1)[..., 0] > 127).astype(np.uint8)
    classes = np.column_stack([np.zeros(n), np.arange(n) % 3, np.arange(n) % 6, np.arange(n), np.arange(n) * 5, np.arange(n)]).astype(np.int64)
    np.savez(folder / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz", imgs=imgs, latents_classes=classes)
    return imgs, classes


def test_dsprites_npz(tmp_path):
    imgs, classes = write_dsprites(tmp_path)
    data = load("dsprites_full", data_root=tmp_path)
    check_api(data, ("shape", "scale", "orientation", "pos_x", "pos_y"), (3, 6, 40, 32, 32), (1, 64, 64), 6)
    images, factors = data.sample(200, seed=1)
    for image, factor in zip(images[:20], factors[:20]):  # a known pixel round trip: 0/1 stored, 0.0/1.0 read
        row = int(np.flatnonzero((classes[:, 1:] == factor).all(1))[0])
        np.testing.assert_array_equal(image[0], imgs[row].astype(np.float32))


def test_dsprites_wrong_arrays_and_truncation(tmp_path):
    folder = tmp_path / "dsprites"
    folder.mkdir()
    path = folder / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    np.savez(path, imgs=np.zeros((2, 32, 32), np.uint8), latents_classes=np.zeros((2, 6), np.int64))
    with pytest.raises(DataFileError, match=r"imgs is uint8 \(2, 32, 32\), expected uint8 \(N, 64, 64\)"):
        load("dsprites_full", data_root=tmp_path)
    np.savez(path, images=np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(DataFileError, match="expected imgs and latents_classes"):
        load("dsprites_full", data_root=tmp_path)
    write_dsprites(tmp_path / "ok")
    whole = (tmp_path / "ok" / "dsprites" / path.name).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataFileError, match="truncated or not the expected format"):
        load("dsprites_full", data_root=tmp_path)


def test_missing_file_names_it_where_and_how(tmp_path):
    with pytest.raises(DataFileError) as caught:
        load("dsprites_full", data_root=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "dsprites" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz") in message
    assert "DISENTANGLEMENT_LIB_DATA" in message and "github.com/deepmind/dsprites-dataset" in message


def test_data_root_from_the_environment(tmp_path, monkeypatch):
    write_dsprites(tmp_path)
    monkeypatch.setenv(datasets.ROOT_ENV, str(tmp_path))
    assert len(load("dsprites_full")) == 6
    assert datasets.availability("dsprites_full") is None
    assert "needs dsprites/" in datasets.availability("dsprites_full", tmp_path / "elsewhere")


# --- 3D Shapes --------------------------------------------------------------------------------
def shapes3d_arrays(n=7):
    images = pixel_pattern(n, 64, 64, 3)
    index = np.column_stack([np.arange(n) % s for s in (10, 10, 10, 8, 4, 15)])
    labels = np.column_stack([grid[index[:, i]] for i, grid in enumerate(files.SHAPES3D_GRIDS)])
    return images, labels, index


@pytest.mark.parametrize("fmt", ["h5", "npz"])
def test_shapes3d_both_formats(tmp_path, fmt):
    images, labels, index = shapes3d_arrays()
    folder = tmp_path / "3dshapes"
    folder.mkdir()
    if fmt == "h5":
        import h5py

        with h5py.File(folder / "3dshapes.h5", "w") as f:
            f["images"], f["labels"] = images, labels
    else:
        np.savez(folder / files.Shapes3D.NPZ, images=images, labels=labels)
    data = load("shapes3d", data_root=tmp_path)
    check_api(data, files.SHAPES3D_FACTORS, (10, 10, 10, 8, 4, 15), (3, 64, 64), 7)
    np.testing.assert_array_equal(data.factors, index)
    sample, factors = data.sample(30, seed=0)
    row = int(np.flatnonzero((index == factors[0]).all(1))[0])
    np.testing.assert_allclose(sample[0], images[row].transpose(2, 0, 1) / 255, atol=1e-7)


def test_shapes3d_labels_off_grid(tmp_path):
    images, labels, _ = shapes3d_arrays()
    labels[0, 3] = 0.3  # not a 3dshapes scale
    (tmp_path / "3dshapes").mkdir()
    np.savez(tmp_path / "3dshapes" / files.Shapes3D.NPZ, images=images, labels=labels)
    with pytest.raises(DataFileError, match="column scale has values off the expected grid"):
        load("shapes3d", data_root=tmp_path)


# --- Cars3D -----------------------------------------------------------------------------------
def write_cars(root, count=2, size=128):
    from scipy.io import savemat

    (root / "cars").mkdir(parents=True)
    meshes = []
    for i in range(count):
        mesh = np.random.default_rng(i).integers(0, 256, (size, size, 3, 24, 4), dtype=np.uint8)
        savemat(root / "cars" / f"car_{i:03d}_mesh.mat", {"im": mesh})
        meshes.append(mesh)
    return meshes


def test_cars3d(tmp_path):
    meshes = write_cars(tmp_path, size=64)  # at 64 px the resize is the identity: pixels round-trip exactly
    with pytest.warns(RuntimeWarning, match="2 of the 183 cars"):
        data = load("cars3d", data_root=tmp_path)
    check_api(data, ("elevation", "azimuth", "object"), (4, 24, 183), (3, 64, 64), 2 * 96)
    images, factors = data.sample(10, seed=0)
    for image, (elevation, azimuth, car) in zip(images, factors):
        np.testing.assert_allclose(image, meshes[car][:, :, :, azimuth, elevation].transpose(2, 0, 1) / 255, atol=1e-7)


def test_cars3d_lanczos_as_disentanglement_lib(tmp_path):
    # cars3d.py `_load_mesh`: per view, fromarray then thumbnail((64, 64, 3), ANTIALIAS), ANTIALIAS being
    # LANCZOS; today's Pillow wants a 2-tuple. tests/reference/ runs disentanglement-lib's own function.
    from PIL import Image

    meshes = write_cars(tmp_path)
    with pytest.warns(RuntimeWarning):
        data = load("cars3d", data_root=tmp_path)
    for car, mesh in enumerate(meshes):
        for row in range(96):
            azimuth, elevation = divmod(row, 4)
            pic = Image.fromarray(mesh[:, :, :, azimuth, elevation])
            pic.thumbnail((64, 64), Image.LANCZOS)
            np.testing.assert_array_equal(data.images[car * 96 + row], np.asarray(pic))
            assert tuple(data.factors[car * 96 + row]) == (elevation, azimuth, car)


def test_cars3d_resizes_and_rejects_wrong_keys(tmp_path):
    from PIL import Image

    (mesh,) = write_cars(tmp_path, count=1)
    with pytest.warns(RuntimeWarning):
        data = load("cars3d", data_root=tmp_path, image_size=32)
    assert data.image_shape == (3, 32, 32)
    # other sizes: a plain Lanczos resize, as thumbnail was before Pillow's reducing_gap (which pre-shrinks 128 -> 64 here)
    expected = Image.fromarray(mesh[:, :, :, 5, 2]).resize((32, 32), Image.LANCZOS)
    np.testing.assert_array_equal(data.images[5 * 4 + 2], np.asarray(expected))
    from scipy.io import savemat

    savemat(tmp_path / "cars" / "car_001_mesh.mat", {"image": np.zeros((4, 4), np.uint8)})
    with pytest.raises(DataFileError, match=r"car_001_mesh.mat: key im is None"), pytest.warns(RuntimeWarning):
        load("cars3d", data_root=tmp_path)


# --- SmallNORB --------------------------------------------------------------------------------
def norb_bytes(array, magic):
    dims = list(array.shape) + [1] * (3 - array.ndim)  # the format stores max(3, ndim) dimensions
    return struct.pack(f"<ii{len(dims)}i", magic, array.ndim, *dims) + array.astype(array.dtype.newbyteorder("<")).tobytes()


def write_norb(root, n=4):
    folder = root / "small_norb"
    folder.mkdir(parents=True)
    written = []
    for k, split in enumerate(files.NORB_SPLITS):
        dat = pixel_pattern(n * 2, 96, 96, 1, seed=k).reshape(n, 2, 96, 96)
        cat = np.arange(n, dtype=np.int32) % 5
        info = np.column_stack([np.arange(n) % 10, np.arange(n) % 9, (np.arange(n) * 2) % 36, np.arange(n) % 6]).astype(np.int32)
        for part, array, magic in (("dat", dat, 0x1E3D4C55), ("cat", cat, 0x1E3D4C54), ("info", info, 0x1E3D4C54)):
            (folder / f"smallnorb-{split}-{part}.mat").write_bytes(norb_bytes(array, magic))
        written.append((dat, cat, info))
    return written


def test_smallnorb_binary_format(tmp_path):
    written = write_norb(tmp_path)
    data = load("smallnorb", data_root=tmp_path, image_size=96)  # no resize: the left camera round-trips
    check_api(data, ("category", "instance", "elevation", "azimuth", "lighting"), (5, 10, 9, 18, 6), (1, 96, 96), 8)
    dat, cat, info = written[1]
    np.testing.assert_array_equal(data.images[4:, :, :, 0], dat[:, 0])  # test split after training split
    np.testing.assert_array_equal(data.factors[4:], np.column_stack([cat, info[:, 0], info[:, 1], info[:, 2] // 2, info[:, 3]]))
    assert load("smallnorb", data_root=tmp_path).image_shape == (1, 64, 64)


def test_smallnorb_lanczos_as_disentanglement_lib(tmp_path):
    # norb.py reads the image bytes as int8 and `_resize_images` does fromarray(image).resize((64, 64),
    # ANTIALIAS): Pillow opens int8 in its 32-bit mode "I", which keeps Lanczos' overshoot; we clip it.
    # tests/reference/ runs disentanglement-lib's own functions.
    from PIL import Image

    written = write_norb(tmp_path, n=6)
    data = load("smallnorb", data_root=tmp_path)
    left = np.concatenate([dat[:, 0] for dat, _, _ in written])
    theirs = np.stack([np.asarray(Image.fromarray(image.view(np.int8)).resize((64, 64), Image.LANCZOS)) for image in left])
    np.testing.assert_array_equal(data.images[..., 0], np.clip(theirs, 0, 255))
    # the files exercise both differences from an 8-bit resize: overshoot, and in-range pixels it gives otherwise
    assert (theirs < 0).any() and (theirs > 255).any()
    eight_bit = np.stack([np.asarray(Image.fromarray(image).resize((64, 64), Image.LANCZOS)) for image in left])
    inside = (theirs >= 0) & (theirs <= 255)
    assert (eight_bit != theirs)[inside].any()


def test_smallnorb_bad_header_and_truncation(tmp_path):
    write_norb(tmp_path)
    path = tmp_path / "small_norb" / f"smallnorb-{files.NORB_SPLITS[0]}-dat.mat"
    whole = path.read_bytes()
    path.write_bytes(whole[:-100])
    with pytest.raises(DataFileError, match="bytes, but its header .* implies .*truncated"):
        load("smallnorb", data_root=tmp_path)
    path.write_bytes(struct.pack("<i", 12345) + whole[4:])
    with pytest.raises(DataFileError, match="not a NORB matrix file"):
        load("smallnorb", data_root=tmp_path)


# --- MPI3D ------------------------------------------------------------------------------------
def test_mpi3d_in_factor_order(tmp_path, monkeypatch):
    monkeypatch.setattr(files.MPI3DToy, "factor_sizes", (2, 1, 2, 1, 1, 2, 2))  # the real grid is 1,036,800 images
    images = pixel_pattern(16, 64, 64, 3)
    (tmp_path / "mpi3d_toy").mkdir()
    np.savez(tmp_path / "mpi3d_toy" / "mpi3d_toy.npz", images=images)
    data = load("mpi3d_toy", data_root=tmp_path)
    check_api(data, files.MPI3DToy.factor_names, (2, 1, 2, 1, 1, 2, 2), (3, 64, 64), 16)
    np.testing.assert_array_equal(data.factors[5], [0, 0, 1, 0, 0, 0, 1])  # C order: 5 = 0b0101
    np.savez(tmp_path / "mpi3d_toy" / "mpi3d_toy.npz", images=images[:15])
    with pytest.raises(DataFileError, match=r"expected uint8 \(16, 64, 64, 3\)"):
        load("mpi3d_toy", data_root=tmp_path)


# --- CelebA -----------------------------------------------------------------------------------
def test_celeba_crops_and_resizes(tmp_path):
    from PIL import Image

    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    face = np.zeros((218, 178, 3), np.uint8)
    face[35:183, 15:163] = (200, 100, 50)  # exactly the centre 148 x 148 crop
    for i in range(3):
        Image.fromarray(face).save(folder / f"{i:06d}.jpg", quality=100)
    data = load("celeba", data_root=tmp_path)
    assert data.factor_names == () and len(data) == 3 and data.image_shape == (3, 64, 64)
    images, factors = data.sample(2, seed=0)
    assert factors.shape == (2, 0)
    np.testing.assert_allclose(images[0].mean(axis=(1, 2)), np.array([200, 100, 50]) / 255, atol=0.03)
    assert len(load("celeba", data_root=tmp_path, limit=2)) == 2


# --- MNIST ------------------------------------------------------------------------------------
def idx_bytes(array):
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape) + array.tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx(tmp_path, gz):
    images = pixel_pattern(5, 28, 28, 1)[..., 0]
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    (tmp_path / "mnist").mkdir()
    for stem, array in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        raw = idx_bytes(array)
        if gz:
            (tmp_path / "mnist" / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (tmp_path / "mnist" / stem).write_bytes(raw)
    data = load("mnist", data_root=tmp_path)
    check_api(data, ("digit",), (10,), (1, 32, 32), 5)
    np.testing.assert_array_equal(data.images[:, 2:30, 2:30, 0], images)
    assert data.images[:, :2].max() == 0  # zero padding
    np.testing.assert_array_equal(data.factors[:, 0], labels)


def test_mnist_unpadded_with_the_test_split_held_out(tmp_path):
    (tmp_path / "mnist").mkdir()
    train, test = pixel_pattern(5, 28, 28, 1)[..., 0], pixel_pattern(3, 28, 28, 1)[..., 0][::-1].copy()
    for prefix, images, labels in (("train", train, [3, 1, 4, 1, 5]), ("t10k", test, [9, 2, 6])):
        (tmp_path / "mnist" / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (tmp_path / "mnist" / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(np.array(labels, np.uint8)))
    data = load("mnist", data_root=tmp_path, pad=False, held_out=True)
    check_api(data, ("digit",), (10,), (1, 28, 28), 5)
    np.testing.assert_array_equal(data.images[..., 0], train)
    held_out, factors = data.held_out_set()
    np.testing.assert_array_equal(np.round(held_out[:, 0] * 255), test)
    np.testing.assert_array_equal(factors[:, 0], [9, 2, 6])
    assert set(data.sample(50, 0)[1][:, 0]) <= {1, 3, 4, 5}  # training draws come from the training split only
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").unlink()  # a missing held-out file names itself
    with pytest.raises(DataFileError, match="t10k-labels-idx1-ubyte"):
        load("mnist", data_root=tmp_path, pad=False, held_out=True)


def test_mnist_truncated(tmp_path):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-images-idx3-ubyte").write_bytes(idx_bytes(pixel_pattern(5, 28, 28, 1)[..., 0])[:-10])
    (tmp_path / "mnist" / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataFileError, match="truncated"):
        load("mnist", data_root=tmp_path)


# --- offline datasets -------------------------------------------------------------------------
def test_digits_are_the_bundled_real_images():
    data = load("digits")
    check_api(data, ("digit",), (10,), (1, 16, 16), 1797)
    from sklearn.datasets import load_digits

    np.testing.assert_allclose(data.images[0, ::2, ::2, 0] / 255, load_digits().images[0] / 16, atol=1 / 255)


def test_textured_objects_are_deterministic_and_detailed():
    data = load("textured_objects", image_size=32)
    check_api(data, ("shape", "size", "pos_x", "pos_y", "hue"), (3, 4, 8, 8, 8), (3, 32, 32), 3 * 4 * 8 * 8 * 8)
    a, fa = data.sample(64, seed=3)
    b, fb = data.sample(64, seed=3)
    c, _ = data.sample(64, seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fa, fb)
    assert not np.array_equal(a, c)
    # the same factors with other nuisance: different images (detail the factors do not explain)
    rng = np.random.default_rng(0)
    first, second = data.render(fa[:8], rng), data.render(fa[:8], rng)
    assert np.abs(first - second).mean() > 0.05


def test_ls_datasets_says_what_is_available(tmp_path, capsys):
    from bench.cli import main

    write_dsprites(tmp_path)
    assert main(["ls", "datasets", "--data-root", str(tmp_path)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(lines) == set(datasets.DATASETS)
    for name in ("dsprites", "textured_objects", "digits", "dsprites_full"):
        assert lines[name].endswith("[available]"), lines[name]
    assert "needs small_norb/smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat" in lines["smallnorb"]
    assert "needs cars" in lines["cars3d"] and "nips2015-analogy-data" in lines["cars3d"]


# --- suites on data that is not here -----------------------------------------------------------
def test_paper_suites_validate_without_data_and_run_stops_at_once(workdir, capsys):
    from bench.cli import main
    from conftest import SUITES

    assert main(["validate", *(str(SUITES / f"{name}.yaml") for name in ("cars3d", "smallnorb", "celeba"))]) == 0
    assert main(["run", str(SUITES / "cars3d.yaml"), "--data-root", str(workdir / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert f"{workdir / 'nowhere' / 'cars'} not found" in err and "nips2015-analogy-data" in err
    assert not (workdir / ".msbench").exists()  # stopped before the store, the cache or any training


def test_a_metric_that_needs_factors_on_a_dataset_without_them(tmp_path):
    from bench.suite import SuiteError, load_suite

    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndataset: {name: celeba}\nmodels: [{model: beta_tcvae}]\nmetrics: [l1, mig, fd_domain]\n")
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    assert [p.split(": ", 1)[1] for p in caught.value.problems] == [
        "metrics[1]: mig needs ground-truth factors, and dataset celeba has none",
        "metrics[2]: fd_domain needs ground-truth factors, and dataset celeba has none"]


def test_textured_variance_split_is_a_real_part_of_the_variance():
    from bench.data.textured import variance_split

    split = variance_split(load("textured_objects", image_size=16), n=500)
    assert 0.2 * split["total"] < split["unexplained"] < split["total"]
