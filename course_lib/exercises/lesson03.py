"""Lesson 03 (VQ-VAE and Gumbel-softmax): the checks of its exercises.

Nearest codes are compared with brute force on codebooks whose norms differ (so a dot-product
"similarity" picks other codes). The straight-through estimator and the two VQ terms are judged by
the gradients autograd gives each side: the codebook term must move only the codes, the commitment
term only the encoder. The Gumbel-softmax is judged by what it samples (hard samples follow
softmax(logits) in frequency, a chi-square test; tau -> 0 gives one-hot; hard=True is exactly one-hot
with the soft sample's gradient); perplexity against entropies computed by hand, over a whole split.
"""

from __future__ import annotations

import math

import torch

from .. import quantize
from ..checks import CheckFailure, describe, expect_close, expect_tensor, register


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- references
def nearest_code(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """argmin_j ||z_i - e_j||^2 for each row: z (N, D), codebook (K, D) -> (N,) int64."""
    return quantize.nearest_code(z, codebook)


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """z_e + sg(z_q - z_e): z_q forward, the identity's gradient to z_e backward."""
    return quantize.straight_through(z_e, z_q)


def vq_losses(z_e: torch.Tensor, z_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codebook loss mean (sg[z_e] - e)^2, commitment loss mean (z_e - sg[e])^2)."""
    return quantize.vq_losses(z_e, z_q)


def perplexity(indices: torch.Tensor, num_codes: int) -> float:
    """exp of the entropy (nats) of the codes' usage frequencies over all of `indices`."""
    return quantize.perplexity(indices, num_codes)


def gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool = False, generator: torch.Generator | None = None
                   ) -> torch.Tensor:
    """softmax((logits + g) / tau), g = -log(-log U) over the last dimension; hard: one-hot forward, soft gradient."""
    return quantize.gumbel_softmax(logits, tau, hard, generator)


# ----------------------------------------------------------------------------- nearest codes
@register("03.nearest_code", "nearest_code(z, codebook) -> indices (N,)", nearest_code)
def _check_nearest_code(student, reference, cases) -> None:
    g = _gen(1)
    z = torch.randn(300, 4, generator=g)
    codebook = torch.randn(20, 4, generator=g) * torch.linspace(0.2, 3.0, 20)[:, None]  # norms that differ
    cases.add("300 vectors, 20 codes of different norms: one int64 index per vector")
    got = student(z, codebook)
    got = expect_tensor(got, (300,), "the indices")
    if got.is_floating_point():
        raise CheckFailure(f"expected integer indices (int64), got dtype {got.dtype}: return an argmin, not distances")
    want = reference(z, codebook)
    if torch.equal(got.long(), (z @ codebook.T).argmax(1)):
        raise CheckFailure("the codes of largest dot product z . e are not the nearest ones when the codes' norms differ: "
                           "take argmin of ||z - e||^2 = ||z||^2 - 2 z . e + ||e||^2")
    if torch.equal(got.long(), torch.cdist(z, codebook).argmax(1)):
        raise CheckFailure("argmax of the distances gives the farthest code: take the argmin")
    if torch.equal(got.long(), torch.cdist(z, codebook, p=1).argmin(1)) and not torch.equal(got.long(), want):
        raise CheckFailure("those are the nearest codes in L1 distance: VQ uses the squared Euclidean distance")
    wrong = (got.long() != want).nonzero()
    if len(wrong):
        i = int(wrong[0])
        raise CheckFailure(f"{len(wrong)} of 300 indices differ; first at row {i}: expected code {int(want[i])}, "
                           f"got {int(got[i])}")
    if got.dtype != torch.int64:
        raise CheckFailure(f"expected dtype int64 (torch.long), got {got.dtype}")
    cases.add("each code is its own nearest code")
    expect_close(torch.arange(20), student(codebook, codebook).long(), what="the indices of the codes themselves")


# ----------------------------------------------------------------------------- the straight-through estimator
@register("03.straight_through", "straight_through(z_e, z_q) -> z_q forward, identity gradient to z_e", straight_through)
def _check_straight_through(student, reference, cases) -> None:
    z_e = torch.randn(5, 3, generator=_gen(2), requires_grad=True)
    z_q = torch.randn(5, 3, generator=_gen(3), requires_grad=True)
    cases.add("the forward value is z_q (what the decoder sees)")
    out = expect_tensor(student(z_e, z_q), (5, 3), "the output")
    if torch.allclose(out, z_e) and not torch.allclose(z_e, z_q):
        raise CheckFailure("the output equals z_e: the decoder must see the quantised z_q in the forward pass")
    expect_close(z_q.detach(), out.detach(), what="the output", atol=1e-6)
    cases.add("the gradient reaching z_e is the gradient reaching the output (the identity)")
    if not out.requires_grad:
        raise CheckFailure("the output has no gradient at all: the encoder would never learn. "
                           "Return z_e + (z_q - z_e).detach()")
    w = torch.randn(5, 3, generator=_gen(4))
    g_e, g_q = torch.autograd.grad((out * w).sum(), [z_e, z_q], allow_unused=True)
    g_e = torch.zeros_like(w) if g_e is None else g_e
    g_q = torch.zeros_like(w) if g_q is None else g_q
    if not g_e.any():
        raise CheckFailure("no gradient reaches z_e (the encoder): the argmin has no gradient, so copy the decoder's "
                           "gradient to z_e: z_e + (z_q - z_e).detach()")
    expect_close(w, g_e, what="d out / d z_e applied to a random upstream gradient")
    cases.add("no gradient reaches z_q through this path (the codebook learns from its own loss term)")
    if g_q.any():
        raise CheckFailure("a gradient reaches z_q through the straight-through path: detach (z_q - z_e) as a whole")


# ----------------------------------------------------------------------------- the two VQ terms
@register("03.vq_losses", "vq_losses(z_e, z_q) -> (codebook_loss, commitment_loss)", vq_losses)
def _check_vq_losses(student, reference, cases) -> None:
    z_e = torch.randn(8, 4, generator=_gen(5), requires_grad=True)
    e = torch.randn(8, 4, generator=_gen(6), requires_grad=True)
    cases.add("two scalars: each the mean over all entries of the squared difference")
    out = student(z_e, e)
    if not isinstance(out, tuple) or len(out) != 2:
        raise CheckFailure(f"expected a pair (codebook_loss, commitment_loss), got {describe(out)}")
    cb, cm = out
    want_cb, want_cm = reference(z_e, e)
    for name, got, want in (("codebook_loss", cb, want_cb), ("commitment_loss", cm, want_cm)):
        got = expect_tensor(got, (), name)
        if torch.isclose(got, want * z_e.numel()):
            raise CheckFailure(f"{name} is a sum: take the mean over all entries (beta is tuned for means)")
        expect_close(want, got, what=name)
    cases.add("the codebook loss moves only the codes: no gradient to z_e")
    if not cb.requires_grad:
        raise CheckFailure("the codebook loss gives the codes no gradient: detach z_e, not the codes")
    g_e, g_z = torch.autograd.grad(cb, [e, z_e], allow_unused=True, retain_graph=True)
    if g_z is not None and g_z.any():
        raise CheckFailure("the codebook loss sends a gradient to the encoder output z_e: it must be "
                           "||sg[z_e] - e||^2, with z_e detached")
    if g_e is None or not g_e.any():
        raise CheckFailure("the codebook loss gives the codes no gradient: detach z_e, not the codes")
    expect_close(2 * (e - z_e).detach() / e.numel(), g_e, what="d codebook_loss / d e")
    cases.add("the commitment loss moves only the encoder: no gradient to the codes")
    if not cm.requires_grad:
        raise CheckFailure("the commitment loss gives the encoder no gradient: detach the codes, not z_e")
    g_e, g_z = torch.autograd.grad(cm, [e, z_e], allow_unused=True)
    if g_e is not None and g_e.any():
        raise CheckFailure("the commitment loss sends a gradient to the codes: it must be ||z_e - sg[e]||^2, "
                           "with the codes detached")
    if g_z is None or not g_z.any():
        raise CheckFailure("the commitment loss gives the encoder no gradient: detach the codes, not z_e")
    expect_close(2 * (z_e - e).detach() / e.numel(), g_z, what="d commitment_loss / d z_e")


# ----------------------------------------------------------------------------- perplexity
def _value(got, what: str) -> float:
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise CheckFailure(f"expected {what} to be one number, got a tensor of shape {tuple(got.shape)}")
        got = got.item()
    if not isinstance(got, (int, float)):
        raise CheckFailure(f"expected {what} to be a float, got {describe(got)}")
    if not math.isfinite(got):
        raise CheckFailure(f"{what} is {got}: unused codes have p = 0, and 0 log 0 must count as 0 (skip them)")
    return float(got)


def _expect_perplexity(got: float, idx: torch.Tensor, num_codes: int, reference) -> None:
    """Compare with the reference, naming the classic mistakes that give the other numbers."""
    want = reference(idx, num_codes)
    counts = torch.bincount(idx.reshape(-1), minlength=num_codes).double()
    p = counts / counts.sum()
    logp = torch.log(p).nan_to_num(0.0, neginf=0.0)
    if abs(want - 1) > 1e-6 and abs(got - math.log(want)) < 1e-4:
        raise CheckFailure(f"got {got:.4f} = the entropy (log {want:.4g}); the perplexity is exp(entropy)")
    if abs(got - math.exp(-(counts / num_codes * logp).sum().item())) < 1e-6 * max(1.0, got) and abs(got - want) > 1e-3:
        raise CheckFailure("the frequencies are divided by num_codes: divide the counts by the number of indices")
    if idx.ndim > 1 and len(idx) > 1:
        per_grid = sum(reference(g, num_codes) for g in idx) / len(idx)
        if abs(got - per_grid) < 1e-3 and abs(want - per_grid) > 0.1:
            raise CheckFailure(f"got {got:.3f}, the mean of each grid's perplexity; expected {want:.3f}: count the codes "
                               "over everything passed in (a batch or a grid sees only a few codes)")
    expect_close(torch.tensor(want), torch.tensor(got), what="the perplexity", rtol=1e-4)


@register("03.perplexity", "perplexity(indices, num_codes) -> float", perplexity)
def _check_perplexity(student, reference, cases) -> None:
    cases.add("5 grids each using all 16 codes once: perplexity 16")
    idx = torch.arange(16).repeat(5, 1)
    _expect_perplexity(_value(student(idx, 16), "the perplexity"), idx, 16, reference)
    cases.add("one code only: perplexity 1; unused codes count for nothing (0 log 0 = 0)")
    idx = torch.full((40,), 3)
    _expect_perplexity(_value(student(idx, 16), "the perplexity"), idx, 16, reference)
    cases.add("a split of grids (B, h, w) with unequal usage: exp of the entropy of all of its codes together")
    g = _gen(14)
    probs = torch.softmax(torch.randn(64, generator=g) * 2, 0)
    idx = torch.multinomial(probs, 50 * 16, replacement=True, generator=g).view(50, 4, 4)
    _expect_perplexity(_value(student(idx, 64), "the perplexity"), idx, 64, reference)


# ----------------------------------------------------------------------------- the Gumbel-softmax
def _sample(student, logits, tau, hard, seed):
    try:
        return student(logits, tau, hard=hard, generator=_gen(seed))
    except TypeError as err:
        if "generator" not in str(err):
            raise
        torch.manual_seed(seed)
        return student(logits, tau, hard=hard)


@register("03.gumbel_softmax", "gumbel_softmax(logits, tau, hard=False, generator=None)", gumbel_softmax)
def _check_gumbel_softmax(student, reference, cases) -> None:
    N = 40000
    base = torch.tensor([1.2, 0.0, -0.8, 0.4])
    p = torch.softmax(base.double(), 0)
    logits = base.expand(N, 4).clone()
    cases.add("soft samples (tau = 1): (N, K), each row on the simplex (non-negative, summing to 1)")
    soft = expect_tensor(_sample(student, logits, 1.0, False, 7), (N, 4), "the samples").detach().double()
    if (soft < -1e-6).any() or not torch.allclose(soft.sum(1), torch.ones(N, dtype=torch.float64), atol=1e-4):
        raise CheckFailure("the rows are not on the simplex: take a softmax over the last dimension")
    if torch.allclose(soft, soft[:1].expand_as(soft)):
        raise CheckFailure("every sample is the same: add Gumbel noise g = -log(-log U), U ~ U(0, 1), to the logits "
                           "(one independent draw per entry)")
    cases.add("hard samples are one-hot and their frequencies follow softmax(logits) (chi-square, 3 dof)")
    hard = expect_tensor(_sample(student, logits, 1.0, True, 8), (N, 4), "the hard samples").detach().double()
    if not (((hard == 0) | (hard == 1)).all() and (hard.sum(1) == 1).all()):
        raise CheckFailure("hard=True must return exactly one-hot rows in the forward pass: "
                           "one_hot(argmax) + (soft - soft.detach())")
    freq = hard.mean(0)
    chi2 = (N * (freq - p) ** 2 / p).sum().item()
    if chi2 > 16.3:
        raise CheckFailure(f"hard samples choose the classes with frequencies {[round(v, 3) for v in freq.tolist()]}, "
                           f"softmax(logits) is {[round(v, 3) for v in p.tolist()]} (chi-square {chi2:.0f} > 16.3): "
                           "argmax(logits + g) samples the categorical only with g = -log(-log U)")
    cases.add("tau -> 0: soft samples become one-hot")
    cold = expect_tensor(_sample(student, logits[:2000], 1e-3, False, 9), (2000, 4), "the samples").detach()
    if (cold.max(1).values > 0.99).double().mean() < 0.98:
        raise CheckFailure("at tau = 0.001 the samples should be (nearly) one-hot: divide (logits + g) by tau")
    cases.add("a higher temperature flattens the samples (the noise is divided by tau too)")
    warm = _sample(student, logits[:4000], 10.0, False, 10).detach().double()
    ref_warm = reference(logits[:4000], 10.0, False, _gen(10)).double()
    if (warm.max(1).values.mean() - ref_warm.max(1).values.mean()).abs() > 0.02:
        raise CheckFailure(f"at tau = 10 the largest entry averages {warm.max(1).values.mean():.3f}, expected about "
                           f"{ref_warm.max(1).values.mean():.3f}: softmax((logits + g) / tau), the noise inside the division")
    cases.add("hard=True: the gradient is the soft sample's (straight-through), not zero")
    small = torch.randn(6, 5, generator=_gen(11), requires_grad=True)
    w = torch.randn(6, 5, generator=_gen(12))
    s = _sample(student, small, 0.5, False, 13)
    h = _sample(student, small, 0.5, True, 13)
    if not h.requires_grad:
        raise CheckFailure("hard samples carry no gradient: add the soft sample's gradient, "
                           "one_hot + (soft - soft.detach())")
    (g_h,) = torch.autograd.grad((h * w).sum(), small)
    (g_s,) = torch.autograd.grad((s * w).sum(), small)
    if not torch.equal(h.detach().argmax(1), s.detach().argmax(1)):
        raise CheckFailure("with the same generator, the hard sample is not the one-hot of the soft sample's argmax")
    expect_close(g_s, g_h, what="the hard sample's gradient (it must equal the soft sample's)", rtol=1e-4, atol=1e-6)
