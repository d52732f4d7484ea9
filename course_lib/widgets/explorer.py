"""The plumbing every widget shares: the Explorer (controls over a redrawn figure) and its helpers.

An Explorer wires controls to a pure `render(**values) -> Figure` with
`ipywidgets.interactive_output`, using only API common to ipywidgets 7.7 (Colab) and 8.x, and
redraws on every `.value` change, with or without a kernel. The helpers here reuse a figure,
choose slider ranges and views, and check the one image a widget is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..core import validation as check
from ..viz import as_image_array

Lim = tuple[float, float, float, float]


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
        # The text stored in executed notebooks, shown where no kernel runs (GitHub, nbviewer): the controls
        # by the labels a student sees beside them
        names = ", ".join((getattr(w, "description", "") or name).rstrip(":") for name, w in self.controls.items())
        return f"<interactive figure with controls {names}: run the notebook in Jupyter or Colab to use it>"

    def _redraw(self, **values: Any) -> None:
        """Close the previous figure, draw a new one, show it (inline backend) in the Output."""
        if self.figure is not None:
            plt.close(self.figure)  # no leak of one figure per slider move
        self.figure = self.render(**values)
        self.renders += 1
        plt.show()  # inline backend: displays into the Output; Agg (tests): no-op


# ----------------------------------------------------------------------------- figures
def new_or_cleared(fig: Figure | None, figsize: tuple[float, float]) -> Figure:
    """Return `fig` cleared, or a new pyplot figure (constrained layout)."""
    if fig is None:
        return plt.figure(figsize=figsize, layout="constrained")
    fig.clf()
    return fig


def one_image(image: Any, name: str = "image") -> np.ndarray:
    """One grayscale image (1, 1, H, W), (1, H, W) or (H, W), returned as (H, W)."""
    x = as_image_array(image, name=name)
    if x.shape[0] != 1:
        raise check.invalid(name, "one image (1, 1, H, W), (1, H, W) or (H, W)", f"{x.shape[0]} images")
    return x[0]


# ----------------------------------------------------------------------------- sliders and views
def auto_lim(points: np.ndarray, margin: float = 0.1) -> Lim:
    """Bounding box (xmin, xmax, ymin, ymax) of 2-D points (N, 2) widened by `margin` of its size on every side."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)  # a flat direction still gets a width
    lo, hi = lo - margin * span, hi + margin * span
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def range_slider(name: str, lo: float, hi: float, start: float, steps: int = 200) -> widgets.FloatSlider:
    """A float slider over lo .. hi in `steps` steps, starting at `start` clipped into the range."""
    return widgets.FloatSlider(value=float(np.clip(start, lo, hi)), min=lo, max=hi, step=(hi - lo) / steps,
                               description=name, readout_format=".2f", continuous_update=False)


def step_slider(options: Sequence[tuple[str, Any]], description: str) -> widgets.SelectionSlider:
    """A wide slider over labelled positions (label, value), starting at the first."""
    options = list(options)
    return widgets.SelectionSlider(options=options, value=options[0][1], description=description,
                                   continuous_update=False, layout=widgets.Layout(width="500px"))
