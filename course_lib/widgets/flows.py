"""Lesson 05's widgets: a 2-D flow layer by layer, and the learned density next to its samples.

Both draw precomputed pictures (`flows.layer_views`, `flows.density_view`), so moving a control only
redraws: no network runs in a callback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from ..core import validation as check
from ..flows import DensityView, LayerViews
from .explorer import Explorer, new_or_cleared

SHOW = ("density", "log-density")


def _check_views(views: Any, name: str) -> LayerViews:
    if not isinstance(views, LayerViews) or len(views) < 2:
        raise check.invalid(name, "flows.LayerViews of a flow with at least one layer (flows.layer_views)",
                            type(views).__name__)
    return views


def render_flow_layers(views: LayerViews, index: int, fig: Figure | None = None, title: str | None = None) -> Figure:
    """Stage `index` of a 2-D flow: the density of the variable after `index` layers, the data pushed that far
    (dots) and the base's straight grid pulled back to it (lines). index 0 is the data space, len - 1 the base.

    Returns the figure; its one axes is labelled "layer".
    """
    views = _check_views(views, "views")
    k = check.integer(index, "index", 0, len(views) - 1, what="a layer index")
    fig = new_or_cleared(fig, figsize=(5.6, 5.0))
    ax = fig.add_subplot(1, 1, 1, label="layer")
    xmin, xmax, ymin, ymax = views.lims[k]
    dens = np.exp(views.log_density[k].numpy())
    im = ax.imshow(dens, origin="lower", extent=(xmin, xmax, ymin, ymax), cmap="Blues", aspect="equal",
                   interpolation="bilinear", vmin=0.0, vmax=float(np.quantile(dens, 0.995)) or 1.0)
    fig.colorbar(im, ax=ax, shrink=0.8, label=f"density of h_{k}")
    for line in views.lines[k].numpy():
        ax.plot(line[:, 0], line[:, 1], color="0.35", linewidth=0.6, alpha=0.7)
    p = views.points[k].numpy()
    ax.scatter(p[:, 0], p[:, 1], s=3, color="tab:orange", alpha=0.6, linewidths=0, zorder=3)
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    K = len(views) - 1
    where = "the data space" if k == 0 else ("the base: N(0, I)" if k == K else f"after layer {k} ({views.names[k]})")
    ax.set_title(f"{title + ': ' if title else ''}{k} of {K} layers, {where}", fontsize="medium")
    return fig


def flow_layer_explorer(runs: Mapping[str, LayerViews], start: str | None = None) -> Explorer:
    """Slide through a 2-D flow's layers (data -> base), for each run the notebook made.

    Returns an Explorer with controls "run" (a dropdown) and "index" (a slider labelled "layers applied").
    """
    if not isinstance(runs, Mapping) or not runs:
        raise check.invalid("runs", "a non-empty mapping name -> flows.LayerViews", type(runs).__name__)
    runs = {str(k): _check_views(v, f"runs[{k!r}]") for k, v in runs.items()}
    names = list(runs)
    start = names[0] if start is None else check.choice(start, "start", names)
    longest = max(len(v) for v in runs.values())

    def render(run: str, index: int) -> Figure:
        v = runs[run]
        return render_flow_layers(v, min(index, len(v) - 1), title=run)

    controls = {
        "run": widgets.Dropdown(options=names, value=start, description="run"),
        "index": widgets.IntSlider(value=0, min=0, max=longest - 1, description="layers applied",
                                   continuous_update=False, style={"description_width": "initial"}),
    }
    return Explorer(render, controls)


def render_density(views: Mapping[tuple[str, str], DensityView], data: str, model: str, show: str = "density",
                   fig: Figure | None = None) -> Figure:
    """One trained 2-D flow: its density (or log-density) on a grid over the data, and its samples.

    Args:
        views: (data name, model name) -> `flows.DensityView`.
        data, model: which run. show: "density" or "log-density".
    Returns the figure; axes labelled "density" and "samples".
    """
    key = (data, model)
    if key not in views:
        raise check.invalid("data and model", f"a run among {sorted(views)}", key)
    check.choice(show, "show", SHOW)
    v = views[key]
    fig = new_or_cleared(fig, figsize=(9.6, 4.4))
    xmin, xmax, ymin, ymax = v.lim
    ax = fig.add_subplot(1, 2, 1, label="density")
    values = v.log_density.numpy()
    if show == "density":
        values = np.exp(values)
        vmin, vmax = 0.0, float(np.quantile(values, 0.999)) or 1.0
    else:
        vmax = float(values.max())
        vmin = vmax - 12.0  # 12 nats below the peak: the tails stay visible, -inf does not flatten the scale
    im = ax.imshow(values, origin="lower", extent=(xmin, xmax, ymin, ymax), cmap="magma", vmin=vmin, vmax=vmax,
                   aspect="equal", interpolation="bilinear")
    fig.colorbar(im, ax=ax, shrink=0.8, label="p(x)" if show == "density" else "log p(x)")
    ax.set_title(f"{model} on {data}: held-out NLL {v.nll:.2f} nats", fontsize="medium")
    ax2 = fig.add_subplot(1, 2, 2, label="samples")
    d, s = v.data.numpy(), v.samples.numpy()
    ax2.scatter(d[:, 0], d[:, 1], s=2, color="0.7", linewidths=0, label="data")
    ax2.scatter(s[:, 0], s[:, 1], s=2, color="tab:purple", alpha=0.7, linewidths=0, label="samples x = f^-1(z)")
    ax2.set_xlim(xmin, xmax)
    ax2.set_ylim(ymin, ymax)
    ax2.set_aspect("equal", adjustable="box")
    ax2.legend(loc="upper right", fontsize="small", markerscale=4)
    ax2.set_title(f"{len(s)} samples", fontsize="medium")
    return fig


def density_explorer(views: Mapping[tuple[str, str], DensityView]) -> Explorer:
    """Choose a toy set and a flow the notebook trained; see its learned density beside its samples.

    Returns an Explorer with controls "data", "model" and "show" (density or log-density).
    """
    if not isinstance(views, Mapping) or not views or not all(
            isinstance(k, tuple) and len(k) == 2 and isinstance(v, DensityView) for k, v in views.items()):
        raise check.invalid("views", "a non-empty mapping (data name, model name) -> flows.DensityView",
                            type(views).__name__)
    data_names = list(dict.fromkeys(k[0] for k in views))
    model_names = list(dict.fromkeys(k[1] for k in views))

    def render(data: str, model: str, show: str) -> Figure:
        return render_density(views, data, model, show)

    controls = {
        "data": widgets.Dropdown(options=data_names, value=data_names[0], description="data"),
        "model": widgets.Dropdown(options=model_names, value=model_names[0], description="model"),
        "show": widgets.Dropdown(options=list(SHOW), value="density", description="show"),
    }
    return Explorer(render, controls)
