"""The `course` command: one-line errors for user mistakes, and the main job end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import checks
from course_lib.tooling.build import find_lessons
from course_lib.tooling.cli import UsageError, main, parse_parameters

ROOT = Path(__file__).resolve().parents[1]


def course(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "course_lib.tooling.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def _one_line_error(result, *words):
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("course: "), result.stderr
    assert "Traceback" not in result.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_list(capsys):
    assert main(["list"]) == 0
    assert "01  autoencoders" in capsys.readouterr().out


def test_unknown_lesson(capsys):
    assert main(["run", "09"]) == 2
    err = capsys.readouterr().err
    assert err.strip().startswith("course: no lesson '09'; the lessons are: 01 (autoencoders), 02 (vae)")


def test_unknown_parameter(capsys):
    assert main(["run", "1", "-p", "EPOCHZ", "3"]) == 2
    err = capsys.readouterr().err
    assert "lesson 01 has no parameter 'EPOCHZ'" in err and "EPOCHS" in err


@pytest.mark.parametrize(
    "name, raw, words",
    [("EPOCHS", "ten", "EPOCHS expects int (default 150), got 'ten'"), ("DEVICE", "3", "DEVICE expects str")],
)
def test_badly_typed_parameter(capsys, name, raw, words):
    assert main(["run", "01", "-p", name, raw]) == 2
    assert words in capsys.readouterr().err


def test_parameter_parsing():
    defaults = {"EPOCHS": 150, "LR": 1e-3, "DEVICE": "auto", "FLAG": True}
    got = parse_parameters([["EPOCHS", "3"], ["LR", "1"], ["DEVICE", "cpu"], ["FLAG", "False"]], defaults, "lesson 01")
    assert got == {"EPOCHS": 3, "LR": 1.0, "DEVICE": "cpu", "FLAG": False}
    assert isinstance(got["LR"], float)
    with pytest.raises(UsageError, match="FLAG expects True or False"):
        parse_parameters([["FLAG", "1"]], defaults, "lesson 01")


def test_missing_kernel_is_one_line():
    _one_line_error(course("run", "01", "--kernel", "no-such-kernel"), "no Jupyter kernel named 'no-such-kernel'",
                    "ipykernel install")


def test_missing_notebook_and_not_a_notebook(tmp_path):
    _one_line_error(course("run", str(tmp_path / "absent.ipynb")), "not found")
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{ not json")
    _one_line_error(course("run", str(bad)), "not a readable notebook")


def test_the_command_imports_no_torch_matplotlib_or_widgets():
    """The command's modules load without the students' libraries (grading imports the checks only when it grades)."""
    code = ("import course_lib.tooling.cli, course_lib.tooling.grading, course_lib.tooling.build, sys\n"
            "print(' '.join(m for m in ('torch', 'matplotlib', 'ipywidgets') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported at start-up: {result.stdout.strip()}"


def test_build_check_passes_on_the_repository():
    result = course("build", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def _records(path: Path) -> list[dict]:
    return checks.read_records(json.loads(path.read_text()))


def test_main_job_runs_the_solution_headless(tmp_path):
    """`course run 01` leaves an executed notebook with its figures; every check passes."""
    result = course("run", "01", "--fast", "--out", str(tmp_path), "-p", "EPOCHS", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "01_autoencoders.ipynb"
    nb = nbformat.read(str(out), as_version=4)
    figures = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 10
    records = _records(out)
    assert [r["status"] for r in records] == ["passed"] * 4
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "EPOCHS = 3" in injected[0].source


@pytest.mark.parametrize("lesson", sorted(find_lessons(ROOT).values(), key=lambda lesson: lesson.number),
                         ids=lambda lesson: lesson.stem)
def test_untouched_lesson_runs_and_reports_not_attempted(tmp_path, lesson):
    """A student who has done nothing still gets a notebook that runs top to bottom."""
    result = course("run", lesson.number, "--lesson", "--fast", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    records = _records(tmp_path / f"{lesson.stem}.ipynb")
    assert [r["exercise"] for r in records] == [ex.key for ex in checks.exercises(lesson.number)]
    assert all(r["status"] == "not attempted" and r["using"] == "reference" for r in records)


def test_a_failing_notebook_exits_1_and_keeps_the_partial_output(tmp_path):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("SEED = 0", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError('boom')")]
    src = tmp_path / "broken.ipynb"
    nbformat.write(nb, str(src))
    result = course("run", str(src), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "ValueError: boom" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "out" / "broken.ipynb").exists()
