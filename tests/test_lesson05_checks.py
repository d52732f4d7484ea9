"""Lesson 05's checks against the classic mistakes: every wrong answer listed here must fail, with a message
that points at the mistake."""

import math

import torch
from mistakes import lesson_tests

from course_lib import flows
from course_lib.exercises import lesson05


# ----------------------------------------------------------------------------- wrong answers: the coupling
def _forward(cond_on_all=False, no_mask_on_s=False, neg_exp=False, shift_first=False, ld_sign=1, ld_mean=False,
             ld_scalar=False, passed_changed=False):
    def f(x, mask, scale_shift):
        s, t = scale_shift(x if cond_on_all else mask * x)
        t = t if passed_changed else (1 - mask) * t
        s_used = s if no_mask_on_s else (1 - mask) * s
        scale = torch.exp(-s_used) if neg_exp else torch.exp(s_used)
        moved = (x + t) * scale if shift_first else x * scale + t
        z = x * torch.exp(s) + t if passed_changed else mask * x + (1 - mask) * moved  # s and t on every feature
        ld = s_used.mean(1) if ld_mean else s_used.sum(1)
        ld = ld_sign * ld
        return z, (ld.sum() if ld_scalar else ld)

    return f


def _forward_log_det_all_s(x, mask, scale_shift):  # z right, log_det over every feature's s
    z, _ = lesson05.coupling_forward(x, mask, scale_shift)
    s, _ = scale_shift(mask * x)
    return z, s.sum(1)


def _inverse(cond_on_all=False, times_exp=False, shift_after=False, ld_sign=-1):
    def f(z, mask, scale_shift):
        s, t = scale_shift(z if cond_on_all else mask * z)
        s, t = (1 - mask) * s, (1 - mask) * t
        if times_exp:
            moved = (z - t) * torch.exp(s)
        elif shift_after:
            moved = z * torch.exp(-s) - t
        else:
            moved = (z - t) * torch.exp(-s)
        return mask * z + (1 - mask) * moved, ld_sign * s.sum(1)

    return f


def _inverse_returns_forward(z, mask, scale_shift):  # applies the forward map again
    return lesson05.coupling_forward(z, mask, scale_shift)


# ----------------------------------------------------------------------------- wrong answers: MADE
def _masks(hidden_strict=False, output_strict=True, transposed=False, natural_order=False, output_from_inputs=False):
    def f(order, hidden_degrees):
        if natural_order:
            order = torch.arange(1, order.numel() + 1)
        masks, prev = [], order
        for h in hidden_degrees:
            masks.append(((h[:, None] > prev[None, :]) if hidden_strict else (h[:, None] >= prev[None, :])).float())
            prev = h
        if output_from_inputs:  # compares with the input degrees instead of the last hidden layer's
            out = torch.ones(order.numel(), prev.numel())
        else:
            out = (order[:, None] > prev[None, :]) if output_strict else (order[:, None] >= prev[None, :])
        masks.append(out.float())
        return [m.T for m in masks] if transposed else masks

    return f


def _masks_dense(order, hidden_degrees):  # no masking at all
    sizes = [order.numel(), *[h.numel() for h in hidden_degrees], order.numel()]
    return [torch.ones(b, a) for a, b in zip(sizes[:-1], sizes[1:])]


def _masks_too_sparse(order, hidden_degrees):  # valid autoregressive, but output d only sees hidden of degree d - 1
    masks = lesson05.made_masks(order, hidden_degrees)
    masks[-1] = (order[:, None] == hidden_degrees[-1][None, :] + 1).float()
    return masks


# ----------------------------------------------------------------------------- wrong answers: the log-likelihood
def _log_prob(no_constant=False, minus_ld=False, last_only=False, no_ld=False, mean_dims=False, batch_mean=False,
              half_missing=False):
    def f(layers, x):
        z, total, last = x, torch.zeros(x.shape[0], dtype=x.dtype), None
        for layer in layers:
            z, ld = layer(z)
            total, last = total + ld, ld
        D = z.shape[1]
        sq = (z**2).mean(1) if mean_dims else (z**2).sum(1)
        constant = 0 if no_constant else (0.5 if mean_dims else 0.5 * D)
        base = -(1.0 if half_missing else 0.5) * sq - constant * math.log(2 * math.pi)
        ld = torch.zeros_like(total) if no_ld else (last if last_only else total)
        out = base - ld if minus_ld else base + ld
        return out.mean() if batch_mean else out

    return f


def _log_prob_inverse(layers, x):  # pushes x through the inverses instead of the forward maps
    z, total = x, torch.zeros(x.shape[0], dtype=x.dtype)
    for layer in reversed(layers):
        z, ld = layer.inverse(z)
        total = total + ld
    return flows.standard_normal_log_prob(z) + total


# ----------------------------------------------------------------------------- wrong answers: dequantisation
def _deq(divide_by=None, noise="uniform", jacobian="L", sign=1, reduce=None):
    def f(log_prob, levels, num_levels, generator=None):
        L = num_levels
        if noise == "uniform":
            u = torch.rand(levels.shape, generator=generator)
        elif noise == "none":
            u = torch.zeros(levels.shape)
        elif noise == "centred":
            u = torch.rand(levels.shape, generator=generator) - 0.5
        elif noise == "per_image":
            u = torch.rand(levels.shape[0], 1, generator=generator).expand_as(levels)
        elif noise == "gaussian":
            u = torch.randn(levels.shape, generator=generator).abs().clamp(max=0.99) * 0.3
        y = (levels + u) / (divide_by or L)
        log_det = {"L": -levels.shape[1] * math.log(L), "none": 0.0, "L-1": -levels.shape[1] * math.log(L - 1)}[jacobian]
        nll = -(log_prob(y) + log_det) * sign
        return nll.mean() if reduce == "mean" else nll

    return f


MISTAKES = [
    ("05.coupling_forward", "the conditioner sees all of x", _forward(cond_on_all=True), "given all of x"),
    ("05.coupling_forward", "s not masked: the passed features get scaled", _forward(no_mask_on_s=True), "(1 - mask)"),
    ("05.coupling_forward", "exp(-s) in the forward map", _forward(neg_exp=True), "exp(-s)"),
    ("05.coupling_forward", "shift before scale, (x + t) e^s", _forward(shift_first=True), "scale first"),
    ("05.coupling_forward", "log_det with the wrong sign", _forward(ld_sign=-1), "wrong sign"),
    ("05.coupling_forward", "log_det a mean over features", _forward(ld_mean=True), "averages s"),
    ("05.coupling_forward", "log_det summed over the batch too", _forward(ld_scalar=True), "got a scalar"),
    ("05.coupling_forward", "log_det over every feature's s", _forward_log_det_all_s, "(1 - mask)"),
    ("05.coupling_forward", "the passed half transformed too", _forward(passed_changed=True), "unchanged"),
    ("05.coupling_inverse", "the conditioner sees all of z", _inverse(cond_on_all=True), "given all of z"),
    ("05.coupling_inverse", "multiplies by e^s again", _inverse(times_exp=True), "divide by e^s"),
    ("05.coupling_inverse", "unscale before unshifting", _inverse(shift_after=True), "subtract t before"),
    ("05.coupling_inverse", "log_det with the forward's sign", _inverse(ld_sign=1), "wrong sign"),
    ("05.coupling_inverse", "the forward map again", _inverse_returns_forward, "x = inverse(forward(x))"),
    ("05.made_masks", "output comparison not strict (>=)", _masks(output_strict=False), "strict, degree < order[d]"),
    ("05.made_masks", "hidden comparison strict (>)", _masks(hidden_strict=True), "cannot see input"),
    ("05.made_masks", "masks transposed (in, out)", _masks(transposed=True), "transposed"),
    ("05.made_masks", "the order ignored (natural order)", _masks(natural_order=True), "depends on input"),
    ("05.made_masks", "no masks: a plain MLP", _masks_dense, "depends on input"),
    ("05.made_masks", "output layer unmasked", _masks(output_from_inputs=True), "depends on input"),
    ("05.made_masks", "outputs see too few units", _masks_too_sparse, "mask 2 differs"),
    ("05.flow_log_prob", "no 2 pi constant", _log_prob(no_constant=True), "constant"),
    ("05.flow_log_prob", "log-determinants subtracted", _log_prob(minus_ld=True), "subtracted"),
    ("05.flow_log_prob", "only the last layer's log-determinant", _log_prob(last_only=True), "only one layer"),
    ("05.flow_log_prob", "no log-determinant", _log_prob(no_ld=True), "no log-determinant"),
    ("05.flow_log_prob", "base density averaged over features", _log_prob(mean_dims=True), "averaged over the features"),
    ("05.flow_log_prob", "a mean over the batch", _log_prob(batch_mean=True), "got a scalar"),
    ("05.flow_log_prob", "-||z||^2 without the 1/2", _log_prob(half_missing=True), "log p(x) differs"),
    ("05.flow_log_prob", "the inverse maps instead of the forward ones", _log_prob_inverse, "log p(x) differs"),
    ("05.dequantized_nll", "divided by 16 (levels - 1)", _deq(divide_by=16, jacobian="L-1"), "not 16"),
    ("05.dequantized_nll", "no noise", _deq(noise="none"), "no noise"),
    ("05.dequantized_nll", "noise centred on the level, U[-1/2, 1/2)", _deq(noise="centred"), "U[0, 1)"),
    ("05.dequantized_nll", "one u per image", _deq(noise="per_image"), "one u per image"),
    ("05.dequantized_nll", "half-normal noise", _deq(noise="gaussian"), "uniform on [0, 1)"),
    ("05.dequantized_nll", "the Jacobian forgotten (181.3 nats too good)", _deq(jacobian="none"), "Jacobian of the rescaling"),
    ("05.dequantized_nll", "log 16 in the Jacobian", _deq(jacobian="L-1"), "counts log 16"),
    ("05.dequantized_nll", "the log-likelihood, not its negative", _deq(sign=-1), "sign is flipped"),
    ("05.dequantized_nll", "a mean over the batch", _deq(reduce="mean"), "got a scalar"),
]

test_each_mistake_fails, test_every_exercise_is_listed, test_reference_passes_and_stub_is_not_attempted = lesson_tests(
    "05", MISTAKES)
