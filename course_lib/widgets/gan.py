"""Lesson 04's widget: the 2-D training scrubber.

A run comes in as `gan.Snapshots` (what `gan.train_gan` records every few generator steps: the
generator's samples for one fixed batch of z and, on 2-D data, the discriminator on a grid); the mode
counts come from `gan.coverage_history`. (The digit generator's latent walk is lesson 01-02's
interpolation, `latent.seed_interpolation_explorer`.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from ..core import validation as check
from ..gan import ModeCoverage, Snapshots, coverage_history
from .explorer import Explorer, new_or_cleared


def _check_run(run: Any, name: str) -> Snapshots:
    if not isinstance(run, Snapshots) or len(run) == 0:
        raise check.invalid(name, "gan.Snapshots with at least one snapshot (train_gan with snapshot_every > 0)",
                            type(run).__name__)
    if run.samples.ndim != 3 or run.samples.shape[2] != 2:
        raise check.invalid(name, "snapshots of 2-D samples (S, N, 2)", tuple(run.samples.shape))
    return run


def _surface(run: Snapshots, index: int) -> tuple[np.ndarray, str, tuple[float, float] | None]:
    """What to colour under the samples: D = sigmoid(logit) in [0, 1], or the critic's score centred on its mean."""
    g = run.grid[index].double()
    if run.loss == "wgan-gp":
        return (g - g.mean()).numpy(), "critic score f(x) - mean", None
    return torch.sigmoid(g).numpy(), "D(x) = P(real)", (0.0, 1.0)


def render_gan_training(run: Snapshots, index: int, data: Any, centres: Any = None, std: float | None = None,
                        fig: Figure | None = None, title: str | None = None,
                        coverage: Sequence[ModeCoverage] | None = None) -> Figure:
    """One snapshot of a 2-D GAN run: the samples over the data and the discriminator's map; modes over the run.

    Args:
        run: `gan.Snapshots` of a 2-D run (with its grid of discriminator outputs).
        index: which snapshot, 0 .. len(run) - 1.
        data: (N, 2) real points, drawn in grey.
        centres, std: the mixture's modes (K, 2) and their std; with them the right panel counts the
            modes covered at every snapshot (`gan.mode_coverage`) and the current one is marked.
        fig: figure to draw into (it is cleared); default a new one.
        title: the run's name, shown above the left panel.
        coverage: precomputed `gan.coverage_history(run, centres, std)` (a widget computes it once).
    Returns:
        the figure; axes labelled "samples" and, with centres, "modes".
    """
    run = _check_run(run, "run")
    index = check.integer(index, "index", 0, len(run) - 1, what="a snapshot index")
    x = check.points(data, "data")
    fig = new_or_cleared(fig, figsize=(10.0, 4.4) if centres is not None else (5.4, 4.6))
    grid = fig.add_gridspec(1, 2 if centres is not None else 1, width_ratios=[1.25, 1.0] if centres is not None else [1])
    ax = fig.add_subplot(grid[0, 0], label="samples")
    if run.grid is not None and run.lim is not None:
        values, what, vlim = _surface(run, index)
        xmin, xmax, ymin, ymax = run.lim
        extent = (xmin, xmax, ymin, ymax)
        span = vlim or (-float(np.abs(values).max()) or -1.0, float(np.abs(values).max()) or 1.0)
        im = ax.imshow(values, origin="lower", extent=extent, cmap="RdBu_r", vmin=span[0], vmax=span[1],
                       alpha=0.55, aspect="auto", interpolation="bilinear")
        fig.colorbar(im, ax=ax, shrink=0.8, label=what)
        ax.set_xlim(xmin, xmax)
        ax.set_ylim(ymin, ymax)
    ax.scatter(x[:, 0], x[:, 1], s=3, color="0.35", linewidths=0, label="data", zorder=2)
    s = run.samples[index].numpy()
    ax.scatter(s[:, 0], s[:, 1], s=5, color="tab:orange", alpha=0.8, linewidths=0, label="G(z)", zorder=3)
    ax.set_aspect("equal", adjustable="box")
    ax.legend(loc="upper right", fontsize="small", markerscale=3)
    step = int(run.steps[index])
    ax.set_title(f"{title + ': ' if title else ''}generator step {step}", fontsize="medium")

    if centres is not None:
        if std is None:
            raise check.invalid("std", "the modes' standard deviation when centres are given", None)
        cov = list(coverage) if coverage is not None else coverage_history(run, torch.as_tensor(centres), std)
        steps = run.steps.numpy()
        ax2 = fig.add_subplot(grid[0, 1], label="modes")
        ax2.plot(steps, [c.covered for c in cov], color="tab:blue", marker=".", label="modes covered")
        ax2.set_ylim(-0.5, cov[0].modes + 0.5)
        ax2.set_xlabel("generator step")
        ax2.set_ylabel(f"modes covered (of {cov[0].modes})")
        ax3 = ax2.twinx()
        ax3.plot(steps, [100 * c.high_quality for c in cov], color="tab:orange", linestyle="--",
                 label="high-quality samples (%)")
        ax3.set_ylim(-2, 102)
        ax3.set_ylabel("% of samples within 3 std of a mode")
        ax2.axvline(step, color="0.5", linestyle=":", linewidth=1)
        ax2.plot([step], [cov[index].covered], marker="o", color="tab:blue", markersize=8, zorder=5)
        lines = ax2.get_lines()[:1] + ax3.get_lines()[:1]
        ax2.legend(lines, [ln.get_label() for ln in lines], loc="lower right", fontsize="small")
        ax2.set_title(f"now: {cov[index]}", fontsize="medium")
    return fig


def training_scrubber(runs: Mapping[str, Snapshots], data: Any, centres: Any = None, std: float | None = None,
                      start: str | None = None) -> Explorer:
    """Choose a run the notebook made (loss, lambda, n_critic) and scrub through its training.

    Args:
        runs: name -> `gan.Snapshots` of a 2-D run (names such as "WGAN-GP, lambda 0.1, n_critic 5").
        data, centres, std: as in `render_gan_training`.
        start: the run shown first; default the first.
    Returns:
        Explorer with controls "run" (a dropdown) and "index" (the snapshot, a slider labelled "snapshot").
    """
    if not isinstance(runs, Mapping) or not runs:
        raise check.invalid("runs", "a non-empty mapping name -> gan.Snapshots", type(runs).__name__)
    runs = {str(k): _check_run(v, f"runs[{k!r}]") for k, v in runs.items()}
    names = list(runs)
    start = names[0] if start is None else check.choice(start, "start", names)
    x = check.points(data, "data")
    c = None if centres is None else torch.as_tensor(centres)
    coverage = {k: coverage_history(v, c, std) for k, v in runs.items()} if c is not None else dict.fromkeys(runs)
    longest = max(len(v) for v in runs.values())

    def render(run: str, index: int) -> Figure:
        r = runs[run]
        i = min(index, len(r) - 1)  # a shorter run stays on its last snapshot
        return render_gan_training(r, i, x, c, std, title=run, coverage=coverage[run])

    controls = {
        "run": widgets.Dropdown(options=names, value=start, description="run", layout=widgets.Layout(width="420px")),
        "index": widgets.IntSlider(value=longest - 1, min=0, max=longest - 1, description="snapshot",
                                   continuous_update=False),
    }
    return Explorer(render, controls)
