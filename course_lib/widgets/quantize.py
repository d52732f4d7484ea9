"""Lesson 03's widgets (first two): the Gumbel-softmax at a temperature, and a token editor for a VQ-VAE.

The Gumbel widget samples a fixed categorical with one fixed draw of noise, so moving tau shows the
same samples sharpening (no network runs); the token editor decodes one grid of codes per change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..core import validation as check
from ..quantize import gumbel_noise
from .explorer import Explorer, new_or_cleared, one_image

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
