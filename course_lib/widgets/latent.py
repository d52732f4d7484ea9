"""Latent-space widgets of lessons 01-02: the latent explorer, interpolation, conditions and attributes.

Models come in as plain callables: `decode: (M, d) -> (M, 1, H, W)`, `encode: (M, 1, H, W) -> (M, d)`,
`decode_cond: (z (M, d), y (M,)) -> (M, 1, H, W)`; images have values in [0, 1]. The paths between
codes come from `autoencoder.interpolate`; this module only draws them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..autoencoder import INTERPOLATIONS, interpolate
from ..core import validation as check
from ..viz import as_image_array, decode_images, plot_latent, show_image_row, show_image_rows, show_images
from .explorer import Explorer, auto_lim, new_or_cleared, one_image, range_slider

Decode = Callable[[torch.Tensor], torch.Tensor]
Encode = Callable[[torch.Tensor], torch.Tensor]
DecodeCond = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

MODES = INTERPOLATIONS  # "linear", "slerp"
MARKER = dict(marker="X", markersize=15, color="red", markeredgecolor="white", markeredgewidth=1.5, linestyle="none")
HIGHLIGHT = "red"  # colour of the strip frame closest to alpha
FRAME = "0.6"  # the thin frame of every decoded image


def _show_one(ax: Axes, image: np.ndarray, title: str | None = None) -> None:
    """Draw a single (H, W) image filling the axes, no ticks, in a thin grey frame (white edge columns stay visible)."""
    show_image_row(image, ax=ax, pad=0)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(FRAME)
        spine.set_linewidth(0.8)
    if title is not None:
        ax.set_title(title, fontsize="small")


# ----------------------------------------------------------------------------- the latent explorer
def render_latent_explorer(
    decode: Decode,
    z: Any,
    embedding: Any,
    labels: Any = None,
    fig: Figure | None = None,
    background: Callable[[Axes], Any] | None = None,
    lim: Sequence[float] | None = None,
) -> Figure:
    """Draw the embedded data with a red X at z (left) and the image decoded at z (right).

    Args:
        decode: callable (M, 2) -> (M, 1, H, W).
        z: (2,) latent point.
        embedding: (N, 2) latent codes of a data set (e.g. the test set).
        labels: (N,) labels colouring the scatter, or None.
        fig: figure to draw into (it is cleared); default a new one.
        background: optional callable(ax) drawing behind the scatter (e.g. the prior's contours).
        lim: optional (xmin, xmax, ymin, ymax) fixing the scatter's view.
    Returns:
        the figure; its axes are labelled "latent" and "decoded" (`ax.get_label()`).
    """
    z = check.vector(z, "z", d=2)
    embedding = check.points(embedding, "embedding")
    if labels is not None:
        labels = check.labels(labels, embedding.shape[0])
    image = decode_images(decode, z[None])[0]  # (H, W)

    fig = new_or_cleared(fig, figsize=(9.0, 4.2))
    ax_map, ax_img = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=[1.4, 1.0]))
    ax_map.set_label("latent")
    ax_img.set_label("decoded")
    if background is not None:
        background(ax_map)
    plot_latent(embedding, labels, ax=ax_map, title="latent space")
    ax_map.plot([z[0].item()], [z[1].item()], zorder=5, clip_on=False, **MARKER)  # whole, even at a slider's end
    if lim is not None:
        xmin, xmax, ymin, ymax = check.lim(lim)
        ax_map.set_xlim(xmin, xmax)
        ax_map.set_ylim(ymin, ymax)
    _show_one(ax_img, image)
    ax_img.set_title(f"decoded at z = ({z[0].item():.2f}, {z[1].item():.2f})")
    return fig


def latent_explorer(
    decode: Decode,
    embedding: Any,
    labels: Any = None,
    lim: Sequence[float] | None = None,
    background: Callable[[Axes], Any] | None = None,
) -> Explorer:
    """Sliders z1, z2 moving a point over the embedded data, with the image decoded there.

    Args:
        decode: callable (M, 2) -> (M, 1, H, W).
        embedding: (N, 2) latent codes of a data set (e.g. the test set).
        labels: (N,) labels colouring the scatter, or None.
        lim: (xmin, xmax, ymin, ymax) slider ranges and view; default the data's box plus 10%.
        background: optional callable(ax) drawing behind the scatter (e.g. the prior's contours).
    Returns:
        Explorer with controls "z1", "z2", starting at the embedding's mean.
    """
    embedding = check.points(embedding, "embedding")
    if labels is not None:
        labels = check.labels(labels, embedding.shape[0])
    lim = auto_lim(embedding) if lim is None else check.lim(lim)
    start = embedding.mean(axis=0)
    sliders = {name: range_slider(name, lim[2 * i], lim[2 * i + 1], start[i]) for i, name in enumerate(("z1", "z2"))}

    def render(z1: float, z2: float) -> Figure:
        return render_latent_explorer(decode, [z1, z2], embedding, labels, background=background, lim=lim)

    return Explorer(render, sliders)


# ----------------------------------------------------------------------------- interpolation
def render_interpolation(
    decode: Decode,
    z_a: Any,
    z_b: Any,
    alpha: float,
    steps: int = 9,
    mode: str = "linear",
    image_a: Any = None,
    image_b: Any = None,
    fig: Figure | None = None,
    names: tuple[str, str] = ("a", "b"),
) -> Figure:
    """Draw the decoded path from z_a to z_b as a strip (top) and the image at alpha large (bottom).

    Args:
        decode: callable (M, d) -> (M, 1, H, W).
        z_a: (d,) start code.
        z_b: (d,) end code.
        alpha: position along the path (0 at z_a, 1 at z_b).
        steps: frames in the strip (alphas linspace(0, 1, steps)); the one closest to alpha
            gets a red frame and title.
        mode: "linear" or "slerp".
        image_a: optional original image (1, 1, H, W), (1, H, W) or (H, W), shown left of the strip.
        image_b: optional original image, shown right of the strip.
        fig: figure to draw into (it is cleared); default a new one.
        names: titles of the two originals.
    Returns:
        the figure; axes labelled "original a", "step k" (k = 0..steps-1), "original b",
        "decoded", in that order (`ax.get_label()`).
    """
    check.choice(mode, "mode", MODES)
    steps = check.integer(steps, "steps", lo=2, hint=" (frames from a to b)")
    alpha = check.number(float(alpha), "alpha")
    z_a = check.vector(z_a, "z_a")
    z_b = check.vector(z_b, "z_b", d=z_a.shape[0])
    originals = {}
    for key, image, name in (("a", image_a, names[0]), ("b", image_b, names[1])):
        if image is not None:
            originals[key] = (one_image(image, name=f"image_{key}"), name)

    alphas = torch.linspace(0.0, 1.0, steps)  # (steps,)
    strip = decode_images(decode, interpolate(z_a, z_b, alphas, mode))  # (steps, H, W)
    image = decode_images(decode, interpolate(z_a, z_b, [alpha], mode))[0]  # (H, W)
    closest = int(torch.argmin((alphas - alpha).abs()))

    ncol = steps + len(originals)
    fig = new_or_cleared(fig, figsize=(max(6.0, 0.8 * ncol), 5.5))
    grid = fig.add_gridspec(2, ncol, height_ratios=[1.0, 3.5])
    col = 0
    if "a" in originals:
        _show_one(fig.add_subplot(grid[0, col], label="original a"), *originals["a"])
        col += 1
    for k in range(steps):
        ax = fig.add_subplot(grid[0, col + k], label=f"step {k}")
        _show_one(ax, strip[k], title=f"{alphas[k].item():.2f}")
        if k == closest:  # mark the frame nearest to alpha
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_color(HIGHLIGHT)
                spine.set_linewidth(2.5)
            ax.title.set_color(HIGHLIGHT)
            ax.title.set_fontweight("bold")
    if "b" in originals:
        _show_one(fig.add_subplot(grid[0, ncol - 1], label="original b"), *originals["b"])
    ax = fig.add_subplot(grid[1, :], label="decoded")
    _show_one(ax, image, title=f"{mode} interpolation, alpha = {alpha:.2f}")
    return fig


def _encode_codes(encode: Encode, x: torch.Tensor) -> torch.Tensor:
    """Encode images (M, 1, H, W) to codes (M, d) under no_grad, returned on CPU float32."""
    with torch.no_grad():
        z = encode(x)
    if not isinstance(z, torch.Tensor):
        raise ValueError(f"encode must return a tensor of codes (M, d), got {type(z).__name__}"
                         " (for a VAE pass e.g. `lambda x: vae.encode(x)[0]`, the mean)")
    z = z.detach().to("cpu", torch.float32)
    if z.ndim != 2 or z.shape[0] != x.shape[0]:
        raise ValueError(f"encode must return codes of shape ({x.shape[0]}, d), got shape {tuple(z.shape)}")
    return z


def interpolation_explorer(
    encode: Encode,
    decode: Decode,
    images: Any,
    labels: Any = None,
    mode: str = "linear",
    steps: int = 9,
    a: int | None = None,
    b: int | None = None,
    modes: Sequence[str] = MODES,
) -> Explorer:
    """Pick two images by index, encode them, and walk the decoded path between their codes.

    Args:
        encode: callable (M, 1, H, W) -> (M, d).
        decode: callable (M, d) -> (M, 1, H, W).
        images: (N, 1, H, W) or (N, H, W), N >= 2, values in [0, 1].
        labels: (N,) labels, shown in the titles and used to pick a default b of another class.
        mode: initial interpolation mode, "linear" or "slerp".
        steps: frames in the strip.
        a: initial index of the start image; default 0.
        b: initial index of the end image; default the first image whose label differs from a's.
        modes: the interpolation modes offered; one mode (lesson 01: ("linear",), before lesson 02
            explains slerp) shows no mode control.
    Returns:
        Explorer with controls "a", "b" (indices), "alpha" (0..1) and "mode" (when there are several modes).
    """
    modes = tuple(modes)
    if not modes:
        raise check.invalid("modes", f"one or more of {', '.join(MODES)}", "none")
    for m in modes:
        check.choice(m, "each of modes", MODES)
    check.choice(mode, "mode", modes)
    x = torch.from_numpy(as_image_array(images))[:, None]  # (N, 1, H, W) CPU float32
    N = x.shape[0]
    if N < 2:
        raise check.invalid("images", "at least 2 images to interpolate between", N)
    if labels is not None:
        labels = check.labels(labels, N)
    a = 0 if a is None else check.integer(a, "a", 0, N - 1, what="an integer index")
    if b is None:
        other = np.flatnonzero(labels != labels[a]) if labels is not None else np.array([], dtype=int)
        b = int(other[0]) if other.size else (a + 1) % N
    b = check.integer(b, "b", 0, N - 1, what="an integer index")

    def name(i: int) -> str:
        return f"#{i}" if labels is None else f"#{i} ({labels[i]:g})"

    def render(a: int, b: int, alpha: float, mode: str = mode) -> Figure:
        z_a, z_b = _encode_codes(encode, x[[a, b]])  # (d,), (d,)
        return render_interpolation(
            decode, z_a, z_b, alpha, steps=steps, mode=mode, image_a=x[a], image_b=x[b], names=(name(a), name(b))
        )

    controls = {
        "a": widgets.BoundedIntText(value=a, min=0, max=N - 1, description="a"),
        "b": widgets.BoundedIntText(value=b, min=0, max=N - 1, description="b"),
        "alpha": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="alpha",
                                     readout_format=".2f", continuous_update=False),
    }
    if len(modes) > 1:
        controls["mode"] = widgets.Dropdown(options=list(modes), value=mode, description="mode")
    return Explorer(render, controls)


def seed_interpolation_explorer(decode: Decode, latent_dim: int, mode: str = "slerp", steps: int = 9) -> Explorer:
    """Walk between two codes drawn from N(0, I) by seed: for a decoder with no encoder, e.g. a GAN's generator.

    Args:
        decode: callable (M, d) -> (M, 1, H, W), values in [0, 1].
        latent_dim: d; z_a and z_b are N(0, I) draws seeded by the two controls.
        mode: initial interpolation mode ("slerp" suits Gaussian codes: lesson 02).
        steps: frames in the strip.
    Returns:
        Explorer with controls "seed_a", "seed_b", "alpha" and "mode" (drawn by `render_interpolation`).
    """
    latent_dim = check.integer(latent_dim, "latent_dim", lo=1)
    check.choice(mode, "mode", MODES)

    def code(seed: int) -> torch.Tensor:
        return torch.randn(latent_dim, generator=torch.Generator().manual_seed(int(seed)))

    def render(seed_a: int, seed_b: int, alpha: float, mode: str) -> Figure:
        return render_interpolation(decode, code(seed_a), code(seed_b), alpha, steps=steps, mode=mode,
                                    names=(f"seed {seed_a}", f"seed {seed_b}"))

    controls = {
        "seed_a": widgets.IntSlider(value=0, min=0, max=99, description="seed of z_a", continuous_update=False),
        "seed_b": widgets.IntSlider(value=1, min=0, max=99, description="seed of z_b", continuous_update=False),
        "alpha": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="alpha",
                                     readout_format=".2f", continuous_update=False),
        "mode": widgets.Dropdown(options=list(MODES), value=mode, description="mode"),
    }
    return Explorer(render, controls)


# ----------------------------------------------------------------------------- conditions and attributes
def render_condition(decode_cond: DecodeCond, z: Any, label: int, fig: Figure | None = None, nrow: int | None = None) -> Figure:
    """Draw the images a conditional decoder makes for one class label from the codes z.

    Args:
        decode_cond: callable (z (M, d), y (M,) long) -> images (M, 1, H, W).
        z: (M, d) latent codes (e.g. samples of the prior).
        label: the class to generate.
        fig: figure to draw into (it is cleared); default a new one.
        nrow: images per row of the grid; default min(8, M).
    Returns:
        the figure; its axes is labelled "samples" (`ax.get_label()`).
    """
    z = check.codes(z, "z")  # (M, d)
    y = torch.full((z.shape[0],), int(label), dtype=torch.long)
    with torch.no_grad():
        images = decode_cond(z, y)
    fig = new_or_cleared(fig, figsize=(6.0, 3.2))
    ax = fig.add_subplot(1, 1, 1, label="samples")
    show_images(images, nrow=nrow or min(8, z.shape[0]), ax=ax, title=f"class {label}: decoder(z, y={label})")
    return fig


def condition_explorer(
    decode_cond: DecodeCond, latent_dim: int, classes: Sequence[int] = tuple(range(10)), n: int = 16
) -> Explorer:
    """Choose a class and a noise seed; see n samples of that class from a conditional decoder.

    Args:
        decode_cond: callable (z (M, d), y (M,)) -> images (M, 1, H, W).
        latent_dim: d; codes are drawn from N(0, I) with the chosen seed.
        classes: the labels offered.
        n: samples shown.
    Returns:
        Explorer with controls "label" and "seed".
    """
    latent_dim = check.integer(latent_dim, "latent_dim", lo=1)
    classes = [int(c) for c in classes]

    def render(label: int, seed: int) -> Figure:
        z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(int(seed)))
        return render_condition(decode_cond, z, label)

    controls = {
        "label": widgets.Dropdown(options=classes, value=classes[0], description="class"),
        "seed": widgets.IntSlider(value=0, min=0, max=99, description="noise seed", continuous_update=False),
    }
    return Explorer(render, controls)


def render_attribute(decode: Decode, z: Any, direction: Any, strength: float, originals: Any = None,
                     fig: Figure | None = None, name: str = "attribute") -> Figure:
    """Draw images decoded at z + strength * direction (resynthesis along an attribute direction).

    Args:
        decode: callable (M, d) -> (M, 1, H, W).
        z: (M, d) codes of some images; direction: (d,) attribute direction in latent space.
        strength: how far to move along it (0 gives the reconstructions).
        originals: optional (M, 1, H, W) images shown above for comparison.
        fig: figure to draw into (it is cleared); default a new one.
        name: the direction's name, in the title with the strength.
    Returns:
        the figure; one row per image set, the moved row's axes labelled "moved" (`ax.get_label()`).
    """
    z = check.codes(z, "z")  # (M, d)
    direction = check.vector(direction, "direction", d=z.shape[1])
    moved = decode_images(decode, z + float(strength) * direction)  # (M, H, W)
    rows = {} if originals is None else {"original": originals}
    rows["moved"] = moved  # fixed row labels: the images stay put when the direction changes
    fig = show_image_rows(rows, fig=fig, title=f"{name} {float(strength):+.1f}")
    fig.axes[-1].set_label("moved")
    return fig


def attribute_explorer(
    decode: Decode, z: Any, directions: dict[str, Any], originals: Any = None, max_strength: float = 3.0
) -> Explorer:
    """Choose an attribute direction and a strength; see the images moved along it.

    Args:
        decode: callable (M, d) -> (M, 1, H, W); z: (M, d) codes of the images to edit.
        directions: name -> (d,) direction in latent space.
        originals: optional (M, 1, H, W) images shown for comparison.
        max_strength: the slider runs from -max_strength to +max_strength.
    Returns:
        Explorer with controls "direction" and "strength".
    """
    if not directions:
        raise check.invalid("directions", "a dict naming at least one latent direction (name -> (d,) vector)",
                            repr(directions))

    def render(direction: str, strength: float) -> Figure:
        return render_attribute(decode, z, directions[direction], strength, originals, name=direction)

    controls = {
        "direction": widgets.Dropdown(options=list(directions), value=next(iter(directions)), description="direction"),
        "strength": widgets.FloatSlider(value=0.0, min=-max_strength, max=max_strength, step=0.1,
                                        description="strength", readout_format=".1f", continuous_update=False),
    }
    return Explorer(render, controls)
