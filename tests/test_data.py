"""Tests of course_lib.data: digits splits, 2-D toy sets, MNIST loading offline, dispatch."""

from __future__ import annotations

import gzip
import math
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import sklearn.datasets
import torch

from course_lib import data


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every urllib request fail, as on a machine without network (torchvision downloads via urlopen)."""

    def fail(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", fail)


# ---------------------------------------------------------------------------------------------
# Digits
# ---------------------------------------------------------------------------------------------


def test_digits_splits_are_file_order_blocks_of_1000_350_447():
    sk = sklearn.datasets.load_digits()
    sizes = {split: len(data.load_digits(split)[0]) for split in ("train", "val", "test", "all")}
    assert sizes == {"train": 1000, "val": 350, "test": 447, "all": 1797}
    assert sum(hi - lo for lo, hi in data.DIGITS_SPLITS.values()) == 1797

    x_all, y_all = data.load_digits("all")
    np.testing.assert_array_equal(x_all[:, 0].numpy(), (sk.images / 16).astype(np.float32))
    np.testing.assert_array_equal(y_all.numpy(), sk.target)
    # the three splits tile "all" in order, hence are disjoint
    parts = [data.load_digits(split) for split in ("train", "val", "test")]
    assert torch.equal(torch.cat([x for x, _ in parts]), x_all)
    assert torch.equal(torch.cat([y for _, y in parts]), y_all)
    x_test, y_test = data.load_digits("test")
    np.testing.assert_allclose(x_test[0, 0].numpy(), sk.images[1350] / 16)
    assert y_test[0].item() == sk.target[1350]
    assert torch.equal(y_test, torch.as_tensor(sk.target[1350:]))


def test_digits_dtypes_range_and_grey_levels():
    x, y = data.load_digits("train")
    assert x.shape == (1000, 1, 8, 8) and x.dtype == torch.float32
    assert y.shape == (1000,) and y.dtype == torch.int64
    assert set(y.unique().tolist()) == set(range(10))
    assert x.min() == 0 and x.max() == 1
    scaled = x * 16
    assert torch.equal(scaled, scaled.round())  # every value is level / 16 exactly
    levels = data.to_grey_levels(x)
    assert levels.dtype == torch.int64 and levels.min() == 0 and levels.max() == data.DIGITS_LEVELS - 1
    assert torch.equal(levels.float() / 16, x)  # round trip
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.to_grey_levels(torch.tensor([1.5]))


def test_digits_returns_fresh_tensors():
    x1, y1 = data.load_digits("val")
    x1.zero_()
    y1.fill_(-1)
    x2, y2 = data.load_digits("val")
    assert x2.max() == 1 and y2.min() >= 0


def test_digits_bad_split_names_valid_ones():
    with pytest.raises(ValueError) as info:
        data.load_digits("training")
    message = str(info.value)
    assert "'training'" in message
    for split in ("train", "val", "test", "all"):
        assert repr(split) in message


# ---------------------------------------------------------------------------------------------
# 2-D toy sets
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(data.TOY_DATASETS))
def test_toy_shape_dtype_range_and_seeding(name):
    x = data.make_toy(name, 2000, seed=0)
    assert x.shape == (2000, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert x.abs().max() < 4.5  # spread of order 1, within about [-4, 4]
    assert x.mean(0).abs().max() < 1.0  # roughly centred
    assert 0.3 < x.std(0).min() and x.std(0).max() < 3.0
    assert torch.equal(x, data.make_toy(name, 2000, seed=0))
    assert not torch.allclose(x, data.make_toy(name, 2000, seed=1))


def test_toy_sets_leave_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    for name in data.TOY_DATASETS:
        data.make_toy(name, 10, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_make_toy_errors():
    with pytest.raises(ValueError, match="name must be one of .*'moons'.*got 'spiral'"):
        data.make_toy("spiral", 10)
    with pytest.raises(ValueError, match="non-negative int"):
        data.moons(-1)


def test_moons_points_lie_on_two_arcs():
    n, noise = 2000, 0.05
    x = data.moons(n, noise=noise)
    u = (x - torch.tensor([-1.0, -0.2])) / 2  # back to sklearn's unit-circle coordinates
    upper, lower = u[: n // 2], u[n // 2 :]
    # upper arc: unit circle around (0, 0), top half; lower arc: unit circle around (1, 0.5), bottom half
    assert (upper.norm(dim=1) - 1).abs().max() < 6 * noise
    assert ((lower - torch.tensor([1.0, 0.5])).norm(dim=1) - 1).abs().max() < 6 * noise
    assert upper[:, 1].min() > -6 * noise and lower[:, 1].max() < 0.5 + 6 * noise
    # both arcs are covered end to end
    assert upper[:, 0].min() < -0.9 and upper[:, 0].max() > 0.9
    assert lower[:, 0].min() < 0.1 and lower[:, 0].max() > 1.9


def test_swiss_roll_without_noise_is_the_spiral():
    x = data.swiss_roll(1000, noise=0.0) * 5  # t (cos t, sin t)
    t = x.norm(dim=1)
    assert t.min() >= 1.5 * math.pi - 1e-4 and t.max() <= 4.5 * math.pi + 1e-4
    assert torch.allclose(x, t[:, None] * torch.stack([torch.cos(t), torch.sin(t)], 1), atol=1e-3)


def test_eight_gaussians_has_eight_clusters_on_the_circle():
    n, std, radius = 4000, 0.1, 2.0
    x = data.eight_gaussians(n, std=std, radius=radius)
    assert (x.norm(dim=1) - radius).abs().mean() < 2 * std
    k = torch.round(torch.atan2(x[:, 1], x[:, 0]) / (math.pi / 4)) % 8  # nearest centre's index
    counts = torch.bincount(k.long(), minlength=8)
    assert counts.numel() == 8 and (counts > n / 8 * 0.8).all()
    angles = k * (math.pi / 4)
    centres = radius * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    assert (x - centres).norm(dim=1).max() < 6 * std
    assert abs((x - centres).std().item() - std) < 0.01


def test_gaussian_grid_has_25_equal_modes_at_its_centres():
    n, std = 25000, 0.05
    x = data.gaussian_grid(n, std=std)
    centres = data.gaussian_grid_centres()
    assert centres.shape == (25, 2) and sorted(set(centres[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    nearest = torch.cdist(x, centres).argmin(1)
    counts = torch.bincount(nearest, minlength=25)
    assert (counts > n / 25 * 0.85).all() and (counts < n / 25 * 1.15).all()
    assert abs((x - centres[nearest]).std().item() - std) < 0.002  # each mode is N(centre, std^2 I)
    small = data.gaussian_grid_centres(size=3, spacing=1.0)
    assert torch.equal(small[:3], torch.tensor([[-1.0, -1.0], [0.0, -1.0], [1.0, -1.0]]))  # row by row
    assert torch.allclose(data.eight_gaussian_centres().norm(dim=1), torch.full((8,), 2.0))
    with pytest.raises(ValueError, match="size must be"):
        data.gaussian_grid_centres(size=0)


def test_checkerboard_only_black_squares_all_eight_used():
    x = data.checkerboard(4000)
    assert x.min() >= -4 and x.max() < 4
    squares = torch.floor(x / 2).long()  # (n, 2) square indices in -2..1
    assert ((squares.sum(1) % 2) == 0).all()
    occupied = {tuple(s) for s in squares.tolist()}
    assert len(occupied) == 8


# ---------------------------------------------------------------------------------------------
# MNIST / Fashion-MNIST, offline: real IDX files written into tmp_path
# ---------------------------------------------------------------------------------------------

IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC = 2051, 2049  # 0x0803: uint8, 3 dims; 0x0801: uint8, 1 dim


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """Write a uint8 array in the big-endian IDX format of the MNIST files (optionally gzipped)."""
    magic = {3: IDX_IMAGES_MAGIC, 1: IDX_LABELS_MAGIC}[array.ndim]
    payload = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def fake_images(n: int, offset: int) -> np.ndarray:
    """Return n known 28x28 uint8 images covering the full 0..255 range."""
    grid = np.arange(28 * 28).reshape(28, 28)
    return np.stack([(grid * (i + 1) + offset) % 256 for i in range(n)]).astype(np.uint8)


def write_fake_mnist(root: Path, folder: str, compress: bool = False) -> dict[str, np.ndarray]:
    """Write a 6-image training set and a 3-image test set where torchvision looks: ROOT/<folder>/raw/."""
    raw = root / folder / "raw"
    arrays = {
        "train-images-idx3-ubyte": fake_images(6, offset=0),
        "train-labels-idx1-ubyte": np.array([5, 0, 4, 1, 9, 2], dtype=np.uint8),
        "t10k-images-idx3-ubyte": fake_images(3, offset=100),
        "t10k-labels-idx1-ubyte": np.array([7, 2, 1], dtype=np.uint8),
    }
    for name, array in arrays.items():
        write_idx(raw / name, array, compress)
    return arrays


@pytest.mark.parametrize("fashion, folder", [(False, "MNIST"), (True, "FashionMNIST")])
@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_reads_idx_files(tmp_path, fashion, folder, compress):
    arrays = write_fake_mnist(tmp_path, folder, compress)
    x, y = data.load_mnist("train", fashion=fashion, root=tmp_path, download=False)
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    np.testing.assert_array_equal(x[:, 0].numpy(), arrays["train-images-idx3-ubyte"].astype(np.float32) / 255)
    assert x.min() == 0 and x.max() == 1
    np.testing.assert_array_equal(y.numpy(), arrays["train-labels-idx1-ubyte"])
    x, y = data.load_mnist("test", fashion=fashion, root=str(tmp_path), download=False)
    np.testing.assert_array_equal(x[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"].astype(np.float32) / 255)
    np.testing.assert_array_equal(y.numpy(), arrays["t10k-labels-idx1-ubyte"])


def test_load_mnist_train_val_partition_the_training_file(tmp_path, monkeypatch):
    arrays = write_fake_mnist(tmp_path, "MNIST")
    monkeypatch.setattr(data, "MNIST_TRAIN_SIZE", 4)  # stands for 50,000 of 60,000
    x_train, y_train = data.load_mnist("train", root=tmp_path, download=True)  # files present: no download
    x_val, y_val = data.load_mnist("val", root=tmp_path)
    assert len(x_train) == 4 and len(x_val) == 2
    np.testing.assert_array_equal(torch.cat([y_train, y_val]).numpy(), arrays["train-labels-idx1-ubyte"])
    assert torch.equal(x_val[0, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"][4]).float() / 255)
    with pytest.raises(ValueError, match="'train', 'val', 'test'"):
        data.load_mnist("all", root=tmp_path)


@pytest.mark.parametrize("download", [True, False])
@pytest.mark.parametrize("fashion, folder", [(False, "MNIST"), (True, "FashionMNIST")])
def test_load_mnist_unavailable_offline(tmp_path, download, fashion, folder):
    with pytest.raises(data.DatasetUnavailableError) as info:
        data.load_mnist("train", fashion=fashion, root=tmp_path, download=download)
    message = str(info.value)
    assert str(tmp_path / folder / "raw") in message
    assert 'DATASET="digits"' in message
    assert "train-images-idx3-ubyte" in message and "\n" not in message
    assert isinstance(info.value, RuntimeError) and info.value.__cause__ is not None
    if download:
        assert "URLError" in message or "RuntimeError" in message


def test_default_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert data.default_data_dir() == tmp_path / "elsewhere"

    monkeypatch.delenv("COURSE_DATA_DIR")
    checkout = tmp_path / "checkout"
    (checkout / "data").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    monkeypatch.setattr(data, "__file__", str(checkout / "course_lib" / "data.py"))
    assert data.default_data_dir() == checkout / "data"

    monkeypatch.setattr(data, "__file__", str(tmp_path / "site-packages" / "course_lib" / "data.py"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.default_data_dir() == tmp_path / "home" / ".cache" / "course_lib"


# ---------------------------------------------------------------------------------------------
# load_dataset
# ---------------------------------------------------------------------------------------------


def test_load_dataset_dispatch(tmp_path):
    x, y = data.load_dataset("digits", "val")
    assert torch.equal(x, data.load_digits("val")[0]) and torch.equal(y, data.load_digits("val")[1])
    write_fake_mnist(tmp_path, "FashionMNIST")
    x, y = data.load_dataset("fashion-mnist", "test", root=tmp_path, download=False)
    assert x.shape == (3, 1, 28, 28) and y.tolist() == [7, 2, 1]
    with pytest.raises(data.DatasetUnavailableError, match="MNIST"):
        data.load_dataset("mnist", "test", root=tmp_path, download=False)  # only Fashion-MNIST is there


def test_load_dataset_unknown_name():
    with pytest.raises(ValueError) as info:
        data.load_dataset("cifar10")
    message = str(info.value)
    assert "'cifar10'" in message
    assert all(repr(name) in message for name in data.DATASETS)
