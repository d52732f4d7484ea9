"""Datasets for the course: bundled 8x8 digits (offline default), 2-D toy sets, MNIST / Fashion-MNIST.

Every loader returns plain tensors, never a Dataset object:

    x, y = load_dataset("digits", "train")  # x: (N, 1, 8, 8) float32 in [0, 1], y: (N,) int64
    pts = make_toy("moons", 1000, seed=0)   # (1000, 2) float32

Nothing here touches global random state: the toy sets draw from a generator seeded by `seed`.
"""

from __future__ import annotations

import functools
import gzip
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .core.validation import choice, integer

if TYPE_CHECKING:
    from torchvision.datasets import MNIST

# ---------------------------------------------------------------------------------------------
# 1. Bundled digits (scikit-learn, 1797 images of 8x8 pixels, grey levels 0..16)
# ---------------------------------------------------------------------------------------------

DIGITS_SPLITS = {"train": (0, 1000), "val": (1000, 1350), "test": (1350, 1797)}
DIGITS_LEVELS = 17  # grey levels 0..16 in the raw scikit-learn data


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's digits once; arrays are read-only so the cache cannot be altered."""
    from sklearn.datasets import load_digits as sklearn_load_digits  # lazy: sklearn imports slowly

    bunch = sklearn_load_digits()
    images, labels = bunch.images, bunch.target  # (1797, 8, 8) float64 in 0..16, (1797,) int
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _digits_bounds(split: str) -> tuple[int, int]:
    """Return the (start, stop) rows of `split` in file order ("all" is every row)."""
    bounds = {**DIGITS_SPLITS, "all": (0, DIGITS_SPLITS["test"][1])}
    return bounds[choice(split, "split", bounds)]


def load_digits(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Load scikit-learn's 8x8 digits, split in file order (train 1000, val 350, test 447).

    Args:
        split: "train" (rows 0..999), "val" (1000..1349), "test" (1350..1796) or "all".

    Returns:
        images (N, 1, 8, 8) float32 in [0, 1] (grey level / 16) and labels (N,) int64; fresh
        tensors on every call, so callers may modify them.
    """
    start, stop = _digits_bounds(split)
    images, labels = _digits_arrays()
    x = torch.from_numpy(images[start:stop].astype(np.float32) / 16.0)  # (N, 8, 8), a new array
    y = torch.from_numpy(labels[start:stop].astype(np.int64))  # (N,)
    return x.unsqueeze(1), y  # (N, 1, 8, 8), (N,)


def to_grey_levels(x: torch.Tensor) -> torch.Tensor:
    """Map digits intensities in [0, 1] to the integer grey levels 0..16 (round(16 x)).

    Args:
        x: (...) intensities in [0, 1], e.g. images from `load_digits`.

    Returns:
        (...) int64 levels in 0..DIGITS_LEVELS-1; `levels / 16` gives back the digits values.
    """
    levels = torch.round(x * (DIGITS_LEVELS - 1)).long()
    if levels.numel() and (levels.min() < 0 or levels.max() > DIGITS_LEVELS - 1):
        raise ValueError(
            f"to_grey_levels expects intensities in [0, 1]; got values in "
            f"[{x.min().item():.4g}, {x.max().item():.4g}]"
        )
    return levels


# ---------------------------------------------------------------------------------------------
# 2. 2-D toy sets (as in the FFJORD / flow-matching / diffusion papers), all within about [-4, 4]
# ---------------------------------------------------------------------------------------------


def _generator(seed: int) -> torch.Generator:
    """Return a fresh CPU generator seeded with `seed` (never the global RNG)."""
    return torch.Generator().manual_seed(seed)


def _check_n(n: int) -> None:
    """Raise if `n` is not a non-negative integer number of points."""
    integer(n, "n", lo=0, hint=" (the number of points)")


def moons(n: int, seed: int = 0, noise: float = 0.05) -> torch.Tensor:
    """Two interleaving half circles (scikit-learn's moons), stretched to about [-3, 3] x [-1.2, 1.8].

    Args:
        n: number of points; the first n // 2 lie on the upper arc, the rest on the lower one.
        seed: seed of the random generator.
        noise: std of the Gaussian noise in unit-circle coordinates (as in sklearn's make_moons).

    Returns:
        (n, 2) float32 points.
    """
    _check_n(n)
    g = _generator(seed)
    n_upper = n // 2
    t = torch.rand(n, generator=g) * math.pi  # angle along each arc, uniform in [0, pi)
    upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)  # unit circle around (0, 0), top half
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)  # around (1, 0.5), bottom half
    is_upper = (torch.arange(n) < n_upper).unsqueeze(1)  # (n, 1)
    x = torch.where(is_upper, upper, lower) + noise * torch.randn(n, 2, generator=g)
    return x * 2 + torch.tensor([-1.0, -0.2])  # scale and centre as in FFJORD's toy data


def swiss_roll(n: int, seed: int = 0, noise: float = 0.5) -> torch.Tensor:
    """A 2-D Swiss roll spiral r(t) = t (cos t, sin t), t in [1.5 pi, 4.5 pi], divided by 5.

    Args:
        n: number of points.
        seed: seed of the random generator.
        noise: std of the Gaussian noise before the division by 5 (as in sklearn's make_swiss_roll).

    Returns:
        (n, 2) float32 points, within about [-3, 3]^2.
    """
    _check_n(n)
    g = _generator(seed)
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))  # (n,) in [1.5 pi, 4.5 pi)
    x = t.unsqueeze(1) * torch.stack([torch.cos(t), torch.sin(t)], dim=1)  # (n, 2)
    x = x + noise * torch.randn(n, 2, generator=g)
    return x / 5


def eight_gaussians(n: int, seed: int = 0, std: float = 0.1, radius: float = 2.0) -> torch.Tensor:
    """A mixture of 8 equally weighted Gaussians centred on a circle of `radius`.

    Args:
        n: number of points.
        seed: seed of the random generator.
        std: standard deviation of each Gaussian.
        radius: radius of the circle of centres, at angles 0, pi/4, ..., 7 pi/4.

    Returns:
        (n, 2) float32 points.
    """
    _check_n(n)
    return _mixture(eight_gaussian_centres(radius), n, std, _generator(seed))


def eight_gaussian_centres(radius: float = 2.0) -> torch.Tensor:
    """The 8 centres (8, 2) of `eight_gaussians`: on a circle of `radius`, at angles 0, pi/4, ..., 7 pi/4."""
    angles = torch.arange(8) * (math.pi / 4)  # (8,)
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)  # (8, 2)


def gaussian_grid(n: int, seed: int = 0, std: float = 0.05, size: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """A mixture of size x size equally weighted Gaussians on a square grid centred at 0 (25 modes by default).

    Args:
        n: number of points.
        seed: seed of the random generator.
        std: standard deviation of each Gaussian.
        size: modes per side; spacing: distance between neighbouring modes.

    Returns:
        (n, 2) float32 points.
    """
    _check_n(n)
    return _mixture(gaussian_grid_centres(size, spacing), n, std, _generator(seed))


def gaussian_grid_centres(size: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """The size**2 centres (size**2, 2) of `gaussian_grid`, row by row."""
    integer(size, "size", lo=1)
    ticks = (torch.arange(size, dtype=torch.float32) - (size - 1) / 2) * spacing  # (size,)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (size**2, 2)


def _mixture(centres: torch.Tensor, n: int, std: float, g: torch.Generator) -> torch.Tensor:
    """n points of the equally weighted mixture of N(centre, std^2 I) over the rows of `centres` (K, 2)."""
    k = torch.randint(0, len(centres), (n,), generator=g)  # mixture component of each point
    return centres[k] + std * torch.randn(n, 2, generator=g)


def checkerboard(n: int, seed: int = 0) -> torch.Tensor:
    """Uniform points on the 8 "black" squares of a 4x4 board of 2x2 squares covering [-4, 4]^2.

    A point (x, y) is on a black square when floor(x / 2) + floor(y / 2) is even.

    Args:
        n: number of points.
        seed: seed of the random generator.

    Returns:
        (n, 2) float32 points.
    """
    _check_n(n)
    g = _generator(seed)
    col = torch.randint(0, 4, (n,), generator=g)  # board column 0..3
    row = 2 * torch.randint(0, 2, (n,), generator=g) + col % 2  # a row with row + col even
    corner = torch.stack([col, row], dim=1).float() * 2 - 4  # (n, 2) lower-left corner of the square
    return corner + 2 * torch.rand(n, 2, generator=g)


TOY_DATASETS: dict[str, Callable[..., torch.Tensor]] = {
    "moons": moons,
    "swiss_roll": swiss_roll,
    "eight_gaussians": eight_gaussians,
    "gaussian_grid": gaussian_grid,
    "checkerboard": checkerboard,
}


def make_toy(name: str, n: int, seed: int = 0, **kwargs: float) -> torch.Tensor:
    """Sample `n` points of the toy set `name` (a key of TOY_DATASETS).

    Args:
        name: "moons", "swiss_roll", "eight_gaussians" or "checkerboard".
        n: number of points.
        seed: seed of the random generator; the same seed gives the same points.
        **kwargs: options of that set (noise, std, radius).

    Returns:
        (n, 2) float32 points.
    """
    return TOY_DATASETS[choice(name, "name", TOY_DATASETS)](n, seed=seed, **kwargs)


# ---------------------------------------------------------------------------------------------
# 3. MNIST and Fashion-MNIST through torchvision (optional: they need a download or local files)
# ---------------------------------------------------------------------------------------------

MNIST_TRAIN_SIZE = 50_000  # "train" = the first 50,000 official training images, "val" = the rest
MNIST_SPLITS = ("train", "val", "test")
MNIST_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DatasetUnavailableError(RuntimeError):
    """A dataset's files are not on disk and could not be downloaded."""


def default_data_dir() -> Path:
    """Return where datasets live: $COURSE_DATA_DIR, else the checkout's data/, else ~/.cache/course_lib."""
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "data").is_dir() and (repo / "pyproject.toml").is_file():
        return repo / "data"
    return Path.home() / ".cache" / "course_lib"


def _gunzip_missing(raw_dir: Path) -> None:
    """Decompress FILE.gz to FILE in `raw_dir` for each raw file present only compressed.

    torchvision only reads the uncompressed files, and only unpacks .gz files as part of a download.
    """
    for name in MNIST_RAW_FILES:
        target, archive = raw_dir / name, raw_dir / f"{name}.gz"
        if target.exists() or not archive.exists():
            continue
        partial = raw_dir / f"{name}.partial"
        try:
            with gzip.open(archive, "rb") as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except (OSError, EOFError) as err:
            partial.unlink(missing_ok=True)
            raise DatasetUnavailableError(
                f"{archive} is not a readable gzip file ({err}); replace it with the original file or delete it."
            ) from err
        partial.replace(target)


def _unavailable_message(dataset: str, raw_dir: Path, download: bool, err: BaseException) -> str:
    """Write the one-paragraph explanation of why `dataset` could not be loaded and how to fix it."""
    why = f"downloading them failed ({type(err).__name__}; see the cause above)" if download else "download=False"
    files = ", ".join(MNIST_RAW_FILES)
    return (
        f"{dataset} is not available: its files are not in {raw_dir} and {why}. "
        f"To use it offline, put the four raw files {files} (each may also be the .gz download) in {raw_dir}, "
        f"or point COURSE_DATA_DIR at a folder holding {raw_dir.parent.name}/raw/; "
        f'otherwise use DATASET="digits", the bundled 8x8 digits that need no download (the offline default).'
    )


def _open_torchvision(fashion: bool, root: Path, train: bool, download: bool) -> MNIST:
    """Open torchvision's MNIST or FashionMNIST under `root`, raising DatasetUnavailableError if absent."""
    from torchvision.datasets import MNIST, FashionMNIST  # lazy: torchvision imports slowly

    cls = FashionMNIST if fashion else MNIST
    raw_dir = root / cls.__name__ / "raw"  # the folder torchvision reads: ROOT/MNIST/raw or ROOT/FashionMNIST/raw
    _gunzip_missing(raw_dir)
    try:
        return cls(root, train=train, download=download)
    except (RuntimeError, OSError) as err:  # no files and no network (URLError is an OSError)
        if all((raw_dir / name).is_file() for name in MNIST_RAW_FILES):
            raise  # the files are there but unreadable: a different problem, keep torchvision's error
        dataset = "Fashion-MNIST" if fashion else "MNIST"
        raise DatasetUnavailableError(_unavailable_message(dataset, raw_dir, download, err)) from err


def load_mnist(
    split: str = "train",
    *,
    fashion: bool = False,
    root: str | Path | None = None,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST (or Fashion-MNIST) through torchvision as tensors.

    Splits: "train" = the first 50,000 images of the official training set, "val" = its last
    10,000, "test" = the official 10,000 test images.

    Args:
        split: "train", "val" or "test".
        fashion: load Fashion-MNIST instead of MNIST.
        root: folder holding MNIST/raw/ (or FashionMNIST/raw/); default `default_data_dir()`.
        download: download the files into `root` when they are absent.

    Returns:
        images (N, 1, 28, 28) float32 in [0, 1] (pixel / 255) and labels (N,) int64.

    Raises:
        DatasetUnavailableError: the files are absent and could not be (or were not to be) downloaded.
    """
    choice(split, "split", MNIST_SPLITS)
    root = Path(root) if root is not None else default_data_dir()
    ds = _open_torchvision(fashion, root, train=split != "test", download=download)
    rows = {"train": slice(0, MNIST_TRAIN_SIZE), "val": slice(MNIST_TRAIN_SIZE, None), "test": slice(None)}[split]
    x = ds.data[rows].unsqueeze(1).float() / 255  # (N, 1, 28, 28), a new tensor
    y = ds.targets[rows].long().clone()  # (N,)
    return x, y


# ---------------------------------------------------------------------------------------------
# 4. One entry point for the lessons' DATASET parameter
# ---------------------------------------------------------------------------------------------

DATASETS = ("digits", "mnist", "fashion-mnist")


def load_dataset(name: str, split: str = "train", **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Load the image dataset `name` ("digits", "mnist" or "fashion-mnist") as (images, labels).

    Args:
        name: one of DATASETS.
        split: "train", "val" or "test" (digits also accepts "all").
        **kwargs: passed to `load_mnist` (root, download); digits takes none.

    Returns:
        images (N, 1, H, W) float32 in [0, 1] and labels (N,) int64.
    """
    if choice(name, "name", DATASETS) == "digits":
        return load_digits(split, **kwargs)
    return load_mnist(split, fashion=name == "fashion-mnist", **kwargs)
