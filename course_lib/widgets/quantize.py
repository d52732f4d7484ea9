"""Lesson 03's widgets: the Gumbel-softmax at a temperature, a token editor for a VQ-VAE, a 2-D codebook's
training (dead codes and restarts), and the codebook health of trained VQ-VAEs.

The Gumbel widget samples a fixed categorical with one fixed draw of noise, so moving tau shows the
same samples sharpening (no network runs); the token editor decodes one grid of codes per change; the
two codebook widgets draw precomputed records (`quantize.CodebookRun`, `quantize.CodebookHealth`).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..core import validation as check
from ..quantize import CodebookHealth, CodebookRun, gumbel_noise, voronoi_labels
from ..viz import image_grid
from .explorer import Explorer, auto_lim, new_or_cleared, one_image, step_slider

DecodeIndices = Callable[[torch.Tensor], torch.Tensor]  # (1, h, w) codes -> (1, 1, H, W) image in [0, 1]


def _logits(logits: Any) -> torch.Tensor:
    out = torch.as_tensor(check.to_numpy(logits, "logits")).double()
    if out.ndim != 1 or out.numel() < 2:
        raise check.invalid("logits", "one vector of at least 2 logits (K,)", f"shape {tuple(out.shape)}")
    return out


def render_gumbel(logits: Any, tau: float, n: int = 8, seed: int = 0, draws: int = 4000,
                  fig: Figure | None = None) -> Figure:
    """Gumbel-softmax samples of Categorical(softmax(logits)) at temperature tau.

    Left: n relaxed samples softmax((logits + g) / tau), one row each. Right: softmax(logits), the mean
    of `draws` relaxed samples, and the frequencies of the hard samples (one-hot of the argmax): only
    the last follow softmax(logits) at every tau. The noise is drawn once from `seed`.

    Returns the figure; axes labelled "samples" and "means".
    """
    lg = _logits(logits)
    tau = check.number(tau, "tau", 0.0, lo_open=True)
    n = check.integer(n, "n", lo=1)
    K = lg.numel()
    g = gumbel_noise((max(n, check.integer(draws, "draws", lo=1)), K), torch.Generator().manual_seed(seed),
                     dtype=torch.float64)
    soft = torch.softmax((lg + g) / tau, dim=1)  # (draws, K)
    hard = torch.nn.functional.one_hot(soft.argmax(1), K).double()
    fig = new_or_cleared(fig, figsize=(10.0, 3.6))
    ax = fig.add_subplot(1, 2, 1, label="samples")
    ax.imshow(soft[:n].numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set(xlabel="class k", ylabel="sample", xticks=range(K), yticks=range(n),
           title=f"{n} relaxed samples at tau = {tau:.3g}")
    ax2 = fig.add_subplot(1, 2, 2, label="means")
    x = np.arange(K)
    ax2.bar(x - 0.27, torch.softmax(lg, 0).numpy(), width=0.27, label="softmax(logits)", color="0.6")
    ax2.bar(x, soft.mean(0).numpy(), width=0.27, label="mean of relaxed samples", color="tab:blue")
    ax2.bar(x + 0.27, hard.mean(0).numpy(), width=0.27, label="frequency of hard samples", color="tab:orange")
    ax2.set(xlabel="class k", ylabel="probability", xticks=x, ylim=(0, 1), title=f"over {len(soft)} draws")
    ax2.legend(fontsize="small")
    return fig


def gumbel_explorer(logits: Any, seed: int = 0) -> Explorer:
    """A temperature slider (log scale, 0.01 to 10) over `render_gumbel` of fixed logits and noise."""
    lg = _logits(logits)

    def render(tau: float) -> Figure:
        return render_gumbel(lg, tau, seed=seed)

    controls = {"tau": widgets.FloatLogSlider(value=1.0, base=10, min=-2, max=1, step=0.05, description="tau",
                                              continuous_update=False)}
    return Explorer(render, controls)


def render_token_edit(decode_indices: DecodeIndices, tokens: Any, position: int, code: int,
                      fig: Figure | None = None) -> Figure:
    """A digit's grid of code indices with one token replaced: the grid, the decoded original and the edit.

    Args:
        decode_indices: (1, h, w) int64 codes -> (1, 1, H, W) image in [0, 1] (e.g. a VQ-VAE's mean image).
        tokens: (h, w) the digit's codes. position: which token (raster order). code: its new value.
    Returns the figure; axes labelled "tokens", "original" and "edited".
    """
    t = torch.as_tensor(np.asarray(tokens)).long()
    if t.ndim != 2:
        raise check.invalid("tokens", "one grid of code indices (h, w)", f"shape {tuple(t.shape)}")
    h, w = t.shape
    position = check.integer(position, "position", 0, h * w - 1, what="a token position")
    code = check.integer(code, "code", lo=0, what="a code index")
    edited = t.clone()
    edited.view(-1)[position] = code
    with torch.no_grad():
        before = one_image(decode_indices(t[None]), "the decoded original")
        after = one_image(decode_indices(edited[None]), "the decoded edit")
    fig = new_or_cleared(fig, figsize=(9.0, 3.2))
    ax = fig.add_subplot(1, 3, 1, label="tokens")
    ax.imshow(np.zeros((h, w)), cmap="Greys", vmin=0, vmax=1)
    r, c = divmod(position, w)
    for i in range(h):
        for j in range(w):
            ax.text(j, i, str(int(edited[i, j])), ha="center", va="center", fontsize="small",
                    color="tab:red" if (i, j) == (r, c) else "black")
    ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="tab:red", linewidth=2))
    ax.set(xticks=[], yticks=[], title=f"token {position}: {int(t.view(-1)[position])} -> {code}")
    for k, (label, img) in enumerate((("original", before), ("edited", after)), start=2):
        a = fig.add_subplot(1, 3, k, label=label)
        a.imshow(img, cmap="gray_r", vmin=0, vmax=1)
        a.set(xticks=[], yticks=[], title=label)
        for side in a.spines.values():
            side.set_edgecolor("0.5")
    return fig


def token_editor(decode_indices: DecodeIndices, tokens: Any, num_codes: int) -> Explorer:
    """Sliders over a token position and its new code (0 .. num_codes - 1), redrawn with `render_token_edit`.

    Choosing a position first sets the code slider to that token's own code, so the edit starts from it.
    """
    t = torch.as_tensor(np.asarray(tokens)).long()
    K = check.integer(num_codes, "num_codes", lo=2)
    if t.ndim != 2:
        raise check.invalid("tokens", "one grid of code indices (h, w)", f"shape {tuple(t.shape)}")

    def render(position: int, code: int) -> Figure:
        return render_token_edit(decode_indices, t, position, code)

    controls = {
        "position": widgets.IntSlider(value=0, min=0, max=t.numel() - 1, description="token", continuous_update=False),
        "code": widgets.IntSlider(value=int(t.view(-1)[0]), min=0, max=K - 1, description="code",
                                  continuous_update=False),
    }
    explorer = Explorer(render, controls)

    def reset_code(change: dict) -> None:
        controls["code"].value = int(t.view(-1)[change["new"]])

    controls["position"].observe(reset_code, names="value")
    return explorer


# ----------------------------------------------------------------------------- a codebook on 2-D points
LIVE, DEAD, REVIVED = "tab:blue", "tab:red", "tab:orange"


def _check_run(run: Any, name: str) -> CodebookRun:
    if not isinstance(run, CodebookRun) or len(run) == 0:
        raise check.invalid(name, "a quantize.CodebookRun with at least one snapshot (quantize.train_toy_codebook)",
                            type(run).__name__)
    return run


def _view(run: CodebookRun) -> tuple[float, float, float, float]:
    """One square box around the points and every code of every snapshot: the view stays put while sliding."""
    every = torch.cat([run.points, *(s.codebook for s in run.snapshots)]).numpy()
    xmin, xmax, ymin, ymax = auto_lim(every, margin=0.08)
    cx, cy, half = (xmin + xmax) / 2, (ymin + ymax) / 2, max(xmax - xmin, ymax - ymin) / 2
    return cx - half, cx + half, cy - half, cy + half


def _cells(ax: Any, codebook: torch.Tensor, box: tuple[float, float, float, float], resolution: int = 200) -> None:
    """The Voronoi cells of the codes: light colours (one per code) and darker borders."""
    labels, extent = voronoi_labels(codebook, box[:2], box[2:], resolution)
    lab = labels.numpy()
    colours = plt.get_cmap("tab20")(lab % 20)  # (R, R, 4)
    colours[..., 3] = 0.22
    edge = np.zeros(lab.shape, dtype=bool)
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    colours[edge] = (0.25, 0.25, 0.25, 0.7)
    ax.imshow(colours, origin="lower", extent=extent, interpolation="nearest", aspect="equal", zorder=0)


def render_codebook(run: CodebookRun, index: int, fig: Figure | None = None) -> Figure:
    """Snapshot `index` of a 2-D codebook's training: its Voronoi cells over the points, which codes win none.

    Left: the points (grey), each code's cell, the live codes (blue, sized by the points they win), the
    dead ones (red x: they win no point) and the codes restarted since the previous snapshot (orange
    ring). Right: the share of codes used, and perplexity / K, over the steps so far.

    Returns the figure; axes labelled "codebook" and "usage".
    """
    run = _check_run(run, "run")
    index = check.integer(index, "index", 0, len(run) - 1, what="a snapshot index")
    snap, K = run.snapshots[index], run.num_codes
    fig = new_or_cleared(fig, figsize=(10.0, 4.2))
    grid = fig.add_gridspec(1, 2, width_ratios=[1.4, 1.0])
    ax = fig.add_subplot(grid[0, 0], label="codebook")
    box = _view(run)
    _cells(ax, snap.codebook, box)
    p = run.points.numpy()
    ax.scatter(p[:, 0], p[:, 1], s=2, color="0.45", linewidths=0, zorder=1)
    e, counts = snap.codebook.numpy(), snap.counts.numpy()
    live, revived = counts > 0, snap.restarted.numpy()
    sizes = 25 + 220 * np.sqrt(counts / max(counts.max(), 1))
    ax.scatter(e[live, 0], e[live, 1], s=sizes[live], color=LIVE, edgecolors="white", linewidths=0.8, zorder=3,
               label=f"live code ({int(live.sum())})")
    ax.scatter(e[~live, 0], e[~live, 1], s=45, marker="x", color=DEAD, linewidths=1.8, zorder=4,
               label=f"dead code: wins no point ({int((~live).sum())})")
    if revived.any():
        ax.scatter(e[revived, 0], e[revived, 1], s=260, facecolors="none", edgecolors=REVIVED, linewidths=2.2,
                   zorder=5, label=f"restarted since last snapshot ({int(revived.sum())})")
    ax.set(xlim=box[:2], ylim=box[2:], xticks=[], yticks=[])
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", markerscale=0.8, borderaxespad=0,
              title=f"{len(p)} points, K = {K}", title_fontsize="small")
    ax.set_title("the codes and their Voronoi cells", fontsize="medium")
    fig.suptitle(f"{run.rule}, step {snap.step}: {snap.used}/{K} codes used, perplexity {snap.perplexity:.1f}, "
                 f"{snap.restarts} restarts so far", fontsize="large")
    ax2 = fig.add_subplot(grid[0, 1], label="usage")
    steps = np.array(run.steps)
    used = 100 * np.array([s.usage for s in run.snapshots])
    ppl = 100 * np.array([s.perplexity for s in run.snapshots]) / K
    ax2.plot(steps[:index + 1], used[:index + 1], color=LIVE, marker=".", label="codes used")
    ax2.plot(steps[:index + 1], ppl[:index + 1], color="0.4", linestyle="--", label="perplexity / K")
    ax2.plot([snap.step], [used[index]], marker="o", markersize=9, color=LIVE, markeredgecolor="black", linestyle="")
    ax2.set(xlim=(steps[0], max(steps[-1], 1)), ylim=(0, 105), xlabel="training step", ylabel="% of the K codes",
            title="codebook use over training")
    ax2.grid(alpha=0.3)
    ax2.legend(loc="center right", fontsize="small")
    return fig


def codebook_explorer(runs: Mapping[str, CodebookRun]) -> Explorer:
    """Choose an update rule and slide through its codebook's training (`render_codebook`).

    Returns an Explorer with controls "rule" (a dropdown) and "step" (a slider over the snapshots'
    steps; a run without that step shows its last snapshot before it).
    """
    if not isinstance(runs, Mapping) or not runs:
        raise check.invalid("runs", "a non-empty mapping rule -> quantize.CodebookRun", type(runs).__name__)
    runs = {str(k): _check_run(v, f"runs[{k!r}]") for k, v in runs.items()}
    steps = sorted({s for run in runs.values() for s in run.steps})

    def render(rule: str, step: int) -> Figure:
        run = runs[rule]
        return render_codebook(run, max(bisect.bisect_right(run.steps, step) - 1, 0))

    controls = {
        "rule": widgets.Dropdown(options=list(runs), value=next(iter(runs)), description="update rule",
                                 style={"description_width": "initial"}),
        "step": step_slider([(str(s), s) for s in steps], "step"),
    }
    return Explorer(render, controls)


# ----------------------------------------------------------------------------- a VQ-VAE's codebook health
def _check_health(runs: Any) -> dict[tuple[int, str], CodebookHealth]:
    if not isinstance(runs, Mapping) or not runs or not all(
            isinstance(k, tuple) and len(k) == 2 and isinstance(v, CodebookHealth) for k, v in runs.items()):
        raise check.invalid("runs", "a non-empty mapping (codebook size, rule) -> quantize.CodebookHealth",
                            type(runs).__name__)
    return dict(runs)


def render_codebook_health(runs: Mapping[tuple[int, str], CodebookHealth], size: int, rule: str,
                           fig: Figure | None = None) -> Figure:
    """A trained VQ-VAE's codebook: how often each code is used over a split, and what it reconstructs.

    Left: the codes sorted by use (bars) against the uniform share, the dead ones marked. Right:
    originals above their reconstructions. A (size, rule) the notebook did not train is said so in
    the figure.

    Returns the figure; axes labelled "usage" and "reconstructions" (or "missing").
    """
    runs = _check_health(runs)
    fig = new_or_cleared(fig, figsize=(10.0, 3.8))
    if (size, rule) not in runs:
        ax = fig.add_subplot(1, 1, 1, label="missing")
        trained = ", ".join(f"K = {k} {r}" for k, r in sorted(runs))
        ax.text(0.5, 0.5, f"No model with K = {size} codes and rule {rule!r} was trained:\n"
                f"choose another pair. Trained: {trained}.",
                ha="center", va="center", fontsize="large", transform=ax.transAxes, wrap=True)
        ax.set_axis_off()
        return fig
    h = runs[size, rule]
    K = h.num_codes
    grid = fig.add_gridspec(1, 2, width_ratios=[1.0, 1.1], wspace=0.4)  # room for the row labels
    ax = fig.add_subplot(grid[0, 0], label="usage")
    counts = np.sort(h.counts.numpy())[::-1]
    ax.bar(np.arange(K), counts, width=1.0, color=LIVE, linewidth=0)
    ax.set_yscale("log")  # a collapsed codebook's few busy codes and its long tail both stay readable
    ax.set_ylim(0.7, max(counts.max(), 1) * 3)
    share = counts.sum() / K
    ax.axhline(share, color="0.3", linestyle="--", linewidth=1, label=f"uniform use ({share:.3g} each)")
    if h.dead:
        ax.axvspan(K - h.dead - 0.5, K - 0.5, color=DEAD, alpha=0.2, linewidth=0,
                   label=f"{h.dead} dead code{'s' if h.dead > 1 else ''} (never used)")
    ax.set(xlim=(-0.5, K - 0.5), xlabel="codes, most used first", ylabel="uses over the split (log)")
    ax.set_title(f"code use: {K - h.dead}/{K} used, {h.dead} dead", fontsize="medium")
    ax.legend(loc="upper right", fontsize="small")
    ax2 = fig.add_subplot(grid[0, 1], label="reconstructions")
    n, _, H, _ = h.originals.shape
    ax2.imshow(image_grid(torch.cat([h.originals, h.reconstructions]), nrow=n), cmap="gray_r", vmin=0, vmax=1)
    ax2.set_xticks([])
    ax2.set_yticks([1 + (H - 1) / 2, 2 + H + (H - 1) / 2], ["original", "reconstructed"])  # row centres (pad 1)
    ax2.tick_params(length=0)
    ax2.set_title(f"{n} images and their reconstructions", fontsize="medium")
    fig.suptitle(f"K = {K}, {rule}: {100 * h.usage:.0f}% of codes used, perplexity {h.perplexity:.1f}, "
                 f"PSNR {h.psnr:.1f} dB", fontsize="large")
    return fig


def codebook_health_explorer(runs: Mapping[tuple[int, str], CodebookHealth]) -> Explorer:
    """Choose a codebook size and an update rule among the trained VQ-VAEs; see `render_codebook_health`.

    Returns an Explorer with controls "size" ("codebook size") and "rule" ("update rule").
    """
    runs = _check_health(runs)
    sizes = sorted({k for k, _ in runs})
    rules = list(dict.fromkeys(r for _, r in runs))
    first = next(iter(runs))

    def render(size: int, rule: str) -> Figure:
        return render_codebook_health(runs, size, rule)

    style = {"description_width": "initial"}
    controls = {
        "size": widgets.Dropdown(options=sizes, value=first[0], description="codebook size", style=style),
        "rule": widgets.Dropdown(options=rules, value=first[1], description="update rule", style=style),
    }
    return Explorer(render, controls)
