"""What every lesson's wrong-answer tests share (tests/test_lessonNN_checks.py).

A lesson's file lists its classic mistakes in a table MISTAKES of (exercise key, the mistake, a wrong
answer, words its verdict must contain) and gets three tests from `lesson_tests`:
- each wrong answer fails, with a message that contains the words naming the mistake;
- every exercise of the lesson has at least one mistake listed (a new exercise needs its rows);
- a copy of the reference passes and a stub that still raises NotImplementedError is not attempted.
"""

from __future__ import annotations

import pytest

from course_lib import checks
from course_lib.checks import FAILED, NOT_ATTEMPTED, PASSED


def stub(*args, **kwargs):
    raise NotImplementedError("exercise: replace this line with your code")


def copy_of(reference):
    """The reference as a student would hand it in: a subclass of a class, a wrapper of a function."""
    return type("Mine", (reference,), {}) if isinstance(reference, type) else (lambda *a, **k: reference(*a, **k))


def stub_of(reference):
    """The untouched exercise: a function that raises, or a class whose methods do."""
    if not isinstance(reference, type):
        return stub
    methods = {name: (lambda self, *a, **k: stub()) for name in ("encode", "decode", "forward", "__call__")
               if name in vars(reference)}
    return type("Stub", (reference,), methods)


def lesson_tests(lesson: str, mistakes: list[tuple]):
    """The three tests of a lesson's wrong-answer table (assign them to test_* names in the lesson's file)."""

    @pytest.mark.parametrize("key, mistake, wrong, words", mistakes, ids=[f"{k}: {m}" for k, m, _, _ in mistakes])
    def each_mistake_fails(key, mistake, wrong, words):
        result = checks.run_check(key, wrong)
        assert result.status == FAILED, f"{mistake}: {result.message}"
        assert words in result.message, result.message
        assert result.message.startswith("case ") and result.using == "reference"

    def every_exercise_is_listed():
        assert {k for k, *_ in mistakes} == {ex.key for ex in checks.exercises(lesson)}

    @pytest.mark.parametrize("key", [ex.key for ex in checks.exercises(lesson)])
    def reference_passes_and_stub_is_not_attempted(key):
        reference = checks.get_exercise(key).reference
        result = checks.run_check(key, copy_of(reference))
        assert result.status == PASSED and result.using == "yours", result.message
        result = checks.run_check(key, stub_of(reference))
        assert result.status == NOT_ATTEMPTED and "NotImplementedError" in result.message

    return each_mistake_fails, every_exercise_is_listed, reference_passes_and_stub_is_not_attempted
