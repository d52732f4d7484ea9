import json

import pytest
import torch

from course_lib import autoencoder as ae
from course_lib import checks
from course_lib.checks import CHECK_MIME, FAILED, NOT_ATTEMPTED

LESSON_01 = ["01.reconstruction_loss", "01.Autoencoder", "01.gaussian_corruption", "01.masking_corruption"]


def _stub(*args, **kwargs):
    raise NotImplementedError("exercise: replace this line with your code")


def test_lesson_01_registers_its_exercises_in_order():
    assert [ex.key for ex in checks.exercises("01")] == LESSON_01
    with pytest.raises(ValueError, match="no checks for lesson '99'"):
        checks.exercises("99")
    with pytest.raises(KeyError, match="unknown exercise '01.nope'"):
        checks.get_exercise("01.nope")


def test_the_reference_itself_or_nothing_is_not_attempted():
    assert checks.run_check("01.reconstruction_loss", ae.reconstruction_loss).status == NOT_ATTEMPTED
    assert checks.run_check("01.reconstruction_loss", None).status == NOT_ATTEMPTED


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


# ----------------------------------------------------------------------------- the lessons' registries
# (each lesson's wrong answers are in tests/test_lessonNN_checks.py)
LESSON_04 = ["04.discriminator_loss", "04.generator_loss", "04.critic_loss", "04.gradient_penalty", "04.critic_step",
             "04.generator_step"]


def test_lesson_04_registers_its_exercises_in_order():
    assert [ex.key for ex in checks.exercises("04")] == LESSON_04


LESSON_03 = ["03.nearest_code", "03.straight_through", "03.vq_losses", "03.perplexity", "03.gumbel_softmax"]


def test_lesson_03_registers_its_exercises_in_order():
    assert [ex.key for ex in checks.exercises("03")] == LESSON_03


LESSON_05 = ["05.coupling_forward", "05.coupling_inverse", "05.flow_log_prob", "05.made_masks", "05.dequantized_nll"]


def test_lesson_05_registers_its_exercises_in_order():
    assert [ex.key for ex in checks.exercises("05")] == LESSON_05


LESSON_06 = ["06.q_sample", "06.cosine_betas", "06.q_posterior", "06.training_loss", "06.p_sample", "06.sample",
             "06.ddim_step"]


def test_lesson_06_registers_its_exercises_in_order():
    assert [ex.key for ex in checks.exercises("06")] == LESSON_06


LESSON_07 = ["07.scale_factor", "07.decode_latents", "07.drop_labels", "07.guided_eps", "07.guided_sample"]


def test_lesson_07_registers_its_exercises_in_order():
    assert [ex.key for ex in checks.exercises("07")] == LESSON_07


def test_a_bug_in_a_check_is_not_blamed_on_the_student():
    @checks.register("99.broken", "broken()", lambda: 0)
    def _broken(student, reference, cases):
        cases.add("the first case")
        student()
        undefined_name  # noqa: B018, F821 - the check's own bug

    cell = {}
    exec(compile("def mine():\n    return 1\n", "<notebook cell>", "exec"), cell)  # the student's code, in a cell
    try:
        result = checks.run_check("99.broken", cell["mine"])
    finally:
        checks.EXERCISES.pop("99.broken")
    assert result.status == FAILED
    assert "NameError" in result.message and "while checking what your code returned" in result.message
    assert "your code raised" not in result.message


SAMPLE_06 = '''
import torch

def sample(diffusion, model, shape, generator=None):
    x = torch.randn(shape, generator=generator)
    for t in reversed(range(diffusion.T)):
        x = p_sample(diffusion, model, x, t, torch.randn(shape, generator=generator))
    return x
'''


def test_an_exercise_is_checked_with_the_references_of_the_earlier_ones_it_calls():
    """A grader re-runs the student's definitions: a right sampler beside a wrong p_sample is still right."""
    def wrong_p_sample(diffusion, model, xt, t, z):  # forgets the noise
        return checks.get_exercise("06.p_sample").reference(diffusion, model, xt, t, torch.zeros_like(z))

    cell = {"p_sample": wrong_p_sample}
    exec(compile(SAMPLE_06, "<code cell 20>", "exec"), cell)
    result = checks.run_check("06.sample", cell["sample"])
    assert result.status == checks.PASSED, result.message
    assert cell["p_sample"] is wrong_p_sample  # the notebook's name is put back
    assert checks.run_check("06.p_sample", wrong_p_sample).status == checks.FAILED  # and judged where it belongs
