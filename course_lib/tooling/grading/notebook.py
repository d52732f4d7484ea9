"""What the worker reads from a submission without a kernel: the notebook itself, and its definitions.

`load_submission` turns a file into a clean v4 notebook (no outputs, every cell well formed), or
raises Unreadable saying why it is empty or no notebook. `definitions` picks, from the code cells'
text, what the kernel-side grader runs again: imports, the `def`/`class` of each exercise, and the
parameters.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat

from .vocabulary import EMPTY, INVALID

MAX_FILE_BYTES = 500_000_000  # a notebook with its stored outputs; anything larger is not read


class Unreadable(Exception):
    """The submission cannot be run: `status` (empty or invalid) and a message saying why."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------------------- reading
def load_submission(path: Path):
    """The submission as a v4 notebook node with no outputs; Unreadable when it is not one."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise Unreadable(INVALID, f"not a notebook: {size / 1e6:.0f} MB is more than any notebook of a lesson "
                                  f"(the limit is {MAX_FILE_BYTES / 1e6:.0f} MB)")
    raw = path.read_bytes()
    if not raw.strip():
        raise Unreadable(EMPTY, "the file is empty" if not raw else "the file holds only blank space")
    for magic, what in ((b"PK\x03\x04", "a zip archive: unzip it and submit the .ipynb inside"),
                        (b"%PDF", "a PDF: submit the .ipynb file itself, not an export")):
        if raw.startswith(magic):
            raise Unreadable(INVALID, f"not a notebook: the file is {what}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unreadable(INVALID, "not a notebook: the file is binary, not JSON text") from None
    if not text.lstrip().startswith(("{", "[")):
        raise Unreadable(INVALID, "not a notebook: plain text, not the JSON of an .ipynb file (a script, or an export?)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise Unreadable(INVALID, f"not a notebook: invalid JSON at line {err.lineno}, column {err.colno} "
                                  f"({err.msg}); the file may be cut short or edited by hand") from None
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        raise Unreadable(INVALID, "not a notebook: valid JSON, but without the cells of a Jupyter notebook")
    try:
        if data.get("nbformat") == 4:
            for cell in data["cells"] if isinstance(data.get("cells"), list) else []:  # outputs: the grader makes its own
                if isinstance(cell, dict) and cell.get("cell_type") == "code":
                    cell["outputs"], cell["execution_count"] = [], None
            nb = nbformat.from_dict(data)
        else:
            nb = nbformat.reads(text, as_version=4)
    except Exception as err:
        raise Unreadable(INVALID, f"not a readable notebook: {type(err).__name__}: {err}") from None
    return _normalized(nb)


def _normalized(nb):
    """Every cell with a type, text source, metadata and an id; code cells without outputs."""
    if not isinstance(nb.get("cells"), list):
        raise Unreadable(INVALID, "not a readable notebook: its 'cells' is not a list")
    for i, cell in enumerate(nb.cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise Unreadable(INVALID, f"not a readable notebook: cell {i} has no valid cell_type")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise Unreadable(INVALID, f"not a readable notebook: the source of cell {i} is not text")
        cell["source"] = source
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = nbformat.NotebookNode()
        tags = cell.metadata.get("tags")
        if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            cell.metadata["tags"] = []  # papermill looks for tags on every cell
        if cell.cell_type == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if not isinstance(cell.get("id"), str):
            cell["id"] = nbformat.v4.nbbase.random_cell_id()
    if not isinstance(nb.get("metadata"), dict):
        nb["metadata"] = nbformat.NotebookNode()
    nb.metadata.pop("widgets", None)  # the state of the student's own run: stale, and can be large
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    return nb


# ----------------------------------------------------------------------------- static analysis
_LINE_MAGIC = re.compile(r"^(\s*)(?:[%!]|[\w.,\[\] ]+=\s*[%!])")
_PYTHON_CELL_MAGICS = ("%%time", "%%timeit", "%%capture", "%%prun")


def python_source(source: str) -> str | None:
    """The cell as plain Python with the same lines (IPython's own translation of magics and `!`).

    None for a cell magic whose body is not Python (%%bash, %%writefile...).
    """
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        if not lines[0].lstrip().startswith(_PYTHON_CELL_MAGICS):
            return None
        lines[0] = "pass"  # %%time and friends: the body is Python
    text = "\n".join(lines) + "\n"
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(text)
    except Exception:  # no IPython, or a cell it cannot read: magic lines become `pass`
        return "".join(f"{m.group(1)}pass\n" if (m := _LINE_MAGIC.match(line)) else line + "\n" for line in lines)


def definitions(cells: list[tuple[int, str, bool]], names: set[str]) -> tuple[list[dict], list[int]]:
    """What the grader re-runs: per code cell, the top-level statements to execute again.

    cells: (number, source, is a parameters cell) for each code cell, in order. Taken: imports,
    every `def`/`class` without decorators, any `def`/`class` named like an exercise, and (only for
    a fresh kernel) the assignments of the parameters cells. Returns the cells' specs and the
    numbers of the cells that are not valid Python.
    """
    specs, broken = [], []
    for number, source, is_parameters in cells:
        code = python_source(source)
        if code is None:
            continue
        try:
            body = ast.parse(code).body
        except (SyntaxError, ValueError):
            broken.append(number)
            continue
        statements = []
        for i, node in enumerate(body):
            if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.module != "__future__"):
                statements.append((i, False))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.name in names or not node.decorator_list:
                    statements.append((i, False))
            elif is_parameters and isinstance(node, (ast.Assign, ast.AnnAssign)):
                statements.append((i, True))
        if statements:
            specs.append({"number": number, "source": code, "statements": statements})
    return specs, broken


def parameter_names(cell) -> set[str]:
    """The names a (parameters) cell assigns at its top level."""
    names = set()
    try:
        for node in ast.parse(python_source(cell.source) or "").body:
            if isinstance(node, ast.Assign):
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    except SyntaxError:
        pass
    return names
