"""Readers for the datasets users already have on disk, in disentanglement-lib's layout under the
data root (--data-root, else $DISENTANGLEMENT_LIB_DATA, else ./data).

Every reader checks what it reads (shapes, dtypes, header fields, sizes) and fails with one
DataFileError that names the file, where it was looked for and how to obtain it, before any
training starts. Images stay uint8 in their file layout (N, H, W, C); see `memory.py`.
"""

import gzip
import os
import struct
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from bench.config import require
from bench.data.memory import InMemoryImages
from bench.data.params import ImageSizeParams

ROOT_ENV = "DISENTANGLEMENT_LIB_DATA"


class DataFileError(FileNotFoundError):
    """A dataset file is missing, unreadable or not what it should be; the message says which and how to fix it."""

    def __str__(self):
        return self.args[0]


def data_root(explicit=None) -> Path:
    return Path(explicit or os.environ.get(ROOT_ENV) or "data").expanduser()


def resize(images: np.ndarray, size: int, out: np.ndarray | None = None, wide: bool = False) -> np.ndarray:
    """(N, H, W, C) uint8 -> (N, size, size, C) uint8, each image resized by Pillow's Lanczos filter,
    one at a time (so also from a memory map), into `out` when given (a caller filling one big array
    never holds a second copy).

    This is how disentanglement-lib made Cars3D and SmallNORB: with `ANTIALIAS`, Pillow's old name for
    `LANCZOS` (removed in Pillow 10), in cars3d.py `_load_mesh` (`thumbnail((64, 64, 3), ANTIALIAS)`)
    and norb.py `_resize_images` (`resize((64, 64), ANTIALIAS)`). On a square image larger than `size`
    thumbnail is this plain resize: Pillow 6, current in 2019, resized directly; later Pillows first
    shrink by an integer factor (`reducing_gap`), which changes nothing at 128 -> 64 but would at 32.

    `wide` resizes in Pillow's 32-bit mode "I" instead of 8-bit "L": norb.py reads NORB's bytes as
    int8, which `Image.fromarray` opens in mode "I". That path clips neither between its two passes
    nor at the end (the 8-bit one does both), so its pixels can differ, and Lanczos' overshoot past
    0 or 255 survives there as values just outside [0, 1]; we store uint8 and clip those.
    """
    if out is None:
        out = np.empty((len(images), size, size, images.shape[3]), np.uint8)
    if images.shape[1:3] == (size, size):
        out[:] = images
        return out
    channels = images.shape[3]
    for i in range(len(images)):
        image = np.asarray(images[i])
        image = image[:, :, 0] if channels == 1 else image
        pic = Image.fromarray(image.astype(np.int32) if wide else image)
        pixels = np.asarray(pic.resize((size, size), Image.LANCZOS))
        pixels = np.clip(pixels, 0, 255) if wide else pixels
        out[i] = pixels.reshape(size, size, channels)
    return out


def to_grid(values: np.ndarray, grid: np.ndarray, path, column: str) -> np.ndarray:
    """Indices of float labels on a known factor grid; labels off the grid are a wrong file."""
    index = np.abs(values[:, None] - grid[None, :]).argmin(1)
    if np.abs(grid[index] - values).max(initial=0) > 1e-3:
        raise DataFileError(f"{path}: column {column} has values off the expected grid {np.round(grid, 3).tolist()}")
    return index


class FileDataset(InMemoryImages):
    """A dataset read from files under the data root. Subclasses name the files they need (`required`),
    say where they come from (`source`) and read them (`read`)."""

    source = ""

    def __init__(self, params, root=None):
        super().__init__(params)
        self.root = data_root(root)
        missing = [p for p in self.required(self.root, params) if not p.exists()]
        if missing:
            raise DataFileError(f"dataset {self.name}: {', '.join(map(str, missing))} not found (data root "
                                f"{self.root}: --data-root, else ${ROOT_ENV}, else ./data). {self.source}")
        try:
            self.read(params)
        except DataFileError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, struct.error) as exc:
            raise DataFileError(f"dataset {self.name}: cannot read {self.root} ({type(exc).__name__}: {exc}); "
                                f"the file may be truncated or not the expected format. {self.source}") from exc
        bad = (self.factors < 0) | (self.factors >= np.asarray(self.factor_sizes, dtype=np.int64))
        if self.factors.shape != (len(self.images), len(self.factor_sizes)) or bad.any():
            raise DataFileError(f"dataset {self.name}: factors of shape {self.factors.shape} do not fit the "
                                f"factor sizes {self.factor_sizes}")

    @classmethod
    def required(cls, root: Path, params) -> list[Path]:
        raise NotImplementedError

    def read(self, params) -> None:
        raise NotImplementedError

    def _expect(self, condition: bool, path, problem: str) -> None:
        if not condition:
            raise DataFileError(f"dataset {self.name}: {path}: {problem}. {self.source}")


def _npz(path: Path) -> np.lib.npyio.NpzFile:
    return np.load(path, allow_pickle=False)


@dataclass(frozen=True)
class NoParams:
    pass


class DSpritesFile(FileDataset):
    name = "dsprites_full"
    Params = NoParams
    description = "dSprites from DeepMind's npz file (binary 64x64; shape, scale, orientation, x, y)"
    source = "Get it from https://github.com/deepmind/dsprites-dataset (dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz)."
    factor_names = ("shape", "scale", "orientation", "pos_x", "pos_y")
    factor_sizes = (3, 6, 40, 32, 32)
    pixel_max = 1  # stored as 0/1

    @classmethod
    def required(cls, root, params):
        return [root / "dsprites" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"]

    def read(self, params):
        (path,) = self.required(self.root, params)
        with _npz(path) as data:
            self._expect({"imgs", "latents_classes"} <= set(data.files), path, f"arrays {data.files}, expected imgs and latents_classes")
            images, classes = data["imgs"], data["latents_classes"]
        self._expect(images.ndim == 3 and images.shape[1:] == (64, 64) and images.dtype == np.uint8, path,
                     f"imgs is {images.dtype} {images.shape}, expected uint8 (N, 64, 64)")
        self._expect(classes.shape == (len(images), 6), path, f"latents_classes is {classes.shape}, expected ({len(images)}, 6)")
        self.images = images[..., None]  # a view: (N, 64, 64, 1)
        self.factors = classes[:, 1:].astype(np.int64)  # column 0 is colour, constant (disentanglement-lib drops it)


SHAPES3D_FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
# Burgess & Kim 2018: the label values of each factor
SHAPES3D_GRIDS = (np.linspace(0, 1, 10, endpoint=False), np.linspace(0, 1, 10, endpoint=False),
                  np.linspace(0, 1, 10, endpoint=False), np.linspace(0.75, 1.25, 8), np.arange(4.0),
                  np.linspace(-30, 30, 15))


class Shapes3D(FileDataset):
    name = "shapes3d"
    Params = NoParams
    description = "3D Shapes (64x64 RGB; floor, wall, object hue, scale, shape, orientation)"
    source = ("Get 3dshapes.h5 from https://github.com/deepmind/3d-shapes, or disentanglement-lib's npz "
              "(look-at-object-room_floor-hueXwall-hueXobj-hueXobj-sizeXobj-shapeXview-azi.npz).")
    factor_names = SHAPES3D_FACTORS
    factor_sizes = (10, 10, 10, 8, 4, 15)
    NPZ = "look-at-object-room_floor-hueXwall-hueXobj-hueXobj-sizeXobj-shapeXview-azi.npz"

    @classmethod
    def _paths(cls, root):
        return root / "3dshapes" / "3dshapes.h5", root / "3dshapes" / cls.NPZ

    @classmethod
    def required(cls, root, params):
        h5, npz = cls._paths(root)
        return [npz] if npz.exists() else [h5]  # either will do; the source names both

    def read(self, params):
        h5, npz = self._paths(self.root)
        if npz.exists():
            path = npz
            with _npz(npz) as data:
                self._expect({"images", "labels"} <= set(data.files), npz, f"arrays {data.files}, expected images and labels")
                images, labels = data["images"], data["labels"]
        else:
            import h5py

            path = h5
            with h5py.File(h5, "r") as data:
                self._expect({"images", "labels"} <= set(data.keys()), h5, f"datasets {list(data.keys())}, expected images and labels")
                images, labels = data["images"][()], data["labels"][()]
        self._expect(images.ndim == 4 and images.shape[1:] == (64, 64, 3) and images.dtype == np.uint8, path,
                     f"images is {images.dtype} {images.shape}, expected uint8 (N, 64, 64, 3)")
        self._expect(labels.shape == (len(images), 6), path, f"labels is {labels.shape}, expected ({len(images)}, 6)")
        self.images = images
        self.factors = np.stack([to_grid(labels[:, i], grid, path, name)
                                 for i, (name, grid) in enumerate(zip(SHAPES3D_FACTORS, SHAPES3D_GRIDS))], axis=1)


class Cars3D(FileDataset):
    name = "cars3d"
    Params = ImageSizeParams
    description = ("Cars3D (Reed et al. 2015): 183 cars x 4 elevations x 24 azimuths, RGB resized to 64x64 "
                   "(Lanczos, as disentanglement-lib)")
    version = "2"  # 2: Lanczos as disentanglement-lib, was antialiased bilinear
    source = "Get cars/*.mat from http://www.scottreed.info/files/nips2015-analogy-data.tar.gz (disentanglement-lib's layout)."
    factor_names = ("elevation", "azimuth", "object")
    factor_sizes = (4, 24, 183)

    @classmethod
    def required(cls, root, params):
        return [root / "cars"]

    def read(self, params):
        files = sorted((self.root / "cars").glob("*.mat"))
        self._expect(bool(files), self.root / "cars", "holds no .mat files")
        self._expect(len(files) <= 183, self.root / "cars", f"holds {len(files)} .mat files, expected 183")
        if len(files) != 183:
            warnings.warn(f"cars3d: {len(files)} of the 183 cars found in {self.root / 'cars'}", RuntimeWarning)
        from scipy.io import loadmat

        size = params.image_size
        self.images = np.empty((len(files) * 96, size, size, 3), np.uint8)  # filled file by file: no second copy
        for i, path in enumerate(tqdm(files, desc="cars3d", leave=False, disable=None)):
            mesh = loadmat(path).get("im")
            self._expect(mesh is not None and mesh.ndim == 5 and mesh.shape[2:] == (3, 24, 4) and mesh.dtype == np.uint8,
                         path, f"key im is {None if mesh is None else (mesh.dtype, mesh.shape)}, expected uint8 (H, W, 3, 24, 4)")
            # (H, W, 3, azimuth, elevation) -> (azimuth, elevation, H, W, 3): elevation varies fastest
            views = mesh.transpose(3, 4, 0, 1, 2).reshape(96, *mesh.shape[:2], 3)
            resize(views, size, out=self.images[i * 96:(i + 1) * 96])
        azimuth, elevation = np.divmod(np.arange(96), 4)
        self.factors = np.concatenate([np.stack([elevation, azimuth, np.full(96, i)], axis=1)
                                       for i in range(len(files))]).astype(np.int64)


# The NORB binary format (https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/): little-endian int32 magic
# (matrix type), int32 ndim, max(3, ndim) int32 dimensions, then the data in C order.
NORB_TYPES = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.int32}
NORB_SPLITS = ("5x46789x9x18x6x2x96x96-training", "5x01235x9x18x6x2x96x96-testing")


def read_norb(path: Path) -> np.ndarray:
    """One NORB .mat file as an array; the image file is memory-mapped (it is read chunk by chunk)."""
    with open(path, "rb") as handle:
        header = handle.read(8)
        if len(header) < 8:
            raise DataFileError(f"{path}: truncated NORB header")
        magic, ndim = struct.unpack("<ii", header)
        if magic not in NORB_TYPES or not 1 <= ndim <= 8:
            raise DataFileError(f"{path}: not a NORB matrix file (magic {magic:#x}, ndim {ndim})")
        dims = struct.unpack(f"<{max(3, ndim)}i", handle.read(4 * max(3, ndim)))[:ndim]
        offset = handle.tell()
    dtype = np.dtype(NORB_TYPES[magic]).newbyteorder("<")
    expected = offset + int(np.prod(dims)) * dtype.itemsize
    if path.stat().st_size != expected:
        raise DataFileError(f"{path}: {path.stat().st_size} bytes, but its header (dims {list(dims)}) implies "
                            f"{expected}: truncated or corrupt")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(dims))


class SmallNORB(FileDataset):
    name = "smallnorb"
    Params = ImageSizeParams
    description = ("SmallNORB (LeCun et al. 2004), training and test sets, left camera, resized to 64x64 "
                   "(Lanczos, as disentanglement-lib)")
    version = "2"  # 2: Lanczos as disentanglement-lib, was antialiased bilinear
    source = ("Get the six smallnorb-*.mat files from https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/ "
              "(gunzip them) into small_norb/.")
    factor_names = ("category", "instance", "elevation", "azimuth", "lighting")
    factor_sizes = (5, 10, 9, 18, 6)  # disentanglement-lib's norb.py
    # disentanglement-lib's norb.py scores on latent_factor_indices = [0, 2, 3, 4]: instance is left
    # out of MIG (the paper's line 107); the five attribute tasks (line 133) use all five
    disentanglement_factors = (0, 2, 3, 4)

    @classmethod
    def required(cls, root, params):
        return [root / "small_norb" / f"smallnorb-{split}-{part}.mat" for split in NORB_SPLITS for part in ("dat", "cat", "info")]

    def read(self, params):
        paths = self.required(self.root, params)
        splits = []
        for split in range(2):
            dat_path, cat_path, info_path = paths[3 * split:3 * split + 3]
            dat, cat, info = read_norb(dat_path), read_norb(cat_path), read_norb(info_path)
            self._expect(dat.dtype == np.uint8 and dat.ndim == 4 and dat.shape[1:] == (2, 96, 96), dat_path,
                         f"holds {dat.dtype} {dat.shape}, expected uint8 (N, 2, 96, 96)")
            self._expect(cat.shape == (len(dat),), cat_path, f"holds {cat.shape}, expected ({len(dat)},)")
            self._expect(info.shape == (len(dat), 4), info_path, f"holds {info.shape}, expected ({len(dat)}, 4)")
            splits.append((dat, cat, info))
        size, total = params.image_size, sum(len(dat) for dat, _, _ in splits)
        self.images = np.empty((total, size, size, 1), np.uint8)
        factors, start = [], 0
        for dat, cat, info in splits:
            # the left camera only, as disentanglement-lib; read from the memory map image by image
            resize(dat[:, 0, :, :, None], size, out=self.images[start:start + len(dat)], wide=True)
            start += len(dat)
            # info columns: instance, elevation, azimuth (0, 2, ..., 34), lighting
            factors.append(np.column_stack([cat, info[:, 0], info[:, 1], info[:, 2] // 2, info[:, 3]]))
        self.factors = np.concatenate(factors).astype(np.int64)


class _MPI3D(FileDataset):
    Params = NoParams
    factor_names = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
                    "horizontal_axis", "vertical_axis")
    factor_sizes = (6, 6, 2, 3, 3, 40, 40)  # Gondal et al. 2019; images in C order of these factors
    source = "Get it from https://github.com/rr-learning/disentanglement_dataset."

    @classmethod
    def required(cls, root, params):
        return [root / cls.name / f"{cls.name}.npz"]

    def read(self, params):
        (path,) = self.required(self.root, params)
        with _npz(path) as data:
            self._expect("images" in data.files, path, f"arrays {data.files}, expected images")
            images = data["images"]
        total = int(np.prod(self.factor_sizes))
        self._expect(images.shape == (total, 64, 64, 3) and images.dtype == np.uint8, path,
                     f"images is {images.dtype} {images.shape}, expected uint8 ({total}, 64, 64, 3)")
        self.images = images
        self.factors = np.stack(np.unravel_index(np.arange(total), self.factor_sizes), axis=1).astype(np.int64)


class MPI3DToy(_MPI3D):
    name = "mpi3d_toy"
    description = "MPI3D-toy (Gondal et al. 2019): 7 factors, 64x64 RGB renderings"


class MPI3DRealistic(_MPI3D):
    name = "mpi3d_realistic"
    description = "MPI3D-realistic: 7 factors, 64x64 RGB realistic renderings"


class MPI3DReal(_MPI3D):
    name = "mpi3d_real"
    description = "MPI3D-real: 7 factors, 64x64 RGB camera images"


@dataclass(frozen=True)
class CelebAParams(ImageSizeParams):
    crop: int = 148  # centre square crop of the 178x218 aligned faces, a common choice before resizing
    limit: int = 0  # read only the first `limit` images (sorted by name); 0 reads all 202,599

    def __post_init__(self):
        super().__post_init__()
        require(16 <= self.crop <= 178, "crop", f"{self.crop} is not in [16, 178]")
        require(self.limit >= 0, "limit", f"{self.limit} is below 0")


class CelebA(FileDataset):
    name = "celeba"
    Params = CelebAParams
    description = "CelebA aligned faces, centre-cropped and resized (no factors: qualitative use only)"
    source = "Get img_align_celeba.zip from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html and unzip it into celeba/."
    factor_names = ()
    factor_sizes = ()

    @classmethod
    def required(cls, root, params):
        return [root / "celeba" / "img_align_celeba"]

    def read(self, params):
        from PIL import Image

        folder = self.root / "celeba" / "img_align_celeba"
        files = sorted(folder.glob("*.jpg"))
        if params.limit:
            files = files[:params.limit]
        self._expect(bool(files), folder, "holds no .jpg files")
        size = params.image_size
        self.images = np.empty((len(files), size, size, 3), np.uint8)
        for i, path in enumerate(tqdm(files, desc="celeba", leave=False, disable=None)):
            with Image.open(path) as image:
                width, height = image.size
                self._expect(min(width, height) >= params.crop, path, f"is {width}x{height}, smaller than the crop {params.crop}")
                left, top = (width - params.crop) // 2, (height - params.crop) // 2
                face = image.convert("RGB").crop((left, top, left + params.crop, top + params.crop))
                self.images[i] = np.asarray(face.resize((size, size), Image.BILINEAR, reducing_gap=None))
        self.factors = np.zeros((len(files), 0), np.int64)


# The IDX format (http://yann.lecun.com/exdb/mnist/): big-endian magic 0x0000TTNN (TT = 0x08 for uint8,
# NN = number of dimensions), NN big-endian int32 sizes, then the data.
def read_idx(path: Path, out=None, chunk: int = 1000) -> np.ndarray:
    """An IDX file's array, read in chunks of `chunk` rows into `out(dims)` (a function giving the
    array view to fill; by default a new array), so a caller can place rows without a second copy."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        magic = handle.read(4)
        if len(magic) < 4 or magic[0:2] != b"\0\0" or magic[2] != 0x08 or not 1 <= magic[3] <= 4:
            raise DataFileError(f"{path}: not an IDX uint8 file (magic {magic.hex()})")
        dims = struct.unpack(f">{magic[3]}i", handle.read(4 * magic[3]))
        target = np.empty(dims, np.uint8) if out is None else out(dims)
        row = int(np.prod(dims[1:]))
        for start in range(0, dims[0], chunk):
            count = min(chunk, dims[0] - start)
            raw = handle.read(count * row)
            if len(raw) != count * row:
                raise DataFileError(f"{path}: ends after {start * row + len(raw)} of the {dims[0] * row} values "
                                    f"its header (dims {list(dims)}) implies: truncated")
            target[start:start + count] = np.frombuffer(raw, np.uint8).reshape(count, *dims[1:])
        if handle.read(1):
            raise DataFileError(f"{path}: longer than its header (dims {list(dims)}) says: not an IDX file of that shape")
    return target


@dataclass(frozen=True)
class MNISTParams:
    split: Literal["train", "test"] = "train"
    pad: bool = True  # 28 -> 32, a multiple of 16 for the conv nets; false keeps the 784 values (MS-FLOW)
    held_out: bool = False  # the other split's files as held-out rows, never trained on (log-density)


class MNIST(FileDataset):
    name = "mnist"
    Params = MNISTParams
    description = ("MNIST from its IDX files (28x28 padded to 32x32, or as they are with pad: false; factor: digit; "
                   "held_out: the other split as held-out rows)")
    source = "Get the four IDX files from http://yann.lecun.com/exdb/mnist/ (gzipped or not) into mnist/."
    factor_names = ("digit",)
    factor_sizes = (10,)

    @classmethod
    def _path(cls, root, stem):
        plain = root / "mnist" / stem
        return plain if plain.exists() or not plain.with_name(stem + ".gz").exists() else plain.with_name(stem + ".gz")

    @classmethod
    def required(cls, root, params):
        splits = [params.split] + ([{"train": "test", "test": "train"}[params.split]] if params.held_out else [])
        prefixes = ["train" if split == "train" else "t10k" for split in splits]
        return [cls._path(root, f"{prefix}-{kind}-ubyte") for prefix in prefixes
                for kind in ("images-idx3", "labels-idx1")]

    def read(self, params):
        files = self.required(self.root, params)
        self.images, self.factors = self._split(*files[:2], params.pad)
        if params.held_out:
            self.held_out_images, self.held_out_factors = self._split(*files[2:], params.pad)

    def _split(self, image_path, label_path, pad: bool):
        """One split's images (N, S, S, 1) uint8 and labels (N, 1), filled in place."""
        found = {}

        def target(dims):
            self._expect(len(dims) == 3 and dims[1:] == (28, 28), image_path, f"holds {list(dims)}, expected (N, 28, 28)")
            side, offset = (32, 2) if pad else (28, 0)
            found["images"] = np.zeros((dims[0], side, side, 1), np.uint8)
            return found["images"][:, offset:offset + 28, offset:offset + 28, 0]

        read_idx(image_path, out=target)
        labels = read_idx(label_path)
        count = len(found["images"])
        self._expect(labels.shape == (count,), label_path, f"holds {labels.shape}, expected ({count},)")
        self._expect(labels.max(initial=0) < 10, label_path, f"holds label {labels.max(initial=0)}, expected digits 0-9")
        return found["images"], labels.astype(np.int64)[:, None]
