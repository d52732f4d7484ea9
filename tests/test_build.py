"""One source, two notebooks: the generated files are never out of date with solutions/*.py."""

import re
from pathlib import Path

import pytest

from course_lib import checks
from course_lib.tooling import build
from course_lib.tooling.cli import notebook_parameters
from course_lib.tooling.project import REPOSITORY

ROOT = Path(__file__).resolve().parents[1]
LESSONS = list(build.find_lessons(ROOT).values())
REPO = f"https://colab.research.google.com/github/{REPOSITORY}/blob/main"

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


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.stem)
def test_solution_notebook_is_executed_top_to_bottom(lesson):
    nb = build.read_notebook(lesson.path("solutions", ".ipynb"))
    bad = build.unexecuted_cells(nb)
    assert not bad, (f"cells {bad} of solutions/{lesson.stem}.ipynb lack outputs of one run: "
                     f"run `course build --execute {lesson.number}`")
    records = checks.read_records(nb)
    assert records and all(r["status"] == checks.PASSED for r in records), records


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.stem)
def test_lesson_notebook_has_no_outputs(lesson):
    nb = build.read_notebook(lesson.path("lessons", ".ipynb"))
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.stem)
def test_anatomy(lesson):
    for folder in ("solutions", "lessons"):
        nb = build.read_notebook(lesson.path(folder, ".ipynb"))
        assert nb.metadata.kernelspec.name == "python3"  # papermill needs a kernelspec
        params = notebook_parameters(nb)
        assert params["DEVICE"] == "auto" and params["DATASET"] == "digits" and isinstance(params["SEED"], int)
        text = "".join(c.source for c in nb.cells)
        assert f"{REPO}/{folder}/{lesson.stem}.ipynb" in text  # the Colab badge opens this very notebook
        assert '"google.colab" in sys.modules' in text


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.stem)
def test_every_exercise_has_a_check_and_every_check_an_exercise(lesson):
    source = lesson.path("solutions", ".py").read_text()
    regions = {name.split(".")[0] for name in build.exercise_names(source)}
    registered = {ex.name for ex in checks.exercises(lesson.number)}
    assert regions == registered
    assert len(registered) >= 3
    for name in registered:
        assert f'checks.check("{lesson.number}.{name}", {name})' in source


# ----------------------------------------------------------------------------- the repository's address
def test_placeholders_are_filled_for_each_notebook_and_an_unknown_one_is_an_error():
    lesson = build.Lesson("01", "autoencoders", ROOT)
    source = "# [badge](https://colab.research.google.com/github/{{ repository }}/blob/main/{{ folder }}/{{ stem }}.ipynb)\n"
    assert build.expand(source, lesson.placeholders("lessons")) == f"# [badge]({REPO}/lessons/01_autoencoders.ipynb)\n"
    assert build.expand(source, lesson.placeholders("solutions")) == f"# [badge]({REPO}/solutions/01_autoencoders.ipynb)\n"
    with pytest.raises(build.BuildError, match=r"x.py:2: unknown placeholder \{\{ repo \}\}; the placeholders are"):
        build.expand("x = 1\nurl = 'https://github.com/{{ repo }}'\n", lesson.placeholders("lessons"), "x.py")
    escaped = 'title = rf"$\\bar\\alpha_{{t}}$ at {t}"\n'  # an f-string's literal braces are not a placeholder
    assert build.expand(escaped, lesson.placeholders("lessons")) == escaped


def test_a_source_with_an_unknown_placeholder_does_not_build(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "09_toy.py").write_text("# %%\nURL = 'https://github.com/{{ repository_name }}'\n")
    with pytest.raises(build.BuildError, match="09_toy.py:2: unknown placeholder"):
        build.build(tmp_path, check=True)
    assert not (tmp_path / "lessons").exists()


def _generated_files() -> list[Path]:
    return [path for lesson in LESSONS for path in build.expected_files(lesson)]


def test_no_placeholder_is_left_in_a_generated_file():
    for path in _generated_files():
        left = build.PLACEHOLDER.findall(path.read_text())
        assert not left, f"{path.relative_to(ROOT)} holds unfilled placeholders {left}"


def test_the_sources_name_the_repository_only_through_the_placeholder():
    for lesson in LESSONS:
        source = lesson.path("solutions", ".py").read_text()
        assert REPOSITORY not in source and "{{ repository }}" in source, lesson.stem


ADDRESS = re.compile(r"(?:colab\.research\.google\.com/github|github\.com)/([\w.-]+/[\w.-]+)")  # -> owner/name


def _repositories(text: str) -> list[str]:
    return [m.rstrip(".").removesuffix(".git") for m in ADDRESS.findall(text)]


def test_every_github_address_is_the_one_repository():
    """README.md and every built notebook name this course's repository only through project.REPOSITORY."""
    assert _repositories("see https://github.com/a-b/c.d.git. Or [x](https://colab.research.google.com/github/e/f/blob/main/"
                         'lessons/01.ipynb) "git+https://github.com/g/h"') == ["a-b/c.d", "e/f", "g/h"]
    for path in [ROOT / "README.md", *_generated_files()]:
        found = _repositories(path.read_text())
        assert found, f"{path.relative_to(ROOT)} names no repository"
        wrong = sorted(set(found) - {REPOSITORY})
        assert not wrong, f"{path.relative_to(ROOT)} names {wrong}, not {REPOSITORY} (course_lib/tooling/project.py)"
    assert len(_repositories((ROOT / "README.md").read_text())) >= len(LESSONS) + 1  # the badges and the install address
