"""`course grade`: one row per submission with the right status and points, for every kind of bad input.

One module-scoped run grades a folder holding one submission of each kind (tests/grading_submissions.py
makes them from lesson 01's notebooks) with --jobs 2; the other tests reuse its output, or grade a
few quick submissions of their own (resume, shards, Ctrl-C, a kernel that ignores the interrupt).
"""

import ast
import csv
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("papermill")

from course_lib import checks
from course_lib.tooling import grading
from course_lib.tooling.cli import main
from course_lib.tooling.grading import runner, settings
from course_lib.tooling.grading.notebook import Unreadable, definitions, load_submission, python_source

sys.path.insert(0, str(Path(__file__).parent))
import grading_submissions as subs

ROOT = Path(__file__).resolve().parents[1]
NAMES = list(subs.NAMES)


def course(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "course_lib.tooling.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COURSE_FAST": "1"})


def read_csv(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def read_json(out: Path) -> dict:
    return json.loads((out / "grades.json").read_text())


# ----------------------------------------------------------------------------- the class of every kind
@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    expected = subs.write_class(tmp / "class")
    out = tmp / "out"
    result = course("grade", "01", str(tmp / "class"), "--out", str(out), "--jobs", "2", "--cell-timeout", "60",
                    "--memory-limit", "1500", "--feedback")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {r["id"]: r for r in read_csv(out)}
    details = {(r["id"], r["file"]): r for r in read_json(out)["submissions"]}
    return {"tmp": tmp, "folder": tmp / "class", "out": out, "expected": expected, "result": result, "rows": rows,
            "details": details}


def _detail(graded, name):
    return next(d for (i, _), d in graded["details"].items() if i == name)


def test_every_input_gets_exactly_one_row(graded):
    rows = read_csv(graded["out"])
    files = sorted(str(p) for p in graded["folder"].rglob("*") if p.is_file())
    assert sorted(r["file"] for r in rows) == files  # 19 inputs, 19 rows, none twice
    assert {r["status"] for r in rows} <= set(grading.STATUSES)
    assert not (graded["out"] / ".work").exists()


@pytest.mark.parametrize("kind", [k for k in subs.kinds()])
def test_status_points_and_message(graded, kind):
    _, status, verdicts, words = graded["expected"][kind]
    row = graded["rows"][kind]
    detail = _detail(graded, kind)
    assert row["status"] == status, (row, detail["exercises"])
    for name in NAMES:
        expect = 1 if verdicts.get(name) == "passed" else 0
        assert row[name] == str(expect), (name, detail["exercises"])
        if verdicts:
            assert detail["exercises"][f"01.{name}"]["status"] == verdicts[name], detail["exercises"]
    assert row["total"] == str(sum(v == "passed" for v in verdicts.values())) and row["max"] == "4"
    said = row["first_error"] + " " + row["notes"]
    for w in words:
        assert w in said, said


def test_correct_scores_full_marks_and_untouched_zero_not_attempted(graded):
    correct, untouched = graded["rows"]["correct"], graded["rows"]["untouched"]
    assert (correct["status"], correct["total"], correct["first_error"]) == ("graded", "4", "")
    assert (untouched["status"], untouched["total"]) == ("not attempted", "0")
    for v in _detail(graded, "untouched")["exercises"].values():
        assert v["status"] == "not attempted" and "NotImplementedError" in v["message"]


def test_messages_say_what_went_wrong(graded):
    wrong = _detail(graded, "wrong")["exercises"]
    assert "expected the loss = 64, got 1" in wrong["01.reconstruction_loss"]["message"]
    renamed = _detail(graded, "renamed")["exercises"]["01.reconstruction_loss"]
    assert renamed["status"] == "missing" and "`def reconstruction_loss`" in renamed["message"]
    assert "missing or was renamed" in renamed["message"]
    older = _detail(graded, "older")["exercises"]["01.masking_corruption"]
    assert "`def masking_corruption`" in older["message"]
    dups = [r for r in read_csv(graded["out"]) if r["status"] == "duplicate id"]
    assert len(dups) == 2 and all(r["total"] == "" for r in dups)
    assert all("keep one" in r["first_error"] for r in dups)


def test_a_forged_verdict_and_patched_checks_do_not_count(graded):
    """The tampering notebook deleted its check cells, displayed 'passed' records and patched course_lib."""
    nb = json.loads((graded["out"] / "notebooks" / "tamper.ipynb").read_text())
    forged = checks.read_records(nb)
    assert forged and all(r["status"] == "passed" for r in forged)  # what the notebook claims
    verdicts = _detail(graded, "tamper")["exercises"]
    assert verdicts["01.reconstruction_loss"]["status"] == "failed"  # what the grader found
    assert graded["rows"]["tamper"]["total"] == "0"


def test_functions_are_graded_even_when_the_notebook_stops_early(graded):
    """raises/exits/memory stop before any exercise cell runs: the definitions are still found and checked."""
    for kind in ("raises", "loop", "exits", "memory"):
        nb = nbformat.read(str(graded["out"] / "notebooks" / f"{kind}.ipynb"), as_version=4)
        ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
        assert not any("def reconstruction_loss" in c.source for c in ran), kind
        assert graded["rows"][kind]["total"] == "4"
    assert "fresh kernel" in graded["rows"]["exits"]["notes"]


def test_executed_notebooks(graded):
    out = graded["out"]
    for kind, row in graded["rows"].items():
        detail = _detail(graded, kind)
        if row["status"] in grading.RAN:
            nb = nbformat.read(str(out / detail["notebook"]), as_version=4)
            assert "course-grade" in nb.cells[0].metadata["tags"] and row["status"] in nb.cells[0].source
            injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
            assert len(injected) == 1 and "SEED = 0" in injected[0].source
        else:
            assert detail["notebook"] is None
    assert (out / "notebooks" / "huge.ipynb").stat().st_size < 3_000_000
    assert "MB of this cell's output was left out" in (out / "notebooks" / "huge.ipynb").read_text()


def test_summary_is_printed(graded):
    text = graded["result"].stdout
    assert "19 submissions" in text
    assert "1 timeout" in text and "2 kernel died" in text and "1 error" in text and "2 duplicate id" in text
    assert "mean points over the 13 notebooks that ran: reconstruction_loss" in text
    summary = read_json(graded["out"])["summary"]
    assert summary["counts"]["graded"] == 8 and summary["ran"] == 13


def test_feedback_files(graded):
    fb = graded["out"] / "feedback"
    wrong = (fb / "wrong.md").read_text()
    assert "**2 / 4 points.**" in wrong and "expected the loss = 64, got 1" in wrong
    assert 'checks.run_check("01.reconstruction_loss", reconstruction_loss)' in wrong
    assert "**4 / 4 points.**" in (fb / "correct.md").read_text()
    assert "empty" in (fb / "empty.md").read_text()
    assert "ran out of time" in (fb / "loop.md").read_text()
    assert not (fb / "dup.md").exists() and not (fb / "DUP.md").exists()  # not graded: nothing to hand back
    (fb / "wrong.md").unlink()
    assert main(["feedback", str(graded["out"]), "--id", "wrong"]) == 0
    assert (fb / "wrong.md").read_text() == wrong


# ----------------------------------------------------------------------------- resume and points
def test_resume_keeps_unchanged_files_and_regrades_changed_ones(graded, tmp_path):
    out, folder = tmp_path / "out", tmp_path / "class"
    shutil.copytree(graded["out"], out)
    shutil.copytree(graded["folder"], folder)
    before = {r["id"]: r for r in read_json(out)["submissions"]}
    subs.write(subs.short(subs.read(subs.SOLUTION)), folder / "empty.ipynb")  # the student re-submitted
    result = course("grade", "01", str(folder), "--out", str(out), "--jobs", "2", "--cell-timeout", "60",
                    "--memory-limit", "1500")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kept 16 submissions graded earlier" in result.stdout and "grading 1 submission " in result.stdout
    after = {r["id"]: r for r in read_json(out)["submissions"]}
    assert after["empty"]["status"] == "graded" and after["empty"]["total"] == 4
    for name in ("correct", "loop", "garbage"):
        assert after[name]["grading_s"] == before[name]["grading_s"] and after[name]["status"] == before[name]["status"]
    assert len(read_csv(out)) == 19


def test_points_from_yaml_apply_without_grading_again(graded, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded["out"], out)
    points = tmp_path / "points.yaml"
    points.write_text("reconstruction_loss: 2\n01.Autoencoder: 3\n")
    result = course("grade", "01", str(graded["folder"]), "--out", str(out), "--jobs", "2", "--cell-timeout", "60",
                    "--memory-limit", "1500", "--points", str(points))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "grading " not in result.stdout  # verdicts are kept; only the weights changed
    rows = {r["id"]: r for r in read_csv(out)}
    assert (rows["correct"]["total"], rows["correct"]["max"]) == ("7", "7")
    assert (rows["wrong"]["reconstruction_loss"], rows["wrong"]["Autoencoder"], rows["wrong"]["total"]) == ("0", "3", "4")
    assert rows["renamed"]["total"] == "5" and rows["garbage"]["total"] == "0"


def test_default_points_come_from_the_registry():
    exercises = grading.lesson_exercises("01")
    assert [ex.name for ex in exercises] == NAMES
    assert [ex.points for ex in exercises] == [ex.points for ex in checks.exercises("01")]
    assert [ex.kind for ex in exercises] == ["function", "class", "function", "function"]


# ----------------------------------------------------------------------------- shards, Ctrl-C, a stubborn kernel
def _quick_class(folder: Path) -> None:
    """Six inputs, one of which runs a kernel (an error at the top: a few seconds)."""
    folder.mkdir()
    for name in ("amy", "ben", "cat"):
        (folder / f"{name}.ipynb").write_bytes(b"")
    (folder / "dan.txt").write_text("my answers are in the PDF")
    (folder / "eve.ipynb").write_text('{"nbformat": 4, "cells": 3}')
    subs.write(subs.after_imports(subs.short(subs.read(subs.SOLUTION)), "raise ValueError('stop')"),
               folder / "fay" / "01_autoencoders.ipynb")


def test_shards_cover_the_class_once_and_merge_into_one_report(tmp_path):
    _quick_class(tmp_path / "class")
    outs = []
    for i in (1, 2):
        outs.append(tmp_path / f"shard{i}")
        result = course("grade", "01", str(tmp_path / "class"), "--out", str(outs[-1]), "--shard", f"{i}/2")
        assert result.returncode == 0, result.stdout + result.stderr
    ids = [sorted(r["id"] for r in read_csv(o)) for o in outs]
    assert not set(ids[0]) & set(ids[1]) and sorted(ids[0] + ids[1]) == ["amy", "ben", "cat", "dan", "eve", "fay"]
    assert [len(i) for i in ids] == [3, 3]
    assert main(["grade", "--merge", str(outs[0]), str(outs[1]), "--out", str(tmp_path / "all"), "--feedback"]) == 0
    rows = {r["id"]: r for r in read_csv(tmp_path / "all")}
    assert sorted(rows) == ["amy", "ben", "cat", "dan", "eve", "fay"]
    assert rows["fay"]["status"] == "error" and rows["fay"]["total"] == "4"
    assert rows["eve"]["status"] == "invalid" and rows["dan"]["status"] == "invalid"
    assert (tmp_path / "all" / "notebooks" / "fay.ipynb").exists() and (tmp_path / "all" / "feedback" / "fay.md").exists()
    assert read_json(tmp_path / "all")["merged_from"] == [str(o) for o in outs]
    # a shard missing, or given twice, is refused
    assert main(["grade", "--merge", str(outs[0]), "--out", str(tmp_path / "x")]) == 2
    assert main(["grade", "--merge", str(outs[0]), str(outs[0]), "--out", str(tmp_path / "x")]) == 2


def test_shard_selection_is_deterministic_and_even():
    subs_ = [grading.Submission(f"s{i:03d}", Path(f"s{i:03d}.ipynb")) for i in range(300)]
    shards = [grading.select_shard(subs_, (i, 7)) for i in range(1, 8)]
    assert sorted(s.id for sh in shards for s in sh) == [s.id for s in subs_]
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert [s.id for s in grading.select_shard(list(reversed(subs_)), (3, 7))] == [s.id for s in reversed(shards[2])]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="looks for the kernels in /proc")
def test_ctrl_c_stops_everything_and_writes_every_row(tmp_path):
    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    (folder / "a_empty.ipynb").write_bytes(b"")
    for name in ("b_loop", "c_loop", "d_loop"):
        subs.write(subs.after_imports(subs.short(subs.read(subs.SOLUTION)), "while True:\n    pass"),
                   folder / f"{name}.ipynb")
    proc = subprocess.Popen([sys.executable, "-m", "course_lib.tooling.cli", "grade", "01", str(folder), "--out", str(out),
                             "--jobs", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(pids) < 2:  # both looping kernels are running
        time.sleep(0.5)
        pids = [int(p) for f in out.glob(".work/*/kernel.pids") for p in f.read_text().split()]
    assert len(pids) == 2, proc.stdout.read() if proc.poll() is not None else "kernels never started"
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    rows = {r["id"]: r["status"] for r in read_csv(out)}
    expected = {"a_empty": "empty", "b_loop": "interrupted", "c_loop": "interrupted", "d_loop": "interrupted"}
    assert rows == expected, _why(out, output)  # seen once on a slow machine: b_loop "grader error"
    assert "run the same command again" in output
    time.sleep(1)
    assert not [p for p in pids if _alive(p)], "kernels left running"
    assert not (out / ".work").exists()


def _why(out: Path, output: str) -> str:
    """What a failed interrupt test needs to be understood: each row's first error, the logs, the output."""
    rows = "\n".join(f"{r['id']}: {r['status']}: {r['first_error']}" for r in read_csv(out))
    logs = "\n".join(f"--- {f.name}\n{f.read_text()[-3000:]}" for f in sorted((out / "logs").glob("*.log")))
    return f"{rows}\n{logs}\n--- output\n{output}"


def test_a_kernel_ignoring_the_interrupt_is_stopped_and_graded_fresh(tmp_path):
    nb = subs.short(subs.read(subs.SOLUTION))
    nb.cells.insert(0, nbformat.v4.new_code_cell(subs.STUBBORN_LOOP))
    subs.write(nb, tmp_path / "class" / "stubborn.ipynb")
    result = course("grade", "01", str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--cell-timeout", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    row = read_csv(tmp_path / "out")[0]
    assert row["status"] == "timeout" and row["total"] == "4", row
    assert "code cell 1 ran past the 5 s limit" in row["first_error"] and "ignored the interrupt" in row["first_error"]
    assert "fresh kernel" in row["notes"]


def test_a_kernel_that_dies_while_starting_is_started_again(tmp_path, monkeypatch):
    """Two grading processes can pick the same free port for their kernels (jupyter_client's port cache is per
    process): the kernel that loses dies before its first reply. The submission is graded in a kernel started
    again, with a note, not lost to "grader error"."""
    from course_lib.tooling.grading import worker
    from course_lib.tooling.grading.client import KernelClient

    real, killed = KernelClient.start_new_kernel_client, []

    def dies_first(self):
        if not killed:  # the first kernel dies as it starts, as one whose port was taken does
            killed.append(self.km.provisioner.process.pid)
            os.kill(killed[0], signal.SIGKILL)
            self.km.provisioner.process.wait()
        return real(self)

    monkeypatch.setattr(KernelClient, "start_new_kernel_client", dies_first)
    subs.write(subs.short(subs.read(subs.SOLUTION)), tmp_path / "ada.ipynb")
    run = grading.GradeSettings("01", "autoencoders", "python3", {"SEED": 0})
    task = runner.make_task(grading.Submission("ada", tmp_path / "ada.ipynb"), tmp_path / "out", run,
                            settings.lesson_exercises("01"), jobs=1)
    result = worker.grade_submission(task)
    assert killed, "the test's kernel never started"
    assert result["status"] == "graded", result
    assert {k: v["status"] for k, v in result["exercises"].items()} == {f"01.{n}": "passed" for n in subs.NAMES}
    assert any("failed to start" in note and "started again" in note for note in result["notes"]), result["notes"]
    pids = (task.work / "kernel.pids").read_text().split()
    assert len(pids) == 2 and int(pids[0]) == killed[0]  # both recorded, so that Ctrl-C can stop either


# ----------------------------------------------------------------------------- pieces, without a kernel
def test_a_task_crosses_into_the_workers_process(tmp_path):
    """The parent hands each worker a Task: it pickles (forkserver, spawn) and the worker reads it (an empty file:
    the worker's whole path without a kernel, to its result)."""
    (tmp_path / "ada.ipynb").write_bytes(b"")
    exercises = [grading.ExerciseSpec("01.f", "f", "function", 1), grading.ExerciseSpec("01.M", "M", "class", 2.5)]
    run = grading.GradeSettings("01", "autoencoders", "python3", {"SEED": 0, "HIDDEN": (64, 32)}, ("SEED", "HIDDEN"))
    task = runner.make_task(grading.Submission("ada", tmp_path / "ada.ipynb"), tmp_path / "out", run, exercises, jobs=2)
    assert pickle.loads(pickle.dumps(task)) == task
    assert task.exercise_list() == [["01.f", "f", "function"], ["01.M", "M", "class"]]
    assert task.package_root.joinpath("course_lib", "checks.py").is_file() and task.work.is_dir()
    with pytest.raises(AttributeError):
        task.timeout = 1  # frozen
    proc = runner._context().Process(target=runner._child, args=(task,))
    proc.start()
    proc.join(120)
    assert proc.exitcode == 0
    result = json.loads(task.result_path.read_text())
    assert (result["status"], result["first_error"]) == ("empty", "the file is empty")


def test_the_fingerprint_covers_every_file_of_course_lib(tmp_path, monkeypatch):
    """A changed check, reference implementation or grader anywhere in course_lib means grading again."""
    run = grading.GradeSettings("01", "autoencoders", "python3", {"SEED": 0})
    copy = tmp_path / "course_lib"
    shutil.copytree(settings.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    real = run.fingerprint()
    monkeypatch.setattr(settings, "PACKAGE_DIR", copy)
    assert run.fingerprint() == real  # the same sources, the same fingerprint
    for changed in ("exercises/lesson01.py", "autoencoder.py", "checks.py", "tooling/grading/kernel.py"):
        before = run.fingerprint()
        with open(copy / changed, "a") as f:
            f.write("\n# changed\n")
        assert run.fingerprint() != before, changed
    before = run.fingerprint()
    (copy / "flows.py").write_text("x = 1\n")  # a new module
    assert run.fingerprint() != before
    assert grading.GradeSettings("01", "autoencoders", "python3", {"SEED": 1}).fingerprint() != run.fingerprint()


def test_python_source_keeps_lines_and_translates_magics():
    src = ('%matplotlib inline\nimport torch\n!pip install x\nfiles = !ls\ndef f():\n    %time g()\n'
           '    return """\n%d items\n"""\n')
    lines = python_source(src).splitlines()
    assert len(lines) == 9 and lines[1] == "import torch" and lines[4] == "def f():"  # same line numbers
    assert lines[6:8] == ['    return """', "%d items"]  # a line of a string starting with % is left alone
    tree = ast.parse(python_source(src))
    assert [type(n).__name__ for n in tree.body] == ["Expr", "Import", "Expr", "Assign", "FunctionDef"]
    assert python_source("%%bash\necho hi") is None
    assert python_source("%%time\nx = 1").splitlines() == ["pass", "x = 1"]


def test_definitions_pick_imports_defs_and_the_exercises():
    cells = [
        (1, "import torch\nfrom __future__ import annotations\nx = train()\n", False),
        (2, "SEED = 0\nEPOCHS = 3\n", True),
        (3, "@decorator\ndef helper(): pass\n@decorator\ndef reconstruction_loss(x, y): pass\nclass A:\n    pass\n", False),
        (4, "def broken(:\n", False),
        (5, "%%bash\nls\n", False),
    ]
    specs, broken = definitions(cells, {"reconstruction_loss"})
    assert broken == [4]
    assert [(s["number"], s["statements"]) for s in specs] == [(1, [(0, False)]), (2, [(0, True), (1, True)]),
                                                               (3, [(1, False), (2, False)])]


def test_a_request_whose_reply_is_lost_goes_on_and_one_past_its_limit_is_interrupted():
    """nbclient asks every few seconds: wait on, finish a request the kernel is done with, or stop it."""
    import asyncio

    from course_lib.tooling.grading.client import KernelClient

    class KernelManager:
        interrupted = False

        def interrupt_kernel(self):
            KernelManager.interrupted = True

    client = KernelClient(nbformat.v4.new_notebook(), 10**6, 10**7, kernel_name="python3")
    client.km = KernelManager()
    cell = nbformat.v4.new_code_cell("x = 1")
    client.arm(30)
    assert client.timeout == 5
    assert asyncio.run(client._async_handle_timeout(5, cell)) is None  # still running, under its limit
    client.idle_seen = True  # the kernel went idle, and no reply came
    assert asyncio.run(client._async_handle_timeout(5, cell)) == {"content": {"status": "ok"}}
    cell.outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])]
    reply = asyncio.run(client._async_handle_timeout(5, cell))
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "ValueError"
    assert client.lost_replies == 2 and not client.timed_out
    client.arm(0.01)
    time.sleep(0.02)
    reply = asyncio.run(client._async_handle_timeout(1, cell))
    assert client.timed_out and KernelManager.interrupted and reply["content"]["ename"] == "TimeoutError"


def test_tuples_are_injected_as_tuples():
    from course_lib.tooling.grading.worker import _Translator

    for value in [(256,), (1, 2), (), [1, (2, "a")], {"k": (1.5,)}]:
        assert eval(_Translator.translate(value)) == value


@pytest.mark.parametrize("data, status, words", [
    (b"", "empty", "empty"),
    (b"  \n", "empty", "blank"),
    (b"PK\x03\x04rest", "invalid", "zip"),
    (b"%PDF-1.5", "invalid", "PDF"),
    (b"\xff\xfe\x00\x01", "invalid", "binary"),
    (b"print('hello')", "invalid", "plain text"),
    (b'{"cells": [', "invalid", "invalid JSON at line 1"),
    (b"[1, 2]", "invalid", "without the cells"),
    (b'{"nbformat": 4, "cells": 3}', "invalid", "'cells' is not a list"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}, 7]}', "invalid", "cell 2"),
    (b'{"nbformat": 9, "cells": []}', "invalid", "not a readable notebook"),
])
def test_unreadable_files(tmp_path, data, status, words):
    path = tmp_path / "s.ipynb"
    path.write_bytes(data)
    with pytest.raises(Unreadable) as err:
        load_submission(path)
    assert err.value.status == status and words in str(err.value)


def test_a_minimal_notebook_is_read_and_cleaned(tmp_path):
    path = tmp_path / "s.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 2, "metadata": {"widgets": {"big": 1}}, "cells": [
        {"cell_type": "code", "source": ["x = ", "1"], "outputs": [{"output_type": "stream", "text": "old"}]}]}))
    nb = load_submission(path)
    cell = nb.cells[0]
    assert cell.source == "x = 1" and cell.outputs == [] and cell.metadata.tags == [] and cell.id
    assert "widgets" not in nb.metadata


def test_find_submissions(tmp_path):
    (tmp_path / "c").mkdir()
    for name in ("alice.ipynb", "Bob.ipynb", "bob.ipynb", ".hidden.ipynb", "notes.txt"):
        (tmp_path / "c" / name).write_text("{}")
    (tmp_path / "c" / "carol" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "c" / "carol" / "work.ipynb").write_text("{}")
    (tmp_path / "c" / "carol" / ".ipynb_checkpoints" / "work-checkpoint.ipynb").write_text("{}")
    (tmp_path / "c" / "dave").mkdir()
    (tmp_path / "c" / "dave" / "a.ipynb").write_text("{}")
    (tmp_path / "c" / "dave" / "b.ipynb").write_text("{}")
    (tmp_path / "c" / "erin").mkdir()
    (tmp_path / "c" / "erin" / "01_autoencoders.ipynb").write_text("{}")
    (tmp_path / "c" / "erin" / "scratch.ipynb").write_text("{}")
    (tmp_path / "c" / "fred").mkdir()
    (tmp_path / "c" / "grades").mkdir()  # the --out folder, inside the submissions
    found = {(s.id, s.path.name if s.path else None, s.status) for s in
             grading.find_submissions([str(tmp_path / "c"), str(tmp_path / "c" / "alice.ipynb")], "01_autoencoders",
                                      exclude=tmp_path / "c" / "grades")}
    assert found == {
        ("alice", "alice.ipynb", ""), ("Bob", "Bob.ipynb", "duplicate id"), ("bob", "bob.ipynb", "duplicate id"),
        ("notes", "notes.txt", ""), ("carol", "work.ipynb", ""), ("dave", None, "invalid"),
        ("erin", "01_autoencoders.ipynb", ""), ("fred", None, "invalid"),
    }
    with pytest.raises(grading.GradingError, match="no such file or folder"):
        grading.find_submissions([str(tmp_path / "absent")], "01_autoencoders")


def test_parse_shard():
    assert grading.parse_shard("2/5") == (2, 5)
    for bad in ("0/3", "4/3", "1", "a/b", "1/0", ""):
        with pytest.raises(grading.GradingError, match="--shard expects I/N"):
            grading.parse_shard(bad)


@pytest.mark.parametrize("text, words", [
    ("reconstruction_loss: [2", "not valid YAML (line 1)"),
    ("- 1\n- 2\n", "must map exercise names to points"),
    ("reconstruction_los: 2\n", "no exercise 'reconstruction_los' in this lesson; the exercises are: reconstruction_loss"),
    ("Autoencoder: -1\n", "must be a number >= 0"),
    ("Autoencoder: yes\n", "must be a number >= 0"),
])
def test_points_file_errors(tmp_path, text, words):
    path = tmp_path / "points.yaml"
    path.write_text(text)
    with pytest.raises(grading.GradingError, match=words.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        grading.load_points(path, grading.lesson_exercises("01"))


def test_report_scores_with_points_and_keeps_ungraded_rows_blank(tmp_path):
    exercises = [grading.ExerciseSpec("01.a", "a", "function", 2), grading.ExerciseSpec("01.b", "b", "function", 1)]
    rows = [{"id": "x", "status": "graded", "exercises": {"01.a": {"status": "passed"}, "01.b": {"status": "failed"}}},
            {"id": "y", "status": "interrupted", "exercises": {}}, {"id": "z", "status": "empty", "exercises": {}}]
    report = grading.Report(tmp_path, {"lesson": "01", "slug": "t"}, exercises, rows)
    report.save()
    got = [(r["id"], r["a"], r["b"], r["total"], r["max"]) for r in read_csv(tmp_path)]
    assert got == [("x", "2", "0", "2", "3"), ("y", "", "", "", "3"), ("z", "0", "0", "0", "3")]


# ----------------------------------------------------------------------------- the command's errors
def _one_line(capsys, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("course: "), err
    for w in words:
        assert w in err[0], err[0]


@pytest.mark.parametrize("args, words", [
    (["grade", "09", "x.ipynb"], ["no lesson '09'"]),
    (["grade"], ["which lesson?"]),
    (["grade", "01"], ["no submissions given"]),
    (["grade", "01", "no/such/folder"], ["no such file or folder: no/such/folder"]),
    (["grade", "01", "lessons", "--shard", "3/2"], ["--shard expects I/N"]),
    (["grade", "01", "lessons", "--jobs", "0"], ["--jobs must be positive"]),
    (["grade", "01", "lessons", "--timeout", "-5"], ["--timeout must be positive"]),
    (["grade", "01", "lessons", "-p", "EPOCHZ", "3"], ["lesson 01 has no parameter 'EPOCHZ'"]),
    (["grade", "01", "lessons", "-p", "EPOCHS", "ten"], ["EPOCHS expects int"]),
    (["grade", "01", "lessons", "--points", "no/such.yaml"], ["points file no/such.yaml not found"]),
    (["grade", "01", "lessons", "--kernel", "no-such-kernel"], ["no Jupyter kernel named 'no-such-kernel'"]),
    (["grade", "--merge", "lessons"], ["--merge needs --out DIR"]),
    (["grade", "--merge", "--out", "x"], ["--merge needs the output folders"]),
    (["grade", "--merge", "lessons", "--out", "x"], ["lessons holds no grades.json"]),
    (["feedback", "no/such/folder"], ["no grades in no/such/folder"]),
])
def test_command_errors_are_one_line(capsys, args, words):
    assert main(args) == 2
    _one_line(capsys, *words)


def test_bad_points_file_and_another_lessons_out_folder(capsys, tmp_path):
    bad = tmp_path / "points.yaml"
    bad.write_text("reconstruction_loss: {")
    assert main(["grade", "01", "lessons", "--points", str(bad)]) == 2
    _one_line(capsys, "not valid YAML")
    out = tmp_path / "out"
    grading.Report(out, {"lesson": "02", "slug": "vae"}, grading.lesson_exercises("02"), []).save()
    (tmp_path / "e.ipynb").write_bytes(b"")
    assert main(["grade", "01", str(tmp_path / "e.ipynb"), "--out", str(out)]) == 2
    _one_line(capsys, "holds the grades of lesson 02, not 01")


def test_without_papermill_the_package_imports_and_grade_says_what_to_install():
    code = (
        "import sys; sys.modules['papermill'] = None\n"
        "import course_lib.tooling.grading, course_lib.tooling.cli\n"
        "sys.exit(course_lib.tooling.cli.main(['grade', '01', 'lessons']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == 'course: this command needs papermill: install the course with  pip install -e ".[dev]"'


def test_the_grader_in_the_kernel_uses_the_students_own_definitions(tmp_path):
    """kernel.Grader on its own (in a subprocess: it re-imports course_lib from disk)."""
    code = r'''
import json, sys
from course_lib import checks, autoencoder as ae
from course_lib.tooling.grading import kernel
src = "import torch\ndef reconstruction_loss(x, x_hat):\n    return ((x - x_hat) ** 2).sum() / len(x)\n" \
      "def gaussian_corruption(x, sigma, generator=None):\n    return x + undefined_name\n" \
      "def masking_corruption(x, p, generator=UNDEFINED):\n    return x\n"
spec = {"nonce": "n1", "lesson": "01", "workdir": sys.argv[1] + "/work", "result_path": sys.argv[1] + "/v.jsonl",
        "package_root": sys.argv[2], "fresh": False,
        "exercises": [[ex.key, ex.name, "class" if isinstance(ex.reference, type) else "function"]
                      for ex in checks.exercises("01")],
        "cells": [{"number": 7, "source": src, "statements": [[0, False], [1, False], [2, False], [3, False]]}]}
user_ns = {"reconstruction_loss": ae.reconstruction_loss}  # what a check cell leaves behind after a failure
checks.run_check = lambda key, student: None  # patched by the notebook: the grader's copy is fresh
g = kernel.Grader(spec, user_ns)
for i in range(4):
    g.check(i)
'''
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(ROOT)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert all(r["nonce"] == "n1" for r in records)
    verdicts = {r["key"]: r for r in records if r["kind"] == "check"}
    assert verdicts["01.reconstruction_loss"]["status"] == "passed"  # the student's def, not the reference
    assert verdicts["01.Autoencoder"]["status"] == "missing" and "`class Autoencoder`" in verdicts["01.Autoencoder"]["message"]
    assert verdicts["01.gaussian_corruption"]["status"] == "failed"
    assert "NameError" in verdicts["01.gaussian_corruption"]["message"]
    assert "line 5: return x + undefined_name" in verdicts["01.gaussian_corruption"]["message"]  # the student's line
    assert verdicts["01.masking_corruption"]["status"] == "failed"
    assert ("running your `def masking_corruption` (code cell 7, line 6) raised NameError"
            in verdicts["01.masking_corruption"]["message"])


def test_relative_paths_from_the_instructors_folder(tmp_path):
    """`course grade 01 subs --out grades` run where the submissions are, as the README shows: the kernel
    works in a folder of its own, so the grader must hand it absolute paths (a relative --out once lost
    every verdict: 0 points for a correct notebook)."""
    subs.write(subs.short(subs.read(subs.SOLUTION)), tmp_path / "subs" / "ada.ipynb")
    result = subprocess.run([sys.executable, "-m", "course_lib.tooling.cli", "grade", "01", "subs", "--out", "grades"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "COURSE_FAST": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = read_csv(tmp_path / "grades")
    assert (row["id"], row["status"], row["total"]) == ("ada", "graded", "4"), row
