"""Figures for the notebooks: image grids, latent scatters, loss curves, decoded manifolds.

Images are torch tensors or numpy arrays of shape (N, 1, H, W), (N, H, W) or one (H, W) image,
with values in [0, 1] (drawn as dark ink on white with "gray_r"). Every plotting function draws
on the `ax` (or `fig`) it is given, or on a new one, returns what it drew on, and never calls
`plt.show()`. Models come in as plain callables, e.g. `decode: (M, d) -> (M, 1, H, W)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .core import validation as check

ImageLike = torch.Tensor | np.ndarray
Decode = Callable[[torch.Tensor], torch.Tensor]
Lim = tuple[float, float, float, float]

VALUE_RANGE = (0.0, 1.0)  # the images' default data range, drawn from white to black
PAD_VALUE = 0.5  # grey border between tiles: visible on white background and on black ink
N_CLASSES = 10  # tab10 has ten colours, one per digit


# ----------------------------------------------------------------------------- arrays


def as_image_array(images: ImageLike, name: str = "images") -> np.ndarray:
    """Return grayscale images as a float32 numpy array (N, H, W).

    Args:
        images: (N, 1, H, W), (N, H, W) or a single (H, W) image; tensor or numpy.
        name: what to call `images` in error messages.
    """
    x = check.to_numpy(images, name)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]  # (N, H, W)
    elif x.ndim == 2:
        x = x[None]  # (1, H, W)
    if x.ndim != 3:
        raise ValueError(
            f"{name} must have shape (N, 1, H, W), (N, H, W) or (H, W) (grayscale), "
            f"got shape {tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): nothing to draw")
    return x


def decode_images(decode: Decode, z: Any) -> np.ndarray:
    """Decode latent codes to images under no_grad, on CPU float inputs.

    Args:
        decode: callable (M, d) -> (M, 1, H, W); it moves inputs to its own device if it needs to.
        z: (M, d) latent codes (tensor or array-like).
    Returns:
        float32 numpy array (M, H, W).
    """
    z = check.codes(z, "z")  # (M, d) CPU float32
    with torch.no_grad():
        out = decode(z)
    if not isinstance(out, (torch.Tensor, np.ndarray)):
        raise ValueError(f"decode must return a tensor (M, 1, H, W), got {type(out).__name__}")
    images = as_image_array(out, name="decode(z)")
    if images.shape[0] != z.shape[0]:
        raise ValueError(
            f"decode(z) must return one image per code: z has {z.shape[0]} rows, "
            f"decode returned shape {tuple(out.shape)}"
        )
    return images


# ----------------------------------------------------------------------------- images


def image_grid(images: ImageLike, nrow: int | None = None, pad: int = 1, pad_value: float = PAD_VALUE) -> np.ndarray:
    """Tile images into one 2-D array, `nrow` images per row, with a `pad`-pixel border.

    Args:
        images: (N, 1, H, W), (N, H, W) or (H, W).
        nrow: images per row (as in torchvision's make_grid); default ceil(sqrt(N)).
        pad: border width in pixels around and between tiles (0 for none).
        pad_value: value of the border and of empty tiles.
    Returns:
        (rows * (H + pad) + pad, nrow * (W + pad) + pad) float32 array; image k sits in
        tile (k // nrow, k % nrow).
    """
    x = as_image_array(images)
    N, H, W = x.shape
    if nrow is None:
        nrow = math.ceil(math.sqrt(N))
    if int(nrow) != nrow or nrow < 1:
        raise ValueError(f"nrow must be a positive integer (images per row), got {nrow!r}")
    if int(pad) != pad or pad < 0:
        raise ValueError(f"pad must be a non-negative integer (pixels), got {pad!r}")
    nrow, pad = int(nrow), int(pad)
    ncol = min(nrow, N)  # a single short row is only as wide as it needs to be
    rows = math.ceil(N / nrow)
    grid = np.full((rows * (H + pad) + pad, ncol * (W + pad) + pad), pad_value, dtype=np.float32)
    for k in range(N):
        r, c = divmod(k, nrow)
        top, left = pad + r * (H + pad), pad + c * (W + pad)
        grid[top : top + H, left : left + W] = x[k]
    return grid


def show_images(
    images: ImageLike,
    nrow: int | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    cmap: str = "gray_r",
) -> Axes:
    """Draw images as one tiled grid (values 0..1, ink dark on white by default).

    Args:
        images: (N, 1, H, W), (N, H, W) or (H, W) in [0, 1].
        nrow: images per row; default ceil(sqrt(N)).
        ax: axes to draw on; default a new figure.
        title: axes title.
        cmap: matplotlib colormap name.
    """
    grid = image_grid(images, nrow=nrow)
    if ax is None:
        N = as_image_array(images).shape[0]
        ncol = min(N, nrow or math.ceil(math.sqrt(N)))
        rows = math.ceil(N / ncol)
        inch = min(0.6, 12.0 / ncol)  # about 0.6 inch per tile, at most 12 inches wide
        _, ax = plt.subplots(figsize=(max(1.0, inch * ncol), max(1.0, inch * rows)))
    ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return ax


def show_image_row(
    images: ImageLike,
    ax: Axes | None = None,
    label: str | None = None,
    value_range: Sequence[float] = VALUE_RANGE,
    cmap: str = "gray_r",
    pad: int = 1,
) -> Axes:
    """Draw images side by side as one row, with the row's label on its left.

    Values are mapped from value_range to [0, 1] (clipped) before tiling, so images of any range
    (e.g. diffusion's [-1, 1]) are drawn on one colour scale and the border stays PAD_VALUE grey.
    The axes keeps no ticks and no visible spines (a caller may turn spines back on to frame it).

    Args:
        images: (N, 1, H, W), (N, H, W) or a single (H, W) image.
        ax: axes to draw on; default a new figure.
        label: the row's label, written left of the row, which is then anchored left (rows of
            different lengths line up under each other).
        value_range: (lo, hi) drawn from white (lo) to black (hi) with "gray_r".
        cmap: matplotlib colormap name.
        pad: border in pixels around and between the images (0: a single image fills the axes).
    """
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        lo = hi = math.nan
    if not lo < hi:
        raise check.invalid("value_range", "two numbers (lo, hi) with lo < hi", repr(value_range))
    x = as_image_array(images)
    x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)  # (N, H, W) in [0, 1]
    if ax is None:
        inch = min(0.6, 12.0 / x.shape[0])
        _, ax = plt.subplots(figsize=(max(1.0, inch * x.shape[0]), 1.0))
    ax.imshow(image_grid(x, nrow=x.shape[0], pad=pad), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if label is not None:
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
        ax.set_anchor("W")
    return ax


def show_image_rows(
    rows: Mapping[str, ImageLike],
    n: int | None = None,
    fig: Figure | None = None,
    title: str | None = None,
    cmap: str = "gray_r",
    value_range: Sequence[float] = VALUE_RANGE,
) -> Figure:
    """Draw one labelled row of images per entry, e.g. {"original": x, "noisy": x_noisy, "reconstructed": x_hat}.

    Args:
        rows: label -> images (N_i, 1, H, W), (N_i, H, W) or (H, W); rows may differ in N_i.
        n: show at most the first n images of each row; default all.
        fig: figure to draw into (it is cleared); default a new one.
        title: figure title.
        cmap: matplotlib colormap name.
        value_range: the images' data range (lo, hi), drawn from white to black; default [0, 1].
    """
    if not isinstance(rows, Mapping) or len(rows) == 0:
        raise ValueError(f"rows must be a non-empty dict label -> images, got {type(rows).__name__} {rows!r:.60}")
    if n is not None and (int(n) != n or n < 1):
        raise ValueError(f"n must be a positive integer (images per row) or None, got {n!r}")
    arrays = {label: as_image_array(images, name=f"rows[{label!r}]")[:n] for label, images in rows.items()}
    width = max(a.shape[0] for a in arrays.values())
    if fig is None:
        fig = plt.figure(figsize=(min(16.0, 1.5 + 0.8 * width), 0.9 * len(arrays) + 0.4), layout="constrained")
    else:
        fig.clf()
    axes = fig.subplots(len(arrays), 1, squeeze=False)[:, 0]
    for ax, (label, x) in zip(axes, arrays.items()):
        show_image_row(x, ax=ax, label=label, value_range=value_range, cmap=cmap)
    if title is not None:
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------- latents


def plot_latent(
    z: Any,
    labels: Any = None,
    ax: Axes | None = None,
    title: str | None = None,
    s: float = 4.0,
) -> Axes:
    """Scatter 2-D latent codes coloured by digit label (tab10, legend outside the right edge).

    Integer labels 0..9 get the fixed tab10 colour of their digit and a legend; other labels
    (e.g. a continuous value) get a viridis colorbar.

    Args:
        z: (N, 2) latent codes.
        labels: (N,) labels or None (one colour).
        ax: axes to draw on; default a new figure.
        title: axes title.
        s: marker size in points^2.
    """
    z = check.points(z, "z")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=s, color="tab:blue", alpha=0.7, linewidths=0)
    else:
        labels = check.labels(labels, z.shape[0])
        digits = np.all(labels == np.round(labels)) and labels.min() >= 0 and labels.max() < N_CLASSES
        if digits:
            cmap = ListedColormap(plt.get_cmap("tab10").colors[:N_CLASSES])
            norm = BoundaryNorm(np.arange(N_CLASSES + 1) - 0.5, N_CLASSES)  # label k -> colour k
            ax.scatter(z[:, 0], z[:, 1], c=labels, cmap=cmap, norm=norm, s=s, alpha=0.8, linewidths=0)
            handles = [
                Line2D([], [], marker="o", linestyle="none", color=cmap(k), label=str(k))
                for k in np.unique(labels).astype(int)
            ]
            ax.legend(handles=handles, title="label", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                      fontsize="small", frameon=False, borderaxespad=0.0, handletextpad=0.1)
        else:
            points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="viridis", s=s, linewidths=0)
            ax.figure.colorbar(points, ax=ax, label="label")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_history(history: Any, ax: Axes | None = None, title: str | None = None, logy: bool = False) -> Axes:
    """Plot training (and validation) loss per epoch.

    Args:
        history: object with `train_loss: list[float]` (one per epoch) and `val_loss: list[float]`
            (same length, or empty without validation data), e.g. training.History; a dict works too.
        ax: axes to draw on; default a new figure.
        title: axes title.
        logy: logarithmic loss axis (losses must be positive).
    """

    def get(key: str) -> list[float]:
        value = history.get(key) if isinstance(history, Mapping) else getattr(history, key, None)
        if value is None:
            raise ValueError(f"history must have a `{key}` list (e.g. training.History), got {type(history).__name__}")
        return [float(v) for v in value]

    series = getattr(history, "epoch", None) if not isinstance(history, Mapping) else None
    if isinstance(series, Mapping) and series and not getattr(history, "train_loss", None):
        return _plot_series(series, ax, title)  # a two-player History: one curve per named series
    train, val = get("train_loss"), get("val_loss")
    if len(train) == 0:
        raise ValueError("history.train_loss is empty: train for at least one epoch before plotting")
    if val and len(val) != len(train):
        raise ValueError(
            f"history.val_loss must be empty or have one value per epoch ({len(train)}), got {len(val)} values"
        )
    if logy and min(train + val) <= 0:
        raise ValueError(f"logy=True needs positive losses, got a minimum of {min(train + val):.4g}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.5), layout="constrained")
    epochs = np.arange(1, len(train) + 1)
    ax.plot(epochs, train, marker=".", label="train")
    if val:
        ax.plot(epochs, val, marker=".", label="validation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return ax


def _plot_series(series: Mapping[str, Sequence[float]], ax: Axes | None, title: str | None) -> Axes:
    """Each named per-epoch series of a History (e.g. "critic_loss", "generator_loss") as its own curve."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.5), layout="constrained")
    for name, values in series.items():
        ax.plot(np.arange(1, len(values) + 1), [float(v) for v in values], marker="." if len(values) < 60 else None,
                label=name.replace("_", " "))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (mean over the epoch)")
    ax.legend()
    if title is not None:
        ax.set_title(title)
    return ax


def plot_nearest_distances(sample_nn: Any, test_nn: Any, label: str = "samples", ax: Axes | None = None,
                           bins: int = 40) -> Axes:
    """Histograms of each sample's distance to its nearest training example, beside the test examples' own.

    A model that copies its training set piles up at 0; new handwriting sits where the test digits do.

    Args:
        sample_nn: (N,) distances of the samples (e.g. `metrics.nearest_neighbours(samples, x_train)[0]`).
        test_nn: (M,) the same for held-out real data. label: the samples' name in the legend.
    """
    s = check.to_numpy(sample_nn, "sample_nn").ravel()
    t = check.to_numpy(test_nn, "test_nn").ravel()
    if not len(s) or not len(t):
        raise check.invalid("sample_nn and test_nn", "non-empty arrays of distances", f"{len(s)} and {len(t)} values")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 3.0), layout="constrained")
    edges = np.linspace(0, float(max(s.max(), t.max())) or 1.0, bins)
    ax.hist(t, bins=edges, alpha=0.6, density=True, label=f"test digits ({len(t)})")
    ax.hist(s, bins=edges, alpha=0.6, density=True, label=f"{label} ({len(s)})")
    ax.set(xlabel="distance to the nearest training digit", ylabel="density", title="copies would pile up at 0")
    ax.legend()
    return ax


def decoded_grid(decode: Decode, lim: Sequence[float], n: int = 15, pad: int = 0) -> np.ndarray:
    """Decode an n x n lattice over the latent box `lim` and tile the images.

    Tile (i, j) shows decode at the centre of cell (i, j) of the box, row 0 at the top (largest
    z2), so `imshow(grid, extent=lim)` lines each tile up with its latent coordinates
    (`plot_decoded_grid` widens the extent by half a border when there is padding).

    Args:
        decode: callable (M, 2) -> (M, 1, H, W).
        lim: (xmin, xmax, ymin, ymax) latent box.
        n: tiles per side.
        pad: grey border in pixels between tiles (0: touching tiles, which can fuse into strips).
    Returns:
        (n * (H + pad) + pad, n * (W + pad) + pad) float32 array.
    """
    xmin, xmax, ymin, ymax = check.lim(lim)
    n = check.integer(n, "n", lo=1, hint=" (tiles per side)")
    centres = (np.arange(n) + 0.5) / n  # cell centres in (0, 1)
    xs = xmin + (xmax - xmin) * centres  # left -> right
    ys = ymax - (ymax - ymin) * centres  # top -> bottom
    gx, gy = np.meshgrid(xs, ys)  # (n, n): row i has z2 = ys[i], column j has z1 = xs[j]
    z = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (n*n, 2), row-major
    images = decode_images(decode, z)  # (n*n, H, W)
    return image_grid(images, nrow=n, pad=pad)


def plot_decoded_grid(
    decode: Decode,
    lim: Sequence[float],
    n: int = 15,
    ax: Axes | None = None,
    title: str | None = None,
    cmap: str = "gray_r",
    pad: int = 0,
) -> Axes:
    """Draw the decoded lattice over `lim` in latent coordinates (overlays a plot_latent scatter).

    Args:
        decode: callable (M, 2) -> (M, 1, H, W).
        lim: (xmin, xmax, ymin, ymax) latent box.
        n: tiles per side.
        ax: axes to draw on; default a new figure.
        title: axes title.
        cmap: matplotlib colormap name.
        pad: grey border in pixels between tiles; each tile stays centred on its latent point.
    """
    xmin, xmax, ymin, ymax = lim = check.lim(lim)
    grid = decoded_grid(decode, lim, n=n, pad=pad)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 6.0), layout="constrained")
    # a cell of the box spans one tile and one border; the outer border sits half outside the box
    rows, cols = grid.shape
    ex = pad / 2 * (xmax - xmin) / (cols - pad)
    ey = pad / 2 * (ymax - ymin) / (rows - pad)
    extent = (xmin - ex, xmax + ex, ymin - ey, ymax + ey)
    ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, extent=extent, origin="upper", interpolation="nearest")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_prior_contours(ax: Axes, radii: Sequence[float] = (1.0, 2.0, 3.0), color: str = "0.6") -> Axes:
    """Draw the contours of the standard normal prior N(0, I) in 2-D: circles at 1, 2, 3 sigma.

    Usable as the `background` of widgets.latent_explorer. Args: ax; radii in standard deviations.
    """
    t = np.linspace(0, 2 * np.pi, 200)
    for r in radii:
        ax.plot(r * np.cos(t), r * np.sin(t), color=color, linewidth=1, linestyle="--", zorder=0)
        ax.annotate(f"{r:g}\u03c3", (r / np.sqrt(2), r / np.sqrt(2)), color=color, fontsize="small", zorder=0)
    return ax
