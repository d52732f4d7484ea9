"""Lesson 06 (denoising diffusion): the checks of its exercises.

Each exercise is a plain function that takes the `GaussianDiffusion` holding the schedule as its first
argument (`diffusion.betas`, `.alphas`, `.alphabar`, `.alphabar_prev` are float64 tensors (T,)).
The deterministic ones are compared with the reference on random inputs; the random ones
(the training loss, the sampling loop) are checked through what they must get right whatever order
they draw their random numbers in: the loss is recomputed from the x_t the network was shown, and
the sampler must reproduce the mean and variance of Gaussian data with the exact noise predictor.
"""

from __future__ import annotations

import math

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


def ddim_step(diffusion: D.GaussianDiffusion, eps: torch.Tensor, xt: torch.Tensor, t: int, t_prev: int, eta: float,
              z: torch.Tensor) -> torch.Tensor:
    """One DDIM step from x_t to x_{t_prev} (t_prev = -1: the end, alphabar = 1) given the predicted noise eps."""
    return diffusion.ddim_step(eps, xt, t, t_prev, eta, z)[0]


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


def _float32_hint(got: torch.Tensor, float32_answer: torch.Tensor, float64_answer: torch.Tensor) -> str:
    """A sentence when `got` is what the same formula gives in float32, which the lesson warns about."""
    got, f32, f64 = (v.detach().double().cpu() for v in (got, float32_answer, float64_answer))
    if got.shape == f32.shape and (got - f32).abs().max() < (got - f64).abs().max() / 10:
        return (" This is what the formula gives in float32: at the first steps 1 - alphabar_t is about 1e-4 and "
                "float32 keeps only three or four of its digits. Compute on the float64 tensors, as the text says.")
    return ""


def _checked_against_float32(expected: torch.Tensor, got, float32_answer: torch.Tensor, what: str, **tol) -> None:
    """expect_close, with the float32 diagnosis appended to the failure when it applies."""
    try:
        expect_close(expected, got, what=what, **tol)
    except CheckFailure as err:
        hint = _float32_hint(got, float32_answer, expected) if isinstance(got, torch.Tensor) else ""
        raise CheckFailure(f"{err}{hint}") from None


def _cosine_float32(T: int, s: float) -> torch.Tensor:
    t = torch.arange(T + 1, dtype=torch.float32) / T
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=0.999)


def _posterior_float32(diffusion: D.GaussianDiffusion, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor):
    betas, alphas, ab, ab_prev = (v.float() for v in (diffusion.betas, diffusion.alphas, diffusion.alphabar,
                                                      diffusion.alphabar_prev))
    shape = (-1, *([1] * (x0.ndim - 1)))
    b, a, ab, abp = (v[t].view(shape) for v in (betas, alphas, ab, ab_prev))
    mean = b * abp.sqrt() / (1 - ab) * x0 + (1 - abp) * a.sqrt() / (1 - ab) * xt
    return mean, b * (1 - abp) / (1 - ab)


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
        _checked_against_float32(reference(T, s), got, _cosine_float32(T, s), "betas", rtol=1e-4, atol=1e-6)
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
        mean32, var32 = _posterior_float32(diff, x0, xt, t)
        # a float32 input x0, xt costs a few 1e-7 relative; the float32 *schedule* costs about 1e-3 at the first steps
        _checked_against_float32(mean, out[0], mean32, "the posterior mean", rtol=2e-4, atol=1e-5)
        _checked_against_float32(var.expand_as(x0), _broadcast_variance(out[1], x0), var32.expand_as(x0),
                                 "the posterior variance", rtol=2e-4, atol=1e-7)
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


class _FirstCall(torch.nn.Module):
    """Passes each call to `inner` (a _Recorder) the first time only, then answers with zeros: records x_T cheaply."""

    def __init__(self, inner: _Recorder):
        super().__init__()
        self.inner, self.seen = inner, False

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not self.seen:
            self.seen = True
            return self.inner(x, t)
        return torch.zeros_like(x)


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
        raise CheckFailure(f"t should be drawn uniformly from 0 .. {diff.T - 1}: mean {mean_t:.1f} "
                           f"(expected {(diff.T - 1) / 2}), {t.unique().numel()} distinct values")
    cases.add("x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps with eps ~ N(0, I)")
    ab = diff.alphabar[t].float()[:, None]
    eps = (xt - ab.sqrt() * x0) / (1 - ab).sqrt()  # the noise the network had to find
    if abs(eps.mean().item()) > 0.05 or abs(eps.var().item() - 1) > 0.05:
        raise CheckFailure(f"the noise in x_t should be N(0, 1): mean {eps.mean():.3f}, variance {eps.var():.3f} "
                           "(is x_t built with sqrt(alphabar_t) and sqrt(1 - alphabar_t)?)")
    cases.add("each coordinate of each example gets its own eps")
    corr = torch.corrcoef(eps.T.double())[0, 1].abs().item()
    if corr > 0.05:
        raise CheckFailure(f"the two coordinates of the noise are correlated ({corr:.2f}): draw eps with the shape of x0")
    cases.add("the loss is the mean squared error between eps and model(x_t, t)")
    expect_close(((eps - 0.5 * xt) ** 2).mean(), loss, what="the loss", rtol=1e-3, atol=1e-4)
    small = D.GaussianDiffusion(D.linear_beta_schedule(20))
    cases.add("T = 20, a batch of 4000: every step 0 .. 19 is drawn, the first (t = 0) and the last (t = 19) included")
    model = _Recorder()
    student(small, model, torch.randn(4000, 2, generator=_gen(8)))
    drawn = set(model.calls[0][1].tolist())
    missing = sorted(set(range(small.T)) - drawn)
    if missing:
        hint = (" (torch.randint(low, high) excludes high: the 0-based steps are torch.randint(0, T, ...))"
                if missing in ([0], [small.T - 1]) else "")
        raise CheckFailure(f"steps {missing} were never drawn in 4000 examples, so they are never trained{hint}")
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
    first = _Recorder(0.0)
    cases.add(f"x_T, the sampler's start, is standard normal ({n} draws: mean 0, variance 1, Gaussian)")
    student(diff, _FirstCall(first), (n, 1), _gen(4))
    xT = first.calls[0][0].double()
    within = (xT.abs() < 1).double().mean().item()
    if abs(xT.mean().item()) > 5 / n**0.5 or abs(xT.var().item() - 1) > 0.03 or abs(within - 0.6827) > 0.01:
        raise CheckFailure(f"x_T should be N(0, I): mean {xT.mean():.3f}, variance {xT.var():.3f}, {within:.3f} within one "
                           "standard deviation (0.683 for a Gaussian); draw it with torch.randn(shape, generator=generator)")
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


@register("06.ddim_step", "ddim_step(diffusion, eps, xt, t, t_prev, eta, z)", ddim_step)
def _check_ddim_step(student, reference, cases) -> None:
    for name, diff in _diffusions():
        g = _gen(diff.T + 3)
        xt, eps, z = (torch.randn(4, 1, 3, 3, generator=g) for _ in range(3))
        T = diff.T
        for t, t_prev in ((T - 1, T // 2), (T // 2, T // 2 - 1), (T // 3, 3)):
            for eta in (0.0, 0.5, 1.0):
                cases.add(f"{name}: from t = {t} to t_prev = {t_prev}, eta = {eta}")
                expect_close(reference(diff, eps, xt, t, t_prev, eta, z), student(diff, eps, xt, t, t_prev, eta, z),
                             what="x_(t_prev)", rtol=1e-4, atol=1e-5)
        cases.add(f"{name}: the last step, t_prev = -1 (alphabar_(-1) is 1, not alphabar[-1], the last entry): "
                  "the x_0 estimate, and no noise whatever eta")
        for eta in (0.0, 1.0):
            want = reference(diff, eps, xt, 5, -1, eta, z)
            got = student(diff, eps, xt, 5, -1, eta, z)
            expect_close(want, got, what="x_0 after the last step", rtol=1e-4, atol=1e-5)
    diff = _diffusions()[1][1]
    xt, eps = torch.randn(3, 2, generator=_gen(9)), torch.randn(3, 2, generator=_gen(10))
    cases.add("eta = 0 is deterministic: the noise z is not used")
    a = student(diff, eps, xt, 30, 10, 0.0, torch.randn(3, 2, generator=_gen(11)))
    b = student(diff, eps, xt, 30, 10, 0.0, torch.randn(3, 2, generator=_gen(12)))
    expect_close(a, b, what="two eta = 0 steps with different z")
