"""Diffusion widgets of lesson 06: the noise schedules, the reverse-process stepper, the forward process on 2-D data.

They take a `diffusion.GaussianDiffusion` and a recorded `diffusion.Trajectory`, and draw what the
family computes (`schedule_alphabars`, `GaussianDiffusion.q_chain`). Images live in the diffusion's
data space [-1, 1] (lesson 06 scales digits x -> 2x - 1), drawn with "gray_r" from -1 (white) to 1
(black ink), so a noised image keeps the same colour scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..core import validation as check
from ..diffusion import SCHEDULES, schedule_alphabars
from ..viz import plot_prior_contours, show_image_rows
from .explorer import Explorer, Lim, auto_lim, new_or_cleared, one_image, step_slider

SCHEDULE_KINDS = SCHEDULES  # "linear", "cosine"
HIGHLIGHTS = ("both", *SCHEDULE_KINDS)
SCHEDULE_COLOURS = {"linear": "tab:blue", "cosine": "tab:orange"}
DATA_RANGE = (-1.0, 1.0)
SNR_LIM = 25.0  # the schedule explorer shows log SNR within +-SNR_LIM


def _no_ticks(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


# ----------------------------------------------------------------------------- schedules
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
    check.choice(highlight, "highlight", HIGHLIGHTS)
    x0 = one_image(image)  # (H, W)
    H, W = x0.shape
    if noise is None:
        noise = torch.randn(H, W, generator=torch.Generator().manual_seed(int(seed))).numpy()
    noise = check.to_numpy(noise, "noise")
    if noise.size != H * W:
        raise check.invalid("noise", f"of the image's shape ({H}, {W})", f"shape {tuple(noise.shape)}")
    noise = noise.reshape(H, W)
    alphabars = {kind: ab.numpy() for kind, ab in schedule_alphabars(T, beta_start, beta_end).items()}  # checks T, betas
    t = check.integer(t, "t", 0, T - 1, what="an integer step", hint=f" (T = {T})")
    steps = np.arange(T)

    fig = new_or_cleared(fig, figsize=(10.0, 6.0))
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
    # at extreme settings log SNR reaches -700 and flattens every curve: show at most +-SNR_LIM, the range
    # the usual schedules span (the cosine schedule's ends, T = 1000: +12 and -20)
    lo, hi = ax_snr.get_ylim()
    ax_snr.set_ylim(max(lo, -SNR_LIM), min(hi, SNR_LIM))
    ax_ab.set_ylim(-0.02, 1.02)
    ax_ab.set_title("signal kept")
    ax_snr.set_title("signal-to-noise ratio")

    # the images are drawn as they are (values in [-1, 1] and beyond, shown clipped), each under its own title
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
    x0 = one_image(image)
    schedule_alphabars(T, beta_start, beta_end)  # check the initial values
    check.number(beta_start, "beta_start", 1e-5, 1e-3, hint=" (the slider's range)")
    check.number(beta_end, "beta_end", 1e-3, 0.3, hint=" (the slider's range)")
    T = check.integer(T, "T", 10, 4000, hint=" (the slider's range)")
    t = T // 4 if t is None else check.integer(t, "t", 0, T - 1, what="an integer step", hint=f" (T = {T})")
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


# ----------------------------------------------------------------------------- the reverse process
def _check_trajectory(trajectory: Any) -> tuple[Any, Any, Any, str]:
    """Validate a diffusion.Trajectory (ts (S,), xs (S+1, B, ...), x0s (S, B, ...)); return its parts and kind."""
    try:
        ts, xs, x0s = trajectory.ts, trajectory.xs, trajectory.x0s
    except AttributeError as err:
        raise check.invalid("trajectory", "a diffusion.Trajectory (ts, xs, x0s)", type(trajectory).__name__,
                            " (pass return_trajectory=True to sample or ddim_sample)") from err
    S = len(ts)
    shape, est = tuple(xs.shape), tuple(x0s.shape)
    if S < 1 or len(shape) < 3 or shape[0] != S + 1 or est != (S, *shape[1:]):
        raise check.invalid("trajectory", "a Trajectory of ts (S,), xs (S+1, B, ...) and x0s (S, B, ...)",
                            f"ts of length {S}, xs {shape}, x0s {est}")
    if len(shape) == 3 and shape[2] == 2:
        kind = "points"
    elif len(shape) == 4 or (len(shape) == 5 and shape[2] == 1):
        kind = "images"
    else:
        raise check.invalid("trajectory.xs", "2-D points (S+1, B, 2) or grayscale images (S+1, B, 1, H, W)",
                            f"shape {shape}")
    return ts, xs, x0s, kind


def _step_label(ts: Any, index: int) -> str:
    return "final sample" if index == len(ts) else f"t = {int(ts[index])}"


def _trajectory_lim(xs: Any, reference: Any = None) -> Lim:
    """A fixed view for a points trajectory: the box of x_T, the final samples (and the reference) + 10%."""
    parts = [check.to_numpy(xs[0], "xs"), check.to_numpy(xs[-1], "xs")]
    if reference is not None:
        parts.append(check.points(reference, "reference"))
    return auto_lim(np.concatenate(parts))


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
    index = check.integer(index, "index", 0, S, what="an integer frame", hint=f" (S = {S} recorded steps + the sample)")
    est = min(index, S - 1)  # the final sample comes with the last estimate
    state = check.to_numpy(xs[index], "xs")  # (B, ...)
    x0_hat = check.to_numpy(x0s[est], "x0s")
    label = _step_label(ts, index)
    if index == S:
        title = f"final sample $x_0$ (after the last step, t = {int(ts[-1])})"
        names = ("sample $x_0$", rf"last estimate $\hat x_0$ (t = {int(ts[-1])})")
    else:
        title = f"reverse process at {label} (frame {index + 1} of {S + 1})"
        names = ("$x_t$", r"estimate $\hat x_0$")

    if kind == "images":
        n = check.integer(n, "n", lo=1, hint=" (images per row)")
        fig = new_or_cleared(fig, figsize=(min(11.0, 1.5 + 0.6 * min(n, state.shape[0])), 2.6))  # fits a laptop
        show_image_rows({names[0]: state, names[1]: x0_hat}, n=n, fig=fig, value_range=value_range)
        for ax, ax_label in zip(fig.axes, ("x_t", "x0_hat")):
            ax.set_label(ax_label)
    else:
        xmin, xmax, ymin, ymax = _trajectory_lim(xs, reference) if lim is None else check.lim(lim)
        ref = None if reference is None else check.points(reference, "reference")
        fig = new_or_cleared(fig, figsize=(9.0, 4.4))
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
        lim = _trajectory_lim(xs, reference) if lim is None else check.lim(lim)
        reference = None if reference is None else check.points(reference, "reference")

    def render(index: int) -> Figure:
        return render_reverse(trajectory, index, n=n, lim=lim, reference=reference, value_range=value_range)

    return Explorer(render, {"index": step_slider([(_step_label(ts, i), i) for i in range(len(ts) + 1)], "step")})


# ----------------------------------------------------------------------------- the forward process on 2-D data
def forward_chain(points: Any, diffusion: Any, ts: Sequence[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the forward process on 2-D points step by step (`GaussianDiffusion.q_chain`), keeping the states at ts.

    Args:
        points: (N, 2) data x_0 (the first step, t = 0, noises it once).
        diffusion: a diffusion.GaussianDiffusion.
        ts: the steps to keep, each in 0 .. T-1.
        seed: seeds the noise of every step.
    Returns:
        (ts (K,) sorted unique int64, xs (K, N, 2) float32): xs[k] is x_t at t = ts[k].
    """
    x = torch.from_numpy(check.points(points, "points").copy())  # (N, 2) float32
    ts = list(ts)
    if not ts:
        raise check.invalid("ts", "a list of at least one step to keep", "[]")
    return diffusion.q_chain(x, ts, torch.Generator().manual_seed(int(seed)))


def _toy_lim(points: np.ndarray) -> Lim:
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
    x0 = check.points(points, "points")
    t = check.integer(t, "t", 0, diffusion.T - 1, what="an integer step", hint=f" (T = {diffusion.T})")
    if chain is None:
        chain = forward_chain(x0, diffusion, [t], seed=seed)
    ts, xs = chain
    where = np.flatnonzero(np.asarray(ts) == t)
    if where.size == 0:
        raise check.invalid("t", f"a step kept in the chain ({len(ts)} steps, {int(ts[0])} .. {int(ts[-1])})", t)
    xt = check.to_numpy(xs[int(where[0])], "chain xs")
    if xt.shape != x0.shape:
        raise check.invalid("chain xs", f"states of the points' shape {x0.shape}", f"shape {xt.shape}")
    xmin, xmax, ymin, ymax = _toy_lim(x0) if lim is None else check.lim(lim)
    ab = diffusion.alphabar.numpy()

    fig = new_or_cleared(fig, figsize=(9.0, 4.6))
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
    x0 = check.points(points, "points")
    steps = check.integer(steps, "steps", 2, diffusion.T, hint=f" (T = {diffusion.T})")
    keep = np.unique(np.linspace(0, diffusion.T - 1, steps).round().astype(int)).tolist()
    chain = forward_chain(x0, diffusion, keep, seed=seed)
    lim = _toy_lim(x0) if lim is None else check.lim(lim)

    def render(t: int) -> Figure:
        return render_forward_toy(x0, diffusion, t, chain=chain, lim=lim)

    return Explorer(render, {"t": step_slider([(str(t), t) for t in keep], "t")})
