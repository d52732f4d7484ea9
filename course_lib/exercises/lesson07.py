"""Lesson 07 (latent diffusion and classifier-free guidance): the checks of its exercises.

The scale factor is judged on latents with non-zero means and unequal spreads per dimension (so 1 / std
over every entry is told apart from per-dimension, uncentred or variance stand-ins); decoding on a fixed
nonlinear decoder (so dividing before decoding is told apart from dividing after). Label dropout is random:
it is judged by what holds whatever the draws (p = 0 and 1, kept labels unchanged, the null label exactly)
and by binomial counts within five standard deviations, per class and per position. The guided sampler
runs a small random class-conditional `TimeMLP` through a wrapper that records every call.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from .. import diffusion as D
from .. import guidance, latent
from ..checks import CheckFailure, describe, expect_close, expect_tensor, register
from ..unet import TimeMLP


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and torch.allclose(a.detach().double().cpu(), b.double().cpu(), rtol=rtol, atol=atol)


def _expect_close_or(want: torch.Tensor, got, what: str, hint, *args, **tol) -> None:
    """expect_close, with hint(*args, got) (a sentence naming the likely mistake, or "") appended to a failure."""
    try:
        expect_close(want, got, what=what, **tol)
    except CheckFailure as err:
        raise CheckFailure(f"{err}.{hint(*args, got) if isinstance(got, torch.Tensor) else ''}") from None


class _Given(nn.Module):
    """An autoencoder for `LatentCodec` made of given parts: encode is the identity, decode the given callable."""

    def __init__(self, decode=None):
        super().__init__()
        self.parts = (decode,)  # in a tuple: a decoder module is not adopted (LatentCodec would freeze it)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.parts[0](z)


# ----------------------------------------------------------------------------- references
def scale_factor(z: torch.Tensor) -> float:
    """1 / std over every entry of the training latents z (N, ...): one number (LatentCodec.fit_scale)."""
    return latent.LatentCodec(_Given()).fit_scale(z)


def decode_latents(decode, z: torch.Tensor, scale: float) -> torch.Tensor:
    """decode(z / scale): undo the scale the encoder's latents were multiplied by, then decode."""
    return latent.LatentCodec(_Given(decode), float(scale)).decode(z)  # float(): a 0-d tensor scale too


def drop_labels(y: torch.Tensor, p: float, null_label: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each label replaced by null_label independently with probability p (a new tensor)."""
    return guidance.drop_labels(y, p, null_label, generator)


def guided_eps(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """eps_u + s (eps_c - eps_u): s = 0 unconditional, s = 1 conditional, s > 1 guided."""
    return guidance.guided_eps(eps_cond, eps_uncond, scale)


@torch.no_grad()
def guided_sample(diffusion: D.GaussianDiffusion, model, x_T: torch.Tensor, y: torch.Tensor, scale: float,
                  null_label: int, steps: int, clip: float | None) -> torch.Tensor:
    """Deterministic DDIM (eta = 0) from x_T over diffusion.ddim_timesteps(steps) with the guided prediction."""
    guided = guidance.GuidedModel(model, scale, null_label)  # one call of the network per step, doubled batch
    ts = diffusion.ddim_timesteps(steps).tolist()
    x = x_T
    for t, t_prev in zip(ts, [*ts[1:], -1]):
        eps = guided(x, torch.full((len(x),), t, dtype=torch.long, device=x.device), y)
        x = diffusion.ddim_step(eps, x, t, t_prev, eta=0.0, clip=clip)[0]
    return x


# ----------------------------------------------------------------------------- the scale factor
def _number(got, what: str) -> float:
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise CheckFailure(f"expected {what} to be one number, got a tensor of shape {tuple(got.shape)}: one scale "
                               "for the whole latent space, 1 / std over every entry of z (z.std(), not z.std(0))")
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, numbers.Real):  # numpy's floats too
        raise CheckFailure(f"expected {what} to be a float, got {describe(got)}")
    return float(got)


def _scale_hint(z: torch.Tensor, got: float) -> str:
    z = z.double()
    std = z.std().item()
    known = [(std, "that is the standard deviation itself; the scale is its inverse, 1 / std"),  # the classic mistakes
             (1 / std**2, "that is 1 / variance; the scale is 1 / std, the square root of the variance's inverse"),
             (1 / z.square().mean().sqrt().item(), f"that is 1 / sqrt(mean z^2), not centred: the std subtracts the mean "
                                                   f"first, and these latents have mean {z.mean().item():.3g}"),
             (1 / z.flatten(1).mean(1).std().item(), "that is 1 / std of each example's mean: take the std over every "
                                                     "entry of z, not over per-example averages"),
             (1 / z.abs().max().item(), "that is 1 / max |z|: the scale is 1 / std over every entry, not the largest value")]
    return next((f": {why}" for value, why in known if math.isclose(got, value, rel_tol=1e-3)), "")


@register("07.scale_factor", "scale_factor(z) -> 1 / std over every entry of the latents", scale_factor)
def _check_scale_factor(student, reference, cases) -> None:
    g = _gen(1)
    mean, spread = torch.tensor([1.5, -0.5, 0.8, 0.2]), torch.tensor([0.5, 2.0, 1.0, 3.0])
    maps = torch.randn(256, 4, 4, 4, generator=g) * spread[:, None, None] + mean[:, None, None]
    vectors = torch.randn(1000, 8, generator=g) * torch.linspace(0.3, 4.0, 8) + torch.linspace(-2.0, 3.0, 8)
    for what, z in (("latent maps (256, 4, 4, 4), channels with their own means and spreads", maps),
                    ("latent vectors (1000, 8) with a non-zero mean and unequal spreads", vectors),
                    ("the same maps five times larger (std about 10: a scale of about 0.1)", 5 * maps)):
        cases.add(f"{what}: one number, 1 / std over every entry")
        before = z.clone()
        got = _number(student(z), "the scale factor")
        if not torch.equal(z, before):
            raise CheckFailure("z was changed in place: compute the scale without modifying the latents")
        want = reference(z)
        if not math.isclose(got, want, rel_tol=1e-3):
            raise CheckFailure(f"expected the scale factor {want:.5g} (1 / std over every entry of z), "
                               f"got {got:.5g}{_scale_hint(z, got)}")


# ----------------------------------------------------------------------------- decoding scaled latents
class _Decoder(nn.Module):
    """A fixed nonlinear decoder, latents (B, 4, 2, 2) -> images (B, 1, 6, 6): decode(z) / s is not decode(z / s)."""

    def __init__(self, seed: int):
        super().__init__()
        g = _gen(seed)
        self.w1, self.b1 = torch.randn(16, 32, generator=g) / 16, torch.randn(32, generator=g) * 0.3
        self.w2, self.b2 = torch.randn(32, 36, generator=g) / 32**0.5, torch.randn(36, generator=g) * 0.1
        self.calls = 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return (torch.tanh(z.flatten(1) @ self.w1 + self.b1) @ self.w2 + self.b2).view(-1, 1, 6, 6)


def _decode_hint(decode: _Decoder, z: torch.Tensor, scale: float, got: torch.Tensor) -> str:
    known = [(decode(z * scale), "You decoded z * scale: divide the latents by the scale before decoding "
                                 "(encoding multiplied them by it)"),
             (decode(z), "You decoded z as it is: divide the latents by the scale before decoding, decode(z / scale) "
                         "(the diffusion model's latents are the autoencoder's times the scale)"),
             (decode(z) / scale, "You divided after decoding: divide the latents by the scale before decoding; the "
                                 "decoder is nonlinear, so decode(z) / scale is not decode(z / scale)"),
             (decode(z) * scale, "You multiplied the decoded images by the scale: divide the latents by the scale "
                                 "before decoding instead")]
    return next((f" {why}." for value, why in known if _close(got, value)), "")


@register("07.decode_latents", "decode_latents(decode, z, scale) -> decode(z / scale)", decode_latents)
def _check_decode_latents(student, reference, cases) -> None:
    for seed, B, scale in ((1, 8, 0.18215), (2, 5, 2.5)):
        decode = _Decoder(seed)
        z = torch.randn(B, 4, 2, 2, generator=_gen(10 + seed))
        cases.add(f"latents ({B}, 4, 2, 2) of unit variance, scale {scale}, a nonlinear decoder to images ({B}, 1, 6, 6)")
        before = z.clone()
        got = student(decode, z, scale)
        if not torch.equal(z, before):
            raise CheckFailure("z was changed in place (z /= scale?): divide into a new tensor, z / scale, and leave the "
                               "caller's latents as they are")
        if decode.calls == 0:
            bare = isinstance(got, torch.Tensor) and _close(got, z / scale)
            hint = ": you returned z / scale without decoding it" if bare else ""
            raise CheckFailure(f"decode was never called{hint}: return decode(z / scale), images of shape ({B}, 1, 6, 6)")
        _expect_close_or(reference(decode, z, scale), got, "the decoded images", _decode_hint, decode, z, scale)


# ----------------------------------------------------------------------------- label dropout
def _drop(student, y: torch.Tensor, p: float, null: int, seed: int) -> torch.Tensor:
    """The student's labels on (y, p, null), checked for what holds whatever the draws; returns the dropped mask."""
    before = y.clone()
    torch.manual_seed(seed)  # a function that ignores `generator` is as reproducible as one that uses it
    out = student(y, p, null, generator=_gen(seed))
    if not torch.equal(y, before):
        raise CheckFailure("y was changed in place: return a new tensor (torch.where(drop, null_label, y), or y.clone() "
                           "first); the caller's labels are needed again at the next epoch")
    out = expect_tensor(out, tuple(y.shape), "the labels")
    if out.dtype != y.dtype:
        raise CheckFailure(f"expected labels of dtype {str(y.dtype).replace('torch.', '')} like y, got "
                           f"{str(out.dtype).replace('torch.', '')}: the labels index an embedding, keep them integers")
    dropped = out == null
    other = ~(dropped | (out == y))
    if other.any():
        values = sorted(set(out[other].tolist()))
        became = f" (they became {values[0]:g}" if len(values) == 1 else f" (values {values[:5]}"
        why = {0: ", a real class: the network would learn class 0 from unlabelled examples)",
               -1: ", which is no index of the label embedding)"}.get(values[0] if len(values) == 1 else None, ")")
        raise CheckFailure(f"{int(other.sum())} of {len(y)} labels are neither the original label nor the null label "
                           f"{null}{became}{why}: a dropped label must become exactly null_label")
    return dropped


def _expect_rate(dropped: torch.Tensor, p: float, what: str = "") -> None:
    n, k, what = dropped.numel(), int(dropped.sum()), f" {what}" if what else ""
    if 0 < p < 1 and k in (0, n) and n > 100:
        raise CheckFailure(f"at p = {p}, {'all' if k else 'none'} of the {n} labels{what} were dropped: draw one coin per "
                           "example, torch.rand(B) < p, not one for the whole batch")
    sd = math.sqrt(n * p * (1 - p))
    if abs(k - p * n) > 5 * sd:
        raise CheckFailure(f"at p = {p}, expected about {p * n:.0f} of the {n} labels{what} dropped (give or take "
                           f"{5 * sd:.0f}), got {k}")


@register("07.drop_labels", "drop_labels(y, p, null_label, generator=None)", drop_labels)
def _check_drop_labels(student, reference, cases) -> None:
    y = torch.arange(10).repeat(100)
    for p, want in ((0.0, 0), (1.0, len(y))):
        cases.add(f"1000 labels of 10 classes, null label 10, p = {p:g}: {'none' if p == 0 else 'every one'} dropped")
        k = int(_drop(student, y, p, 10, 1).sum())
        if k != want:
            hint = " (did you keep each label with probability p instead of dropping it?)" if k == len(y) - want else ""
            raise CheckFailure(f"at p = {p:g} expected {want} of {len(y)} null labels, got {k}{hint}: drop where the "
                               "coin is below p, torch.rand(B) < p")
    cases.add("3 classes, null label 3 (num_classes), p = 0.3: dropped labels are exactly 3, kept ones unchanged")
    _expect_rate(_drop(student, torch.arange(3).repeat(1000), 0.3, 3, 3), 0.3)
    y = torch.arange(10).repeat(2000)
    for p in (0.1, 0.5):
        cases.add(f"20000 labels of 10 classes, p = {p}: dropped at rate p in every class and all over the batch")
        dropped = _drop(student, y, p, 10, 4 + int(10 * p))
        _expect_rate(dropped, p)
        n, k = len(y), int(dropped.sum())
        if k and torch.equal(dropped, torch.arange(n) < k):
            raise CheckFailure(f"the dropped labels are the first {k} of the batch: each example must be dropped by its "
                               "own random coin, wherever it is in the batch")
        _expect_rate(dropped[: n // 2], p, "of the first half of the batch")
        _expect_rate(dropped[n // 2:], p, "of the second half of the batch")
        for c in range(10):
            _expect_rate(dropped[y == c], p, f"of class {c}")
    cases.add("p = 0.5, 20 calls on 1000 labels: each call drops some and keeps some, and not the same ones")
    y = torch.arange(10).repeat(100)
    masks = [_drop(student, y, 0.5, 10, 100 + i) for i in range(20)]
    for mask in masks:
        _expect_rate(mask, 0.5, "of one call")
    if all(torch.equal(m, masks[0]) for m in masks):
        raise CheckFailure("the same examples are dropped at every call: draw the coins at random, "
                           "torch.rand(B, generator=generator) < p")


# ----------------------------------------------------------------------------- the guided prediction
def _guidance_hint(c: torch.Tensor, u: torch.Tensor, s: float, got: torch.Tensor) -> str:
    if s == 0 and _close(got, c):
        return (" With s = 0 you should get the unconditional prediction eps_uncond, and you got eps_cond: "
                "eps_uncond + s (eps_cond - eps_uncond) (the (1 + w) eps_c - w eps_u convention has w = s - 1).")
    if s == 1 and _close(got, u):
        return (" With s = 1 you should get the conditional prediction eps_cond, and you got eps_uncond: the roles are "
                "swapped; start from eps_uncond and move towards eps_cond.")
    known = [((1 + s) * c - s * u, "That is (1 + s) eps_cond - s eps_uncond, the (1 + w) eps_c - w eps_u convention read "
                                   "with w = s: here s = 1 must give eps_cond and s = 0 eps_uncond; the two conventions "
                                   "agree for s = 1 + w (guidance.guidance_weight_to_scale)."),
             (c + s * (u - c), "The roles of eps_cond and eps_uncond are swapped: start from the unconditional "
                               "prediction and move towards the conditional one, eps_uncond + s (eps_cond - eps_uncond)."),
             (s * c, "s * eps_cond alone leaves out the unconditional prediction: eps_uncond + s (eps_cond - eps_uncond).")]
    want = u + s * (c - u)
    if got.shape == c.shape and _close(got[:, :1], want[:, :1]) and _close(got[:, 1:], c[:, 1:]):
        known.append((got, "Only channel 0 was guided, the other channels kept eps_cond: combine them on every entry."))
    return next((f" {why}" for value, why in known if _close(got, value)), "")


@register("07.guided_eps", "guided_eps(eps_cond, eps_uncond, scale) -> eps_u + s (eps_c - eps_u)", guided_eps)
def _check_guided_eps(student, reference, cases) -> None:
    g = _gen(7)
    for shape in ((4, 3, 5, 5), (6, 8)):
        c, u = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        for s, why in ((1.0, "s = 1 is the conditional prediction eps_cond"), (0.0, "s = 0 the unconditional eps_uncond"),
                       (1.5, "s = 1.5 extrapolates past eps_cond"), (3.0, "s = 3, strong guidance"),
                       (-0.5, "s = -0.5, away from the class")):
            cases.add(f"eps of shape {shape}, {why}")
            c0, u0 = c.clone(), u.clone()
            got = student(c, u, s)
            if not (torch.equal(c, c0) and torch.equal(u, u0)):
                raise CheckFailure("eps_cond or eps_uncond was changed in place: return a new tensor")
            want = reference(c, u, s)
            if isinstance(got, torch.Tensor) and got.shape != want.shape:
                raise CheckFailure(f"expected the guided noise of shape {tuple(want.shape)} like eps_cond, got shape "
                                   f"{tuple(got.shape)}: combine the two predictions entry by entry, on every channel")
            _expect_close_or(want, got, "the guided noise", _guidance_hint, c, u, s)
    c, u = torch.randn(4, 3, 5, 5, generator=g), torch.randn(4, 3, 5, 5, generator=g)
    w, s = 2.0, guidance.guidance_weight_to_scale(2.0)
    cases.add(f"the other convention: (1 + w) eps_c - w eps_u with w = {w:g} is this one with s = 1 + w = {s:g}")
    _expect_close_or((1 + w) * c - w * u, student(c, u, s), "the guided noise", _guidance_hint, c, u, s)


# ----------------------------------------------------------------------------- the guided sampler
def _network(seed: int = 0) -> TimeMLP:
    """A random class-conditional TimeMLP (3 classes, null label 3) whose two predictions differ clearly."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = TimeMLP(dim=4, hidden=32, layers=2, num_classes=3).eval()
    with torch.no_grad():
        net.out[-1].weight.mul_(3.0)  # predictions of order 1, the label's effect of order 0.5
    return net.requires_grad_(False)


class _Counted(nn.Module):
    """Passes every call to the network and records (x, t, y) of each."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.calls = net, []

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append((x.detach().clone(), torch.as_tensor(t).detach().clone(), None if y is None else y.detach().clone()))
        return self.net(x, t, y)


def _expect_calls(calls: list, diff: D.GaussianDiffusion, steps: int, y: torch.Tensor, null: int) -> None:
    """One batched call per step of ddim_timesteps(steps), on the doubled batch (x, t, y) and (x, t, null)."""
    B, n, ts = len(y), len(calls), diff.ddim_timesteps(steps).tolist()
    one = "one batched call of the network per step on the doubled batch (x, t, y) and (x, t, null)"
    if n != steps:
        if n == 2 * steps and all(len(x) == B for x, _, _ in calls):
            why = f"two calls per step on batches of {B}: make {one}, torch.cat([x, x]) with torch.cat([y, null])"
        elif n == diff.T:
            why = f"every one of the T = {diff.T} steps was used: step over diffusion.ddim_timesteps(steps), {steps} steps"
        elif n == steps - 1:
            why = "the last step is missing: after t = 0 comes t_prev = -1 (alphabar = 1), which returns the x_0 estimate"
        else:
            why = f"expected {one}, over diffusion.ddim_timesteps(steps)"
        raise CheckFailure(f"expected {steps} calls of the network, got {n}: {why}")
    for x, _, labels in calls:
        if len(x) != 2 * B:
            hint = (" (your calls passed only the labels y: that is the conditional model, no guidance)"
                    if labels is not None and torch.equal(labels.cpu().long(), y) else "")
            raise CheckFailure(f"the network was called on a batch of {len(x)}, expected the doubled batch of {2 * B}: "
                               f"guidance needs both predictions, in {one}{hint}")
        if labels is None or labels.shape != (2 * B,):
            raise CheckFailure(f"the network was called without one label per example, got {describe(labels)}: pass "
                               "torch.cat([y, null]) as its third argument")
        halves = [labels[:B].cpu().long(), labels[B:].cpu().long()]
        null_half = torch.full_like(y, null)
        if all(torch.equal(h, y) for h in halves):
            raise CheckFailure(f"the null label {null} never reached the network: both halves of the batch had the "
                               "labels y; the unconditional half is (x, t, null_label)")
        if not any(torch.equal(h, y) for h in halves) or not any(torch.equal(h, null_half) for h in halves):
            raise CheckFailure(f"expected the labels y {y.tolist()} for one half of the batch and the null label {null} "
                               f"for the other, got {labels.tolist()}")
        if not torch.equal(x[:B], x[B:]):
            raise CheckFailure("the two halves of the batch differ: both are the current x_t")
    got = [int(t.reshape(-1)[0]) for _, t, _ in calls]
    if got != ts:
        raise CheckFailure(f"expected the steps {ts} (diffusion.ddim_timesteps({steps})), got {got}")


def _sample_hint(reference, args: dict, got: torch.Tensor) -> str:
    s, clip = args["scale"], args["clip"]
    known = [(clip is not None, {"clip": None}, "They are the samples without clipping: pass clip to diffusion.ddim_step, "
                                                "which clips each x_0 estimate to [-clip, clip]"),
             (s != 1, {"scale": 1.0}, "They are the conditional model's samples (s = 1): no guidance; combine both "
                                      "predictions with guided_eps"),
             (s != 0, {"scale": 0.0}, "They are the unconditional model's samples (s = 0)"),
             (s != 0.5, {"scale": 1 - s}, f"They are the samples of scale 1 - s = {1 - s:g}: the conditional and the "
                                          "unconditional halves are swapped, which guides away from the class")]
    for applies, change, why in known:
        if applies and _close(got, reference(**{**args, **change}), rtol=1e-3, atol=1e-4):
            return f" {why}."
    return ""


@register("07.guided_sample", "guided_sample(diffusion, model, x_T, y, scale, null_label, steps, clip)", guided_sample)
def _check_guided_sample(student, reference, cases) -> None:
    net, null = _network(0), 3
    linear = ("linear schedule, T = 100, 10 steps", D.GaussianDiffusion(D.linear_beta_schedule(100, 1e-4, 0.05)), 10)
    cosine = ("cosine schedule, T = 50, 7 steps", D.GaussianDiffusion(D.cosine_beta_schedule(50)), 7)
    short = ("linear schedule, T = 50, 7 steps", D.GaussianDiffusion(D.linear_beta_schedule(50, 1e-4, 0.05)), 7)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    runs = [(linear, 3.0, None, "one batched call of the network per step, on the doubled batch"),
            (linear, 0.0, None, "s = 0: the unconditional model's DDIM samples"),
            (linear, 1.0, None, "s = 1: the conditional model's DDIM samples"),
            (cosine, 3.0, 1.0, "clip = 1: every x_0 estimate clipped to [-1, 1]"),
            (short, 2.0, None, "steps unevenly spaced: 49, 41, 33, 24, ..")]
    for i, ((name, diff, steps), s, clip, what) in enumerate(runs):
        x_T = torch.randn(len(y), 4, generator=_gen(20 + i))
        cases.add(f"{name}, labels {y.tolist()}, null label {null}, scale {s:g}, clip {clip}: {what}")
        model = _Counted(net)
        before = x_T.clone()
        got = student(diff, model, x_T, y, s, null, steps, clip)
        if not torch.equal(x_T, before):
            raise CheckFailure("x_T was changed in place: start from it, x = x_T, and build each next state as a new tensor")
        if i == 0:
            _expect_calls(model.calls, diff, steps, y, null)
        elif len(model.calls) != steps:
            raise CheckFailure(f"expected {steps} calls of the network (one per step of diffusion.ddim_timesteps(steps)), "
                               f"got {len(model.calls)}")
        args = dict(diffusion=diff, model=net, x_T=x_T, y=y, scale=s, null_label=null, steps=steps, clip=clip)
        _expect_close_or(reference(**args), got, "x_0", _sample_hint, reference, args, rtol=1e-3, atol=1e-4)
