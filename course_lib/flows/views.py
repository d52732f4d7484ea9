"""Pictures of a trained 2-D flow as plain tensors, for lesson 05's widgets: layer by layer, and its density."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.devices import model_device
from ..core.validation import check_shape, invalid
from .layers import standard_normal_log_prob
from .model import Flow


# ----------------------------------------------------------------------------- pictures of a 2-D flow (for the widgets)
@dataclass(frozen=True)
class LayerViews:
    """A 2-D flow at work, layer by layer, as plain tensors (k = 0 is the data, k = K the base).

    points[k]: (N, 2) the data after k layers. lines[k]: (L, P, 2) straight lines of the base grid pulled
    back through layers K..k+1. log_density[k]: (R, R) log-density of the variable after k layers on the
    box lims[k] = (xmin, xmax, ymin, ymax), rows along y.
    """

    points: list[torch.Tensor]
    lines: list[torch.Tensor]
    log_density: list[torch.Tensor]
    lims: list[tuple[float, float, float, float]]
    names: list[str]

    def __len__(self) -> int:
        return len(self.points)


def _box(points: torch.Tensor, margin: float = 0.15) -> tuple[float, float, float, float]:
    lo, hi = torch.quantile(points, 0.005, dim=0), torch.quantile(points, 0.995, dim=0)
    centre, half = (lo + hi) / 2, ((hi - lo).max() / 2) * (1 + margin)  # one square box: shapes stay undistorted
    return (float(centre[0] - half), float(centre[0] + half), float(centre[1] - half), float(centre[1] + half))


@torch.no_grad()
def layer_views(flow: Flow, points: torch.Tensor, resolution: int = 80, num_lines: int = 11, span: float = 3.0
                ) -> LayerViews:
    """Push 2-D `points` through `flow` layer by layer, pull the base grid back, and map the density at each stage.

    Args:
        flow: a trained 2-D flow (put in eval mode here). points: (N, 2) data.
        resolution: grid points per side of each density map. num_lines, span: the base grid's lines
            at -span..span in each coordinate.
    """
    check_shape(points, "points", "(N, 2)", isinstance(points, torch.Tensor) and points.ndim == 2 and points.shape[1] == 2)
    if flow.dim != 2:
        raise invalid("flow", "a flow on 2-D points", f"a flow of dim {flow.dim}")
    flow.eval()
    device, dtype = model_device(flow), next(flow.parameters()).dtype
    layers = list(flow.layers)
    K = len(layers)
    hs = [h.cpu() for h in flow.trajectory(points.to(device, dtype))]
    t = torch.linspace(-span, span, 200)
    levels = torch.linspace(-span, span, num_lines)
    base_lines = torch.cat([torch.stack([torch.full_like(t, c), t], 1)[None] for c in levels] +
                           [torch.stack([t, torch.full_like(t, c)], 1)[None] for c in levels])  # (2L, P, 2)
    lines, log_density, lims = [], [], []
    for k in range(K + 1):
        flat = base_lines.reshape(-1, 2).to(device, dtype)
        for layer in reversed(layers[k:]):  # pull back through K..k+1
            flat = layer.inverse(flat)[0]
        lines.append(flat.cpu().reshape(base_lines.shape))
        lim = _box(hs[k])
        xs = torch.linspace(lim[0], lim[1], resolution)
        ys = torch.linspace(lim[2], lim[3], resolution)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        h = torch.stack([gx.flatten(), gy.flatten()], 1).to(device, dtype)
        total = torch.zeros(len(h), device=device, dtype=dtype)
        for layer in layers[k:]:  # the rest of the flow, from stage k to the base
            h, ld = layer(h)
            total = total + ld
        log_density.append((standard_normal_log_prob(h) + total).cpu().reshape(resolution, resolution))
        lims.append(lim)
    names = ["data"] + [type(m).__name__ for m in layers]
    return LayerViews(hs, lines, log_density, lims, names)


@dataclass(frozen=True)
class DensityView:
    """A trained 2-D flow's log-density on a grid (R, R) over lim, its samples (n, 2), and its held-out NLL."""

    log_density: torch.Tensor
    lim: tuple[float, float, float, float]
    samples: torch.Tensor
    data: torch.Tensor
    nll: float
    seconds: float


@torch.no_grad()
def density_view(flow: Flow, data: torch.Tensor, held_out: torch.Tensor, lim: tuple[float, float, float, float],
                 resolution: int = 120, n_samples: int = 2000, seed: int = 0, seconds: float = float("nan")
                 ) -> DensityView:
    """Evaluate a trained 2-D flow for the density explorer: log p on a grid, samples, mean NLL on `held_out`."""
    flow.eval()
    device, dtype = model_device(flow), next(flow.parameters()).dtype
    xs = torch.linspace(lim[0], lim[1], resolution)
    ys = torch.linspace(lim[2], lim[3], resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx.flatten(), gy.flatten()], 1).to(device, dtype)
    logp = flow.log_prob(grid).cpu().reshape(resolution, resolution)
    samples = flow.sample(n_samples, torch.Generator().manual_seed(seed)).cpu()
    nll = -flow.log_prob(held_out.to(device, dtype)).mean().item()
    return DensityView(logp, tuple(lim), samples, data.cpu(), nll, seconds)
