"""The layers of a flow: masks, RealNVP's affine coupling, MADE and the two autoregressive directions,
permutations, ActNorm, batch norm and the logit preprocessing. Every layer maps (B, dim) -> (B, dim):
forward(x) -> (z, log|det dz/dx|), inverse(z) -> (x, log|det dx/dz|), log_det of shape (B,).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..core.validation import check_shape, choice, integer, invalid, number, shape_of
from ..layers import ACTIVATIONS

LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- base and masks
def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) per example: -0.5 ||z||^2 - D/2 log 2 pi, for z (B, D) -> (B,)."""
    check_shape(z, "z", "(B, D)", isinstance(z, torch.Tensor) and z.ndim == 2)
    return -0.5 * (z**2).sum(dim=1) - 0.5 * z.shape[1] * LOG_2PI


def checkerboard_mask(shape: int | Sequence[int], parity: int = 0) -> torch.Tensor:
    """A 0/1 mask over D = prod(shape) features, flattened: 1 where the coupling passes x through.

    shape (H, W): the checkerboard (row + column) % 2 == parity (RealNVP's spatial mask);
    shape D (an int): alternating features, i % 2 == parity (for 2-D points: x1 | x2).
    """
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    for d in dims:
        integer(d, "shape", lo=1, what="a positive integer size")
    choice(parity, "parity", (0, 1))
    grids = torch.meshgrid(*[torch.arange(d) for d in dims], indexing="ij")
    return (sum(grids) % 2 == parity).float().flatten()


def half_mask(dim: int, first: bool = True) -> torch.Tensor:
    """A 0/1 mask passing the first (or second) half of the features through: the channel-style split."""
    integer(dim, "dim", lo=2, what="a dimension")
    m = (torch.arange(dim) < dim // 2).float()
    return m if first else 1 - m


def _conditioner(in_dim: int, hidden: int, num_hidden: int, out_dim: int, activation: str, dropout: float,
                 layer: Callable[[int, int], nn.Linear] = nn.Linear) -> nn.Sequential:
    """An MLP whose last layer starts at zero, so the layer it drives starts as the identity map."""
    mods: list[nn.Module] = []
    width = in_dim
    for _ in range(num_hidden):
        mods += [layer(width, hidden), ACTIVATIONS[activation]()]
        if dropout:
            mods.append(nn.Dropout(dropout))
        width = hidden
    last = layer(width, out_dim)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*mods, last)


class FlowLayer(nn.Module):
    """An invertible map on (B, dim): forward(x) -> (z, log|det dz/dx|), inverse(z) -> (x, log|det dx/dz|)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = integer(dim, "dim", lo=1, what="a positive dimension")

    def _check(self, x: torch.Tensor, name: str) -> None:
        check_shape(x, name, f"(B, {self.dim})", isinstance(x, torch.Tensor) and x.ndim == 2 and x.shape[1] == self.dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - interface
        raise NotImplementedError

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - interface
        raise NotImplementedError


# ----------------------------------------------------------------------------- RealNVP's affine coupling
class AffineCoupling(FlowLayer):
    """RealNVP's affine coupling (Dinh et al. 2017) with a binary mask m (1 = passed through).

        z = m * x + (1 - m) * (x * exp(s(m * x)) + t(m * x)),      log|det| = sum over (1 - m) of s

    The Jacobian is triangular (the passed part is the identity and conditions the rest), so its
    log-determinant is the sum of the log-scales, and the inverse needs no inverse of s or t. The
    scale is bounded, s = scale * tanh(raw), with a learned per-feature `scale`, so one step cannot
    blow a feature up by exp(large); the conditioner's last layer starts at zero (the identity).

    Args:
        mask: (dim,) of 0/1. hidden, num_hidden: the conditioner MLP's width and depth.
        dropout: in the conditioner (regularises small data; the map stays invertible in eval mode).
    """

    def __init__(self, mask: torch.Tensor, hidden: int = 256, num_hidden: int = 2, activation: str = "relu",
                 dropout: float = 0.0):
        if not isinstance(mask, torch.Tensor) or mask.ndim != 1 or not ((mask == 0) | (mask == 1)).all():
            raise invalid("mask", "a (dim,) tensor of 0s and 1s", shape_of(mask))
        super().__init__(mask.numel())
        choice(activation, "activation", ACTIVATIONS)
        self.register_buffer("mask", mask.float())
        self.net = _conditioner(self.dim, integer(hidden, "hidden", lo=1), integer(num_hidden, "num_hidden", lo=1),
                                2 * self.dim, activation, number(dropout, "dropout", 0.0, 1.0, hi_open=True))
        self.scale = nn.Parameter(torch.ones(self.dim))

    def scale_shift(self, x_pass: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(s, t), each (B, dim) and zero on the passed features, from the passed part m * x."""
        raw, t = self.net(x_pass).chunk(2, dim=1)
        free = 1 - self.mask
        return free * self.scale * torch.tanh(raw), free * t

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x, "x")
        s, t = self.scale_shift(self.mask * x)
        z = self.mask * x + (1 - self.mask) * (x * torch.exp(s) + t)  # z_free = x_free * e^s + t
        return z, s.sum(dim=1)

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(z, "z")
        s, t = self.scale_shift(self.mask * z)  # the passed part is the same in z as in x
        x = self.mask * z + (1 - self.mask) * ((z - t) * torch.exp(-s))  # x_free = (z_free - t) e^-s
        return x, -s.sum(dim=1)


# ----------------------------------------------------------------------------- MADE and autoregressive layers
def made_degrees(dim: int, hidden: int, num_hidden: int, order: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """MADE's degrees: the input order (dim,) in 1..D and each hidden layer's (hidden,) in 1..D-1, cyclic."""
    integer(dim, "dim", lo=2, what="a dimension (MADE needs D >= 2)")
    if order is None:
        order = torch.arange(1, dim + 1)
    elif not isinstance(order, torch.Tensor) or sorted(order.tolist()) != list(range(1, dim + 1)):
        raise invalid("order", f"a permutation of 1..{dim} (the input degrees)", order)
    hidden_degrees = [torch.arange(hidden) % (dim - 1) + 1 for _ in range(num_hidden)]
    return order.long(), hidden_degrees


def made_masks(order: torch.Tensor, hidden_degrees: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """MADE's connectivity masks (Germain et al. 2015), one (out, in) per layer, input to output.

    A hidden unit of degree m sees the units below it of degree <= m; output d sees the last hidden
    units of degree < order[d] (strictly), so output d depends on the inputs earlier in the order only.
    """
    masks, prev = [], order
    for h in hidden_degrees:
        masks.append((h[:, None] >= prev[None, :]).float())  # (H, H_prev)
        prev = h
    masks.append((order[:, None] > prev[None, :]).float())  # (D, H_last): strict
    return masks


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (out, in)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features)
        self.register_buffer("mask", torch.ones(out_features, in_features))

    def set_mask(self, mask: torch.Tensor) -> None:
        check_shape(mask, "mask", str(tuple(self.mask.shape)), mask.shape == self.mask.shape)
        self.mask.copy_(mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """A masked autoencoder for distribution estimation: outputs (B, num_outputs, D), output d a function of x_<d.

    The order of the inputs is `order` (degrees 1..D; default 1..D in feature order); with the masks
    of `made_masks` the Jacobian of every output group is strictly triangular in that order.
    """

    def __init__(self, dim: int, hidden: int = 256, num_hidden: int = 2, num_outputs: int = 2,
                 order: torch.Tensor | None = None, activation: str = "relu", dropout: float = 0.0):
        super().__init__()
        choice(activation, "activation", ACTIVATIONS)
        self.dim = dim
        self.num_outputs = integer(num_outputs, "num_outputs", lo=1)
        self.order, self.hidden_degrees = made_degrees(dim, integer(hidden, "hidden", lo=1),
                                                       integer(num_hidden, "num_hidden", lo=1), order)
        self.net = _conditioner(dim, hidden, num_hidden, num_outputs * dim, activation,
                                number(dropout, "dropout", 0.0, 1.0, hi_open=True), layer=MaskedLinear)
        self.set_masks(made_masks(self.order, self.hidden_degrees))

    def masked_layers(self) -> list[MaskedLinear]:
        return [m for m in self.net if isinstance(m, MaskedLinear)]

    def set_masks(self, masks: Sequence[torch.Tensor]) -> None:
        """Install masks (one (out, in) per layer; the output mask (D, H) is repeated per output group)."""
        layers = self.masked_layers()
        if len(masks) != len(layers):
            raise invalid("masks", f"{len(layers)} masks (one per layer)", len(masks))
        for layer, m in zip(layers[:-1], masks[:-1]):
            layer.set_mask(m)
        layers[-1].set_mask(masks[-1].repeat(self.num_outputs, 1))  # group-major outputs: (k*D + d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape(x, "x", f"(B, {self.dim})", x.ndim == 2 and x.shape[1] == self.dim)
        return self.net(x).view(x.shape[0], self.num_outputs, self.dim)  # (B, K, D)


class _Autoregressive(FlowLayer):
    """Shared by MAF and IAF layers: a MADE giving a shift mu and a bounded log-scale a per feature."""

    def __init__(self, dim: int, hidden: int = 256, num_hidden: int = 2, order: torch.Tensor | None = None,
                 activation: str = "relu", dropout: float = 0.0):
        super().__init__(dim)
        self.made = MADE(dim, hidden, num_hidden, 2, order, activation, dropout)
        self.scale = nn.Parameter(torch.ones(dim))

    def shift_log_scale(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, a), each (B, D), feature d a function of h's features earlier in the order."""
        out = self.made(h)
        return out[:, 0], self.scale * torch.tanh(out[:, 1])

    def _steps(self) -> list[int]:
        return torch.argsort(self.made.order).tolist()  # features in the autoregressive order


class MaskedAutoregressive(_Autoregressive):
    """MAF's layer (Papamakarios et al. 2017), conditioned on the data side x:

        z_d = (x_d - mu_d(x_<d)) * exp(-a_d(x_<d))        x_d = z_d * exp(a_d(x_<d)) + mu_d(x_<d)

    Density (forward) in one pass of the MADE; sampling (inverse) in D passes, one feature at a time.
    """

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x, "x")
        mu, a = self.shift_log_scale(x)
        return (x - mu) * torch.exp(-a), -a.sum(dim=1)

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(z, "z")
        x = torch.zeros_like(z)
        log_det = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
        for d in self._steps():  # D passes: x_d needs x_<d, which the earlier passes filled in
            mu, a = self.shift_log_scale(x)
            x = x.clone()
            x[:, d] = z[:, d] * torch.exp(a[:, d]) + mu[:, d]
            log_det = log_det + a[:, d]
        return x, log_det


class InverseAutoregressive(_Autoregressive):
    """IAF's layer (Kingma et al. 2016), conditioned on the base side z:

        x_d = z_d * exp(a_d(z_<d)) + mu_d(z_<d)           z_d = (x_d - mu_d(z_<d)) * exp(-a_d(z_<d))

    Sampling (inverse) in one pass; density (forward) in D passes, since z_<d must be recovered first.
    """

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x, "x")
        z = torch.zeros_like(x)
        log_det = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for d in self._steps():
            mu, a = self.shift_log_scale(z)
            z = z.clone()
            z[:, d] = (x[:, d] - mu[:, d]) * torch.exp(-a[:, d])
            log_det = log_det - a[:, d]
        return z, log_det

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(z, "z")
        mu, a = self.shift_log_scale(z)
        return z * torch.exp(a) + mu, a.sum(dim=1)


# ----------------------------------------------------------------------------- volume-preserving and normalising layers
class Permutation(FlowLayer):
    """z = x[:, perm]: a fixed permutation between layers (|det| = 1, log_det = 0)."""

    def __init__(self, perm: torch.Tensor):
        if not isinstance(perm, torch.Tensor) or sorted(perm.tolist()) != list(range(perm.numel())):
            raise invalid("perm", "a permutation of 0..dim-1", perm)
        super().__init__(perm.numel())
        self.register_buffer("perm", perm.long())
        self.register_buffer("inv", torch.argsort(perm.long()))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x, "x")
        return x[:, self.perm], x.new_zeros(x.shape[0])

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(z, "z")
        return z[:, self.inv], z.new_zeros(z.shape[0])


class Reverse(Permutation):
    """z = x reversed along the features: lets the next autoregressive layer condition the other way."""

    def __init__(self, dim: int):
        super().__init__(torch.arange(integer(dim, "dim", lo=1) - 1, -1, -1))


class ActNorm(FlowLayer):
    """Glow's activation normalisation: z = (x - loc) * exp(log_scale), per feature, log_det = sum log_scale.

    Initialised from the first batch it sees in training, so that batch comes out with zero mean and
    unit variance; afterwards plain parameters (unlike batch norm, no batch statistics).
    """

    def __init__(self, dim: int):
        super().__init__(dim)
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialized", torch.tensor(False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x, "x")
        if self.training and not self.initialized and x.shape[0] > 1:
            with torch.no_grad():
                self.loc.copy_(x.mean(0))
                self.log_scale.copy_(-torch.log(x.std(0) + 1e-6))
                self.initialized.fill_(True)
        z = (x - self.loc) * torch.exp(self.log_scale)
        return z, self.log_scale.sum().expand(x.shape[0])

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(z, "z")
        return z * torch.exp(-self.log_scale) + self.loc, (-self.log_scale.sum()).expand(z.shape[0])


class BatchNormFlow(FlowLayer):
    """Batch normalisation as a flow layer (RealNVP, MAF): z = (x - m) / sqrt(v + eps) * exp(log_gamma) + beta.

    In training (m, v) are the batch's statistics (and update running averages); in eval mode the
    running ones, which makes the layer a fixed invertible map: evaluate and sample in eval mode.
    """

    def __init__(self, dim: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__(dim)
        self.momentum = number(momentum, "momentum", 0.0, 1.0)
        self.eps = number(eps, "eps", 0.0, lo_open=True)
        self.log_gamma = nn.Parameter(torch.zeros(dim))
        self.beta = nn.Parameter(torch.zeros(dim))
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training:
            m, v = x.mean(0), x.var(0, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(m, self.momentum)
                self.running_var.lerp_(v, self.momentum)
            return m, v
        return self.running_mean, self.running_var

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x, "x")
        m, v = self._stats(x)
        z = (x - m) / torch.sqrt(v + self.eps) * torch.exp(self.log_gamma) + self.beta
        log_det = (self.log_gamma - 0.5 * torch.log(v + self.eps)).sum()
        return z, log_det.expand(x.shape[0])

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(z, "z")
        m, v = self.running_mean, self.running_var
        x = (z - self.beta) * torch.exp(-self.log_gamma) * torch.sqrt(v + self.eps) + m
        return x, (0.5 * torch.log(v + self.eps) - self.log_gamma).sum().expand(z.shape[0])


class Logit(FlowLayer):
    """The logit preprocessing of RealNVP for data in [0, 1]: x -> logit(alpha + (1 - 2 alpha) x).

    Squeezing by alpha keeps the pixels at 0 and 1 finite; log|det| = sum log(1 - 2 alpha) - log p - log(1 - p)
    with p = alpha + (1 - 2 alpha) x. Counted like any layer, so likelihoods stay in the data's units.
    """

    def __init__(self, dim: int, alpha: float = 0.01):
        super().__init__(dim)
        self.alpha = number(alpha, "alpha", 0.0, 0.5, lo_open=True, hi_open=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x, "x")
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise invalid("x", "data in [0, 1] (dequantised pixels) for the logit preprocessing",
                          f"values in [{x.min().item():.4g}, {x.max().item():.4g}]")
        p = self.alpha + (1 - 2 * self.alpha) * x
        log_det = (math.log(1 - 2 * self.alpha) - torch.log(p) - torch.log1p(-p)).sum(dim=1)
        return torch.log(p) - torch.log1p(-p), log_det

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(z, "z")
        p = torch.sigmoid(z)
        log_det = (F.logsigmoid(z) + F.logsigmoid(-z) - math.log(1 - 2 * self.alpha)).sum(dim=1)  # log p(1-p) - log(1-2a)
        return (p - self.alpha) / (1 - 2 * self.alpha), log_det
