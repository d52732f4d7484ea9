"""Lesson 02 (VAE and the ELBO): the checks of its exercises.

The ELBO and the importance-weighted bound are checked on a linear-Gaussian model, where log p(x)
and the true posterior are known in closed form: with q = the true posterior every importance
weight equals p(x), so the bounds are exact and deterministic, and with a wrong q their means are
compared with the reference's within Monte Carlo error.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import vae
from ..checks import CheckFailure, expect_close, expect_tensor, register


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class LinearGaussian(nn.Module):
    """p(z) = N(0, I_d), p(x|z) = N(W z + b, s^2 I_D), W with orthogonal columns (diagonal posterior).

    `encode` returns the true posterior shifted by (mu_shift, logvar_shift): zero shifts give the
    exact posterior, others a deliberately wrong q.
    """

    def __init__(self, D: int = 5, d: int = 2, s: float = 0.5, mu_shift: float = 0.0, logvar_shift: float = 0.0, seed: int = 0):
        super().__init__()
        g = _gen(seed)
        U, _ = torch.linalg.qr(torch.randn(D, d, generator=g, dtype=torch.float64))
        W = (U * torch.tensor([2.0, 0.7], dtype=torch.float64)[:d]).float()  # (D, d), orthogonal columns
        # the decoder's weights, fixed: parameters like a trained VAE's, so code that asks a model for its device works
        self.W = nn.Parameter(W, requires_grad=False)
        self.b = nn.Parameter(torch.randn(D, generator=g).float(), requires_grad=False)
        self.s, self.mu_shift, self.logvar_shift = s, mu_shift, logvar_shift

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s2 = self.s**2
        var = 1.0 / (1.0 + (self.W**2).sum(0) / s2)  # diag of (I + W^T W / s^2)^-1, (d,)
        mean = (x - self.b) @ self.W * var / s2  # S W^T (x - b) / s^2, (B, d)
        return mean, var.log().expand_as(mean)

    def encode(self, x, y=None):
        mean, logvar = self.posterior(x)
        return mean + self.mu_shift, logvar + self.logvar_shift

    def log_px_given_z(self, x, z, y=None):
        return torch.distributions.Normal(z @ self.W.T + self.b, self.s).log_prob(x).sum(-1)

    def log_px(self, x):
        cov = self.W @ self.W.T + self.s**2 * torch.eye(len(self.b))
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x)


@register("02.gaussian_kl", "gaussian_kl(mu, logvar)", vae.gaussian_kl)
def _check_gaussian_kl(student, reference, cases) -> None:
    cases.add("q = N(0, I): the KL is 0")
    expect_close(torch.zeros(3), student(torch.zeros(3, 4), torch.zeros(3, 4)), what="KL")
    cases.add("one dimension, mu = 1, sigma = 1: KL = 0.5 * (1 + 1 - 1 - 0) = 0.5")
    expect_close(torch.tensor([0.5]), student(torch.ones(1, 1), torch.zeros(1, 1)), what="KL")
    cases.add("one dimension, mu = 0, log sigma^2 = log 4: KL = 0.5 * (4 - 1 - log 4)")
    got = student(torch.zeros(1, 1), torch.full((1, 1), math.log(4)))
    expect_close(torch.tensor([0.5 * (4 - 1 - math.log(4))]), got, what="KL")
    for B, d in ((5, 3), (1, 16), (7, 1)):
        g = _gen(B * d)
        mu, logvar = torch.randn(B, d, generator=g), torch.randn(B, d, generator=g)
        cases.add(f"random mu, logvar of shape ({B}, {d}): one KL per example, summed over the {d} dimensions")
        expect_close(reference(mu, logvar), student(mu, logvar), what="KL")


@register("02.reparameterize", "reparameterize(mu, logvar)", vae.reparameterize)
def _check_reparameterize(student, reference, cases) -> None:
    n = 200_000
    mu = torch.tensor([[1.5, -2.0, 0.0]]).expand(n, 3)
    logvar = torch.tensor([[0.0, math.log(0.25), math.log(4.0)]]).expand(n, 3)
    cases.add(f"{n} samples of N(mu, diag(exp(logvar))): shape (B, d)")
    z = expect_tensor(student(mu, logvar), (n, 3), "z")
    cases.add("each example gets its own eps (the rows of z differ)")
    if (z.std(0) < 1e-8).all():
        if torch.allclose(z, mu):
            raise CheckFailure("z equals mu: add the noise, z = mu + sigma * eps")
        raise CheckFailure("every example got the same z: draw eps with the shape of mu (B, d), not one for the batch")
    cases.add("sample mean is mu")
    mean, std = z.mean(0), z.std(0)
    sigma = torch.tensor([1.0, 0.5, 2.0])
    if ((mean - mu[0]).abs() > 5 * sigma / n**0.5).any():
        raise CheckFailure(f"the samples' mean should be mu = {mu[0].tolist()}, got {[round(v, 3) for v in mean.tolist()]}")
    cases.add("sample standard deviation is sigma = exp(logvar / 2) (logvar is log sigma^2)")
    if ((std - sigma).abs() > 0.01 * sigma).any():
        raise CheckFailure(f"the samples' standard deviation should be {sigma.tolist()}, "
                           f"got {[round(v, 3) for v in std.tolist()]}")
    cases.add("each coordinate of each z gets its own eps (the coordinates are uncorrelated)")
    corr = torch.corrcoef(((z - mu) / sigma).T.double())[~torch.eye(3, dtype=torch.bool)].abs().max().item()
    if corr > 0.02:
        raise CheckFailure(f"the coordinates of z are correlated ({corr:.2f}): draw eps with the shape of mu (B, d), "
                           "not one value per example")
    cases.add("two calls give different samples")
    if torch.equal(student(mu[:5], logvar[:5]), student(mu[:5], logvar[:5])):
        raise CheckFailure("two calls returned the same z: draw fresh noise eps each time")
    cases.add("gradients flow to mu and logvar: dz/dmu = 1, dz/dlogvar = sigma * eps / 2")
    m = torch.tensor([[0.3, -1.0]], requires_grad=True)
    lv = torch.tensor([[0.5, -0.7]], requires_grad=True)
    z = student(m, lv)
    if not z.requires_grad:
        raise CheckFailure("z does not depend on mu and logvar through autograd: no gradient can reach the encoder")
    z.sum().backward()
    if m.grad is None or lv.grad is None:
        raise CheckFailure("no gradient reached mu or logvar")
    sig = torch.exp(0.5 * lv.detach())
    eps = (z.detach() - m.detach()) / sig
    expect_close(torch.ones_like(m), m.grad, what="dz/dmu")
    expect_close(0.5 * sig * eps, lv.grad, what="dz/dlogvar")


def _three(out, B: int, what: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if not isinstance(out, tuple) or len(out) != 3:
        raise CheckFailure(f"expected {what} to return three tensors (loss, reconstruction, kl), got {type(out).__name__}")
    return tuple(expect_tensor(t, (B,), f"{what}'s {name}") for t, name in zip(out, ("loss", "reconstruction", "kl")))


@register("02.negative_elbo", "negative_elbo(model, x)", vae.negative_elbo)
def _check_negative_elbo(student, reference, cases) -> None:
    exact = LinearGaussian()
    x = torch.randn(6, 5, generator=_gen(1))
    cases.add("returns (loss, reconstruction, kl), each of shape (B,)")
    loss, rec, kl = _three(student(exact, x), 6, "negative_elbo")
    cases.add("kl is KL(q(z|x) || p(z)) in closed form")
    mu, logvar = exact.encode(x)
    expect_close(vae.gaussian_kl(mu, logvar), kl, what="kl")
    cases.add("loss = reconstruction + kl")
    expect_close(rec + kl, loss, what="loss")
    n = 20_000
    cases.add(f"q = the true posterior: the mean of -ELBO over {n} samples of z is -log p(x)")
    xs = x[:2].repeat(n, 1)  # many samples of z for two x's
    got = student(exact, xs)[0].view(n, 2)
    tol = 5 * got.std(0) / n**0.5 + 1e-4
    if ((got.mean(0) + exact.log_px(x[:2])).abs() > tol).any():
        raise CheckFailure(f"mean -ELBO should be -log p(x) = {(-exact.log_px(x[:2])).tolist()} "
                           f"(within {tol.max():.3g}), got {got.mean(0).tolist()}")
    wrong = LinearGaussian(mu_shift=0.5, logvar_shift=-1.0)
    cases.add("a wrong q: the mean of -ELBO over 20000 samples matches the reference (-log p(x) + KL(q || posterior))")
    got = student(wrong, xs)[0].view(20_000, 2).mean(0)
    want = reference(wrong, xs).loss.view(20_000, 2)
    tol = 5 * want.std(0) / 20_000**0.5 * 2**0.5 + 1e-4
    if ((got - want.mean(0)).abs() > tol).any():
        raise CheckFailure(f"mean -ELBO should be {want.mean(0).tolist()} (within {tol.max():.3g}), got {got.tolist()}")


@register("02.iwae_bound", "iwae_bound(model, x, k)", vae.iwae_bound)
def _check_iwae_bound(student, reference, cases) -> None:
    exact = LinearGaussian()
    x = torch.randn(4, 5, generator=_gen(2))
    for k in (1, 7, 50):
        cases.add(f"q = the true posterior, k = {k}: every weight is p(x), so the bound is log p(x) exactly")
        got = expect_tensor(student(exact, x, k), (4,), "the bound")
        expect_close(exact.log_px(x), got, what="the bound", rtol=1e-4, atol=1e-4)
    wrong = LinearGaussian(mu_shift=0.8, logvar_shift=-1.5)
    xs = x[:1].repeat(4000, 1)
    for k in (1, 20):
        cases.add(f"a wrong q, k = {k}: the mean bound over 4000 repeats matches the reference")
        got = expect_tensor(student(wrong, xs, k), (4000,), "the bound")
        want = reference(wrong, xs, k)
        tol = 5 * (want.std() + got.std()) / 4000**0.5 + 1e-4
        if abs(got.mean() - want.mean()) > tol:
            raise CheckFailure(f"mean bound should be {want.mean():.4f} (within {tol:.3g}), got {got.mean():.4f}")
    far = LinearGaussian(s=0.05)
    xf = far.b + 0.8 * torch.randn(3, 5, generator=_gen(3))  # log p(x) of a few hundred nats below 0, like a digit's
    log_px = far.log_px(xf)
    cases.add(f"log p(x) from {log_px.max():.0f} to {log_px.min():.0f} nats (as for real digits), k = 50: "
              "the bound is log p(x) exactly, with no underflow")
    got = expect_tensor(student(far, xf, 50), (3,), "the bound")
    if not torch.isfinite(got).all():
        raise CheckFailure("the bound is -inf or NaN when the log-weights are a few hundred below 0: exp(log w) underflows to 0. "
                           "Average the weights in log space: logsumexp(log w) - log k")
    expect_close(log_px, got, what="the bound", rtol=1e-4, atol=1e-2)
    cases.add("the bound tightens with k and stays below log p(x)")
    b1, b20 = reference(wrong, xs, 1).mean(), student(wrong, xs, 20).mean()
    if not b1 < b20 < exact.log_px(x[:1]).item() + 1e-3:
        raise CheckFailure(f"expected ELBO ({b1:.3f}) < bound at k=20 ({b20:.3f}) < log p(x) ({exact.log_px(x[:1]).item():.3f})")
