import json
import math

import pytest
import torch

from course_lib import autoencoder as ae
from course_lib import checks
from course_lib.checks import CHECK_MIME, FAILED, NOT_ATTEMPTED, PASSED

LESSON_01 = ["01.reconstruction_loss", "01.Autoencoder", "01.gaussian_corruption", "01.masking_corruption"]


def _stub(*args, **kwargs):
    raise NotImplementedError("exercise: replace this line with your code")


def test_lesson_01_registers_its_exercises_in_order():
    assert [ex.key for ex in checks.exercises("01")] == LESSON_01
    with pytest.raises(ValueError, match="no checks for lesson '99'"):
        checks.exercises("99")
    with pytest.raises(KeyError, match="unknown exercise '01.nope'"):
        checks.get_exercise("01.nope")


@pytest.mark.parametrize("key", LESSON_01)
def test_a_copy_of_the_reference_passes(key):
    ref = checks.get_exercise(key).reference
    student = type("Mine", (ref,), {}) if isinstance(ref, type) else (lambda *a, **k: ref(*a, **k))
    result = checks.run_check(key, student)
    assert result.status == PASSED, result.message
    assert result.cases_run >= 5 and result.using == "yours"


@pytest.mark.parametrize("key", LESSON_01)
def test_a_stub_is_not_attempted(key):
    ref = checks.get_exercise(key).reference
    if isinstance(ref, type):
        student = type("Stub", (ref,), {"encode": lambda self, x: _stub(), "decode": lambda self, z: _stub()})
    else:
        student = _stub
    result = checks.run_check(key, student)
    assert result.status == NOT_ATTEMPTED and result.using == "reference"
    assert "NotImplementedError" in result.message


def test_the_reference_itself_or_nothing_is_not_attempted():
    assert checks.run_check("01.reconstruction_loss", ae.reconstruction_loss).status == NOT_ATTEMPTED
    assert checks.run_check("01.reconstruction_loss", None).status == NOT_ATTEMPTED


@pytest.mark.parametrize(
    "key, wrong, expected_words",
    [
        ("01.reconstruction_loss", lambda x, y: torch.nn.functional.mse_loss(x, y), "expected the loss = 64, got 1"),
        ("01.reconstruction_loss", lambda x, y: ((x - y) ** 2).sum(), "expected the loss = 64, got 256"),
        ("01.reconstruction_loss", lambda x, y: float(((x - y) ** 2).sum() / x.shape[0]), "torch.Tensor"),
        ("01.gaussian_corruption", lambda x, s, generator=None: x + s * torch.randn_like(x), "use the generator argument"),
        ("01.gaussian_corruption", lambda x, s, generator=None: x + s * torch.rand(x.shape, generator=generator), "mean 0"),
        ("01.gaussian_corruption", lambda x, s, generator=None: x.add_(s * torch.randn(x.shape, generator=generator)), "in place"),
        ("01.masking_corruption", lambda x, p, generator=None: x * (torch.rand(x.shape, generator=generator) >= p) / (1 - p + 1e-12), "neither kept"),
        ("01.masking_corruption", lambda x, p, generator=None: x * (torch.rand(x.shape, generator=generator) < p), "p = 0 keeps"),
    ],
)
def test_wrong_answers_fail_with_what_was_expected(key, wrong, expected_words):
    result = checks.run_check(key, wrong)
    assert result.status == FAILED
    assert expected_words in result.message, result.message
    assert result.message.startswith("case ")


def test_wrong_decoder_fails_at_the_first_mismatch():
    class NoSigmoid(ae.Autoencoder):
        def decode(self, z):
            return self.decoder(z).view(z.shape[0], *self.cfg.image_shape)

    result = checks.run_check("01.Autoencoder", NoSigmoid)
    assert result.status == FAILED
    assert "decode(z) differs" in result.message and "first at index" in result.message


def test_a_crash_in_the_student_code_is_reported_not_raised():
    def crashes(x, x_hat):
        return x.reshape(-1, 3) - x_hat

    result = checks.run_check("01.reconstruction_loss", crashes)
    assert result.status == FAILED and "RuntimeError" in result.message and "crashes" in result.message


def test_check_returns_what_the_lesson_goes_on_with(capsys):
    mine = lambda x, y: ae.reconstruction_loss(x, y)
    assert checks.check("01.reconstruction_loss", mine) is mine
    assert checks.check("01.reconstruction_loss", _stub) is ae.reconstruction_loss
    out = capsys.readouterr().out  # outside IPython the verdict is printed
    assert "[PASSED] 01.reconstruction_loss" in out and "goes on with your function" in out
    assert "[NOT ATTEMPTED]" in out and "goes on with the reference implementation" in out


def test_checks_leave_the_global_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    checks.run_check("01.Autoencoder", type("Mine", (ae.Autoencoder,), {}))
    assert torch.equal(torch.rand(3), expected)


def test_records_are_machine_readable_and_read_back():
    result = checks.run_check("01.masking_corruption", _stub)
    bundle = result._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", CHECK_MIME}
    record = bundle[CHECK_MIME]
    assert json.loads(json.dumps(record)) == record
    assert record["exercise"] == "01.masking_corruption" and record["status"] == NOT_ATTEMPTED
    nb = {"cells": [
        {"cell_type": "markdown", "source": "x"},
        {"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {CHECK_MIME: record, "text/plain": "..."}}]},
        {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi"}]},
    ]}
    assert checks.read_records(nb) == [record]


LESSON_02 = ["02.gaussian_kl", "02.reparameterize", "02.negative_elbo", "02.iwae_bound"]


def test_lesson_02_registers_its_exercises_in_order():
    assert [ex.key for ex in checks.exercises("02")] == LESSON_02


@pytest.mark.parametrize("key", LESSON_02)
def test_lesson_02_reference_copy_passes_and_stub_is_not_attempted(key):
    ref = checks.get_exercise(key).reference
    assert checks.run_check(key, lambda *a, **k: ref(*a, **k)).status == PASSED
    assert checks.run_check(key, _stub).status == NOT_ATTEMPTED


@pytest.mark.parametrize(
    "key, wrong, words",
    [
        ("02.gaussian_kl", lambda m, lv: (lv.exp() + m**2 - 1 - lv).sum(-1), "expected 0.5, got 1"),
        ("02.gaussian_kl", lambda m, lv: 0.5 * (lv.exp() + m**2 - 1 - 0.5 * lv).sum(-1), "KL differs"),
        ("02.reparameterize", lambda m, lv: m + lv.exp() * torch.randn_like(m), "standard deviation"),
        ("02.reparameterize", lambda m, lv: (m + (0.5 * lv).exp() * torch.randn_like(m)).detach(), "no gradient can reach"),
        ("02.negative_elbo", lambda model, x: _elbo_terms(model, x, kl_weight=-1.0), "loss differs"),
        ("02.iwae_bound", lambda model, x, k: torch.logsumexp(_vae.log_weights(model, x, k), 1), "the bound differs"),
        ("02.iwae_bound", lambda model, x, k: _vae.log_weights(model, x, k).mean(1), "mean bound should be"),
    ],
)
def test_lesson_02_wrong_answers_fail(key, wrong, words):
    result = checks.run_check(key, wrong)
    assert result.status == FAILED and words in result.message, result.message


from course_lib import vae as _vae


def _elbo_terms(model, x, kl_weight):
    mu, logvar = model.encode(x)
    rec = -model.log_px_given_z(x, _vae.reparameterize(mu, logvar))
    kl = _vae.gaussian_kl(mu, logvar)
    return rec + kl_weight * kl, rec, kl


# ----------------------------------------------------------------------------- lesson 06
LESSON_06 = ["06.q_sample", "06.cosine_betas", "06.q_posterior", "06.training_loss", "06.p_sample", "06.sample"]


def test_lesson_06_registers_its_exercises_in_order():
    assert [ex.key for ex in checks.exercises("06")] == LESSON_06


@pytest.mark.parametrize("key", LESSON_06)
def test_lesson_06_reference_copy_passes_and_stub_is_not_attempted(key):
    ref = checks.get_exercise(key).reference
    assert checks.run_check(key, lambda *a, **k: ref(*a, **k)).status == PASSED
    assert checks.run_check(key, _stub).status == NOT_ATTEMPTED


def _ab(d, t, x):
    return d.alphabar.float()[t].view(-1, *([1] * (x.ndim - 1)))


def _q_sample_typo(d, x0, t, noise):  # alpha_t where alphabar_t belongs
    a = d.alphas.float()[t].view(-1, *([1] * (x0.ndim - 1)))
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def _posterior_wrong(d, x0, xt, t):  # alphabar_t where alphabar_{t-1} belongs
    ab = _ab(d, t, xt)
    b, a = d.betas.float()[t].view_as(ab), d.alphas.float()[t].view_as(ab)
    return ab.sqrt() * b / (1 - ab) * x0 + a.sqrt() * (1 - ab) / (1 - ab) * xt, (1 - ab) / (1 - ab) * b


def _loss_no_sqrt(d, model, x0):  # x_t = alphabar x0 + (1 - alphabar) eps: not unit-variance noise
    t = torch.randint(0, d.T, (len(x0),))
    eps = torch.randn_like(x0)
    ab = _ab(d, t, x0)
    return ((eps - model(ab * x0 + (1 - ab) * eps, t)) ** 2).mean()


def _loss_one_based(d, model, x0):  # t drawn from 1 .. T: index T is out of the schedule
    t = torch.randint(1, d.T + 1, (len(x0),))
    eps = torch.randn_like(x0)
    ab = _ab(d, t.clamp(max=d.T - 1), x0)
    return ((eps - model(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t)) ** 2).mean()


def _p_sample_slide_typo(d, model, xt, t, z):  # alphabar where alpha belongs (the slide typo)
    ab, beta = d.alphabar[t].item(), d.betas[t].item()
    eps = model(xt, torch.full((len(xt),), t))
    mean = (xt - (1 - ab) / math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    return mean + (math.sqrt(beta) * z if t > 0 else 0)


def _p_sample_noise_at_end(d, model, xt, t, z):
    a, ab, beta = d.alphas[t].item(), d.alphabar[t].item(), d.betas[t].item()
    eps = model(xt, torch.full((len(xt),), t))
    return (xt - (1 - a) / math.sqrt(1 - ab) * eps) / math.sqrt(a) + math.sqrt(beta) * z


def _sample_forwards(d, model, shape, generator=None):  # t = 0 .. T-1: the wrong direction
    x = torch.randn(shape, generator=generator)
    for t in range(d.T):
        x = d.p_sample(model, x, t, noise=torch.randn(shape, generator=generator))
    return x


def _sample_ignores_generator(d, model, shape, generator=None):
    x = torch.randn(shape)
    for t in reversed(range(d.T)):
        x = d.p_sample(model, x, t, noise=torch.randn(shape))
    return x


@pytest.mark.parametrize(
    "key, wrong, words",
    [
        ("06.q_sample", _q_sample_typo, "x_t differs"),
        ("06.cosine_betas", lambda T, s=0.008: torch.linspace(1e-4, 0.02, T, dtype=torch.float64), "betas differs"),
        ("06.cosine_betas", lambda T, s=0.008: _cosine_uncapped(T, s), "expected 0.999, got 1"),
        ("06.q_posterior", _posterior_wrong, "posterior mean differs"),
        ("06.training_loss", _loss_no_sqrt, "noise in x_t should be N(0, 1)"),
        ("06.training_loss", _loss_one_based, "t must be integer steps in 0 .. 999"),
        ("06.p_sample", _p_sample_slide_typo, "x_(t-1) differs"),
        ("06.p_sample", _p_sample_noise_at_end, "at t = 0"),
        ("06.sample", _sample_forwards, "expected the steps 99, 98"),
        ("06.sample", _sample_ignores_generator, "generators seeded alike differ"),
    ],
)
def test_lesson_06_wrong_answers_fail(key, wrong, words):
    result = checks.run_check(key, wrong)
    assert result.status == FAILED and words in result.message, result.message


def _cosine_uncapped(T, s):
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return 1 - f[1:] / f[:-1]
