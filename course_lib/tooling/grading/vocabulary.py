"""The words of a grading, shared by the parent (runner, report) and each submission's worker.

A submission's status, an exercise's verdict, what each means, and the limits both sides apply.
Nothing here imports anything beyond the standard library.
"""

from __future__ import annotations

# ----------------------------------------------------------------------------- a submission's status
GRADED, NOT_ATTEMPTED, ERROR, TIMEOUT, KERNEL_DIED = "graded", "not attempted", "error", "timeout", "kernel died"
INVALID, EMPTY, DUPLICATE = "invalid", "empty", "duplicate id"
INTERRUPTED, PENDING, GRADER_ERROR = "interrupted", "pending", "grader error"

STATUSES = {
    GRADED: "the notebook ran to the end; every exercise was checked",
    NOT_ATTEMPTED: "the notebook ran to the end, and no exercise was attempted (stubs left, or functions missing)",
    ERROR: "a cell raised an error and the notebook stopped there; the functions were still checked",
    TIMEOUT: "a cell, or the whole notebook, ran past its time limit; the functions were still checked",
    KERNEL_DIED: "the kernel died (os._exit, a crash, or over the memory limit); the functions were checked in a fresh kernel",
    INVALID: "not a readable notebook (not JSON, not a notebook, a zip, a PDF, no notebook in the folder...): 0 points",
    EMPTY: "the file is empty: 0 points",
    DUPLICATE: "more than one submission maps to this student id: not graded until only one is left",
    INTERRUPTED: "the run was stopped before this submission finished: run again to grade it",
    PENDING: "not finished yet (the run is going on, or was killed): run again to grade it",
    GRADER_ERROR: "the grader itself failed on this submission (see its log): not graded; run again",
}
RAN = (GRADED, NOT_ATTEMPTED, ERROR, TIMEOUT, KERNEL_DIED)  # the notebook ran, its exercises were checked
SCORED = RAN + (INVALID, EMPTY)  # rows with a grade (zero for unreadable files)
REDO = (INTERRUPTED, PENDING, GRADER_ERROR)  # rows a later run grades again

# ----------------------------------------------------------------------------- an exercise's verdict
PASSED, FAILED, MISSING = "passed", "failed", "missing"  # and NOT_ATTEMPTED: the stub still raises

# ----------------------------------------------------------------------------- limits
FORMAT = 1  # version of grades.json
CHECK_TIMEOUT_S = 60  # one exercise's check (the solution's take a second or two); the grader's setup gets twice that
MAX_CELL_OUTPUT = 2_000_000  # bytes of output kept per cell in the executed notebook
MAX_NOTEBOOK_OUTPUT = 20_000_000


class GradingError(Exception):
    """A mistake in the grading command's input (bad --shard, points file, out folder...), one line."""
