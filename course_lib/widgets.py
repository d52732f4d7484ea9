"""Interactive widgets (latent spaces, diffusion), each built on a pure render function.

`render_*` functions draw a whole figure for given values and return it: notebooks call them
directly for a static figure (shown without a kernel), tests check their pixels. The widgets
wire controls to a render function with `ipywidgets.interactive_output`, using only API common to
ipywidgets 7.7 (Colab) and 8.x, and redraw on every `.value` change, with or without a kernel.
Models come in as plain callables: `decode: (M, d) -> (M, 1, H, W)`, `encode: (M, 1, H, W) -> (M, d)`.
Diffusion widgets take a `diffusion.GaussianDiffusion` and a recorded `diffusion.Trajectory`; their
images live in the diffusion's data space [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .diffusion import GaussianDiffusion, cosine_beta_schedule, linear_beta_schedule
from .viz import (
    _check_labels, _check_lim, _check_points, _to_numpy, as_image_array, decode_images, image_grid, plot_latent,
    plot_prior_contours,
)

Decode = Callable[[torch.Tensor], torch.Tensor]
Encode = Callable[[torch.Tensor], torch.Tensor]

MODES = ("linear", "slerp")
MARKER = dict(marker="X", markersize=15, color="red", markeredgecolor="white", markeredgewidth=1.5, linestyle="none")
HIGHLIGHT = "red"  # colour of the strip frame closest to alpha


# ----------------------------------------------------------------------------- maths


def interpolate(z_a: Any, z_b: Any, alphas: Any, mode: str = "linear", eps: float = 1e-6) -> torch.Tensor:
    """Points along the path from z_a (alpha 0) to z_b (alpha 1), linear or spherical.

    slerp(a) = sin((1 - a) w) / sin(w) z_a + sin(a w) / sin(w) z_b, with w the angle between
    z_a and z_b; it falls back to lerp when sin(w) < eps ((anti)parallel or zero vectors).

    Args:
        z_a: (d,) start code.
        z_b: (d,) end code.
        alphas: (K,) positions along the path (a scalar counts as K = 1).
        mode: "linear" or "slerp".
        eps: threshold on sin(w) below which slerp falls back to lerp.
    Returns:
        (K, d) codes, with the dtype and device of z_a (float32 if z_a is not floating).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    z_a, z_b = torch.as_tensor(z_a), torch.as_tensor(z_b)
    if z_a.ndim != 1 or z_a.shape != z_b.shape:
        raise ValueError(
            f"z_a and z_b must be vectors of the same shape (d,), got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    dtype = z_a.dtype if z_a.is_floating_point() else torch.float32
    a64 = z_a.to(torch.float64)
    b64 = z_b.to(a64.device, torch.float64)
    t = torch.as_tensor(alphas, dtype=torch.float64, device=a64.device)
    if t.ndim > 1:
        raise ValueError(f"alphas must be a scalar or a vector (K,), got shape {tuple(t.shape)}")
    t = t.reshape(-1, 1)  # (K, 1)
    lerp = (1 - t) * a64 + t * b64  # (K, d)
    if mode == "linear":
        return lerp.to(dtype)
    norms = a64.norm() * b64.norm()
    cos = (a64 @ b64 / norms).clamp(-1.0, 1.0) if norms > 0 else a64.new_tensor(1.0)
    omega = torch.arccos(cos)  # angle between z_a and z_b
    sin = torch.sin(omega)
    if sin < eps:  # (anti)parallel: the great circle is undefined or degenerate
        return lerp.to(dtype)
    path = torch.sin((1 - t) * omega) / sin * a64 + torch.sin(t * omega) / sin * b64  # (K, d)
    return path.to(dtype)


# ----------------------------------------------------------------------------- render functions


def _new_or_cleared(fig: Figure | None, figsize: tuple[float, float]) -> Figure:
    """Return `fig` cleared, or a new pyplot figure."""
    if fig is None:
        return plt.figure(figsize=figsize, layout="constrained")
    fig.clf()
    return fig


def _check_vector(z: Any, name: str, d: int | None = None) -> torch.Tensor:
    """Validate one latent vector (d,) and return it as a CPU float32 tensor."""
    z = torch.as_tensor(_to_numpy(z, name))
    if z.ndim != 1 or (d is not None and z.shape[0] != d):
        want = f"({d},)" if d is not None else "(d,)"
        raise ValueError(f"{name} must be one latent vector of shape {want}, got shape {tuple(z.shape)}")
    return z


def _show_one(ax: Axes, image: np.ndarray, title: str | None = None, cmap: str = "gray_r") -> None:
    """Draw a single (H, W) image with no ticks (spines kept for highlighting)."""
    ax.imshow(image, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title is not None:
        ax.set_title(title, fontsize="small")


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
    z = _check_vector(z, "z", d=2)
    embedding = _check_points(embedding, "embedding")
    if labels is not None:
        labels = _check_labels(labels, embedding.shape[0])
    image = decode_images(decode, z[None])[0]  # (H, W)

    fig = _new_or_cleared(fig, figsize=(9.0, 4.2))
    ax_map, ax_img = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=[1.4, 1.0]))
    ax_map.set_label("latent")
    ax_img.set_label("decoded")
    if background is not None:
        background(ax_map)
    plot_latent(embedding, labels, ax=ax_map, title="latent space")
    ax_map.plot([z[0].item()], [z[1].item()], zorder=5, **MARKER)
    if lim is not None:
        xmin, xmax, ymin, ymax = _check_lim(lim)
        ax_map.set_xlim(xmin, xmax)
        ax_map.set_ylim(ymin, ymax)
    _show_one(ax_img, image)
    ax_img.set_title(f"decoded at z = ({z[0].item():.2f}, {z[1].item():.2f})")
    return fig


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
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if int(steps) != steps or steps < 2:
        raise ValueError(f"steps must be an integer >= 2 (frames from a to b), got {steps!r}")
    alpha = float(alpha)
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, got {alpha!r}")
    steps = int(steps)
    z_a = _check_vector(z_a, "z_a")
    z_b = _check_vector(z_b, "z_b", d=z_a.shape[0])
    originals = {}
    for key, image, name in (("a", image_a, names[0]), ("b", image_b, names[1])):
        if image is not None:
            x = as_image_array(image, name=f"image_{key}")
            if x.shape[0] != 1:
                raise ValueError(f"image_{key} must be one image (1, 1, H, W), (1, H, W) or (H, W), got {x.shape[0]}")
            originals[key] = (x[0], name)

    alphas = torch.linspace(0.0, 1.0, steps)  # (steps,)
    strip = decode_images(decode, interpolate(z_a, z_b, alphas, mode))  # (steps, H, W)
    image = decode_images(decode, interpolate(z_a, z_b, [alpha], mode))[0]  # (H, W)
    closest = int(torch.argmin((alphas - alpha).abs()))

    ncol = steps + len(originals)
    fig = _new_or_cleared(fig, figsize=(max(6.0, 0.8 * ncol), 5.5))
    grid = fig.add_gridspec(2, ncol, height_ratios=[1.0, 3.5])
    col = 0
    if "a" in originals:
        ax = fig.add_subplot(grid[0, col], label="original a")
        _show_one(ax, originals["a"][0], title=originals["a"][1])
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
        ax = fig.add_subplot(grid[0, ncol - 1], label="original b")
        _show_one(ax, originals["b"][0], title=originals["b"][1])
    ax = fig.add_subplot(grid[1, :], label="decoded")
    _show_one(ax, image, title=f"{mode} interpolation, alpha = {alpha:.2f}")
    return fig


# ----------------------------------------------------------------------------- widgets


class Explorer(widgets.VBox):
    """Controls above an Output that redraws `render(**values)` whenever a control's value changes.

    Attributes:
        controls: name -> widget; the names are `render`'s keyword arguments.
        render: callable(**values) -> Figure.
        renders: number of completed redraws (1 after construction).
        figure: the last Figure drawn.
        output: the ipywidgets.Output the figure is shown in.
    """

    def __init__(self, render: Callable[..., Figure], controls: dict[str, widgets.Widget], **kwargs: Any):
        super().__init__(**kwargs)
        self.render = render
        self.controls = dict(controls)
        self.renders = 0
        self.figure: Figure | None = None
        self.output = widgets.interactive_output(self._redraw, self.controls)  # draws once now
        row = widgets.HBox(list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
        self.children = (row, self.output)

    def __repr__(self) -> str:
        # The text stored in executed notebooks, shown where no kernel runs (GitHub, nbviewer).
        names = ", ".join(self.controls)
        return f"<interactive figure with controls {names}: run the notebook in Jupyter or Colab to use it>"

    def _redraw(self, **values: Any) -> None:
        """Close the previous figure, draw a new one, show it (inline backend) in the Output."""
        if self.figure is not None:
            plt.close(self.figure)  # no leak of one figure per slider move
        self.figure = self.render(**values)
        self.renders += 1
        plt.show()  # inline backend: displays into the Output; Agg (tests): no-op


def _auto_lim(embedding: np.ndarray, margin: float = 0.1) -> tuple[float, float, float, float]:
    """Bounding box of the points widened by `margin` of its size on every side."""
    lo, hi = embedding.min(axis=0), embedding.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)  # a flat direction still gets a width
    lo, hi = lo - margin * span, hi + margin * span
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


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
    embedding = _check_points(embedding, "embedding")
    if labels is not None:
        labels = _check_labels(labels, embedding.shape[0])
    lim = _auto_lim(embedding) if lim is None else _check_lim(lim)
    start = embedding.mean(axis=0)
    sliders = {}
    for i, name in enumerate(("z1", "z2")):
        lo, hi = lim[2 * i], lim[2 * i + 1]
        sliders[name] = widgets.FloatSlider(
            value=float(np.clip(start[i], lo, hi)), min=lo, max=hi, step=(hi - lo) / 200,
            description=name, readout_format=".2f", continuous_update=False,
        )

    def render(z1: float, z2: float) -> Figure:
        return render_latent_explorer(decode, [z1, z2], embedding, labels, background=background, lim=lim)

    return Explorer(render, sliders)


def _check_index(i: Any, n: int, name: str) -> int:
    """Validate an index into n images."""
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < n:
        raise ValueError(f"{name} must be an integer index in [0, {n - 1}], got {i!r}")
    return int(i)


def _encode_codes(encode: Encode, x: torch.Tensor) -> torch.Tensor:
    """Encode images (M, 1, H, W) to codes (M, d) under no_grad, returned on CPU float32."""
    with torch.no_grad():
        z = encode(x)
    if not isinstance(z, torch.Tensor):
        raise ValueError(
            f"encode must return a tensor of codes (M, d), got {type(z).__name__}"
            " (for a VAE pass e.g. `lambda x: vae.encode(x)[0]`, the mean)"
        )
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
    Returns:
        Explorer with controls "a", "b" (indices), "alpha" (0..1) and "mode".
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    x = torch.from_numpy(as_image_array(images))[:, None]  # (N, 1, H, W) CPU float32
    N = x.shape[0]
    if N < 2:
        raise ValueError(f"images must hold at least 2 images to interpolate between, got {N}")
    if labels is not None:
        labels = _check_labels(labels, N)
    a = 0 if a is None else _check_index(a, N, "a")
    if b is None:
        other = np.flatnonzero(labels != labels[a]) if labels is not None else np.array([], dtype=int)
        b = int(other[0]) if other.size else (a + 1) % N
    b = _check_index(b, N, "b")

    def name(i: int) -> str:
        return f"#{i}" if labels is None else f"#{i} ({labels[i]:g})"

    def render(a: int, b: int, alpha: float, mode: str) -> Figure:
        z_a, z_b = _encode_codes(encode, x[[a, b]])  # (d,), (d,)
        return render_interpolation(
            decode, z_a, z_b, alpha, steps=steps, mode=mode, image_a=x[a], image_b=x[b], names=(name(a), name(b))
        )

    controls = {
        "a": widgets.BoundedIntText(value=a, min=0, max=N - 1, description="a"),
        "b": widgets.BoundedIntText(value=b, min=0, max=N - 1, description="b"),
        "alpha": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="alpha",
                                     readout_format=".2f", continuous_update=False),
        "mode": widgets.Dropdown(options=list(MODES), value=mode, description="mode"),
    }
    return Explorer(render, controls)


# ----------------------------------------------------------------------------- conditions and attributes
DecodeCond = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def render_condition(decode_cond: DecodeCond, z: Any, label: int, fig: Figure | None = None, nrow: int | None = None) -> Figure:
    """Draw the images a conditional decoder makes for one class label from the codes z.

    Args:
        decode_cond: callable (z (M, d), y (M,) long) -> images (M, 1, H, W).
        z: (M, d) latent codes (e.g. samples of the prior).
        label: the class to generate.
    """
    z = torch.as_tensor(_to_numpy(z, "z"))
    if z.ndim != 2:
        raise ValueError(f"z must be latent codes of shape (M, d), got shape {tuple(z.shape)}")
    y = torch.full((z.shape[0],), int(label), dtype=torch.long)
    with torch.no_grad():
        images = decode_cond(z, y)
    fig = _new_or_cleared(fig, figsize=(6.0, 3.2))
    ax = fig.add_subplot(1, 1, 1, label="samples")
    from .viz import show_images

    show_images(images, nrow=nrow or min(8, z.shape[0]), ax=ax, title=f"class {label}: decoder(z, y={label})")
    return fig


def condition_explorer(decode_cond: DecodeCond, latent_dim: int, classes: Sequence[int] = tuple(range(10)), n: int = 16) -> Explorer:
    """Choose a class and a noise seed; see n samples of that class from a conditional decoder.

    Args:
        decode_cond: callable (z (M, d), y (M,)) -> images (M, 1, H, W).
        latent_dim: d; codes are drawn from N(0, I) with the chosen seed.
        classes: the labels offered.
        n: samples shown.
    Returns:
        Explorer with controls "label" and "seed".
    """
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
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
    """
    z = torch.as_tensor(_to_numpy(z, "z"))
    if z.ndim != 2:
        raise ValueError(f"z must be latent codes of shape (M, d), got shape {tuple(z.shape)}")
    direction = _check_vector(direction, "direction", d=z.shape[1])
    moved = decode_images(decode, z + float(strength) * direction)  # (M, H, W)
    from .viz import show_image_rows

    rows = {} if originals is None else {"original": originals}
    rows[f"{name} {float(strength):+.1f}"] = moved
    fig = show_image_rows(rows, fig=fig)
    fig.axes[-1].set_label("moved")
    return fig


def attribute_explorer(decode: Decode, z: Any, directions: dict[str, Any], originals: Any = None, max_strength: float = 3.0) -> Explorer:
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
        raise ValueError("directions must name at least one latent direction (name -> (d,) vector)")

    def render(direction: str, strength: float) -> Figure:
        return render_attribute(decode, z, directions[direction], strength, originals, name=direction)

    controls = {
        "direction": widgets.Dropdown(options=list(directions), value=next(iter(directions)), description="direction"),
        "strength": widgets.FloatSlider(value=0.0, min=-max_strength, max=max_strength, step=0.1,
                                        description="strength", readout_format=".1f", continuous_update=False),
    }
    return Explorer(render, controls)


# ----------------------------------------------------------------------------- diffusion
# Images live in the diffusion's data space [-1, 1] (lesson 06 scales digits x -> 2x - 1), drawn
# with "gray_r" from -1 (white) to 1 (black ink), so a noised image keeps the same colour scale.
SCHEDULE_KINDS = ("linear", "cosine")
HIGHLIGHTS = ("both", *SCHEDULE_KINDS)
SCHEDULE_COLOURS = {"linear": "tab:blue", "cosine": "tab:orange"}
DATA_RANGE = (-1.0, 1.0)


def _check_step(t: Any, T: int, name: str = "t") -> int:
    """Validate a 0-based time step t in 0 .. T-1."""
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < T:
        raise ValueError(f"{name} must be an integer step in 0 .. {T - 1} (T = {T}), got {t!r}")
    return int(t)


def _one_image(image: Any, name: str = "image") -> np.ndarray:
    """Validate one grayscale image (1, 1, H, W), (1, H, W) or (H, W) and return it as (H, W)."""
    x = as_image_array(image, name=name)
    if x.shape[0] != 1:
        raise ValueError(f"{name} must be one image (1, 1, H, W), (1, H, W) or (H, W), got {x.shape[0]} images")
    return x[0]


def _to_unit(x: np.ndarray, value_range: Sequence[float]) -> np.ndarray:
    """Map values from value_range = (lo, hi) to [0, 1] for drawing, clipping what lies outside."""
    lo, hi = (float(v) for v in value_range)
    if not lo < hi:
        raise ValueError(f"value_range must be (lo, hi) with lo < hi, got {tuple(value_range)!r}")
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def _no_ticks(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def schedule_alphabars(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> dict[str, np.ndarray]:
    """alphabar_t (T,) of the linear (beta_start .. beta_end) and the cosine schedule, by kind."""
    betas = {"linear": linear_beta_schedule(T, beta_start, beta_end), "cosine": cosine_beta_schedule(T)}
    return {kind: GaussianDiffusion(b).alphabar.numpy() for kind, b in betas.items()}


def render_schedules(
    image: Any,
    t: int,
    T: int = 1000,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    fig: Figure | None = None,
    highlight: str = "both",
    noise: Any = None,
    seed: int = 0,
) -> Figure:
    """Draw alphabar_t and log SNR of the linear and cosine schedules, and one image noised at t by each.

    The image is noised in one shot, x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps, with the
    same eps for both schedules and every t, so moving t shows one noise realisation fading in.

    Args:
        image: one image (H, W), (1, H, W) or (1, 1, H, W) with values in [-1, 1] (lesson 06's scaling).
        t: 0-based step in 0 .. T-1 (t = 0 is the paper's step 1).
        T, beta_start, beta_end: the number of steps and the linear schedule's end points; the cosine
            schedule (s = 0.008) depends on T only.
        fig: figure to draw into (it is cleared); default a new one.
        highlight: "both", "linear" or "cosine": the schedule drawn strongly (the other is faded).
        noise: the eps (H, W) to use; default standard normal noise drawn with `seed`.
    Returns:
        the figure; axes labelled "alphabar", "log snr", "image", "linear", "cosine" (`ax.get_label()`).
    """
    if highlight not in HIGHLIGHTS:
        raise ValueError(f"highlight must be one of {HIGHLIGHTS}, got {highlight!r}")
    x0 = _one_image(image)  # (H, W)
    H, W = x0.shape
    if noise is None:
        noise = torch.randn(H, W, generator=torch.Generator().manual_seed(int(seed))).numpy()
    noise = _to_numpy(noise, "noise")
    if noise.size != H * W:
        raise ValueError(f"noise must have the image's shape ({H}, {W}), got shape {tuple(noise.shape)}")
    noise = noise.reshape(H, W)
    alphabars = schedule_alphabars(T, beta_start, beta_end)  # checks T and the betas
    t = _check_step(t, T)
    steps = np.arange(T)

    fig = _new_or_cleared(fig, figsize=(10.0, 6.0))
    grid = fig.add_gridspec(2, 6, height_ratios=[1.2, 1.0])
    ax_ab = fig.add_subplot(grid[0, :3], label="alphabar")
    ax_snr = fig.add_subplot(grid[0, 3:], label="log snr")
    for kind, ab in alphabars.items():
        strong = highlight in ("both", kind)
        style = dict(color=SCHEDULE_COLOURS[kind], alpha=1.0 if strong else 0.3, linewidth=2.0 if strong else 1.0)
        log_snr = np.log(ab) - np.log1p(-ab)  # log(alphabar / (1 - alphabar))
        ax_ab.plot(steps, ab, label=kind, **style)
        ax_snr.plot(steps, log_snr, label=kind, **style)
        marker = dict(marker="o", color=SCHEDULE_COLOURS[kind], markeredgecolor="white", linestyle="none",
                      alpha=style["alpha"], zorder=5)
        ax_ab.plot([t], [ab[t]], **marker)
        ax_snr.plot([t], [log_snr[t]], **marker)
    for ax, ylabel in ((ax_ab, r"$\bar\alpha_t$"), (ax_snr, r"log SNR $= \log \bar\alpha_t / (1 - \bar\alpha_t)$")):
        ax.axvline(t, color="0.5", linestyle="--", linewidth=1)
        ax.set_xlabel("step t")
        ax.set_ylabel(ylabel)
        ax.set_xlim(0, T - 1)
        ax.legend(loc="upper right", fontsize="small")
    ax_snr.axhline(0.0, color="0.8", linewidth=1, zorder=0)  # SNR = 1
    ax_ab.set_ylim(-0.02, 1.02)
    ax_ab.set_title("signal kept")
    ax_snr.set_title("signal-to-noise ratio")

    vmin, vmax = DATA_RANGE
    ax = fig.add_subplot(grid[1, :2], label="image")
    ax.imshow(x0, cmap="gray_r", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title("$x_0$")
    _no_ticks(ax)
    for col, (kind, ab) in zip((2, 4), alphabars.items()):
        ax = fig.add_subplot(grid[1, col : col + 2], label=kind)
        noised = np.sqrt(ab[t]) * x0 + np.sqrt(1 - ab[t]) * noise  # x_t = sqrt(ab) x_0 + sqrt(1 - ab) eps
        ax.imshow(noised, cmap="gray_r", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(rf"{kind}: $\bar\alpha_t$ = {ab[t]:.3f}", color=SCHEDULE_COLOURS[kind])
        _no_ticks(ax)
        if highlight == kind:
            for spine in ax.spines.values():
                spine.set_color(SCHEDULE_COLOURS[kind])
                spine.set_linewidth(3)
    fig.suptitle(f"forward process at t = {t} (T = {T})")
    return fig


def schedule_explorer(
    image: Any, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02, t: int | None = None, seed: int = 0
) -> Explorer:
    """Move t (and T, the linear schedule's betas) and watch an image drown in noise under both schedules.

    Args:
        image: one image (H, W), (1, H, W) or (1, 1, H, W) in [-1, 1].
        T, beta_start, beta_end: initial values of the controls.
        t: initial step; default T // 4.
        seed: seeds the one noise image eps, fixed while the controls move.
    Returns:
        Explorer with controls "t", "T", "beta_start", "beta_end" and "highlight"; t's range follows T.
    """
    x0 = _one_image(image)
    schedule_alphabars(T, beta_start, beta_end)  # check the initial values
    if not 1e-5 <= beta_start <= 1e-3 or not 1e-3 <= beta_end <= 0.3:
        raise ValueError(f"expected 1e-5 <= beta_start <= 1e-3 <= beta_end <= 0.3 (the sliders' ranges), "
                         f"got beta_start={beta_start!r}, beta_end={beta_end!r}")
    if not 10 <= T <= 4000:
        raise ValueError(f"T must lie in 10 .. 4000 (the slider's range), got {T!r}")
    t = T // 4 if t is None else _check_step(t, T)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(int(seed))).numpy()

    def render(t: int, T: int, beta_start: float, beta_end: float, highlight: str) -> Figure:
        return render_schedules(x0, min(t, T - 1), T, beta_start, beta_end, highlight=highlight, noise=noise)

    slider = dict(continuous_update=False, style={"description_width": "initial"})
    controls = {
        "t": widgets.IntSlider(value=t, min=0, max=T - 1, description="t", **slider),
        "T": widgets.IntSlider(value=T, min=10, max=4000, step=10, description="T", **slider),
        # ranges that never cross, so beta_start <= beta_end always holds
        "beta_start": widgets.FloatLogSlider(value=beta_start, base=10, min=-5, max=-3, step=0.1,
                                             description="beta_start", readout_format=".1e", **slider),
        "beta_end": widgets.FloatLogSlider(value=beta_end, base=10, min=-3, max=math.log10(0.3), step=0.05,
                                           description="beta_end", readout_format=".3f", **slider),
        "highlight": widgets.Dropdown(options=list(HIGHLIGHTS), value="both", description="highlight"),
    }

    def follow_T(change: dict) -> None:  # registered before the redraw, so t is in range when it runs
        controls["t"].max = change["new"] - 1  # ipywidgets clamps t's value to the new max

    controls["T"].observe(follow_T, names="value")
    return Explorer(render, controls)


def _check_trajectory(trajectory: Any) -> tuple[Any, Any, Any, str]:
    """Validate a diffusion.Trajectory (ts (S,), xs (S+1, B, ...), x0s (S, B, ...)); return its parts and kind."""
    try:
        ts, xs, x0s = trajectory.ts, trajectory.xs, trajectory.x0s
    except AttributeError as err:
        raise ValueError(
            f"trajectory must be a diffusion.Trajectory (ts, xs, x0s), got {type(trajectory).__name__}"
            " (pass return_trajectory=True to sample or ddim_sample)"
        ) from err
    S = len(ts)
    shape, est = tuple(xs.shape), tuple(x0s.shape)
    if S < 1 or len(shape) < 3 or shape[0] != S + 1 or est != (S, *shape[1:]):
        raise ValueError(
            f"trajectory must hold ts (S,), xs (S+1, B, ...) and x0s (S, B, ...), "
            f"got ts of length {S}, xs {shape}, x0s {est}"
        )
    if len(shape) == 3 and shape[2] == 2:
        kind = "points"
    elif len(shape) == 4 or (len(shape) == 5 and shape[2] == 1):
        kind = "images"
    else:
        raise ValueError(
            f"trajectory.xs must be 2-D points (S+1, B, 2) or grayscale images (S+1, B, 1, H, W), got shape {shape}"
        )
    return ts, xs, x0s, kind


def _step_label(ts: Any, index: int) -> str:
    return "final sample" if index == len(ts) else f"t = {int(ts[index])}"


def _trajectory_lim(xs: Any, reference: Any = None) -> tuple[float, float, float, float]:
    """A fixed view for a points trajectory: the box of x_T, the final samples (and the reference) + 10%."""
    parts = [_to_numpy(xs[0], "xs"), _to_numpy(xs[-1], "xs")]
    if reference is not None:
        parts.append(_check_points(reference, "reference"))
    return _auto_lim(np.concatenate(parts))


def render_reverse(
    trajectory: Any,
    index: int,
    fig: Figure | None = None,
    n: int = 8,
    lim: Sequence[float] | None = None,
    reference: Any = None,
    value_range: Sequence[float] = DATA_RANGE,
) -> Figure:
    """Draw one frame of a reverse-diffusion trajectory: the state x_t and the network's estimate of x_0.

    Images: a row of x_t for the first n examples and a row of the x_0 estimates at that step. 2-D
    points: the cloud x_t and the cloud of x_0 estimates side by side, with the same fixed view for
    every frame. The last frame (index S) is the final sample (next to the last estimate).

    Args:
        trajectory: a diffusion.Trajectory with ts (S,), xs (S+1, B, 1, H, W) or (S+1, B, 2), x0s (S, B, ...).
        index: the frame, 0 (t = T-1, pure noise) .. S (the final sample).
        fig: figure to draw into (it is cleared); default a new one.
        n: images shown per row.
        lim: (xmin, xmax, ymin, ymax) view for points; default the box of x_T, the samples and reference.
        reference: optional (N, 2) data points drawn faintly behind the clouds.
        value_range: the images' data range, drawn from white to black (default [-1, 1]).
    Returns:
        the figure; axes labelled "x_t" and "x0_hat" (`ax.get_label()`).
    """
    ts, xs, x0s, kind = _check_trajectory(trajectory)
    S = len(ts)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index <= S:
        raise ValueError(f"index must be an integer frame in 0 .. {S} (S = {S} recorded steps + the sample), got {index!r}")
    index = int(index)
    est = min(index, S - 1)  # the final sample comes with the last estimate
    state = _to_numpy(xs[index], "xs")  # (B, ...)
    x0_hat = _to_numpy(x0s[est], "x0s")
    label = _step_label(ts, index)
    if index == S:
        title = f"final sample $x_0$ (after the last step, t = {int(ts[-1])})"
        names = ("sample $x_0$", rf"last estimate $\hat x_0$ (t = {int(ts[-1])})")
    else:
        title = f"reverse process at {label} (frame {index + 1} of {S + 1})"
        names = ("$x_t$", r"estimate $\hat x_0$")

    if kind == "images":
        if int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer (images per row), got {n!r}")
        rows = [_to_unit(as_image_array(a)[: int(n)], value_range) for a in (state, x0_hat)]  # (n, H, W) in [0, 1]
        fig = _new_or_cleared(fig, figsize=(min(16.0, 1.5 + 1.0 * rows[0].shape[0]), 3.2))
        axes = fig.subplots(2, 1)
        for ax, row, name, ax_label in zip(axes, rows, names, ("x_t", "x0_hat")):
            ax.set_label(ax_label)
            ax.imshow(image_grid(row, nrow=row.shape[0]), cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
            _no_ticks(ax)
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_ylabel(name, rotation=0, ha="right", va="center")
            ax.set_anchor("W")
    else:
        xmin, xmax, ymin, ymax = _trajectory_lim(xs, reference) if lim is None else _check_lim(lim)
        ref = None if reference is None else _check_points(reference, "reference")
        fig = _new_or_cleared(fig, figsize=(9.0, 4.4))
        axes = fig.subplots(1, 2, sharex=True, sharey=True)
        for ax, cloud, name, ax_label, colour in zip(axes, (state, x0_hat), names, ("x_t", "x0_hat"),
                                                     ("tab:blue", "tab:green")):
            ax.set_label(ax_label)
            if ref is not None:
                ax.scatter(ref[:, 0], ref[:, 1], s=3, color="0.8", linewidths=0, zorder=0)
            ax.scatter(cloud[:, 0], cloud[:, 1], s=4, color=colour, alpha=0.7, linewidths=0)
            ax.set_xlim(xmin, xmax)
            ax.set_ylim(ymin, ymax)
            ax.set_aspect("equal")
            ax.set_title(name)
    fig.suptitle(title)
    return fig


def reverse_explorer(
    trajectory: Any,
    n: int = 8,
    reference: Any = None,
    lim: Sequence[float] | None = None,
    value_range: Sequence[float] = DATA_RANGE,
) -> Explorer:
    """Step through a recorded reverse process, from t = T-1 (noise) down to the final sample.

    Args:
        trajectory: a diffusion.Trajectory (`sample(..., return_trajectory=True, every=k)`).
        n, reference, lim, value_range: as in `render_reverse`; lim defaults to one view for all frames.
    Returns:
        Explorer with one control "index": a slider over the frames, labelled by t.
    """
    ts, xs, x0s, kind = _check_trajectory(trajectory)
    if kind == "points":
        lim = _trajectory_lim(xs, reference) if lim is None else _check_lim(lim)
        reference = None if reference is None else _check_points(reference, "reference")
    options = [(_step_label(ts, i), i) for i in range(len(ts) + 1)]

    def render(index: int) -> Figure:
        return render_reverse(trajectory, index, n=n, lim=lim, reference=reference, value_range=value_range)

    controls = {
        "index": widgets.SelectionSlider(options=options, value=0, description="step", continuous_update=False,
                                         layout=widgets.Layout(width="500px")),
    }
    return Explorer(render, controls)


def forward_chain(points: Any, diffusion: Any, ts: Sequence[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the forward process on 2-D points step by step, x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps,
    keeping the states at the steps ts.

    Args:
        points: (N, 2) data x_0 (the first step, t = 0, noises it once).
        diffusion: a diffusion.GaussianDiffusion.
        ts: the steps to keep, each in 0 .. T-1.
        seed: seeds the noise of every step.
    Returns:
        (ts (K,) sorted unique int64, xs (K, N, 2) float32): xs[k] is x_t at t = ts[k].
    """
    x = torch.from_numpy(_check_points(points, "points").copy())  # (N, 2) float32
    keep = sorted({_check_step(t, diffusion.T) for t in ts})
    if not keep:
        raise ValueError("ts must name at least one step to keep")
    g = torch.Generator().manual_seed(int(seed))
    kept = []
    for t in range(keep[-1] + 1):
        x = diffusion.q_step(x, t, torch.randn(x.shape, generator=g))
        if t == keep[len(kept)]:
            kept.append(x.clone())
    return torch.tensor(keep), torch.stack(kept)


def _toy_lim(points: np.ndarray) -> tuple[float, float, float, float]:
    """A square view holding the data and N(0, I) out to 3.5 sigma."""
    r = max(3.5, 1.1 * float(np.abs(points).max()))
    return -r, r, -r, r


def render_forward_toy(
    points: Any,
    diffusion: Any,
    t: int,
    fig: Figure | None = None,
    chain: tuple[Any, Any] | None = None,
    seed: int = 0,
    lim: Sequence[float] | None = None,
) -> Figure:
    """Draw the cloud x_t of the forward process on 2-D data at step t, over the contours of N(0, I).

    Args:
        points: (N, 2) data x_0 (drawn faintly for reference).
        diffusion: a diffusion.GaussianDiffusion.
        t: 0-based step in 0 .. T-1.
        fig: figure to draw into (it is cleared); default a new one.
        chain: (ts, xs) from `forward_chain` holding step t; default run the chain (with `seed`) up to t.
        lim: (xmin, xmax, ymin, ymax) view; default a square holding the data and 3.5 sigma of N(0, I).
    Returns:
        the figure; axes labelled "forward" (the cloud) and "alphabar" (the schedule, marker at t).
    """
    x0 = _check_points(points, "points")
    t = _check_step(t, diffusion.T)
    if chain is None:
        chain = forward_chain(x0, diffusion, [t], seed=seed)
    ts, xs = chain
    where = np.flatnonzero(np.asarray(ts) == t)
    if where.size == 0:
        raise ValueError(f"t = {t} is not a step kept in the chain (it holds {len(ts)} steps, {int(ts[0])} .. {int(ts[-1])})")
    xt = _to_numpy(xs[int(where[0])], "chain xs")
    if xt.shape != x0.shape:
        raise ValueError(f"the chain's states must have the points' shape {x0.shape}, got {xt.shape}")
    xmin, xmax, ymin, ymax = _toy_lim(x0) if lim is None else _check_lim(lim)
    ab = diffusion.alphabar.numpy()

    fig = _new_or_cleared(fig, figsize=(9.0, 4.6))
    grid = fig.add_gridspec(1, 2, width_ratios=[1.4, 1.0])
    ax = fig.add_subplot(grid[0, 0], label="forward")
    plot_prior_contours(ax)
    ax.scatter(x0[:, 0], x0[:, 1], s=3, color="0.75", linewidths=0, label="data $x_0$", zorder=1)
    ax.scatter(xt[:, 0], xt[:, 1], s=4, color="tab:blue", alpha=0.7, linewidths=0, label="$x_t$", zorder=2)
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize="small", markerscale=3)
    ax.set_title(rf"$x_t$ at t = {t}: $\bar\alpha_t$ = {ab[t]:.3f}, dashed: N(0, I)")

    ax2 = fig.add_subplot(grid[0, 1], label="alphabar")
    steps = np.arange(diffusion.T)
    ax2.plot(steps, ab, color="tab:blue", label=r"$\bar\alpha_t$ (signal)")
    ax2.plot(steps, 1 - ab, color="tab:red", label=r"$1 - \bar\alpha_t$ (noise)")
    ax2.plot([t], [ab[t]], marker="o", color="tab:blue", linestyle="none", zorder=5)
    ax2.axvline(t, color="0.5", linestyle="--", linewidth=1)
    ax2.set_xlabel("step t")
    ax2.set_ylabel("variance")
    ax2.set_ylim(-0.02, 1.02)
    ax2.legend(loc="center right", fontsize="small")
    ax2.set_title("what is left of the data")
    return fig


def forward_explorer(points: Any, diffusion: Any, steps: int = 50, seed: int = 0,
                     lim: Sequence[float] | None = None) -> Explorer:
    """Slide t and watch 2-D data diffuse into N(0, I), one noising step after the other.

    The chain x_0 -> x_1 -> ... is run once (seeded), keeping `steps` states evenly spread over
    0 .. T-1, so every frame continues the same noise path.

    Args:
        points: (N, 2) data. diffusion: a diffusion.GaussianDiffusion.
        steps: the number of kept steps (slider positions), 2 .. T.
        seed: seeds the chain's noise. lim: as in `render_forward_toy`.
    Returns:
        Explorer with one control "t" (a slider over the kept steps).
    """
    x0 = _check_points(points, "points")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 2 <= steps <= diffusion.T:
        raise ValueError(f"steps must be an integer in 2 .. {diffusion.T} (T), got {steps!r}")
    keep = np.unique(np.linspace(0, diffusion.T - 1, int(steps)).round().astype(int)).tolist()
    chain = forward_chain(x0, diffusion, keep, seed=seed)
    lim = _toy_lim(x0) if lim is None else _check_lim(lim)

    def render(t: int) -> Figure:
        return render_forward_toy(x0, diffusion, t, chain=chain, lim=lim)

    controls = {
        "t": widgets.SelectionSlider(options=[(str(t), t) for t in keep], value=keep[0], description="t",
                                     continuous_update=False, layout=widgets.Layout(width="500px")),
    }
    return Explorer(render, controls)
