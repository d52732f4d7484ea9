"""Interactive latent-space widgets, each built on a pure render function.

`render_*` functions draw a whole figure for given values and return it: notebooks call them
directly for a static figure (shown without a kernel), tests check their pixels. The widgets
wire controls to a render function with `ipywidgets.interactive_output`, using only API common to
ipywidgets 7.7 (Colab) and 8.x, and redraw on every `.value` change, with or without a kernel.
Models come in as plain callables: `decode: (M, d) -> (M, 1, H, W)`, `encode: (M, 1, H, W) -> (M, d)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .viz import _check_labels, _check_lim, _check_points, _to_numpy, as_image_array, decode_images, plot_latent

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
