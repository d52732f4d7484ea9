"""`course grade` and `course feedback`: grade a class's notebooks for one lesson.

    exercises = lesson_exercises("01")
    submissions = find_submissions(["submissions/"], "01_autoencoders")
    grade(submissions, Path("grades/01_autoencoders"), GradeSettings(...), exercises, jobs=4)

The parent process (runner.py) finds the submissions, hands each to a process of its own as a Task,
and writes the report; each worker runs one notebook in a fresh kernel and grades it there:

    vocabulary.py   statuses, verdicts, what they mean, the limits both sides apply
    system.py       atomic writes, stopping a kernel's process group
    task.py         Task: what the parent hands a worker (picklable); ExerciseSpec
    settings.py     GradeSettings and its fingerprint; the lesson's exercises and their points
    submissions.py  finding the submissions, student ids, shards, file hashes
    report.py       Report (grades.csv, grades.json), merging shards, feedback per student
    runner.py       grade(): the process pool, Ctrl-C and SIGTERM, resuming an earlier run
    worker.py       one submission: papermill, the kernel, the limits (imports the notebook machinery)
    notebook.py     reading a submission, and the definitions the grader runs again
    client.py       the worker's kernel client with its time and output limits; the memory watchdog
    kernel.py       the grader inside the kernel, sent there as text

Imports go one way, with no circle: vocabulary, system and task import nothing of the package and the
rest build on them; only this file and the `course` command import runner; worker (with notebook and
client) is imported only inside the submissions' processes, never by the parent.
"""

from .report import Report, feedback_markdown, merge, write_feedback
from .runner import grade
from .settings import GradeSettings, lesson_exercises, load_points
from .submissions import Submission, find_submissions, parse_shard, safe_id, select_shard
from .task import ExerciseSpec, Task
from .vocabulary import (
    DUPLICATE,
    EMPTY,
    ERROR,
    FAILED,
    GRADED,
    GRADER_ERROR,
    INTERRUPTED,
    INVALID,
    KERNEL_DIED,
    MISSING,
    NOT_ATTEMPTED,
    PASSED,
    PENDING,
    RAN,
    REDO,
    SCORED,
    STATUSES,
    TIMEOUT,
    GradingError,
)

__all__ = [
    "DUPLICATE", "EMPTY", "ERROR", "FAILED", "GRADED", "GRADER_ERROR", "INTERRUPTED", "INVALID", "KERNEL_DIED",
    "MISSING", "NOT_ATTEMPTED", "PASSED", "PENDING", "RAN", "REDO", "SCORED", "STATUSES", "TIMEOUT",
    "ExerciseSpec", "GradeSettings", "GradingError", "Report", "Submission", "Task",
    "feedback_markdown", "find_submissions", "grade", "lesson_exercises", "load_points", "merge", "parse_shard",
    "safe_id", "select_shard", "write_feedback",
]
