"""Grade a class's notebooks for one lesson: the processes behind `course grade`.

    submissions = find_submissions(["submissions/"], lesson.stem)
    grade(submissions, Path("grades/01_autoencoders"), GradeSettings(...), exercises, jobs=4)

Each submission is graded in a process of its own, forked from a server that imported the notebook
machinery once (worker.py), in a fresh kernel and a working folder of its own; inside that kernel
the grader re-runs the lesson's checks on the student's own definitions (kernel.py). This module
keeps N of those processes running, each handed a Task; writes grades.csv and grades.json after
each one finishes (so both files are complete at any moment: unfinished rows say "pending"); and on
Ctrl-C or SIGTERM stops the rest, records them as "interrupted" and exits 130. A later run with the
same --out keeps the rows of unchanged files graded with the same settings and grades the rest.

It imports no notebook machinery itself (papermill, nbclient are the dev extra): the worker does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from ..project import PACKAGE_PARENT
from .report import Report, new_row, num, write_feedback
from .settings import GradeSettings
from .submissions import Submission, file_hash, safe_id, select_shard
from .system import kill_kernel
from .task import ExerciseSpec, Task
from .vocabulary import (
    CHECK_TIMEOUT_S,
    GRADER_ERROR,
    INTERRUPTED,
    MAX_CELL_OUTPUT,
    MAX_NOTEBOOK_OUTPUT,
    PENDING,
    RAN,
    SCORED,
    TIMEOUT,
    GradingError,
)


# ----------------------------------------------------------------------------- processes
def _child(task: Task) -> None:
    from .worker import child_main  # already imported in the fork server

    child_main(task)


def _context():
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["course_lib.tooling.grading.worker"])
        return ctx
    return multiprocessing.get_context("spawn")


def _kill_kernels(work: Path) -> None:
    """Stop the kernels of a submission's process that was stopped, and remove its working folder."""
    try:
        pids = [int(x) for x in (work / "kernel.pids").read_text().split()]
    except (OSError, ValueError):
        pids = []
    for pid in pids:
        kill_kernel(pid)
    try:
        shutil.rmtree((work / "workdir").read_text().strip(), ignore_errors=True)
    except OSError:
        pass


class _Pool:
    """At most `jobs` submission processes; each stopped for good with its kernels when asked."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self.ctx = _context()
        self.running: dict[int, tuple] = {}  # sentinel -> (process, task, started)

    def start(self, task: Task) -> None:
        proc = self.ctx.Process(target=_child, args=(task,), name=f"course-grade-{task.safe_id}")
        proc.start()
        self.running[proc.sentinel] = (proc, task, time.monotonic())

    def wait(self, timeout: float) -> list[tuple[Task, int | None]]:
        from multiprocessing.connection import wait

        done = []
        for sentinel in wait(list(self.running), timeout):
            proc, task, _ = self.running.pop(sentinel)
            proc.join()
            done.append((task, proc.exitcode))
        return done

    def overdue(self, limit: float) -> list[Task]:
        late = [s for s, (_, _, t0) in self.running.items() if time.monotonic() - t0 > limit]
        return [self.stop(s) for s in late]

    def stop(self, sentinel: int) -> Task:
        proc, task, _ = self.running.pop(sentinel)
        proc.kill()
        _kill_kernels(task.work)
        proc.join(5)
        return task

    def stop_all(self) -> list[Task]:
        return [self.stop(s) for s in list(self.running)]


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


# ----------------------------------------------------------------------------- grading
def grade(submissions: list[Submission], out: Path, settings: GradeSettings, exercises: list[ExerciseSpec], *,
          jobs: int = 1, shard: tuple[int, int] | None = None, regrade: bool = False, feedback: bool = False,
          echo: Callable[[str], None] = print) -> int:
    """Grade the submissions into `out`; 0 when done, 1 when the grader failed on some, 130 when interrupted."""
    started = time.monotonic()
    out = Path(out).resolve()  # each kernel works in a folder of its own: every path it is handed must be absolute
    total_inputs = len(submissions)
    if shard:
        submissions = select_shard(submissions, shard)
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    fingerprint = settings.fingerprint()
    previous = _previous(out, settings, fingerprint, submissions, regrade, echo)
    meta = {"lesson": settings.lesson, "slug": settings.slug, "settings": asdict(settings), "fingerprint": fingerprint,
            "shard": list(shard) if shard else None, "inputs": total_inputs,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "finished": None, "interrupted": False}
    report = Report(out, meta, exercises)
    todo, kept = [], 0
    for sub in submissions:
        sha = file_hash(sub.path)
        row = new_row(sub, sha)
        if sub.status:
            row.update(status=sub.status, first_error=sub.problem)
        elif (sub.id, sha) in previous:
            row = previous[(sub.id, sha)]
            row["file"] = str(sub.path)
            kept += 1
        else:
            todo.append((sub, row))
        report.rows.append(row)
    report.save()
    if kept:
        echo(f"kept {kept} submission{'s' if kept != 1 else ''} graded earlier with the same settings (unchanged files)")
    if todo:
        echo(f"grading {len(todo)} submission{'s' if len(todo) != 1 else ''} of lesson {settings.lesson} "
             f"with {jobs} job{'s' if jobs != 1 else ''} into {out}")
    interrupted = _run(todo, report, settings, exercises, jobs, echo)
    report.meta.update(finished=time.strftime("%Y-%m-%d %H:%M:%S"), interrupted=interrupted)
    report.save()
    shutil.rmtree(out / ".work", ignore_errors=True)
    for line in report.summary_lines(time.monotonic() - started, jobs):
        echo(line)
    echo(f"  grades: {out / 'grades.csv'} (details in grades.json), executed notebooks in {out / 'notebooks'}")
    if feedback and not interrupted:
        n = write_feedback(report)
        echo(f"  feedback for {n} students in {out / 'feedback'}")
    lock.close()
    failed = [r["id"] for r in report.rows if r["status"] == GRADER_ERROR]
    if interrupted:
        echo(f"interrupted: {sum(r['status'] == INTERRUPTED for r in report.rows)} submissions not graded; "
             "run the same command again to grade them (finished ones are kept)")
        return 130
    if failed:
        echo(f"the grader failed on {len(failed)} submission(s) ({', '.join(failed[:5])}): see {out / 'logs'}")
        return 1
    return 0


def _lock(out: Path):
    """An exclusive lock on out/, so that two runs never write the same report."""
    f = open(out / ".lock", "w")
    try:
        import fcntl

        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # pragma: no cover - Windows
        pass
    except OSError:
        f.close()
        raise GradingError(f"another course grade is writing to {out}; wait for it or choose another --out") from None
    return f


def _previous(out: Path, settings: GradeSettings, fingerprint: str, submissions: list[Submission], regrade: bool,
              echo) -> dict:
    """Rows of an earlier run in out/ that can be kept: {(id, sha256): row}."""
    if not (out / "grades.json").exists():
        return {}
    try:
        report = Report.load(out)
    except GradingError as err:
        raise GradingError(f"{err}; choose another --out") from None
    if report.meta.get("lesson") != settings.lesson:
        raise GradingError(f"{out} holds the grades of lesson {report.meta.get('lesson')}, not {settings.lesson}; "
                           "choose another --out")
    gone = sorted({r["id"] for r in report.rows} - {s.id for s in submissions})
    if gone:
        echo(f"warning: {len(gone)} submission(s) graded earlier in {out} are not among the ones given now and "
             f"leave the report: {', '.join(gone[:5])}{' ...' if len(gone) > 5 else ''}")
    if regrade:
        return {}
    if report.meta.get("fingerprint") != fingerprint:
        echo(f"the settings or course_lib changed since the grades in {out} were written: grading everything again")
        return {}
    return {(r["id"], r["sha256"]): r for r in report.rows if r["status"] in SCORED and r.get("sha256")}


def make_task(sub: Submission, out: Path, settings: GradeSettings, exercises: list[ExerciseSpec], jobs: int) -> Task:
    """The Task of one submission, its working folder made afresh (`out` absolute)."""
    sid = safe_id(sub.id)
    work = out / ".work" / sid
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (out / "logs").mkdir(exist_ok=True)
    env = {"COURSE_FAST": "1" if settings.fast else "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # N kernels share the cores instead of fighting over them
        if var not in os.environ:
            env[var] = threads
    return Task(
        id=sub.id, safe_id=sid, path=Path(sub.path).resolve(),
        lesson=settings.lesson, kernel=settings.kernel, exercises=tuple(exercises), parameters=dict(settings.parameters),
        lesson_parameters=tuple(settings.lesson_parameters), env=env, package_root=PACKAGE_PARENT,
        timeout=settings.timeout, cell_timeout=settings.cell_timeout, check_timeout=CHECK_TIMEOUT_S,
        memory_limit_mb=settings.memory_limit_mb, max_cell_output=MAX_CELL_OUTPUT, max_notebook_output=MAX_NOTEBOOK_OUTPUT,
        work=work, log=out / "logs" / f"{sid}.log", notebook_out=out / "notebooks" / f"{sid}.ipynb",
    )


def _hard_limit(settings: GradeSettings, exercises: list) -> float:
    """Seconds after which the parent stops a submission's process: all of the worker's own limits, and margin."""
    checks = (len(exercises) + 3) * (CHECK_TIMEOUT_S + 10)
    return settings.timeout + checks + 3 * 120 + 60


def _run(todo: list, report: Report, settings: GradeSettings, exercises: list, jobs: int, echo) -> bool:
    """Grade the pending rows, `jobs` at a time; True when interrupted."""
    if not todo:
        return False
    out = report.out
    limit = _hard_limit(settings, exercises)
    pending = list(todo)
    rows = {safe_id(sub.id): row for sub, row in todo}
    done = 0
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)  # a cluster's time limit: same as Ctrl-C
    old_int = signal.signal(signal.SIGINT, _raise_interrupt)  # even where the shell started us ignoring it
    pool = None
    try:
        pool = _Pool(jobs)
        while pending or pool.running:
            while pending and len(pool.running) < jobs:
                sub, _ = pending.pop(0)
                pool.start(make_task(sub, out, settings, exercises, jobs))
            finished = pool.wait(0.5)
            for task in pool.overdue(limit):
                finished.append((task, "overdue"))
            for task, code in finished:
                row = rows[task.safe_id]
                _finish(row, task, code, out, limit)
                report.save()
                done += 1
                echo(_progress(done, len(todo), row))
        return False
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the report gets written whatever the user presses now
        if pool is not None:
            pool.stop_all()
        for row in rows.values():
            if row["status"] == PENDING:
                row["status"] = INTERRUPTED
                row["first_error"] = "the run was interrupted before this submission finished"
        return True
    finally:
        if pool is not None:
            pool.stop_all()
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)


def _finish(row: dict, task: Task, code, out: Path, limit: float) -> None:
    """Fill a row from its process's result file, or say why there is none."""
    log = task.log
    if log.exists() and log.stat().st_size == 0:
        log.unlink()
    row["log"] = str(log.relative_to(out)) if log.exists() else None
    if code == "overdue":
        row.update(status=TIMEOUT, exercises={}, first_error=(
            f"grading took longer than {limit:.0f} s in all and was stopped; nothing was graded"))
        return
    try:
        result = json.loads(task.result_path.read_text())
    except (OSError, ValueError):
        row.update(status=GRADER_ERROR, first_error=(
            f"the grading process ended without a result (exit code {code}); see {row['log']}"))
        return
    row.update(status=result["status"], first_error=result.get("first_error") or "", notes=result.get("notes") or [],
               exercises=result.get("exercises") or {}, runtime_s=result.get("runtime_s"),
               grading_s=result.get("grading_s"), error=result.get("error"))
    nb = task.notebook_out
    row["notebook"] = str(nb.relative_to(out)) if result["status"] in RAN and nb.exists() else None
    shutil.rmtree(task.work, ignore_errors=True)


def _progress(done: int, total: int, row: dict) -> str:
    width = len(str(total))
    score = f"{num(row['total'])}/{num(row['max'])}" if row.get("total") is not None else "-"
    seconds = f"{row['grading_s']:.1f} s" if row.get("grading_s") is not None else ""
    line = f"[{done:>{width}}/{total}] {row['id'][:30]:<30} {row['status']:<13} {score:>7} {seconds:>8}"
    return line + (f"  {row['first_error'][:80]}" if row.get("first_error") else "")


