"""What the parent hands each worker: one submission, and every setting and path its grading needs.

A Task crosses a process boundary (multiprocessing's forkserver, or spawn, pickles it), so it holds
only plain values: strings, numbers, paths, and tuples and dicts of those. It is built in the parent
(runner.make_task) and only read in the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class ExerciseSpec:
    """What the grader needs of an exercise: key "01.name", name, "function"/"class", points."""

    key: str
    name: str
    kind: Literal["function", "class"]
    points: float


@dataclass(frozen=True)
class Task:
    """One submission to grade in a process of its own. Paths are absolute: the kernel works elsewhere.

    (Never used as a dict key: `parameters` and `env` are dicts.)
    """

    # the submission
    id: str  # the student id, as found
    safe_id: str  # the id as a file name (logs/ID.log, notebooks/ID.ipynb)
    path: Path  # the file to grade
    # how it runs
    lesson: str  # "01"
    kernel: str  # the lesson's Jupyter kernel, never the one the notebook names
    exercises: tuple[ExerciseSpec, ...]
    parameters: dict[str, object]  # injected by papermill after the cell tagged `parameters`
    lesson_parameters: tuple[str, ...]  # the names the lesson's own parameters cell assigns
    env: dict[str, str]  # added to the kernel's environment (COURSE_FAST, threads)
    package_root: Path  # the folder holding course_lib/: the kernel-side grader imports a fresh copy from it
    # limits
    timeout: float  # seconds for the whole notebook
    cell_timeout: float  # seconds per cell
    check_timeout: float  # seconds per exercise's check (twice that for the grader's set-up)
    memory_limit_mb: int  # 0: no limit
    max_cell_output: int  # bytes of output kept per cell in the executed notebook
    max_notebook_output: int
    # where things go
    work: Path  # the worker's own folder: its result, the verdicts, the kernels' pids (removed by the parent)
    log: Path  # the worker's and its kernels' output
    notebook_out: Path  # the executed notebook, its grade at the top

    @property
    def result_path(self) -> Path:
        """The worker's result (JSON), read by the parent once the process has ended."""
        return self.work / "result.json"

    def exercise_list(self) -> list[list[str]]:
        """[key, name, kind] of each exercise, as the kernel-side grader reads them (JSON)."""
        return [[ex.key, ex.name, ex.kind] for ex in self.exercises]
