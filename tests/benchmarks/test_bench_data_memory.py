"""Memory target: loading a dataset peaks at no more than 1.2x its uint8 size.

Each reader loads a file written here at (or near) the real dataset's size, in the real format,
while tracemalloc (which numpy reports its buffers to) records the peak. Memory-mapped input
(SmallNORB) is page cache, not counted. Run with `tox -e bench`.
"""

import gc
import tracemalloc

import numpy as np
import pytest

from bench.data import load
from test_data_files import idx_bytes, norb_bytes, shapes3d_arrays  # noqa: F401 - the formats' writers

MEMORY_TARGET = 1.2


def write_big(name, root):
    rng = np.random.default_rng(0)
    if name == "dsprites_full":
        n = 200_000  # the real file has 737,280
        (root / "dsprites").mkdir()
        classes = np.column_stack([np.zeros(n)] + [rng.integers(0, s, n) for s in (3, 6, 40, 32, 32)]).astype(np.int64)
        np.savez(root / "dsprites" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
                 imgs=rng.integers(0, 2, (n, 64, 64), dtype=np.uint8), latents_classes=classes)
        return {}
    if name == "shapes3d":
        from bench.data import files

        images, labels, _ = shapes3d_arrays(20_000)  # the real file has 480,000
        (root / "3dshapes").mkdir()
        np.savez(root / "3dshapes" / files.Shapes3D.NPZ, images=images, labels=labels)
        return {}
    if name == "cars3d":
        from scipy.io import savemat

        (root / "cars").mkdir()
        for i in range(183):  # the real count and size
            savemat(root / "cars" / f"car_{i:03d}_mesh.mat", {"im": rng.integers(0, 256, (128, 128, 3, 24, 4), dtype=np.uint8)})
        return {}
    if name == "smallnorb":
        from bench.data import files

        (root / "small_norb").mkdir()
        n = 24_300  # the real size of each split
        for split in files.NORB_SPLITS:
            prefix = root / "small_norb" / f"smallnorb-{split}"
            (prefix.parent / f"{prefix.name}-dat.mat").write_bytes(norb_bytes(rng.integers(0, 256, (n, 2, 96, 96), dtype=np.uint8), 0x1E3D4C55))
            (prefix.parent / f"{prefix.name}-cat.mat").write_bytes(norb_bytes(rng.integers(0, 5, n).astype(np.int32), 0x1E3D4C54))
            info = np.column_stack([rng.integers(0, s, n) for s in (10, 9, 18, 6)]).astype(np.int32)
            info[:, 2] *= 2
            (prefix.parent / f"{prefix.name}-info.mat").write_bytes(norb_bytes(info, 0x1E3D4C54))
        return {}
    if name == "mnist":
        (root / "mnist").mkdir()
        (root / "mnist" / "train-images-idx3-ubyte").write_bytes(idx_bytes(rng.integers(0, 256, (60_000, 28, 28), dtype=np.uint8)))
        (root / "mnist" / "train-labels-idx1-ubyte").write_bytes(idx_bytes(rng.integers(0, 10, 60_000).astype(np.uint8)))
        return {}
    raise ValueError(name)


@pytest.mark.parametrize("name", ["dsprites_full", "shapes3d", "cars3d", "smallnorb", "mnist"])
def test_loading_peaks_below_the_target(benchmark, name, tmp_path):
    params = write_big(name, tmp_path)
    gc.collect()

    def measured():
        tracemalloc.start()
        try:
            data = load(name, data_root=tmp_path, **params)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return data, peak

    data, peak = benchmark.pedantic(measured, rounds=1, iterations=1)
    ratio = peak / data.images.nbytes
    benchmark.extra_info.update({"images_bytes": data.images.nbytes, "peak_bytes": peak, "ratio": ratio})
    print(f"\n{name}: {len(data)} images, {data.images.nbytes / 2**20:.0f} MiB as uint8, peak {peak / 2**20:.0f} MiB "
          f"({ratio:.2f}x)")
    assert ratio <= MEMORY_TARGET, f"{name}: loading peaked at {ratio:.2f}x the dataset's uint8 size"
