"""Lesson 02's checks against the classic mistakes: every wrong answer listed here must fail, with a message
that points at the mistake."""

import math

import torch
from mistakes import lesson_tests

from course_lib import vae as V


def _elbo_terms(model, x, kl_weight=1.0, sign=1.0, prior_q=False):
    mu, logvar = model.encode(x)
    z = V.reparameterize(mu, logvar)
    rec = -model.log_px_given_z(x, z)
    kl = V.gaussian_kl(mu, logvar)
    if prior_q:  # "KL(q || q)": the prior replaced by the posterior, which makes the KL 0
        kl = torch.zeros_like(kl)
    return sign * (rec + kl_weight * kl), rec, kl


def _iwae_underflow(model, x, k):  # log(mean(exp(log w))): exp underflows for log w of a few hundred nats below 0
    return torch.log(torch.exp(V.log_weights(model, x, k)).mean(1))


MISTAKES = [
    ("02.gaussian_kl", "no factor 1/2", lambda m, lv: (lv.exp() + m**2 - 1 - lv).sum(-1), "expected 0.5, got 1"),
    ("02.gaussian_kl", "logvar taken as log sigma", lambda m, lv: 0.5 * ((2 * lv).exp() + m**2 - 1 - 2 * lv).sum(-1), "KL"),
    ("02.gaussian_kl", "summed over the batch too", lambda m, lv: 0.5 * (lv.exp() + m**2 - 1 - lv).sum(), "shape"),
    ("02.gaussian_kl", "the log term halved", lambda m, lv: 0.5 * (lv.exp() + m**2 - 1 - 0.5 * lv).sum(-1), "KL"),
    ("02.reparameterize", "sigma = exp(logvar)", lambda m, lv: m + lv.exp() * torch.randn_like(m), "standard deviation"),
    ("02.reparameterize", "detached: no gradient", lambda m, lv: (m + (0.5 * lv).exp() * torch.randn_like(m)).detach(),
     "no gradient can reach"),
    ("02.reparameterize", "one eps per example, shared by its coordinates",
     lambda m, lv: m + (0.5 * lv).exp() * torch.randn(m.shape[0], 1), "coordinates of z are correlated"),
    ("02.reparameterize", "one eps for the whole batch", lambda m, lv: m + (0.5 * lv).exp() * torch.randn(1, m.shape[1]),
     "every example got the same z"),
    ("02.reparameterize", "z = mu (no noise)", lambda m, lv: m + 0 * lv, "z equals mu"),
    ("02.negative_elbo", "the KL added with the wrong sign",
     lambda model, x: _elbo_terms(model, x, kl_weight=-1.0), "loss differs"),
    ("02.negative_elbo", "the ELBO, not its negative", lambda model, x: _elbo_terms(model, x, sign=-1.0), "loss differs"),
    ("02.negative_elbo", "KL to q instead of the prior p(z)", lambda model, x: _elbo_terms(model, x, prior_q=True), "kl differs"),
    ("02.iwae_bound", "logsumexp without - log k", lambda model, x, k: torch.logsumexp(V.log_weights(model, x, k), 1),
     "the bound differs"),
    ("02.iwae_bound", "the mean of log w (the ELBO again)", lambda model, x, k: V.log_weights(model, x, k).mean(1),
     "mean bound should be"),
    ("02.iwae_bound", "log(mean(exp(log w))): underflow", _iwae_underflow, "underflows"),
]


(
    test_each_classic_mistake_fails_with_a_message_that_names_it,
    test_every_exercise_has_mistakes_listed,
    test_a_copy_of_the_reference_passes_and_a_stub_is_not_attempted,
) = lesson_tests("02", MISTAKES)


def test_the_underflow_case_is_real():
    """The iwae check's far-away case: log-weights a few hundred nats below 0, where float32 exp gives 0."""
    from course_lib.exercises.lesson02 import LinearGaussian

    far = LinearGaussian(s=0.05)
    x = far.b + 0.8 * torch.randn(3, 5, generator=torch.Generator().manual_seed(3))
    assert far.log_px(x).min() < -150 and not torch.isfinite(_iwae_underflow(far, x, 50)).all()
    torch.testing.assert_close(V.iwae_bound(far, x, 50), far.log_px(x), rtol=1e-4, atol=1e-2)
    assert math.isfinite(V.iwae_bound(far, x, 50).sum().item())
