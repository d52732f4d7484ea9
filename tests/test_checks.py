import json

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
    mine = lambda x, y: ae.reconstruction_loss(x, y)  # noqa: E731
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


from course_lib import vae as _vae  # noqa: E402


def _elbo_terms(model, x, kl_weight):
    mu, logvar = model.encode(x)
    rec = -model.log_px_given_z(x, _vae.reparameterize(mu, logvar))
    kl = _vae.gaussian_kl(mu, logvar)
    return rec + kl_weight * kl, rec, kl
