"""Lesson 06's checks against the classic mistakes: every wrong answer listed here must fail, with a message
that points at the mistake (and, where the lesson warns about float32 schedules, says so)."""

import math

import torch
from mistakes import lesson_tests

from course_lib import checks
from course_lib.checks import PASSED


def _at(table, t, x):
    return table[t].view(-1, *([1] * (x.ndim - 1)))


# ----------------------------------------------------------------------------- wrong answers
def _q_sample_alpha(d, x0, t, noise):  # alpha_t where alphabar_t belongs
    a = _at(d.alphas.float(), t, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _q_sample_no_sqrt(d, x0, t, noise):
    ab = _at(d.alphabar.float(), t, x0)
    return ab * x0 + (1 - ab) * noise


def _cosine_linear(T, s=0.008):
    return torch.linspace(1e-4, 0.02, T, dtype=torch.float64)


def _cosine_uncapped(T, s=0.008):
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return 1 - f[1:] / f[:-1]


def _posterior_alphabar_t(d, x0, xt, t):  # alphabar_t where alphabar_{t-1} belongs
    ab, b, a = (_at(v.float(), t, xt) for v in (d.alphabar, d.betas, d.alphas))
    return ab.sqrt() * b / (1 - ab) * x0 + a.sqrt() * (1 - ab) / (1 - ab) * xt, b


def _posterior_float32(d, x0, xt, t):  # the right formula on float32 copies of the schedule
    b, a, ab, abp = (_at(v.float(), t, xt) for v in (d.betas, d.alphas, d.alphabar, d.alphabar_prev))
    return b * abp.sqrt() / (1 - ab) * x0 + (1 - abp) * a.sqrt() / (1 - ab) * xt, b * (1 - abp) / (1 - ab)


def _loss(d, model, x0, t=None, eps=None, sqrt=True, target="eps"):
    t = torch.randint(0, d.T, (len(x0),)) if t is None else t
    eps = torch.randn_like(x0) if eps is None else eps
    ab = _at(d.alphabar.float(), t.clamp(0, d.T - 1), x0)
    xt = (ab.sqrt() * x0 + (1 - ab).sqrt() * eps) if sqrt else (ab * x0 + (1 - ab) * eps)
    return ((({"eps": eps, "x0": x0})[target] - model(xt, t)) ** 2).mean()


def _p_sample_alphabar(d, model, xt, t, z):  # the slide typo: alphabar where alpha belongs
    ab, beta = d.alphabar[t].item(), d.betas[t].item()
    eps = model(xt, torch.full((len(xt),), t))
    return (xt - (1 - ab) / math.sqrt(1 - ab) * eps) / math.sqrt(ab) + (math.sqrt(beta) * z if t > 0 else 0)


def _p_sample(d, model, xt, t, z, noise_at_end=False, scale=math.sqrt):
    a, ab, beta = d.alphas[t].item(), d.alphabar[t].item(), d.betas[t].item()
    mean = (xt - (1 - a) / math.sqrt(1 - ab) * model(xt, torch.full((len(xt),), t))) / math.sqrt(a)
    return mean + (scale(beta) * z if t > 0 or noise_at_end else 0)


def _sampler(order="down", start=torch.randn, use_generator=True, last=0):
    def sample(d, model, shape, generator=None):
        g = generator if use_generator else None
        x = start(shape, generator=g)
        steps = range(d.T - 1, last - 1, -1) if order == "down" else range(d.T)
        for t in steps:
            x = d.p_sample(model, x, t, noise=torch.randn(shape, generator=g))
        return x
    return sample


def _ddim(d, eps, xt, t, t_prev, eta, z, table="alphabar", wrap=False, sigma_rule="right", sigma_in_eps=True):
    tab = d.alphabar if table == "alphabar" else d.alphas
    ab = tab[t].item()
    ab_prev = tab[t_prev].item() if (t_prev >= 0 or wrap) else 1.0  # wrap: alphabar[-1] is the LAST entry
    x0 = (xt - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    if sigma_rule == "right":
        sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
    else:  # sigma without the second factor
        sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab))
    direction = math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) if sigma_in_eps else math.sqrt(1 - ab_prev)
    return math.sqrt(ab_prev) * x0 + direction * eps + sigma * z


MISTAKES = [
    ("06.q_sample", "alpha_t where alphabar_t belongs", _q_sample_alpha, "x_t differs"),
    ("06.q_sample", "no square roots", _q_sample_no_sqrt, "x_t differs"),
    ("06.cosine_betas", "the linear schedule", _cosine_linear, "betas differs"),
    ("06.cosine_betas", "no cap at 0.999", _cosine_uncapped, "expected 0.999, got 1"),
    ("06.q_posterior", "alphabar_t where alphabar_{t-1} belongs", _posterior_alphabar_t, "posterior mean differs"),
    ("06.q_posterior", "the schedule in float32", _posterior_float32, "in float32"),
    ("06.training_loss", "no square roots in x_t",
     lambda d, m, x0: _loss(d, m, x0, sqrt=False), "noise in x_t should be N(0, 1)"),
    ("06.training_loss", "t from 1 .. T (1-based: index T is past the schedule)",
     lambda d, m, x0: _loss(d, m, x0, t=torch.randint(1, d.T + 1, (len(x0),))), "t must be integer steps in 0 .. 999"),
    ("06.training_loss", "t from 1 .. T-1: step 0 never trained",
     lambda d, m, x0: _loss(d, m, x0, t=torch.randint(1, d.T, (len(x0),))), "steps [0] were never drawn"),
    ("06.training_loss", "t from 0 .. T-2: the last step never trained",
     lambda d, m, x0: _loss(d, m, x0, t=torch.randint(0, d.T - 1, (len(x0),))), "steps [19] were never drawn"),
    ("06.training_loss", "one t for the whole batch",
     lambda d, m, x0: _loss(d, m, x0, t=torch.randint(0, d.T, (1,)).repeat(len(x0))), "drawn uniformly"),
    ("06.training_loss", "one eps per example, shared by its coordinates",
     lambda d, m, x0: _loss(d, m, x0, eps=torch.randn(len(x0), 1).expand_as(x0)), "coordinates of the noise are correlated"),
    ("06.training_loss", "regresses x_0 instead of the noise", lambda d, m, x0: _loss(d, m, x0, target="x0"), "the loss"),
    ("06.p_sample", "the slide typo: alphabar where alpha belongs", _p_sample_alphabar, "x_(t-1) differs"),
    ("06.p_sample", "noise at the last step", lambda d, m, x, t, z: _p_sample(d, m, x, t, z, noise_at_end=True), "at t = 0"),
    ("06.p_sample", "sigma_t = beta_t, not its square root", lambda d, m, x, t, z: _p_sample(d, m, x, t, z, scale=lambda b: b),
     "x_(t-1) differs"),
    ("06.sample", "t = 0 .. T-1: the wrong direction", _sampler(order="up"), "expected the steps 99, 98"),
    ("06.sample", "ignores the generator", _sampler(use_generator=False), "generators seeded alike differ"),
    ("06.sample", "x_T uniform on [0, 1)", _sampler(start=torch.rand), "x_T should be N(0, I)"),
    ("06.sample", "x_T with the wrong spread",
     _sampler(start=lambda shape, generator: 0.5 * torch.randn(shape, generator=generator)),
     "x_T should be N(0, I)"),
    ("06.sample", "stops before t = 0", _sampler(last=1), "expected the steps 99, 98"),
    ("06.ddim_step", "alphabar[-1] (the last entry) at the end", lambda *a: _ddim(*a, wrap=True), "t_prev = -1"),
    ("06.ddim_step", "alpha where alphabar belongs", lambda *a: _ddim(*a, table="alpha"), "differs"),
    ("06.ddim_step", "sigma without sqrt(1 - alphabar_t / alphabar_prev)",
     lambda *a: _ddim(*a, sigma_rule="short"), "x_(t_prev) differs"),
    ("06.ddim_step", "the direction to x_t ignores sigma", lambda *a: _ddim(*a, sigma_in_eps=False), "eta = 0.5"),
]


(
    test_each_classic_mistake_fails_with_a_message_that_names_it,
    test_every_exercise_has_mistakes_listed,
    test_a_copy_of_the_reference_passes_and_a_stub_is_not_attempted,
) = lesson_tests("06", MISTAKES)


def test_a_float32_cosine_schedule_is_within_the_tolerance():
    """In float32 the first betas (about 4e-5) keep three digits: an absolute error of about 1e-7, inside the
    check's tolerance (the lesson asks for float64; the posterior, where it matters, fails in float32)."""
    def float32(T, s=0.008):
        steps = torch.arange(T + 1, dtype=torch.float32) / T
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        return (1 - f[1:] / f[:-1]).clamp(max=0.999)

    assert checks.run_check("06.cosine_betas", float32).status == PASSED


def test_a_float64_answer_of_the_posterior_passes():
    """The float32 hint only fires for float32 tables: the right formula on the float64 tables passes."""
    def float64(d, x0, xt, t):
        b, a, ab, abp = (_at(v, t, xt) for v in (d.betas, d.alphas, d.alphabar, d.alphabar_prev))
        mean = b * abp.sqrt() / (1 - ab) * x0.double() + (1 - abp) * a.sqrt() / (1 - ab) * xt.double()
        return mean.float(), (b * (1 - abp) / (1 - ab)).float()

    assert checks.run_check("06.q_posterior", float64).status == PASSED
