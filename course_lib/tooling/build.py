"""One source, two notebooks: build lessons from solutions, pair both with .ipynb, execute solutions.

solutions/NN_topic.py (jupytext py:percent) is the single source of a lesson. Code between
`### BEGIN SOLUTION` and `### END SOLUTION` is the exercise's answer; `lesson_source` replaces each
region by a stub raising NotImplementedError that names the exercise. Both .py files are paired to
.ipynb: lessons without outputs, solutions keeping the outputs of their last executed run.

The repository's address is written in no source: a source carries placeholders, which `expand`
fills for each generated file (a name it does not know is a BuildError):

    {{ repository }}   owner/name on GitHub (project.REPOSITORY)
    {{ folder }}       "solutions" or "lessons": the folder of the notebook being written
    {{ stem }}         the lesson's file name without extension, "01_autoencoders"

so the Colab badge of a source reads
`https://colab.research.google.com/github/{{ repository }}/blob/main/{{ folder }}/{{ stem }}.ipynb`
and opens the solution from solutions/ and the student version from lessons/.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .project import PACKAGE_PARENT, REPOSITORY

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB_MARK = "# YOUR CODE HERE"
_DEF = re.compile(r"^(\s*)(?:async\s+)?(def|class)\s+([A-Za-z_]\w*)")
_LESSON_FILE = re.compile(r"^(\d\d)_([a-z0-9_]+)\.py$")
PLACEHOLDER = re.compile(r"\{\{ ([a-z_]+) \}\}")  # {{ name }}, spaced as written: never an f-string's {{x}}


class BuildError(ValueError):
    """A lesson source that cannot be built (unbalanced solution markers, bad layout, ...)."""


# ----------------------------------------------------------------------------- where things are
@dataclass(frozen=True)
class Lesson:
    """One lesson: its number ("01"), topic slug and the paths of its four files."""

    number: str
    slug: str
    root: Path

    @property
    def stem(self) -> str:
        return f"{self.number}_{self.slug}"

    def path(self, folder: str, ext: str) -> Path:
        """solutions/ or lessons/ file with extension ".py" or ".ipynb"."""
        return self.root / folder / f"{self.stem}{ext}"

    def placeholders(self, folder: str) -> dict[str, str]:
        """What `expand` writes for each placeholder in this lesson's notebook of `folder`."""
        return {"repository": REPOSITORY, "folder": folder, "stem": self.stem}


def find_root(start: Path | None = None) -> Path:
    """The course checkout: the first folder upwards holding solutions/ and pyproject.toml.

    Looks from `start` (default: the working directory), then next to the installed package.
    """
    candidates = []
    here = (start or Path.cwd()).resolve()
    candidates += [here, *here.parents]
    candidates += [PACKAGE_PARENT]
    for c in candidates:
        if (c / "solutions").is_dir() and (c / "pyproject.toml").is_file():
            return c
    raise BuildError(
        f"no course checkout found from {here}: expected a folder with solutions/ and pyproject.toml "
        "(run the command inside the course repository)"
    )


def find_lessons(root: Path) -> dict[str, Lesson]:
    """Lessons by number, from the solution sources present under root/solutions."""
    lessons = {}
    for f in sorted((root / "solutions").glob("*.py")):
        m = _LESSON_FILE.match(f.name)
        if m:
            lessons[m.group(1)] = Lesson(m.group(1), m.group(2), root)
    return lessons


# ----------------------------------------------------------------------------- solution -> lesson
def _exercise_name(previous: list[str], indent: str) -> str:
    """Name of the def/class enclosing a solution region: "f", or "Class.method"."""
    names, level = [], len(indent)
    for line in reversed(previous):
        m = _DEF.match(line)
        if m and len(m.group(1)) < level:
            names.append(m.group(3))
            level = len(m.group(1))
            if level == 0:
                break
    if not names:
        return "exercise"
    return ".".join(reversed(names))


def lesson_source(text: str, filename: str = "<source>") -> str:
    """Replace every solution region of a lesson source by a stub naming the exercise."""
    out: list[str] = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == END:
            raise BuildError(f"{filename}:{i + 1}: '{END}' without a '{BEGIN}' before it")
        if line.strip() != BEGIN:
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        name = _exercise_name(out, indent)
        j = i + 1
        while j < len(lines) and lines[j].strip() != END:
            if lines[j].strip() == BEGIN:
                raise BuildError(f"{filename}:{j + 1}: '{BEGIN}' inside another solution region (opened at line {i + 1})")
            j += 1
        if j == len(lines):
            raise BuildError(f"{filename}:{i + 1}: '{BEGIN}' is never closed by '{END}'")
        if lines[j][: len(lines[j]) - len(lines[j].lstrip())] != indent:
            raise BuildError(f"{filename}:{j + 1}: '{END}' must be indented like its '{BEGIN}' (line {i + 1})")
        out.append(f"{indent}{STUB_MARK}\n")
        out.append(f'{indent}raise NotImplementedError("exercise {name}: replace this line with your code")\n')
        i = j + 1
    return "".join(out)


def expand(text: str, values: dict[str, str], filename: str = "<source>") -> str:
    """Fill every `{{ name }}` of a lesson source; a name not in `values` is a BuildError."""

    def fill(m: re.Match) -> str:
        name = m.group(1).strip()
        if name not in values:
            line = text.count("\n", 0, m.start()) + 1
            raise BuildError(f"{filename}:{line}: unknown placeholder {m.group(0)}; "
                             f"the placeholders are: {', '.join('{{ ' + k + ' }}' for k in values)}")
        return values[name]

    return PLACEHOLDER.sub(fill, text)


def exercise_names(text: str) -> list[str]:
    """Names of the exercises (solution regions) in a lesson source, in order."""
    names, previous = [], []
    for line in text.splitlines():
        if line.strip() == BEGIN:
            names.append(_exercise_name(previous, line[: len(line) - len(line.lstrip())]))
        previous.append(line)
    return names


# ----------------------------------------------------------------------------- .py <-> .ipynb
def _cell_ids(nb) -> None:
    """Give cells ids derived from their content, so rebuilding an unchanged source changes nothing."""
    seen: dict[str, int] = {}
    for cell in nb.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:10]
        seen[digest] = seen.get(digest, 0) + 1
        cell["id"] = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def notebook_from_source(text: str):
    """A notebook node (no outputs) from py:percent text."""
    import jupytext

    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata.get("jupytext", {}).pop("text_representation", None)
    if not nb.metadata.get("jupytext"):
        nb.metadata.pop("jupytext", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    _cell_ids(nb)
    return nb


def with_outputs(nb_new, nb_old):
    """Carry outputs and execution counts from nb_old to the cells of nb_new with identical source."""
    old = [c for c in nb_old.cells if c.cell_type == "code"]
    by_source: dict[str, list] = {}
    for c in old:
        by_source.setdefault(c.source, []).append(c)
    for cell in nb_new.cells:
        if cell.cell_type != "code":
            continue
        matches = by_source.get(cell.source)
        if matches:
            prev = matches.pop(0)
            cell.outputs, cell.execution_count = prev.outputs, prev.execution_count
    for key in ("widgets", "language_info"):  # written by the kernel that executed the solution
        if key in nb_old.metadata:
            nb_new.metadata[key] = nb_old.metadata[key]
    return nb_new


def dumps(nb) -> str:
    import nbformat

    return nbformat.writes(nb) + "\n"


def read_notebook(path: Path):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def expected_files(lesson: Lesson) -> dict[Path, str]:
    """Every generated file of a lesson with the content it should have."""
    name = str(lesson.path("solutions", ".py"))
    source = lesson.path("solutions", ".py").read_text()
    student = expand(lesson_source(source, name), lesson.placeholders("lessons"), name)
    files = {lesson.path("lessons", ".py"): student, lesson.path("lessons", ".ipynb"): dumps(notebook_from_source(student))}
    solution_nb = notebook_from_source(expand(source, lesson.placeholders("solutions"), name))
    existing = lesson.path("solutions", ".ipynb")
    if existing.exists():
        solution_nb = with_outputs(solution_nb, read_notebook(existing))
    files[existing] = dumps(solution_nb)
    return files


def build(root: Path, lessons: list[Lesson] | None = None, check: bool = False) -> list[Path]:
    """Regenerate lessons and paired notebooks; return the files that changed (or would, with check)."""
    changed = []
    for lesson in lessons or list(find_lessons(root).values()):
        for path, content in expected_files(lesson).items():
            if not path.exists() or path.read_text() != content:
                changed.append(path)
                if not check:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(content)
    return changed


def unexecuted_cells(nb) -> list[int]:
    """Indices of code cells that lack the outputs of one top-to-bottom run (1, 2, 3, ...)."""
    bad, expected = [], 1
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.execution_count != expected:
            bad.append(i)
        expected += 1
    return bad


# ----------------------------------------------------------------------------- execution
def execute_solution(lesson: Lesson, timeout: int = 1800, fast: bool = False) -> float:
    """Run a solution notebook top to bottom at default settings and store its outputs; return seconds."""
    import time

    from nbclient import NotebookClient

    from .kernels import SlicedKernelManager

    build(lesson.root, [lesson])
    path = lesson.path("solutions", ".ipynb")
    nb = read_notebook(path)
    env_fast = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    start = time.perf_counter()
    try:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name=nb.metadata.kernelspec.name, record_timing=False,
            store_widget_state=True, resources={"metadata": {"path": str(path.parent)}},
            kernel_manager_class=SlicedKernelManager,
        )
        client.execute()
    finally:
        if env_fast is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = env_fast
    seconds = time.perf_counter() - start
    _cell_ids(nb)
    path.write_text(dumps(nb))
    return seconds
