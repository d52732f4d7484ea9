"""One source, two notebooks: the generated files are never out of date with solutions/*.py."""

from pathlib import Path

import pytest

from course_lib import build, checks
from course_lib.cli import notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
LESSONS = list(build.find_lessons(ROOT).values())
REPO = "https://colab.research.google.com/github/dgm-course/deep-generative-models/blob/main"

SOURCE = '''\
x = 1


def f(a):
    """doc"""
    ### BEGIN SOLUTION
    return a + 1
    ### END SOLUTION


class Model:
    def forward(self, x):
        if x:
            ### BEGIN SOLUTION
            return 2
            ### END SOLUTION
        return 3
'''


def test_lesson_source_stubs_every_region_and_names_the_exercise():
    out = build.lesson_source(SOURCE)
    assert "BEGIN SOLUTION" not in out and "return a + 1" not in out and "return 2" not in out
    assert '    raise NotImplementedError("exercise f: replace this line with your code")\n' in out
    assert '            raise NotImplementedError("exercise Model.forward: replace this line with your code")\n' in out
    assert "return 3" in out and "x = 1" in out
    compile(out, "<lesson>", "exec")  # still valid Python
    assert build.exercise_names(SOURCE) == ["f", "Model.forward"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("def f():\n    ### BEGIN SOLUTION\n    pass\n", "never closed"),
        ("def f():\n    pass\n    ### END SOLUTION\n", "without a '### BEGIN SOLUTION'"),
        ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n", "inside another"),
        ("def f():\n    ### BEGIN SOLUTION\n    pass\n### END SOLUTION\n", "indented like"),
    ],
)
def test_unbalanced_markers_are_build_errors(text, message):
    with pytest.raises(build.BuildError, match=message):
        build.lesson_source(text, "bad.py")


def test_there_is_a_lesson_01():
    assert [lesson.stem for lesson in LESSONS][:1] == ["01_autoencoders"]


def test_generated_files_are_up_to_date():
    stale = build.build(ROOT, check=True)
    assert not stale, f"out of date with solutions/*.py (run `course build`): {[str(p.relative_to(ROOT)) for p in stale]}"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda l: l.stem)
def test_solution_notebook_is_executed_top_to_bottom(lesson):
    nb = build.read_notebook(lesson.path("solutions", ".ipynb"))
    bad = build.unexecuted_cells(nb)
    assert not bad, f"cells {bad} of solutions/{lesson.stem}.ipynb lack outputs of one run: run `course build --execute {lesson.number}`"
    records = checks.read_records(nb)
    assert records and all(r["status"] == checks.PASSED for r in records), records


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda l: l.stem)
def test_lesson_notebook_has_no_outputs(lesson):
    nb = build.read_notebook(lesson.path("lessons", ".ipynb"))
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda l: l.stem)
def test_anatomy(lesson):
    for folder in ("solutions", "lessons"):
        nb = build.read_notebook(lesson.path(folder, ".ipynb"))
        assert nb.metadata.kernelspec.name == "python3"  # papermill needs a kernelspec
        params = notebook_parameters(nb)
        assert params["DEVICE"] == "auto" and params["DATASET"] == "digits" and isinstance(params["SEED"], int)
        text = "".join(c.source for c in nb.cells)
        assert f"{REPO}/{folder}/{lesson.stem}.ipynb" in text  # the Colab badge opens this very notebook
        assert '"google.colab" in sys.modules' in text


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda l: l.stem)
def test_every_exercise_has_a_check_and_every_check_an_exercise(lesson):
    source = lesson.path("solutions", ".py").read_text()
    regions = {name.split(".")[0] for name in build.exercise_names(source)}
    registered = {ex.name for ex in checks.exercises(lesson.number)}
    assert regions == registered
    assert len(registered) >= 3
    for name in registered:
        assert f'checks.check("{lesson.number}.{name}", {name})' in source
