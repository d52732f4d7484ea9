"""Lesson 05 (normalizing flows): the checks of its exercises.

The coupling layer is checked with a conditioner that records what it is shown and returns scales and
shifts on *every* feature, so conditioning on the wrong part and forgetting the mask on s each show on
their own; the log-determinant is also compared with autograd's Jacobian. MADE's masks are installed
in a network with random weights and judged by its Jacobian: strictly triangular in the order, with
every allowed connection present. The log-likelihood runs real flow layers; dequantisation runs with
a log-density that records the points it is given, so the noise (per pixel, uniform on [0, 1)), the
rescaling and the Jacobian that keeps the number in the units of the grey levels are checked apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from .. import flows
from ..checks import CheckFailure, describe, expect_close, expect_tensor, register

ScaleShift = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- references
def coupling_forward(x: torch.Tensor, mask: torch.Tensor, scale_shift: ScaleShift) -> tuple[torch.Tensor, torch.Tensor]:
    """z = m x + (1 - m)(x e^s + t) with (s, t) = scale_shift(m x); log_det = sum of (1 - m) s per example."""
    s, t = scale_shift(mask * x)  # 1. condition on the passed part only
    s, t = (1 - mask) * s, (1 - mask) * t  # 2. scale and shift only the other features
    z = mask * x + (1 - mask) * (x * torch.exp(s) + t)
    return z, s.sum(dim=1)


def coupling_inverse(z: torch.Tensor, mask: torch.Tensor, scale_shift: ScaleShift) -> tuple[torch.Tensor, torch.Tensor]:
    """x = m z + (1 - m)(z - t) e^-s with (s, t) = scale_shift(m z); log_det = -sum of (1 - m) s."""
    s, t = scale_shift(mask * z)  # m z = m x: the conditioner sees what the forward saw
    s, t = (1 - mask) * s, (1 - mask) * t
    x = mask * z + (1 - mask) * ((z - t) * torch.exp(-s))
    return x, -s.sum(dim=1)


def flow_log_prob(layers: Sequence[flows.FlowLayer], x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log N(z; 0, I) + sum of the layers' log-determinants, z = the layers applied in order; (B,)."""
    z, log_det = x, torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for layer in layers:
        z, ld = layer(z)
        log_det = log_det + ld
    D = z.shape[1]
    return -0.5 * (z**2).sum(dim=1) - 0.5 * D * math.log(2 * math.pi) + log_det


def made_masks(order: torch.Tensor, hidden_degrees: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """MADE's masks (out, in), input to output: hidden units see degrees <= theirs, outputs strictly lower."""
    return flows.made_masks(order, hidden_degrees)


def dequantized_nll(log_prob: Callable[[torch.Tensor], torch.Tensor], levels: torch.Tensor, num_levels: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw of -log p(levels + u) in nats per example, u ~ U[0, 1) per pixel, the model's density on y = (levels + u) / L."""
    return flows.dequantized_nll(log_prob, levels, num_levels, generator)


# ----------------------------------------------------------------------------- stand-ins that record what they see
class RecordingScaleShift:
    """(s, t) = (tanh(x A), x B): nonzero on every feature, so a missing mask shows; remembers its inputs."""

    def __init__(self, dim: int, seed: int):
        g = _gen(seed)
        self.A = torch.randn(dim, dim, generator=g, dtype=torch.float64)
        self.B = torch.randn(dim, dim, generator=g, dtype=torch.float64)
        self.seen: list[torch.Tensor] = []

    def __call__(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.seen.append(h.detach().clone())
        return torch.tanh(h @ self.A), h @ self.B


def _pair(out, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(out, tuple) or len(out) != 2:
        raise CheckFailure(f"expected {what} to return a pair (values, log_det), got {describe(out)}")
    return out


def _expect_log_det(got, want: torch.Tensor, s_all: torch.Tensor, mask: torch.Tensor, inverse: bool) -> None:
    B = want.shape[0]
    if isinstance(got, torch.Tensor) and got.ndim == 0:
        raise CheckFailure(f"expected log_det of shape ({B},), one per example, got a scalar: sum over the features, "
                           "not over the batch")
    got = expect_tensor(got, (B,), "log_det")
    sign = -1 if inverse else 1
    sd = s_all * (1 - mask)  # the scales of the transformed features
    if torch.allclose(got, -want, atol=1e-6) and want.abs().max() > 1e-3:
        raise CheckFailure(f"log_det has the wrong sign: the {'inverse' if inverse else 'forward'} map "
                           f"{'divides by' if inverse else 'multiplies by'} e^s, so log|det| = "
                           f"{'-' if inverse else '+'}sum of s")
    if torch.allclose(got, sign * s_all.sum(1), atol=1e-6):
        raise CheckFailure("log_det sums s over every feature: only the features that are transformed (mask 0) are "
                           "scaled; the passed ones contribute log 1 = 0. Multiply s by (1 - mask) first")
    if torch.allclose(got, sign * sd.mean(1), atol=1e-6):
        raise CheckFailure("log_det averages s over the features: the log-determinant is their sum")
    expect_close(want, got, what="log_det", rtol=1e-6, atol=1e-8)


def _expect_seen(net: RecordingScaleShift, expected: torch.Tensor, full: torch.Tensor, side: str) -> None:
    if not net.seen:
        raise CheckFailure("scale_shift was never called: compute (s, t) = scale_shift(mask * " + side + ")")
    h = net.seen[-1]
    if h.shape == full.shape and torch.allclose(h, full) and not torch.allclose(full, expected):
        raise CheckFailure(f"scale_shift was given all of {side}: condition on the passed features only, "
                           f"scale_shift(mask * {side}); otherwise the Jacobian is not triangular and the inverse "
                           "cannot recompute s and t")
    if h.shape != expected.shape or not torch.allclose(h, expected):
        raise CheckFailure(f"scale_shift was given a tensor of shape {tuple(h.shape)} that is not mask * {side}")


# ----------------------------------------------------------------------------- the coupling layer
def _coupling_case(seed: int, mask: torch.Tensor, B: int = 5):
    D = mask.numel()
    x = torch.randn(B, D, generator=_gen(seed), dtype=torch.float64) * 1.5
    return x, RecordingScaleShift(D, seed + 100)


@register("05.coupling_forward", "coupling_forward(x, mask, scale_shift) -> (z, log_det)", coupling_forward)
def _check_coupling_forward(student, reference, cases) -> None:
    for seed, mask in ((1, flows.checkerboard_mask(6, 0).double()), (2, flows.half_mask(6, first=False).double())):
        x, net = _coupling_case(seed, mask)
        cases.add(f"mask {mask.int().tolist()}: z and log_det have shapes (B, D) and (B,)")
        z, log_det = _pair(student(x, mask, net), "coupling_forward")
        z = expect_tensor(z, x.shape, "z")
        cases.add("the conditioner sees only the passed features, mask * x")
        _expect_seen(net, mask * x, x, "x")
        cases.add("z: passed features unchanged, the others x * exp(s) + t")
        want_z, want_ld = reference(x, mask, net)
        s_all, t_all = net(mask * x)
        if not torch.allclose(z * mask, x * mask):
            raise CheckFailure("the passed features (mask 1) must come out unchanged: z = mask * x + (1 - mask) * (...)")
        if torch.allclose(z, mask * x + (1 - mask) * (x * torch.exp(-s_all) + t_all)):
            raise CheckFailure("z uses exp(-s): the forward map multiplies by exp(s), the inverse divides")
        if torch.allclose(z, mask * x + (1 - mask) * ((x + t_all) * torch.exp(s_all))):
            raise CheckFailure("z = (x + t) e^s: scale first, then shift, z = x * exp(s) + t")
        expect_close(want_z, z, what="z", rtol=1e-6, atol=1e-8)
        cases.add("log_det = sum over the transformed features of s, per example")
        _expect_log_det(log_det, want_ld, s_all, mask, inverse=False)
    cases.add("log_det equals log|det dz/dx| from autograd's Jacobian")
    mask = flows.checkerboard_mask(4, 1).double()
    x, net = _coupling_case(3, mask, B=3)
    for i in range(3):
        J = torch.autograd.functional.jacobian(lambda v: student(v[None], mask, net)[0][0], x[i])
        expect_close(torch.linalg.slogdet(J)[1], student(x[i:i + 1], mask, net)[1][0], what=f"log_det of example {i}",
                     rtol=1e-6, atol=1e-8)


@register("05.coupling_inverse", "coupling_inverse(z, mask, scale_shift) -> (x, log_det)", coupling_inverse)
def _check_coupling_inverse(student, reference, cases) -> None:
    for seed, mask in ((4, flows.checkerboard_mask(6, 1).double()), (5, flows.half_mask(6).double())):
        x, net = _coupling_case(seed, mask)
        z, _ = coupling_forward(x, mask, net)
        net.seen.clear()
        cases.add(f"mask {mask.int().tolist()}: inverse(forward(x)) gives x back")
        x_back, log_det = _pair(student(z, mask, net), "coupling_inverse")
        x_back = expect_tensor(x_back, x.shape, "x")
        cases.add("the conditioner sees mask * z (equal to mask * x, so s and t are the forward's)")
        _expect_seen(net, mask * z, z, "z")
        s_all, t_all = net(mask * z)
        if torch.allclose(x_back, mask * z + (1 - mask) * ((z - t_all) * torch.exp(s_all))):
            raise CheckFailure("x = (z - t) * exp(s): to undo z = x e^s + t, divide by e^s: x = (z - t) * exp(-s)")
        if torch.allclose(x_back, mask * z + (1 - mask) * (z * torch.exp(-s_all) - t_all)):
            raise CheckFailure("x = z e^-s - t: subtract t before undoing the scale, x = (z - t) * exp(-s)")
        expect_close(x, x_back, what="x = inverse(forward(x))", rtol=1e-6, atol=1e-8)
        cases.add("log_det of the inverse map = minus the forward's")
        _expect_log_det(log_det, reference(z, mask, net)[1], s_all, mask, inverse=True)


# ----------------------------------------------------------------------------- the log-likelihood
def _flow_layers(seed: int) -> list[flows.FlowLayer]:
    torch.manual_seed(seed)
    layers = [flows.AffineCoupling(flows.checkerboard_mask(4, 0), 8), flows.Reverse(4),
              flows.AffineCoupling(flows.checkerboard_mask(4, 1), 8), flows.ActNorm(4)]
    g = _gen(seed)
    with torch.no_grad():
        for layer in layers:
            for p in layer.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.4)
            layer.double().eval()
        layers[-1].initialized.fill_(True)
    return layers


@register("05.flow_log_prob", "flow_log_prob(layers, x) -> log p(x) (B,)", flow_log_prob)
def _check_flow_log_prob(student, reference, cases) -> None:
    layers = _flow_layers(8)
    x = torch.randn(6, 4, generator=_gen(9), dtype=torch.float64)
    cases.add("four layers (coupling, reverse, coupling, actnorm): one log-density per example, (B,)")
    got = student(layers, x)
    if isinstance(got, torch.Tensor) and got.ndim == 0:
        raise CheckFailure("expected one log p(x) per example, shape (6,), got a scalar (no mean over the batch here)")
    got = expect_tensor(got, (6,), "log p(x)")
    want = reference(layers, x)
    z, ld = x, torch.zeros(6, dtype=torch.float64)
    lds = []
    for layer in layers:
        z, d = layer(z)
        lds.append(d)
        ld = ld + d
    base = -0.5 * (z**2).sum(1) - 2 * math.log(2 * math.pi)
    cases.add("log N(z; 0, I) + the summed log-determinants, z = the layers applied in order")
    if torch.allclose(got, want + 2 * math.log(2 * math.pi)):
        raise CheckFailure("the base density lacks its constant -D/2 log(2 pi): log N(z; 0, I) = -||z||^2 / 2 - D/2 log 2 pi")
    if torch.allclose(got, base - ld):
        raise CheckFailure("the log-determinants are subtracted: log p(x) = log p(z) + log|det dz/dx|, with the "
                           "forward maps' log_det added")
    if torch.allclose(got, base + lds[-1]) or torch.allclose(got, base + lds[0]):
        raise CheckFailure("only one layer's log-determinant is counted: they add up over the layers")
    if torch.allclose(got, base):
        raise CheckFailure("no log-determinant: the change of variables needs log|det dz/dx| of every layer")
    if torch.allclose(got, -0.5 * (z**2).mean(1) - 0.5 * math.log(2 * math.pi) + ld):
        raise CheckFailure("the base log-density is averaged over the features: it is a sum over the D dimensions")
    expect_close(want, got, what="log p(x)", rtol=1e-6, atol=1e-8)
    cases.add("a density: exp(log p) integrates to 1 over the plane (a 2-D flow, Riemann sum)")
    torch.manual_seed(10)
    flow2 = [flows.AffineCoupling(flows.checkerboard_mask(2, k % 2), 16) for k in range(3)]
    with torch.no_grad():
        for layer in flow2:
            for p in layer.parameters():
                p.add_(torch.randn(p.shape, generator=_gen(11)) * 0.2)
            layer.double().eval()
    t = torch.linspace(-9, 9, 241, dtype=torch.float64)
    grid = torch.cartesian_prod(t, t)
    mass = student(flow2, grid).exp().sum() * (t[1] - t[0]) ** 2
    expect_close(torch.tensor(1.0, dtype=torch.float64), mass.detach(), what="the integral of p(x)", atol=0.02)


# ----------------------------------------------------------------------------- MADE's masks
def _made_case(order: torch.Tensor, hidden: int, num_hidden: int):
    _, degrees = flows.made_degrees(order.numel(), hidden, num_hidden, order)
    return degrees


@register("05.made_masks", "made_masks(order, hidden_degrees) -> [masks (out, in)]", made_masks)
def _check_made_masks(student, reference, cases) -> None:
    for order, hidden, num_hidden in ((torch.tensor([3, 1, 4, 2]), 10, 2), (torch.arange(1, 6), 8, 1),
                                      (torch.tensor([2, 5, 1, 3, 4]), 12, 3)):
        D = order.numel()
        degrees = _made_case(order, hidden, num_hidden)
        want = reference(order, degrees)
        cases.add(f"order {order.tolist()}, {num_hidden} hidden layer(s) of {hidden}: one mask per layer, (out, in)")
        got = student(order.clone(), [d.clone() for d in degrees])
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            raise CheckFailure(f"expected a list of {len(want)} masks (one per linear layer, the output layer's last), "
                               f"got {describe(got)}")
        for k, (g, w) in enumerate(zip(got, want)):
            g = expect_tensor(g, None, f"mask {k}")
            if g.shape != w.shape:
                hint = " (transposed: nn.Linear's weight is (out_features, in_features))" if g.shape == w.shape[::-1] else ""
                raise CheckFailure(f"mask {k} must have shape {tuple(w.shape)}, got {tuple(g.shape)}{hint}")
        cases.add("installed in a MADE with random weights, output d depends only on inputs earlier in the order")
        made = flows.MADE(D, hidden, num_hidden, num_outputs=2, order=order, activation="tanh").double()  # tanh: no dead units
        made.set_masks([g.to(torch.float64) for g in got])
        with torch.no_grad():
            for p in made.parameters():
                p.copy_(torch.randn(p.shape, generator=_gen(7), dtype=torch.float64))
        J = torch.autograd.functional.jacobian(lambda v, net=made: net(v[None])[0],
                                               torch.randn(D, dtype=torch.float64)).abs()
        J = J.amax(0)  # (D, D): output d, input j, over both output groups
        allowed = order[:, None] > order[None, :]
        leaks = ((J > 0) & ~allowed).nonzero()
        if len(leaks):
            d, j = (int(v) for v in leaks[0])
            why = (" (its own input: the output layer's comparison must be strict, degree < order[d])" if d == j else
                   " (a later input: the Jacobian must be strictly triangular in the order)")
            raise CheckFailure(f"output {d} (order {int(order[d])}) depends on input {j} (order {int(order[j])}){why}")
        missing = (allowed & (J == 0)).nonzero()
        if len(missing):
            d, j = (int(v) for v in missing[0])
            raise CheckFailure(f"output {d} (order {int(order[d])}) cannot see input {j} (order {int(order[j])}), which "
                               "comes earlier: a hidden unit of degree m must connect to every unit below of degree <= m "
                               "(non-strict), and outputs to every unit of degree < order[d]")
        cases.add("the masks are MADE's: hidden >=, output >")
        for k, (g, w) in enumerate(zip(got, want)):
            expect_close(w, g.to(w.dtype), what=f"mask {k}")


# ----------------------------------------------------------------------------- dequantisation
class RecordingLogProb:
    """log p(y) of a smooth density on [0, 1)^D (a product of Beta(2, 2)), remembering every y it is shown."""

    def __init__(self):
        self.seen: list[torch.Tensor] = []

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        self.seen.append(y.detach().clone())
        return (math.log(6) + torch.log(y.clamp_min(1e-12)) + torch.log1p(-y.clamp(max=1 - 1e-12))).sum(dim=1)


@register("05.dequantized_nll", "dequantized_nll(log_prob, levels, num_levels) -> nats (B,)", dequantized_nll)
def _check_dequantized_nll(student, reference, cases) -> None:
    L, B, D = 17, 40, 64
    levels = torch.randint(0, L, (B, D), generator=_gen(12))
    lp = RecordingLogProb()
    cases.add(f"{B} images of {D} pixels, {L} grey levels: one bound per image, (B,)")
    try:
        got = student(lp, levels, L, _gen(13))
    except TypeError as err:
        if "positional" not in str(err):
            raise
        got = student(lp, levels, L)
    if isinstance(got, torch.Tensor) and got.ndim == 0:
        raise CheckFailure(f"expected one bound per image, shape ({B},), got a scalar")
    got = expect_tensor(got, (B,), "the bound")
    if not lp.seen:
        raise CheckFailure("log_prob was never called: evaluate the model's density at y = (levels + u) / num_levels")
    y = lp.seen[-1]
    if y.shape != levels.shape:
        raise CheckFailure(f"log_prob was given shape {tuple(y.shape)}: pass y of the levels' shape {tuple(levels.shape)}")
    cases.add("the model sees y = (levels + u) / num_levels in [0, 1)")
    if y.max() >= 1:
        raise CheckFailure(f"y reaches {y.max().item():.4g}: divide by num_levels = {L} (not {L - 1}), so the {L} "
                           f"bins [k, k + 1) fill [0, 1) exactly")
    u = y.double() * L - levels
    if u.abs().max() < 1e-6:
        raise CheckFailure("no noise: the density at the grid points is not a bound on P(levels). Add u ~ U[0, 1) to "
                           "every pixel (uniform dequantisation)")
    if u.min() < -1e-5:
        raise CheckFailure(f"u ranges over {u.min().item():.3f} .. {u.max().item():.3f}: use u ~ U[0, 1) (torch.rand), "
                           "so pixel k fills its own bin [k, k + 1)")
    if (u.std(dim=1) < 1e-6).any():
        raise CheckFailure("one u per image: draw an independent u for every pixel, torch.rand(levels.shape)")
    if abs(u.mean().item() - 0.5) > 0.05 or abs(u.var().item() - 1 / 12) > 0.015:
        raise CheckFailure(f"u should be uniform on [0, 1) (mean 0.5, variance 0.083), got mean {u.mean():.3f} and "
                           f"variance {u.var():.3f}")
    cases.add(f"nats in the units of the grey levels: -(log p(y) - D log {L})")
    lp_y = lp(y)
    want = -(lp_y - D * math.log(L))
    if torch.allclose(got.double(), -lp_y.double(), rtol=1e-5):
        raise CheckFailure(f"the Jacobian of the rescaling is missing: p(levels + u) = p_y(y) / {L}^D, so add "
                           f"D log {L} = {D * math.log(L):.1f} nats to -log p(y) (the classic 'too good' likelihood)")
    if torch.allclose(got.double(), -(lp_y - D * math.log(L - 1)).double(), rtol=1e-5):
        raise CheckFailure(f"the Jacobian counts log {L - 1}: y = (levels + u) / {L}, so it is D log {L} "
                           f"({D * math.log(L):.1f} nats, not {D * math.log(L - 1):.1f})")
    if torch.allclose(got.double(), (lp_y - D * math.log(L)).double(), rtol=1e-5):
        raise CheckFailure("the sign is flipped: return the negative log-likelihood, -(log p(y) - D log L)")
    expect_close(want, got.double(), what="the bound in nats", rtol=1e-5, atol=1e-4)
