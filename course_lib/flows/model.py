"""Flows: a stack of layers over a standard normal base (forward, inverse, log_prob, sample), and the
three named flows RealNVP, MAF and IAF."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..core.validation import check_shape, choice, integer, invalid, number
from .layers import (
    ActNorm,
    AffineCoupling,
    BatchNormFlow,
    FlowLayer,
    InverseAutoregressive,
    Logit,
    MaskedAutoregressive,
    Reverse,
    _Autoregressive,
    checkerboard_mask,
    half_mask,
    standard_normal_log_prob,
)


# ----------------------------------------------------------------------------- flows
class Flow(nn.Module):
    """A stack of FlowLayers over a standard normal base: forward, inverse, log_prob, sample."""

    def __init__(self, layers: Sequence[FlowLayer]):
        super().__init__()
        layers = list(layers)
        if not layers or not all(isinstance(m, FlowLayer) for m in layers):
            raise invalid("layers", "a non-empty sequence of FlowLayer modules", [type(m).__name__ for m in layers])
        dims = {m.dim for m in layers}
        if len(dims) != 1:
            raise invalid("layers", "layers of one dimension", sorted(dims))
        self.dim = dims.pop()
        self.layers = nn.ModuleList(layers)

    def _check(self, x: torch.Tensor, name: str) -> None:
        check_shape(x, name, f"(B, {self.dim})", isinstance(x, torch.Tensor) and x.ndim == 2 and x.shape[1] == self.dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, dim) -> (z, log|det dz/dx|): the layers in order, their log-determinants summed."""
        self._check(x, "x")
        log_det = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, dim) -> (x, log|det dx/dz|): the layers' inverses in reverse order."""
        self._check(z, "z")
        log_det = z.new_zeros(z.shape[0])
        for layer in reversed(self.layers):
            z, ld = layer.inverse(z)
            log_det = log_det + ld
        return z, log_det

    def trajectory(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[x, h_1, ..., h_K = z]: the data after each layer (for pictures of a flow at work)."""
        self._check(x, "x")
        out = [x]
        for layer in self.layers:
            out.append(layer(out[-1])[0])
        return out

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = log N(f(x); 0, I) + log|det J_f(x)|, per example (B,)."""
        z, log_det = self(x)
        return standard_normal_log_prob(z) + log_det

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """n samples x = f^-1(z), z ~ N(0, temperature^2 I) drawn on the CPU from `generator`; (n, dim)."""
        integer(n, "n", lo=1)
        number(temperature, "temperature", 0.0, lo_open=True)
        p = next(self.parameters(), None)
        z = torch.randn(n, self.dim, generator=generator) * temperature
        if p is not None:
            z = z.to(p.device, p.dtype)
        return self.inverse(z)[0]


def _preprocess(dim: int, logit_alpha: float | None) -> list[FlowLayer]:
    return [] if logit_alpha is None else [Logit(dim, logit_alpha)]


class RealNVP(Flow):
    """RealNVP: affine couplings with alternating masks (checkerboard over `image_shape`, or alternating features).

    Args:
        dim: features D. num_layers: couplings. hidden, num_hidden: each conditioner MLP.
        image_shape: (H, W) with H*W = dim for the spatial checkerboard (default: alternate features).
        mask: "checkerboard" or "half" (first/second half, reversed between layers: the channel-style split).
        logit_alpha: if given, a Logit layer first (data in [0, 1]). dropout: in the conditioners.
        actnorm: an ActNorm after every coupling.
        coupling: the coupling class (a subclass of AffineCoupling, e.g. one running a student's functions).
    """

    def __init__(self, dim: int, num_layers: int = 8, hidden: int = 256, *, num_hidden: int = 2,
                 image_shape: Sequence[int] | None = None, mask: str = "checkerboard",
                 logit_alpha: float | None = None, dropout: float = 0.0, actnorm: bool = False,
                 activation: str = "relu", coupling: type[AffineCoupling] = AffineCoupling):
        integer(dim, "dim", lo=2, what="a dimension")
        if not (isinstance(coupling, type) and issubclass(coupling, AffineCoupling)):
            raise invalid("coupling", "AffineCoupling or a subclass of it", coupling)
        integer(num_layers, "num_layers", lo=1)
        choice(mask, "mask", ("checkerboard", "half"))
        if image_shape is not None and math.prod(image_shape) != dim:
            raise invalid("image_shape", f"a shape with {dim} pixels", tuple(image_shape))
        layers = _preprocess(dim, logit_alpha)
        for k in range(num_layers):
            if mask == "checkerboard":
                m = checkerboard_mask(tuple(image_shape) if image_shape else dim, k % 2)
            else:
                m = half_mask(dim, first=k % 2 == 0)
            layers.append(coupling(m, hidden, num_hidden, activation, dropout))
            if actnorm:
                layers.append(ActNorm(dim))
        super().__init__(layers)


class MAF(Flow):
    """A masked autoregressive flow: MaskedAutoregressive layers, the order reversed between them."""

    def __init__(self, dim: int, num_layers: int = 5, hidden: int = 256, *, num_hidden: int = 2,
                 logit_alpha: float | None = None, dropout: float = 0.0, batch_norm: bool = False,
                 activation: str = "relu"):
        super().__init__(_autoregressive_stack(MaskedAutoregressive, dim, num_layers, hidden, num_hidden,
                                               logit_alpha, dropout, batch_norm, activation))


class IAF(Flow):
    """An inverse autoregressive flow: InverseAutoregressive layers, the order reversed between them."""

    def __init__(self, dim: int, num_layers: int = 5, hidden: int = 256, *, num_hidden: int = 2,
                 logit_alpha: float | None = None, dropout: float = 0.0, batch_norm: bool = False,
                 activation: str = "relu"):
        super().__init__(_autoregressive_stack(InverseAutoregressive, dim, num_layers, hidden, num_hidden,
                                               logit_alpha, dropout, batch_norm, activation))


def _autoregressive_stack(kind: type[_Autoregressive], dim: int, num_layers: int, hidden: int, num_hidden: int,
                          logit_alpha: float | None, dropout: float, batch_norm: bool, activation: str
                          ) -> list[FlowLayer]:
    integer(dim, "dim", lo=2, what="a dimension")
    integer(num_layers, "num_layers", lo=1)
    layers = _preprocess(dim, logit_alpha)
    for k in range(num_layers):
        if k:
            layers.append(Reverse(dim))
        layers.append(kind(dim, hidden, num_hidden, None, activation, dropout))
        if batch_norm:
            layers.append(BatchNormFlow(dim))
    return layers


def copy_autoregressive(source: Flow, target: Flow) -> Flow:
    """Load a MAF's weights into an IAF of the same architecture (or back): the same networks, the other direction.

    Used to time the two directions on identical networks; the IAF then defines a different density.
    """
    target.load_state_dict(source.state_dict())
    return target
