"""Exercise checks: the student's function against the reference, one verdict, one grading record.

A lesson's check cell reads

    reconstruction_loss = checks.check("01.reconstruction_loss", reconstruction_loss)

which runs the exercise's test cases, displays the verdict (passed / not attempted / failed, with
what was expected and what came back) and returns the function the lesson goes on with: the
student's when it passed, the reference otherwise. The displayed output carries a machine-readable
record (MIME type `CHECK_MIME`) so a grader can read verdicts from an executed notebook, and
`run_check` re-runs the same test on any function without displaying anything.
"""

from __future__ import annotations

import contextlib
import html
import importlib
import inspect
import re
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from .core import records
from .core.devices import one_thread
from .core.records import CHECK_MIME

RECORD_VERSION = 1
PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"


class CheckFailure(AssertionError):
    """Raised by an exercise test at the first case where the student's answer is wrong."""


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Exercise:
    """One exercise: the name the student defines, the reference, and the test comparing them.

    Attributes:
        key: "LL.name", e.g. "01.reconstruction_loss".
        title: what the student writes, in a few words.
        reference: the reference implementation (function or class).
        test: test(student, reference, cases) runs the cases, calling cases.add(description)
            before each one, and raises CheckFailure on the first wrong answer.
        points: weight of the exercise in grading.
    """

    key: str
    title: str
    reference: Any
    test: Callable[[Any, Any, Cases], None]
    points: int = 1

    @property
    def lesson(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[1]


EXERCISES: dict[str, Exercise] = {}


def _lesson_modules() -> dict[str, str]:
    """{"01": "course_lib.exercises.lesson01", ...}: every lessonNN module in course_lib/exercises."""
    import pkgutil

    from . import exercises as package

    names = (m.name for m in pkgutil.iter_modules(package.__path__))
    return {n[len("lesson"):]: f"{package.__name__}.{n}" for n in sorted(names) if re.fullmatch(r"lesson\d\d", n)}


_LESSON_MODULES = _lesson_modules()


def register(key: str, title: str, reference: Any, points: int = 1):
    """Decorator registering `test` as the check of exercise `key`."""

    def wrap(test):
        EXERCISES[key] = Exercise(key, title, reference, test, points)
        return test

    return wrap


def exercises(lesson: str) -> list[Exercise]:
    """The exercises of a lesson ("01"), in the order they appear."""
    if lesson not in _LESSON_MODULES:
        raise ValueError(f"no checks for lesson {lesson!r}; lessons with checks: {sorted(_LESSON_MODULES)}")
    importlib.import_module(_LESSON_MODULES[lesson])
    return [ex for key, ex in EXERCISES.items() if key.startswith(lesson + ".")]


def get_exercise(key: str) -> Exercise:
    """Look up an exercise by key, loading its lesson's checks on first use."""
    lesson = key.split(".", 1)[0]
    if lesson in _LESSON_MODULES:
        importlib.import_module(_LESSON_MODULES[lesson])
    if key not in EXERCISES:
        known = ", ".join(sorted(EXERCISES)) or "none"
        raise KeyError(f"unknown exercise {key!r}; known exercises: {known}")
    return EXERCISES[key]


# ----------------------------------------------------------------------------- result
@dataclass
class CheckResult:
    """The verdict of one check, displayable in a notebook and serialisable for grading."""

    exercise: str
    status: str
    message: str
    cases_run: int
    using: str  # "yours" or "reference"
    points: int = 1
    version: int = field(default=RECORD_VERSION)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def record(self) -> dict:
        return asdict(self)

    def verdict(self) -> str:
        head = {PASSED: "PASSED", FAILED: "FAILED", NOT_ATTEMPTED: "NOT ATTEMPTED"}[self.status]
        use = "your function" if self.using == "yours" else "the reference implementation"
        return f"[{head}] {self.exercise}: {self.message}\n-> the lesson goes on with {use}."

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        colour = {PASSED: "#e6f4ea", FAILED: "#fce8e6", NOT_ATTEMPTED: "#fef7e0"}[self.status]
        body = html.escape(self.verdict()).replace("\n", "<br>")
        box = f'<div style="background:{colour};padding:6px 10px;border-radius:4px;font-family:monospace">{body}</div>'
        return {"text/plain": self.verdict(), "text/html": box, CHECK_MIME: self.record()}

    def __repr__(self) -> str:
        return self.verdict()


class Cases:
    """Counts the cases a test runs and remembers the current one for messages."""

    def __init__(self):
        self.count = 0
        self.current = ""

    def add(self, description: str) -> None:
        self.count += 1
        self.current = description


# ----------------------------------------------------------------------------- running
@contextlib.contextmanager
def _earlier_exercises_as_references(key: str, student: Any):
    """While `student` is checked, the other exercises of its lesson that it calls by name are the references.

    A sampler calls the notebook's `p_sample`, a loss its `reparameterize`: looked up by name, at call time,
    in the namespace the student's function was defined in. In the notebook, a failed check cell has already
    rebound such a name to the reference; a grader re-running the student's definitions has not, and would
    fail a right exercise for a wrong earlier one, counting that one twice. So each check sees the
    references there (a right earlier answer gives the same results); the names are restored after.
    """
    names = getattr(inspect.unwrap(student), "__globals__", None) if callable(student) else None  # past @no_grad
    lesson = key.split(".", 1)[0]
    swapped = {}
    if isinstance(names, dict):
        for other in [ex for k, ex in EXERCISES.items() if k.startswith(lesson + ".")]:  # loaded by get_exercise
            name = other.key.split(".", 1)[1]
            if other.key != key and "." not in name and name in names and names[name] is not other.reference:
                swapped[name] = names[name]
                names[name] = other.reference
    try:
        yield
    finally:
        if swapped:
            names.update(swapped)


def run_check(key: str, student: Any) -> CheckResult:
    """Run exercise `key`'s test on `student` (function or class) and return the verdict."""
    ex = get_exercise(key)
    cases = Cases()
    if student is None or student is ex.reference:
        why = "no function given" if student is None else "that is the reference itself, not your function"
        return CheckResult(key, NOT_ATTEMPTED, why, 0, "reference", ex.points)
    try:
        # the test's seeding never touches the lesson's RNG state; small tensors run fastest (and alike) on one thread
        with torch.random.fork_rng(devices=[]), one_thread(), _earlier_exercises_as_references(key, student):
            ex.test(student, ex.reference, cases)
    except NotImplementedError:
        msg = "still raises NotImplementedError: replace the stub with your code"
        if cases.current:
            msg += f" (first reached on case {cases.count}: {cases.current})"
        return CheckResult(key, NOT_ATTEMPTED, msg, cases.count, "reference", ex.points)
    except CheckFailure as err:
        return CheckResult(key, FAILED, f"case {cases.count} ({cases.current}): {err}", cases.count, "reference", ex.points)
    except Exception as err:  # the student's code crashed: report where, without a traceback wall
        where = _student_frame(err, _source_files(student))
        if where is None:  # the error is not in the student's code: in the check, on what the code returned
            msg = (f"case {cases.count} ({cases.current}): {type(err).__name__}: {err}, while checking what your code "
                   "returned (if it returns the type and shape the exercise asks for, this is a bug in the check: "
                   "please report it)")
        else:
            msg = f"case {cases.count} ({cases.current}): your code raised {type(err).__name__}: {err}{where}"
        return CheckResult(key, FAILED, msg, cases.count, "reference", ex.points)
    return CheckResult(key, PASSED, f"all {cases.count} cases match the reference", cases.count, "yours", ex.points)


def check(key: str, student: Any, display: bool = True) -> Any:
    """Check `student` for exercise `key`, show the verdict, and return what the lesson should use."""
    result = run_check(key, student)
    if display:
        _display(result)
    return student if result.passed else get_exercise(key).reference


def _display(result: CheckResult) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        print(result.verdict())
        return
    if get_ipython() is None:
        print(result.verdict())
    else:
        display(result)


def _source_files(student: Any) -> set[str]:
    """The files the student's function (or the methods of their class) were defined in."""
    functions = [student] if not isinstance(student, type) else list(vars(student).values())
    files = set()
    for f in functions:
        code = getattr(getattr(f, "__func__", f), "__code__", None)
        if code is not None:
            files.add(code.co_filename)
    return files


def _student_frame(err: BaseException, files: set[str]) -> str | None:
    """' (in f, line N: code)' for the innermost frame of the student's code; None when the error is not in it."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename in files]
    if not frames:
        return None
    f = frames[-1]
    return f" (in {f.name}, line {f.lineno}: {f.line})" if f.line else f" (in {f.name})"


def read_records(notebook: dict) -> list[dict]:
    """All check records found in the outputs of an executed notebook (nbformat dict or node)."""
    return records.read(notebook, CHECK_MIME)


# ----------------------------------------------------------------------------- comparisons for tests
def describe(x: Any) -> str:
    """Short description of a value for a verdict message."""
    if isinstance(x, torch.Tensor):
        if x.numel() == 1:
            return f"{x.item():.6g} (tensor, shape {tuple(x.shape)})"
        return f"tensor of shape {tuple(x.shape)}, dtype {str(x.dtype).replace('torch.', '')}"
    return f"{type(x).__name__} {x!r}"[:200]


def expect_tensor(got: Any, shape: tuple | None = None, what: str = "the result") -> torch.Tensor:
    """Fail unless `got` is a tensor (of `shape` when given)."""
    if not isinstance(got, torch.Tensor):
        raise CheckFailure(f"expected {what} to be a torch.Tensor, got {describe(got)}")
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise CheckFailure(f"expected {what} of shape {tuple(shape)}, got shape {tuple(got.shape)}")
    return got


def expect_close(expected: torch.Tensor, got: Any, what: str = "the result", rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Fail unless `got` is a tensor of expected's shape, numerically close; name the first mismatch."""
    got = expect_tensor(got, expected.shape, what)
    exp, g = expected.detach().double().cpu(), got.detach().double().cpu()
    if not torch.isfinite(g).all() and torch.isfinite(exp).all():
        raise CheckFailure(f"{what} contains NaN or inf")
    bad = ~torch.isclose(g, exp, rtol=rtol, atol=atol)
    if bad.any():
        idx = tuple(int(i) for i in bad.nonzero()[0])
        if exp.ndim == 0:
            raise CheckFailure(f"expected {what} = {exp.item():.6g}, got {g.item():.6g}")
        raise CheckFailure(
            f"{what} differs at {int(bad.sum())} of {bad.numel()} entries; first at index {idx}: "
            f"expected {exp[idx].item():.6g}, got {g[idx].item():.6g}"
        )
