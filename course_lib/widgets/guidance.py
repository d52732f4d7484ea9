"""Lesson 07's widgets: classifier-free guidance at a scale, and the scale factor of latent diffusion.

The guidance explorer samples afresh on every change through a `sample(label, scale, steps, seed, n)`
callable (the notebook's closure over a trained network) and scores the samples with a digits
classifier `classify(images) -> probs`; `render_guidance_sweep` is its static twin, a precomputed grid
of samples per guidance scale. The latent-scaling widget compares the training set's latents before
and after the scale factor (1 / std), and decodes pure N(0, I) noise with and without dividing by it.
Images are grayscale digits in [0, 1], drawn dark on white with a thin grey frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..core import validation as check
from ..core.devices import one_thread
from ..viz import decode_images, image_grid
from .explorer import Explorer, new_or_cleared

Sample = Callable[[int, float, int, int, int], torch.Tensor]  # (label, scale, steps, seed, n) -> (n, 1, H, W)
Classify = Callable[[torch.Tensor], torch.Tensor]  # images (n, 1, H, W) -> class probabilities (n, K)
Decode = Callable[[torch.Tensor], torch.Tensor]  # unscaled latents (M, d) -> images (M, 1, H, W)

WRONG = "tab:red"  # a sample the classifier puts in another class
FRAME = "0.6"  # the thin frame around each image
PER_ROW = 8  # images per row of the guidance grid
MAX_SAMPLES = 32


def _images(x: Any, name: str) -> np.ndarray:
    """Grayscale images (n, 1, H, W) or (n, H, W) as a float32 array (n, H, W)."""
    arr = check.to_numpy(x, name)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise check.invalid(name, "grayscale images of shape (n, 1, H, W) or (n, H, W), n >= 1", f"shape {arr.shape}")
    return arr


def _probs(p: Any, n: int, name: str) -> np.ndarray:
    """Class probabilities (n, K), K >= 2, one row per image, each row a distribution."""
    arr = check.to_numpy(p, name)
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 2:
        raise check.invalid(name, f"class probabilities of shape ({n}, K), one row per image", f"shape {arr.shape}")
    if not (np.isfinite(arr).all() and arr.min() >= 0 and np.allclose(arr.sum(1), 1.0, atol=1e-2)):
        raise check.invalid(name, "probabilities (rows of non-negative numbers summing to 1)",
                            f"rows summing to {float(arr.sum(1).min()):.3g} .. {float(arr.sum(1).max()):.3g}",
                            " (pass softmax(logits), not the logits)")
    return arr


def _fmt_scale(s: float) -> str:
    """2 -> "2.0", 1.5 -> "1.5", 0.25 -> "0.25"."""
    return f"{s:.1f}" if round(s, 1) == s else f"{s:g}"


# ----------------------------------------------------------------------------- guidance at one scale
def render_guidance(images: Any, probs: Any, label: int, scale: float, steps: int | None = None,
                    fig: Figure | None = None) -> Figure:
    """Samples of one class at one guidance scale, each titled with the classifier's confidence in that class.

    The samples are drawn as one mosaic image in one axes (8 per row), not one axes each: the guidance
    explorer redraws this figure on every change, and sixteen axes cost four times as long to draw and
    encode as one.

    Args:
        images: (n, 1, H, W) or (n, H, W) in [0, 1], sampled for class `label` (n <= 32; 8 per row).
        probs: (n, K) the classifier's class probabilities for them.
        label: the intended class. scale: the guidance scale s. steps: the DDIM steps (None: not said).
        fig: figure to draw into (it is cleared); default a new one.
    Returns:
        the figure, with one axes labelled "samples" showing the mosaic. Sample k's tile is framed by the
        rectangle ax.patches[k] (its bounds are the tile's pixels) and titled by ax.texts[k] (gid
        "sample k") with p(label | x) ("0.97"); a sample whose most likely class is another one gets a red
        title "0.12 →5" and a thick red frame. The suptitle gives the mean confidence and how many samples
        are classified as `label`.
    """
    x = _images(images, "images")
    n, H, W = x.shape
    if n > MAX_SAMPLES:
        raise check.invalid("images", f"at most {MAX_SAMPLES} samples", n)
    p = _probs(probs, n, "probs")
    K = p.shape[1]
    label = check.integer(label, "label", 0, K - 1, what="an integer class", hint=f" ({K} classes in probs)")
    scale = check.number(scale, "scale")
    if steps is not None:
        steps = check.integer(steps, "steps", lo=1)
    conf, top = p[:, label], p.argmax(1)
    right = int((top == label).sum())

    cols, rows = min(n, PER_ROW), math.ceil(n / PER_ROW)
    gap, band = max(1, round(W / 4)), max(2, round(0.45 * H))  # between tiles; above each tile, for its title
    step_x, step_y = W + gap, H + band
    mosaic = np.zeros((rows * step_y, cols * step_x - gap), dtype=np.float32)  # 0: white under gray_r
    fig = new_or_cleared(fig, figsize=(0.95 * cols + 0.4, 1.05 * rows + 0.45))
    ax = fig.add_subplot(label="samples")
    for k in range(n):
        r, c = divmod(k, PER_ROW)
        x0, y0 = c * step_x, r * step_y + band
        mosaic[y0:y0 + H, x0:x0 + W] = x[k]
        ok = top[k] == label
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), W, H, fill=False, edgecolor=FRAME if ok else WRONG,
                               linewidth=0.8 if ok else 2.0, clip_on=False))
        ax.text(x0 + W / 2 - 0.5, y0 - 0.5 - 0.15 * band, f"{conf[k]:.2f}" if ok else f"{conf[k]:.2f} →{top[k]}",
                ha="center", va="bottom", fontsize="small", color="black" if ok else WRONG, gid=f"sample {k}")
    ax.imshow(mosaic, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    said = f", {steps} DDIM steps" if steps is not None else ""
    fig.suptitle(f"class {label}, s = {_fmt_scale(scale)}{said}: mean confidence {conf.mean():.2f}, "
                 f"{right}/{n} classified as {label}", fontsize="medium")
    return fig


def guidance_explorer(
    sample: Sample,
    classify: Classify,
    scales: Sequence[float] = (0, 1, 1.5, 2, 3, 5),
    steps: Sequence[int] = (5, 10, 20, 50),
    classes: int = 10,
    n: int = 8,
    label: int = 0,
    scale: float = 1.0,
    step: int = 20,
    seed: int = 0,
) -> Explorer:
    """Choose a class, a guidance scale, a number of DDIM steps and a noise seed; see fresh samples, scored.

    Every change calls `sample(label, scale, steps, seed, n)` and `classify` on the tensor it returns (under
    no_grad, on one torch CPU thread: faster for these small batches while the browser shares the cores),
    and draws them with `render_guidance`; the last 64 results are kept, so going back to a setting is
    instant. The default n = 8 keeps a 50-step change of lesson 07's U-Net within 2 s on a 2-core CPU.

    Args:
        sample: (label: int, scale: float, steps: int, seed: int, n: int) -> images (n, 1, H, W) in [0, 1].
        classify: images (n, 1, H, W) -> class probabilities (n, K).
        scales, steps: the guidance scales and DDIM step counts offered (each slider runs through them in order).
        classes: the number of classes offered (0 .. classes - 1). n: samples drawn per change (1 .. 32).
        label, scale, step, seed: the initial values (scale in scales, step in steps, seed in 0 .. 9).
    Returns:
        Explorer with controls "label" ("class"), "scale" ("guidance scale"), "steps" ("DDIM steps") and
        "seed" ("noise seed").
    """
    for name, f in (("sample", sample), ("classify", classify)):
        if not callable(f):
            raise check.invalid(name, "a callable", type(f).__name__)
    try:
        scales = sorted({check.number(s, "each scale", lo=0.0) for s in scales})
        steps = sorted({check.integer(s, "each entry of steps", lo=1) for s in steps})
    except TypeError as err:
        raise check.invalid("scales and steps", "sequences of numbers", "something else") from err
    if not scales or not steps:
        raise check.invalid("scales and steps", "non-empty sequences", f"{len(scales)} scales and {len(steps)} steps")
    classes = check.integer(classes, "classes", lo=2)
    label = check.integer(label, "label", 0, classes - 1, what="an integer class")
    check.choice(check.number(scale, "scale"), "scale", scales)
    check.choice(check.integer(step, "step", lo=1), "step", steps)
    n = check.integer(n, "n", 1, MAX_SAMPLES, hint=" (samples per change)")
    seed = check.integer(seed, "seed", 0, 9, what="an integer seed")
    cache: dict[tuple[int, float, int, int], tuple[np.ndarray, np.ndarray]] = {}

    def render(label: int, scale: float, steps: int, seed: int) -> Figure:
        key = (int(label), float(scale), int(steps), int(seed))
        if key not in cache:
            # One thread: for these 8-32 tiny images a second one gains nothing (lesson 07's U-Net at batch 32:
            # 20 ms per forward on one thread or two), and while JupyterLab and the browser share the two
            # cores each parallel region waits for the thread that is not running (a 50-step change of 16
            # samples took 4.7 s in the browser on two threads, 1.6 s on one: benchmarks/widget_latency.py 07).
            with torch.no_grad(), one_thread():
                out = sample(*key, n)
                images = _images(out, "sample(label, scale, steps, seed, n)")
                if images.shape[0] != n:
                    raise check.invalid("sample(label, scale, steps, seed, n)", f"{n} images", images.shape[0])
                # classify gets sample's tensor as it came (on its device), else the images as a CPU tensor
                batch = out if isinstance(out, torch.Tensor) and out.ndim == 4 else torch.from_numpy(images[:, None])
                probs = _probs(classify(batch), n, "classify(images)")
            if len(cache) >= 64:
                cache.pop(next(iter(cache)))
            cache[key] = images, probs
        images, probs = cache[key]
        return render_guidance(images, probs, label, scale, steps)

    style = {"description_width": "initial"}
    slider = dict(continuous_update=False, style=style)
    controls = {
        "label": widgets.Dropdown(options=list(range(classes)), value=label, description="class", style=style,
                                  layout=widgets.Layout(width="130px")),
        "scale": widgets.SelectionSlider(options=[(f"{s:g}", s) for s in scales], value=float(scale),
                                         description="guidance scale", **slider),
        "steps": widgets.SelectionSlider(options=[(str(s), s) for s in steps], value=int(step),
                                         description="DDIM steps", **slider),
        "seed": widgets.IntSlider(value=seed, min=0, max=9, description="noise seed", **slider),
    }
    return Explorer(render, controls)


# ----------------------------------------------------------------------------- the static sweep
def render_guidance_sweep(samples: Mapping[float, Any], labels: Any, probs: Mapping[float, Any], per_row: int = 20,
                          fig: Figure | None = None) -> Figure:
    """One row of samples per guidance scale (ascending), with the classifier's accuracy at the right.

    Args:
        samples: {scale: images (n, 1, H, W)}, the same n intended classes at every scale.
        labels: (n,) the intended classes.
        probs: {scale: (n, K)} the classifier's probabilities for those images (the same scales).
        per_row: images shown per row (the first per_row of the n).
        fig: figure to draw into (it is cleared); default a new one.
    Returns:
        the figure: one axes per scale, labelled "s = 1.5", with "s = 1.5" at its left and "acc 0.99" (the
        share of all n samples whose most likely class is the intended one) at its right; the shown samples
        classified as another class are framed red.
    """
    if not isinstance(samples, Mapping) or not samples:
        raise check.invalid("samples", "a non-empty dict {scale: images (n, 1, H, W)}", type(samples).__name__)
    if not isinstance(probs, Mapping) or set(probs) != set(samples):
        got = sorted(probs) if isinstance(probs, Mapping) else type(probs).__name__
        raise check.invalid("probs", f"a dict with the scales of samples {sorted(samples)}", got)
    per_row = check.integer(per_row, "per_row", lo=1, hint=" (images per row)")
    y = np.asarray(check.to_numpy(labels, "labels"))
    rows = []
    for s in sorted(samples):
        x = _images(samples[s], f"samples[{s!r}]")
        n = x.shape[0]
        if y.shape != (n,):
            raise check.invalid("labels", f"of shape ({n},), one intended class per sample", f"shape {y.shape}")
        p = _probs(probs[s], n, f"probs[{s!r}]")
        if y.min() < 0 or y.max() >= p.shape[1] or not np.all(y == np.round(y)):
            raise check.invalid("labels", f"integer classes in 0 .. {p.shape[1] - 1}", f"values {y.min():g} .. {y.max():g}")
        wrong = p.argmax(1) != y
        rows.append((check.number(s, "each scale of samples"), x[:per_row], wrong[:per_row], 1.0 - wrong.mean()))

    width = max(r[1].shape[0] for r in rows)
    H, W = rows[0][1].shape[1:]
    fig = new_or_cleared(fig, figsize=(min(16.0, 1.8 + 0.42 * width), 0.42 * len(rows) * H / W + 0.7))
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (s, x, wrong, acc) in zip(axes, rows):
        name = f"s = {_fmt_scale(s)}"
        ax.set_label(name)
        h, w = x.shape[1:]
        ax.imshow(image_grid(x, nrow=x.shape[0]), cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        for k in np.flatnonzero(wrong):  # over the tile's grey border (pad 1)
            ax.add_patch(Rectangle((k * (w + 1) - 0.5, -0.5), w + 2, h + 2, fill=False, edgecolor=WRONG, linewidth=1.5))
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        ax.text(1.01, 0.5, f"acc {acc:.2f}", transform=ax.transAxes, ha="left", va="center")
        ax.set_anchor("W")
    fig.suptitle(f"samples per guidance scale (accuracy over {len(y)} samples; red: classified as another digit)",
                 fontsize="medium")
    return fig


# ----------------------------------------------------------------------------- latent statistics and the scale
def _latents(latents: Any) -> np.ndarray:
    z = check.to_numpy(latents, "latents")
    if z.ndim != 2 or z.shape[0] < 2 or z.shape[1] < 1:
        raise check.invalid("latents", "the unscaled encodings of the training set, of shape (N, d), N >= 2",
                            f"shape {z.shape}", " (flatten spatial latents first: z.flatten(1))")
    return z


def _histogram(ax: Axes, values: np.ndarray, r: float, colour: str, title: str) -> None:
    """Density histogram of values over [-r, r] with the N(0, 1) density drawn over it."""
    edges = np.linspace(-r, r, 61)
    counts, _ = np.histogram(values, bins=edges)
    density = counts / max(values.size, 1) / (edges[1] - edges[0])
    ax.stairs(density, edges, fill=True, color=colour, alpha=0.6, label="latents")
    grid = np.linspace(-r, r, 300)
    ax.plot(grid, np.exp(-grid ** 2 / 2) / math.sqrt(2 * math.pi), color="black", linewidth=1.2, label="N(0, 1)")
    outside = int((np.abs(values) > r).sum())
    if outside:
        ax.plot([], [], " ", label=f"{outside} beyond ±{r:.3g}")
    ax.set_xlim(-r, r)
    ax.set_ylim(0, max(0.45, float(density.max())) * 1.08)
    ax.set_xlabel("value")
    ax.legend(loc="upper right", fontsize="x-small")
    ax.set_title(title, fontsize="medium")


def render_latent_scaling(latents: Any, scale: float, decode: Decode, dim: int | None = None, divide: bool = True,
                          n_noise: int = 16, seed: int = 0, fig: Figure | None = None) -> Figure:
    """The latents before and after the scale factor, and pure noise decoded with or without dividing by it.

    Args:
        latents: (N, d) the training set's UNSCALED encodings. scale: the factor (1 / std of all their entries).
        decode: unscaled latents (M, d) -> images (M, 1, H, W) in [0, 1].
        dim: the latent dimension whose values are histogrammed; None: every entry.
        divide: decode eps / scale (right) or eps itself (forgot to divide).
        n_noise: noise codes eps ~ N(0, I) drawn (torch.Generator seeded by `seed`); shown 8 per row.
        fig: figure to draw into (it is cleared); default a new one.
    Returns:
        the figure; axes labelled "unscaled", "scaled" (histograms over one x-range, the N(0, 1) density
        drawn over each, the std in the title) and "noise" (the decoded noise).
    """
    z = _latents(latents)
    scale = check.number(scale, "scale", 0.0, lo_open=True, hint=" (1 / std of the latents)")
    d = z.shape[1]
    if dim is not None:
        dim = check.integer(dim, "dim", 0, d - 1, what="a latent dimension (or None for all)")
    n_noise = check.integer(n_noise, "n_noise", 1, 64, hint=" (noise codes decoded)")
    seed = check.integer(seed, "seed", lo=0)
    if not callable(decode):
        raise check.invalid("decode", "a callable (M, d) -> images (M, 1, H, W)", type(decode).__name__)
    values = z.ravel() if dim is None else z[:, dim]
    scaled = values * scale
    # one x-range for both, wide enough for N(0, 1) and for all but the extreme 0.5 % of each
    r = 1.05 * max(3.8, float(np.percentile(np.abs(values), 99.5)), float(np.percentile(np.abs(scaled), 99.5)))
    which = "every entry" if dim is None else f"dimension {dim}"

    eps = torch.randn(n_noise, d, generator=torch.Generator().manual_seed(seed))
    images = decode_images(decode, eps / scale if divide else eps)

    fig = new_or_cleared(fig, figsize=(12.0, 3.3))
    grid = fig.add_gridspec(1, 3, width_ratios=[1.0, 1.0, 1.35])
    ax = fig.add_subplot(grid[0, 0], label="unscaled")
    _histogram(ax, values, r, "tab:orange", f"(a) unscaled latents, {which}: std {values.std():.3g}")
    ax.set_ylabel("density")
    ax = fig.add_subplot(grid[0, 1], label="scaled", sharex=ax)
    _histogram(ax, scaled, r, "tab:blue", f"(b) latents × scale ({scale:.3g}): std {scaled.std():.2f}")
    ax = fig.add_subplot(grid[0, 2], label="noise")
    ax.imshow(image_grid(images, nrow=min(8, n_noise)), cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if divide:
        title = "(c) decode(z / scale), z ~ N(0, I): right"
    else:
        title = "(c) decode(z), z ~ N(0, I): forgot to divide"
    ax.set_title(title, fontsize="medium", color="black" if divide else WRONG)
    fig.suptitle(f"the scale factor: latents of std 1 for the diffusion model, divided back out before decoding "
                 f"(noise seed {seed})", fontsize="medium")
    return fig


def latent_scaling_explorer(latents: Any, scale: float, decode: Decode, n_noise: int = 16) -> Explorer:
    """Choose a latent dimension (or all), whether decoded noise is divided by the scale, and a noise seed.

    Returns:
        Explorer over `render_latent_scaling` with controls "dim" ("dimension": "all", 0 .. d-1), "divide"
        ("decode noise": "z / scale (right)" or "z (forgot the scale)") and "seed" ("noise seed", 0 .. 99).
    """
    z = _latents(latents)
    scale = check.number(scale, "scale", 0.0, lo_open=True, hint=" (1 / std of the latents)")
    n_noise = check.integer(n_noise, "n_noise", 1, 64, hint=" (noise codes decoded)")
    if not callable(decode):
        raise check.invalid("decode", "a callable (M, d) -> images (M, 1, H, W)", type(decode).__name__)

    def render(dim: Any, divide: bool, seed: int) -> Figure:
        return render_latent_scaling(z, scale, decode, None if dim == "all" else dim, divide, n_noise, seed)

    style = {"description_width": "initial"}
    controls = {
        "dim": widgets.Dropdown(options=[("all", "all"), *((str(k), k) for k in range(z.shape[1]))], value="all",
                                description="dimension", style=style, layout=widgets.Layout(width="170px")),
        "divide": widgets.Dropdown(options=[("z / scale (right)", True), ("z (forgot the scale)", False)], value=True,
                                   description="decode noise", style=style),
        "seed": widgets.IntSlider(value=0, min=0, max=99, description="noise seed", continuous_update=False,
                                  style=style),
    }
    return Explorer(render, controls)
