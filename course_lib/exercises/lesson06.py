"""Lesson 06 (denoising diffusion): the checks of its exercises.

Each exercise is a plain function that takes the `GaussianDiffusion` holding the schedule as its first
argument (`diffusion.betas`, `.alphas`, `.alphabar`, `.alphabar_prev` are float64 tensors (T,)).
The deterministic ones are compared with the reference on random inputs; the random ones
(the training loss, the sampling loop) are checked through what they must get right whatever order
they draw their random numbers in: the loss is recomputed from the x_t the network was shown, and
the sampler must reproduce the mean and variance of Gaussian data with the exact noise predictor.
"""

from __future__ import annotations

import torch

from .. import diffusion as D
from ..checks import CheckFailure, expect_close, expect_tensor, register


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _diffusions() -> list[tuple[str, D.GaussianDiffusion]]:
    return [("linear schedule, T = 1000", D.GaussianDiffusion(D.linear_beta_schedule(1000))),
            ("cosine schedule, T = 50", D.GaussianDiffusion(D.cosine_beta_schedule(50)))]


# ----------------------------------------------------------------------------- references
def q_sample(diffusion: D.GaussianDiffusion, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps for a batch x0 (B, ...) and steps t (B,)."""
    return diffusion.q_sample(x0, t, noise)


def cosine_betas(T: int, s: float = 0.008) -> torch.Tensor:
    """The cosine schedule's betas (T,), capped at 0.999."""
    return D.cosine_beta_schedule(T, s)


def q_posterior(diffusion: D.GaussianDiffusion, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor):
    """Mean (B, ...) and variance (broadcastable, e.g. (B, 1, ..., 1)) of q(x_{t-1} | x_t, x_0)."""
    return diffusion.q_posterior(x0, xt, t)


def training_loss(diffusion: D.GaussianDiffusion, model, x0: torch.Tensor) -> torch.Tensor:
    """Algorithm 1's loss on a batch: the mean squared error between eps and model(x_t, t)."""
    return diffusion.training_loss(model, x0)


def p_sample(diffusion: D.GaussianDiffusion, model, xt: torch.Tensor, t: int, z: torch.Tensor) -> torch.Tensor:
    """One step of Algorithm 2 from x_t (B, ...) at step t (an int) with the noise z (B, ...)."""
    return diffusion.p_sample(model, xt, t, noise=z)


def sample(diffusion: D.GaussianDiffusion, model, shape, generator: torch.Generator | None = None) -> torch.Tensor:
    """Algorithm 2: from x_T ~ N(0, I) down to x_0, a batch of the given shape."""
    return diffusion.sample(model, shape, generator=generator)


class GaussianOracle(torch.nn.Module):
    """The exact noise predictor for data N(m, s^2 I).

    x_t = sqrt(ab) x_0 + sqrt(1 - ab) eps is then Gaussian too, and
    E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) m) / (ab s^2 + 1 - ab): the best any network can do.
    """

    def __init__(self, diffusion: D.GaussianDiffusion, m: float, s: float):
        super().__init__()
        self.register_buffer("alphabar", diffusion.alphabar.clone())
        # the data's mean and spread play the weights of a trained network (fixed): a student's sampler may
        # ask the model for its device or dtype, as it would ask a U-Net
        self.m = torch.nn.Parameter(torch.tensor(float(m)), requires_grad=False)
        self.s = torch.nn.Parameter(torch.tensor(float(s)), requires_grad=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self.alphabar.to(x.device)[t].to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        return (1 - ab).sqrt() * (x - ab.sqrt() * self.m) / (ab * self.s**2 + 1 - ab)


# ----------------------------------------------------------------------------- checks
@register("06.q_sample", "q_sample(diffusion, x0, t, noise)", q_sample)
def _check_q_sample(student, reference, cases) -> None:
    for name, diff in _diffusions():
        g = _gen(diff.T)
        x0, noise = torch.randn(6, 1, 4, 4, generator=g), torch.randn(6, 1, 4, 4, generator=g)
        t = torch.tensor([0, 1, diff.T // 2, diff.T - 2, diff.T - 1, 7])
        cases.add(f"{name}: a batch of six 4x4 images at steps {t.tolist()} (each example its own t)")
        expect_close(reference(diff, x0, t, noise), student(diff, x0, t, noise), what="x_t")
    diff = _diffusions()[0][1]
    x0 = torch.full((4, 2), 3.0)
    cases.add("zero noise: x_t = sqrt(alphabar_t) x_0 (alphabar, not alpha: one step from x_0 to x_t)")
    t = torch.tensor([0, 10, 500, 999])
    expect_close(reference(diff, x0, t, torch.zeros(4, 2)), student(diff, x0, t, torch.zeros(4, 2)), what="x_t")


@register("06.cosine_betas", "cosine_betas(T, s)", cosine_betas)
def _check_cosine_betas(student, reference, cases) -> None:
    for T, s in ((10, 0.008), (1000, 0.008), (100, 0.1)):
        cases.add(f"T = {T}, s = {s}: shape ({T},) and the values of the formula")
        got = expect_tensor(student(T, s), (T,), "betas")
        expect_close(reference(T, s), got, what="betas", rtol=1e-4, atol=1e-6)
    cases.add("the last beta is capped at 0.999 (without the cap it would be 1: alphabar_T = 0)")
    if abs(float(student(1000, 0.008)[-1]) - 0.999) > 1e-6:
        raise CheckFailure(f"expected the last beta to be clipped to 0.999, got {float(student(1000, 0.008)[-1]):.6g}")


def _broadcast_variance(var, x: torch.Tensor) -> torch.Tensor:
    var = expect_tensor(var, None, "the variance")
    try:
        return torch.broadcast_to(var, x.shape)
    except RuntimeError:
        raise CheckFailure(f"the variance (shape {tuple(var.shape)}) must broadcast against x (shape {tuple(x.shape)}), "
                           "e.g. shape (B, 1, ..., 1)") from None


@register("06.q_posterior", "q_posterior(diffusion, x0, xt, t)", q_posterior)
def _check_q_posterior(student, reference, cases) -> None:
    for name, diff in _diffusions():
        g = _gen(diff.T + 1)
        x0, xt = torch.randn(5, 1, 3, 3, generator=g), torch.randn(5, 1, 3, 3, generator=g)
        t = torch.tensor([1, 2, diff.T // 3, diff.T - 2, diff.T - 1])
        cases.add(f"{name}: steps {t.tolist()}, returns (mean, variance)")
        out = student(diff, x0, xt, t)
        if not isinstance(out, tuple) or len(out) != 2:
            raise CheckFailure(f"expected a tuple (mean, variance), got {type(out).__name__}")
        mean, var = reference(diff, x0, xt, t)
        # float32 tolerance: 1 - alphabar_t at the first steps loses digits when computed in float32
        expect_close(mean, out[0], what="the posterior mean", rtol=2e-3, atol=1e-5)
        expect_close(var.expand_as(x0), _broadcast_variance(out[1], x0), what="the posterior variance", rtol=2e-3, atol=1e-7)
    diff = _diffusions()[0][1]
    x0, xt = torch.randn(3, 2, generator=_gen(5)), torch.randn(3, 2, generator=_gen(6))
    cases.add("t = 0 (the paper's step 1): alphabar_{t-1} is 1, so the mean is x_0 and the variance 0")
    mean, var = student(diff, x0, xt, torch.zeros(3, dtype=torch.long))
    expect_close(x0, mean, what="the posterior mean at t = 0")
    expect_close(torch.zeros(3, 2), _broadcast_variance(var, x0), what="the posterior variance at t = 0")


class _Recorder(torch.nn.Module):
    """A stand-in network that remembers what it was shown and answers c * x_t."""

    def __init__(self, c: float = 0.5):
        super().__init__()
        self.c = torch.nn.Parameter(torch.tensor(float(c)))  # the one weight: a loss of this network has a gradient
        self.calls = []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.detach().clone(), t.detach().clone()))
        return self.c.to(x.dtype) * x


@register("06.training_loss", "training_loss(diffusion, model, x0)", training_loss)
def _check_training_loss(student, reference, cases) -> None:
    diff = _diffusions()[0][1]
    B = 20_000
    x0 = torch.randn(B, 2, generator=_gen(7)) * 0.5 + 1.0
    model = _Recorder()
    cases.add(f"a batch of {B}: the network is called once with (x_t of shape (B, 2), t of shape (B,))")
    torch.manual_seed(0)
    loss = expect_tensor(student(diff, model, x0), (), "the loss")
    if len(model.calls) != 1:
        raise CheckFailure(f"expected one call of model(x_t, t), got {len(model.calls)}")
    xt, t = model.calls[0]
    expect_tensor(xt, (B, 2), "x_t passed to the model")
    expect_tensor(t, (B,), "t passed to the model")
    if t.dtype not in (torch.int64, torch.int32) or int(t.min()) < 0 or int(t.max()) > diff.T - 1:
        raise CheckFailure(f"t must be integer steps in 0 .. {diff.T - 1}, got {t.dtype} in {t.min().item()} .. {t.max().item()}")
    cases.add("t is uniform over 0 .. T-1 (one per example)")
    mean_t, sd = t.double().mean().item(), (diff.T**2 / 12 / B) ** 0.5
    if abs(mean_t - (diff.T - 1) / 2) > 5 * sd or t.unique().numel() < 900:
        raise CheckFailure(f"t should be drawn uniformly from 0 .. {diff.T - 1}: mean {mean_t:.1f} (expected {(diff.T - 1) / 2}), "
                           f"{t.unique().numel()} distinct values")
    cases.add("x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps with eps ~ N(0, I)")
    ab = diff.alphabar[t].float()[:, None]
    eps = (xt - ab.sqrt() * x0) / (1 - ab).sqrt()  # the noise the network had to find
    if abs(eps.mean().item()) > 0.05 or abs(eps.var().item() - 1) > 0.05:
        raise CheckFailure(f"the noise in x_t should be N(0, 1): mean {eps.mean():.3f}, variance {eps.var():.3f} "
                           "(is x_t built with sqrt(alphabar_t) and sqrt(1 - alphabar_t)?)")
    cases.add("the loss is the mean squared error between eps and model(x_t, t)")
    expect_close(((eps - 0.5 * xt) ** 2).mean(), loss, what="the loss", rtol=1e-3, atol=1e-4)
    cases.add("the loss has a gradient with respect to the network's parameters")
    if not loss.requires_grad:
        raise CheckFailure("the loss does not depend on the model through autograd: nothing could be trained")


@register("06.p_sample", "p_sample(diffusion, model, xt, t, z)", p_sample)
def _check_p_sample(student, reference, cases) -> None:
    model = _Recorder(0.3)
    for name, diff in _diffusions():
        g = _gen(diff.T + 2)
        xt, z = torch.randn(4, 1, 3, 3, generator=g), torch.randn(4, 1, 3, 3, generator=g)
        for t in (diff.T - 1, diff.T // 2, 1):
            cases.add(f"{name}, t = {t}: x_(t-1) = (x_t - (1 - alpha_t) / sqrt(1 - alphabar_t) eps) / sqrt(alpha_t) + sigma_t z")
            expect_close(reference(diff, model, xt, t, z), student(diff, model, xt, t, z), what="x_(t-1)")
        cases.add(f"{name}, t = 0, the last step: no noise is added")
        expect_close(reference(diff, model, xt, 0, z), student(diff, model, xt, 0, z), what="x_(t-1) at t = 0")


@register("06.sample", "sample(diffusion, model, shape, generator)", sample)
def _check_sample(student, reference, cases) -> None:
    diff = D.GaussianDiffusion(D.linear_beta_schedule(100, 1e-3, 0.2))
    model = _Recorder(0.0)
    cases.add("T = 100: the network is called at t = 99, 98, .., 0, once each, on the whole batch")
    out = expect_tensor(student(diff, model, (3, 2), _gen(0)), (3, 2), "the samples")
    steps = [int(t[0]) for _, t in model.calls]
    if steps != list(range(99, -1, -1)):
        raise CheckFailure(f"expected the steps 99, 98, .., 0 in order, got {steps[:5]}{' ..' if len(steps) > 5 else ''} "
                           f"({len(steps)} calls)")
    if not torch.isfinite(out).all():
        raise CheckFailure("the samples contain NaN or inf")
    m, s, n = 2.0, 0.5, 40_000
    oracle = GaussianOracle(diff, m, s)
    cases.add(f"the exact noise predictor of data N({m}, {s}^2): {n} samples have the data's mean and spread")
    x = expect_tensor(student(diff, oracle, (n, 1), _gen(1)), (n, 1), "the samples").double()
    want = reference(diff, oracle, (n, 1), _gen(2)).double()
    if abs(x.mean() - want.mean()) > 5 * s * (2 / n) ** 0.5 or abs(x.std() / want.std() - 1) > 0.03:
        raise CheckFailure(f"expected mean {want.mean():.3f} and standard deviation {want.std():.3f} (the reference's), "
                           f"got {x.mean():.3f} and {x.std():.3f}")
    cases.add("the same generator seed gives the same samples")
    if not torch.equal(student(diff, oracle, (5, 1), _gen(3)), student(diff, oracle, (5, 1), _gen(3))):
        raise CheckFailure("two runs with generators seeded alike differ: draw x_T and every z from `generator`")
