"""Real submission files for the grading tests, made from lesson 01's two notebooks with cells edited.

Each builder writes one file the way a student could hand it in: the solution, the untouched
lesson, or one of them with a cell added, removed or changed. `write_class(folder)` writes one of
each kind and returns what grading each must give.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "01_autoencoders.ipynb"
LESSON = ROOT / "lessons" / "01_autoencoders.ipynb"
NAMES = ("reconstruction_loss", "Autoencoder", "gaussian_corruption", "masking_corruption")
ALL = dict.fromkeys(NAMES, "passed")


def read(path: Path = SOLUTION):
    return nbformat.read(str(path), as_version=4)


def write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def short(nb):
    """The notebook up to its last check cell, without the training and figures in between.

    What a student hands in who did the exercises and deleted the rest; it runs in seconds.
    """
    cells = nb.cells
    data = next(i for i, c in enumerate(cells) if "fast(EPOCHS" in c.source)
    last = max(i for i, c in enumerate(cells) if "checks.check(" in c.source)
    defines = re.compile(rf"^(def|class) ({'|'.join(NAMES)})\b", re.M)
    nb.cells = [c for i, c in enumerate(cells[: last + 1])
                if c.cell_type != "code" or i <= data or "checks.check(" in c.source or defines.search(c.source)]
    return nb


def index_of(nb, text: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if text in c.source)


def after_imports(nb, source: str):
    """Insert a code cell right after the cell importing torch and course_lib."""
    nb.cells.insert(index_of(nb, "%matplotlib inline") + 1, nbformat.v4.new_code_cell(source))
    return nb


def replace_body(nb, name: str, body: str):
    """Replace the body of exercise function `name` (its def cell) by `body` (indented code)."""
    i = index_of(nb, f"def {name}(")
    src = nb.cells[i].source
    head = src[: src.index(":\n", src.index(f"def {name}(")) + 2]
    doc = re.search(r'    """.*?"""\n', src[len(head):], re.S)
    nb.cells[i].source = head + (doc.group(0) if doc else "") + body
    return nb


def rename(nb, old: str, new: str):
    """The student renamed an exercise function everywhere (definition and check cell)."""
    for c in nb.cells:
        if c.cell_type == "code":
            c.source = re.sub(rf"\b{old}\b(?!\")", new, c.source).replace(f'"01.{new}"', f'"01.{old}"')
    return nb


# ----------------------------------------------------------------------------- the kinds
WRONG_LOSS = "    return ((x - x_hat) ** 2).mean()  # averages over pixels too: D times too small\n"
FAKE_VERDICT = '''from IPython.display import display
from course_lib import autoencoder as _ae, checks as _checks
for key in ("01.reconstruction_loss", "01.Autoencoder", "01.gaussian_corruption", "01.masking_corruption"):
    display(_checks.CheckResult(key, "passed", "all cases match the reference", 9, "yours"))
print("[PASSED] all exercises")
_checks.run_check = lambda key, student: _checks.CheckResult(key, "passed", "all cases match", 9, "yours")
_ae.reconstruction_loss = reconstruction_loss  # the "reference" now agrees with the student
'''
STUBBORN_LOOP = '''import time
while True:  # swallows the grader's interrupt
    try:
        time.sleep(0.2)
    except KeyboardInterrupt:
        pass
'''


def kinds() -> dict[str, tuple]:
    """name -> (builder(folder) -> path, expected status, expected verdicts, words in first_error or notes)."""
    def sol(folder, name, edit=lambda nb: nb, full=False, suffix=".ipynb"):
        nb = read(SOLUTION)
        return write(edit(nb if full else short(nb)), folder / f"{name}{suffix}")

    def lesson(folder, name, edit=lambda nb: nb, full=False):
        nb = read(LESSON)
        return write(edit(nb if full else short(nb)), folder / f"{name}.ipynb")

    def raw(folder, name, data: bytes):
        (folder / name).write_bytes(data)
        return folder / name

    def no_params(nb):
        nb.cells.pop(next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])))
        return nb

    def older(nb):
        i = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        nb.cells[i].source = re.sub(r"^MASK_P = .*$", "OLD_MASK_RATE = 0.3", nb.cells[i].source, flags=re.M)
        nb.cells.insert(i + 1, nbformat.v4.new_code_cell("MASK_P = OLD_MASK_RATE"))
        return rename(nb, "masking_corruption", "mask_pixels")

    def tamper(nb):
        nb.cells = [c for c in nb.cells if "checks.check(" not in c.source]  # check cells deleted
        replace_body(nb, "reconstruction_loss", "    return (x - x_hat).abs().sum() / len(x)\n")
        nb.cells.append(nbformat.v4.new_code_cell(FAKE_VERDICT))
        return nb

    def wrong(nb):
        replace_body(nb, "reconstruction_loss", WRONG_LOSS)
        return replace_body(nb, "masking_corruption", "    return x.clone()\n")

    def deletes(nb):
        return after_imports(nb, "import os, shutil, tempfile\nshutil.rmtree(os.getcwd())\nos.chdir(tempfile.gettempdir())\n"
                                 "print('deleted my working folder, now in', os.getcwd())")

    return {
        "correct": (lambda d: sol(d, "correct", full=True), "graded", ALL, []),
        "wrong": (lambda d: sol(d, "wrong", wrong), "graded",
                  {**ALL, "reconstruction_loss": "failed", "masking_corruption": "failed"}, []),
        "untouched": (lambda d: lesson(d, "untouched", full=True), "not attempted", dict.fromkeys(NAMES, "not attempted"), []),
        "raises": (lambda d: sol(d, "raises", lambda nb: after_imports(nb, "raise RuntimeError('my bug')")), "error", ALL,
                   ["code cell 3: RuntimeError: my bug"]),
        "loop": (lambda d: sol(d, "loop", lambda nb: after_imports(nb, "while True:\n    pass")), "timeout", ALL,
                 ["code cell 3 ran past", "--cell-timeout"]),
        "exits": (lambda d: sol(d, "exits", lambda nb: after_imports(nb, "import os\nos._exit(3)")), "kernel died", ALL,
                  ["code cell 3", "exit status 3"]),
        "memory": (lambda d: sol(d, "memory", lambda nb: after_imports(
            nb, "hog = []\nwhile True:\n    hog.append(b'x' * (50 * 2**20))")), "kernel died", ALL,
            ["code cell 3", "MB of memory", "--memory-limit"]),
        "deletes": (lambda d: sol(d, "deletes", deletes), "graded", ALL, []),
        "garbage": (lambda d: raw(d, "garbage.ipynb", b'{"cells": [{"cell_type": "code", "source": '), "invalid", {},
                    ["invalid JSON"]),
        "not_a_notebook": (lambda d: raw(d, "not_a_notebook.json", json.dumps({"answer": 42}).encode()), "invalid", {},
                           ["without the cells"]),
        "pdf": (lambda d: raw(d, "pdf.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj"), "invalid", {}, ["a PDF"]),
        "empty": (lambda d: raw(d, "empty.ipynb", b""), "empty", {}, ["empty"]),
        "no_params": (lambda d: sol(d, "no_params", no_params), "graded", ALL, ["no cell tagged 'parameters'"]),
        "older": (lambda d: sol(d, "older", older), "graded", {**ALL, "masking_corruption": "missing"},
                  ["missing MASK_P", "OLD_MASK_RATE", "another version"]),
        "huge": (lambda d: sol(d, "huge", lambda nb: after_imports(nb, "for i in range(200_000):\n    print('x' * 99)")),
                 "graded", ALL, ["MB of output left out"]),
        "renamed": (lambda d: sol(d, "renamed", lambda nb: rename(nb, "reconstruction_loss", "recon_loss")), "graded",
                    {**ALL, "reconstruction_loss": "missing"}, []),
        "tamper": (lambda d: lesson(d, "tamper", tamper), "graded",
                   {**dict.fromkeys(NAMES, "not attempted"), "reconstruction_loss": "failed"}, []),
    }


def write_class(folder: Path) -> dict[str, tuple]:
    """One submission of each kind in `folder`, plus two that map to one student id ("dup").

    Returns {id: (path, status, verdicts, words)}.
    """
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (build, status, verdicts, words) in kinds().items():
        expected[name] = (build(folder), status, verdicts, words)
    dup_a = write(short(read(SOLUTION)), folder / "dup.ipynb")
    dup_b = write(short(read(SOLUTION)), folder / "DUP" / "01_autoencoders.ipynb")
    expected["dup"] = ((dup_a, dup_b), "duplicate id", {}, ["2 submissions map to student id"])
    return expected
