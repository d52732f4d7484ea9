"""Grade a class's notebooks for one lesson: the logic behind `course grade` and `course feedback`.

    submissions = find_submissions(["submissions/"], lesson)
    grade(lesson, submissions, Path("grades/01_autoencoders"), GradeSettings(...), exercises)

Each submission is graded in a process of its own, forked from a server that imported the notebook
machinery once, in a fresh kernel and a working folder of its own (grading_worker.py); inside
that kernel the grader re-runs the lesson's checks on the student's own definitions
(grading_kernel.py). This module finds the submissions, keeps N of those processes running,
writes grades.csv and grades.json after each one finishes (so both files are complete at any
moment: unfinished rows say "pending"), and on Ctrl-C or SIGTERM stops the rest, records them as
"interrupted" and exits 130. A later run with the same --out keeps the rows of unchanged files
graded with the same settings and grades the rest. `--shard i/n` grades a deterministic subset;
`merge` joins the shards' outputs.

It imports no notebook machinery itself (papermill, nbclient are the dev extra): the worker does.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

# ----------------------------------------------------------------------------- vocabulary
GRADED, NOT_ATTEMPTED, ERROR, TIMEOUT, KERNEL_DIED = "graded", "not attempted", "error", "timeout", "kernel died"
INVALID, EMPTY, DUPLICATE = "invalid", "empty", "duplicate id"
INTERRUPTED, PENDING, GRADER_ERROR = "interrupted", "pending", "grader error"
PASSED, FAILED, MISSING = "passed", "failed", "missing"  # an exercise's verdict (+ "not attempted")

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
FORMAT = 1  # version of grades.json
CHECK_TIMEOUT_S = 60  # one exercise's check (the solution's take a second or two); the grader's setup gets twice that
MAX_CELL_OUTPUT = 2_000_000  # bytes of output kept per cell in the executed notebook
MAX_NOTEBOOK_OUTPUT = 20_000_000


class GradingError(Exception):
    """A mistake in the grading command's input (bad --shard, points file, out folder...), one line."""


def atomic_write(path: Path, text: str) -> None:
    """Write a file so that readers only ever see the old or the new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- exercises and points
@dataclass(frozen=True)
class ExerciseSpec:
    """What the grader needs of an exercise: key "01.name", name, "function"/"class", points."""

    key: str
    name: str
    kind: str
    points: float


def lesson_exercises(lesson: str) -> list[ExerciseSpec]:
    """The lesson's exercises from the checks registry, with their default points."""
    from . import checks

    return [ExerciseSpec(ex.key, ex.name, "class" if isinstance(ex.reference, type) else "function", ex.points)
            for ex in checks.exercises(lesson)]


def load_points(path: Path, exercises: list[ExerciseSpec]) -> list[ExerciseSpec]:
    """Exercises with the points of a YAML file `name: points` (or `NN.name: points`) applied."""
    import yaml

    if not path.is_file():
        raise GradingError(f"points file {path} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise GradingError(f"points file {path} is not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    names = ", ".join(ex.name for ex in exercises)
    if not isinstance(data, dict):
        raise GradingError(f"points file {path} must map exercise names to points, e.g. 'reconstruction_loss: 2'; "
                           f"the exercises are: {names}")
    by_name = {ex.name: ex for ex in exercises} | {ex.key: ex for ex in exercises}
    points = {}
    for name, value in data.items():
        if str(name) not in by_name:
            raise GradingError(f"points file {path}: no exercise {name!r} in this lesson; the exercises are: {names}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise GradingError(f"points file {path}: points for {name} must be a number >= 0, got {value!r}")
        points[by_name[str(name)].key] = value
    return [ExerciseSpec(ex.key, ex.name, ex.kind, points.get(ex.key, ex.points)) for ex in exercises]


# ----------------------------------------------------------------------------- submissions
_SKIP = {"__MACOSX", "Thumbs.db", "desktop.ini"}


def safe_id(student: str) -> str:
    """The student id as a file name: letters, digits, '.', '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", student).strip("._")[:100] or "student"


@dataclass
class Submission:
    """One input: the student id, the file to grade, and a problem that stops it being graded."""

    id: str
    path: Path | None
    status: str = ""  # INVALID or DUPLICATE when it cannot be graded as it is
    problem: str = ""

    @property
    def key(self) -> str:
        return safe_id(self.id).casefold()


def _visible(p: Path | str) -> bool:
    name = p if isinstance(p, str) else p.name
    return not name.startswith(".") and name not in _SKIP


def _pick_notebook(folder: Path, stem: str) -> tuple[Path | None, str]:
    """The notebook in a student's folder, or why there is none to grade."""
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and all(_visible(part) for part in p.relative_to(folder).parts))
    notebooks = [p for p in files if p.suffix == ".ipynb"]
    if len(notebooks) == 1:
        return notebooks[0], ""
    if not notebooks:
        if len(files) == 1:
            return files[0], ""  # one file: graded as it is (and reported if it is no notebook)
        return None, f"the folder holds no .ipynb notebook ({len(files)} other file{'s' if len(files) != 1 else ''})"
    named = [p for p in notebooks if p.name == f"{stem}.ipynb"]
    if len(named) == 1:
        return named[0], ""
    shown = ", ".join(str(p.relative_to(folder)) for p in notebooks[:4])
    return None, f"the folder holds {len(notebooks)} notebooks ({shown}) and not one named {stem}.ipynb: keep one"


def find_submissions(paths: list[str], stem: str, exclude: Path | None = None) -> list[Submission]:
    """One Submission per notebook given, per file or student folder inside each folder given.

    The id is the file name without its extension, or the folder's name. Several inputs mapping to
    one id (a file and a folder, names differing only in case...) are all marked duplicate.
    """
    found: list[Submission] = []
    seen: set[Path] = set()
    exclude = exclude.resolve() if exclude else None

    def add(sub: Submission, real: Path) -> None:
        if real not in seen:
            seen.add(real)
            found.append(sub)

    for arg in paths:
        p = Path(arg)
        if not p.exists():
            raise GradingError(f"no such file or folder: {arg}")
        if p.is_file():
            add(Submission(p.stem, p), p.resolve())
            continue
        for entry in sorted(filter(_visible, p.iterdir())):
            real = entry.resolve()
            if exclude and (real == exclude or exclude in real.parents or real in exclude.parents):
                continue
            if entry.is_file():
                add(Submission(entry.stem, entry), real)
            elif entry.is_dir():
                notebook, problem = _pick_notebook(entry, stem)
                add(Submission(entry.name, notebook, INVALID if problem else "", problem), real)
    if not found:
        raise GradingError(f"no submissions found in {', '.join(paths)}: expected notebooks, or one folder per student")
    groups: dict[str, list[Submission]] = {}
    for sub in found:
        groups.setdefault(sub.key, []).append(sub)
    for group in groups.values():
        if len(group) > 1:
            where = ", ".join(str(s.path or s.id) for s in group)
            ids = " / ".join(dict.fromkeys(repr(s.id) for s in group))
            for sub in group:
                sub.status = DUPLICATE
                sub.problem = f"{len(group)} submissions map to student id {ids} ({where}): keep one and grade again"
    return sorted(found, key=lambda s: (s.key, str(s.path)))


def parse_shard(text: str) -> tuple[int, int]:
    """'2/5' -> (2, 5)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise GradingError(f"--shard expects I/N with 1 <= I <= N, e.g. 2/5; got {text!r}")
    return int(m.group(1)), int(m.group(2))


def select_shard(subs: list[Submission], shard: tuple[int, int]) -> list[Submission]:
    """Shard i of n: every n-th student id in sorted order, so shards are even and never overlap."""
    i, n = shard
    keys = sorted({s.key for s in subs})
    mine = {k for j, k in enumerate(keys) if j % n == i - 1}
    return [s for s in subs if s.key in mine]


def file_hash(path: Path | None) -> str:
    if path is None or not path.is_file():
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class GradeSettings:
    """How every submission of a run is executed; a changed setting means grading again."""

    lesson: str
    slug: str
    kernel: str
    parameters: dict
    lesson_parameters: tuple = ()
    fast: bool = True
    timeout: float = 600
    cell_timeout: float = 300
    memory_limit_mb: int = 4096

    def fingerprint(self) -> str:
        """Hash of the settings and of course_lib's sources (the checks and the references they use)."""
        h = hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode())
        package = Path(__file__).resolve().parent
        for f in sorted(package.rglob("*.py")):
            h.update(str(f.relative_to(package)).encode())
            h.update(f.read_bytes())
        return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- the report
class Report:
    """The rows of a grading run and the two files written from them."""

    def __init__(self, out: Path, meta: dict, exercises: list[ExerciseSpec], rows: list[dict] | None = None):
        self.out, self.meta, self.exercises = out, meta, exercises
        self.rows: list[dict] = rows or []

    @classmethod
    def load(cls, out: Path) -> "Report":
        path = out / "grades.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            exercises = [ExerciseSpec(**e) for e in data["exercises"]]
            rows = data["submissions"]
        except FileNotFoundError:
            raise GradingError(f"no grades in {out}: {path} not found") from None
        except (ValueError, KeyError, TypeError) as err:
            raise GradingError(f"{path} is not a grades file written by course grade ({type(err).__name__}: {err})") from None
        meta = {k: v for k, v in data.items() if k not in ("exercises", "submissions", "summary")}
        return cls(out, meta, exercises, rows)

    def score(self, row: dict) -> None:
        """Points per exercise, total and max of one row, from its verdicts and the current points."""
        row["max"] = sum(ex.points for ex in self.exercises)
        if row["status"] not in SCORED:
            row["points"], row["total"] = {}, None
            return
        verdicts = row.get("exercises") or {}
        row["points"] = {ex.name: (ex.points if verdicts.get(ex.key, {}).get("status") == PASSED else 0)
                         for ex in self.exercises}
        row["total"] = sum(row["points"].values())

    def summary(self) -> dict:
        counts = {s: 0 for s in STATUSES}
        for row in self.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        ran = [r for r in self.rows if r["status"] in RAN]
        means = {ex.name: (sum(r["points"][ex.name] for r in ran) / len(ran) if ran else None) for ex in self.exercises}
        total = sum(r["total"] for r in ran) / len(ran) if ran else None
        return {"submissions": len(self.rows), "counts": {k: v for k, v in counts.items() if v},
                "ran": len(ran), "mean_points": means, "mean_total": total,
                "max": sum(ex.points for ex in self.exercises)}

    def save(self) -> None:
        for row in self.rows:
            self.score(row)
        data = {"format": FORMAT, **self.meta, "exercises": [asdict(ex) for ex in self.exercises],
                "summary": self.summary(), "submissions": self.rows}
        atomic_write(self.out / "grades.json", json.dumps(data, indent=1, default=str) + "\n")
        atomic_write(self.out / "grades.csv", self.csv())

    def csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        names = [ex.name for ex in self.exercises]
        w.writerow(["id", "status", *names, "total", "max", "runtime_s", "first_error", "notes", "file"])
        for r in self.rows:
            pts = r.get("points") or {}
            w.writerow([r["id"], r["status"], *(_num(pts.get(n)) for n in names), _num(r.get("total")),
                        _num(r.get("max")), "" if r.get("runtime_s") is None else f"{r['runtime_s']:.1f}",
                        r.get("first_error") or "", "; ".join(r.get("notes") or []), r.get("file") or ""])
        return buf.getvalue()

    def summary_lines(self, seconds: float | None = None, jobs: int | None = None) -> list[str]:
        s = self.summary()
        head = f"lesson {self.meta.get('lesson')} ({self.meta.get('slug')}): {s['submissions']} submissions"
        if seconds is not None:
            head += f" in {seconds:.0f} s" + (f" with {jobs} job{'s' if jobs != 1 else ''}" if jobs else "")
        lines = [head, "  " + ", ".join(f"{n} {status}" for status, n in s["counts"].items())]
        if s["ran"]:
            per = ", ".join(f"{name} {_num(m, 2)}/{_num(ex.points)}" for (name, m), ex in zip(s["mean_points"].items(), self.exercises))
            lines.append(f"  mean points over the {s['ran']} notebooks that ran: {per}; "
                         f"total {_num(s['mean_total'], 2)}/{_num(s['max'])}")
        return lines


def _num(x, digits: int = 3) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:.{digits}g}"


def _row(sub: Submission, sha: str) -> dict:
    return {"id": sub.id, "file": str(sub.path) if sub.path else "", "sha256": sha, "status": PENDING,
            "first_error": "", "notes": [], "exercises": {}, "runtime_s": None, "grading_s": None,
            "notebook": None, "log": None}


# ----------------------------------------------------------------------------- processes
def _child(task: dict) -> None:
    from .grading_worker import child_main  # already imported in the fork server

    child_main(task)


def _context():
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["course_lib.grading_worker"])
        return ctx
    return multiprocessing.get_context("spawn")


def kill_kernel(pid: int) -> None:
    """SIGKILL a kernel and its process group (jupyter_client starts each kernel in a session of its own)."""
    for kill, target in ((getattr(os, "killpg", None), pid), (os.kill, pid)):
        try:
            if kill is not None:
                kill(target, signal.SIGKILL)
                return
        except OSError:
            continue


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

    def start(self, task: dict) -> None:
        proc = self.ctx.Process(target=_child, args=(task,), name=f"course-grade-{task['safe_id']}")
        proc.start()
        self.running[proc.sentinel] = (proc, task, time.monotonic())

    def wait(self, timeout: float) -> list[tuple[dict, int | None]]:
        from multiprocessing.connection import wait

        done = []
        for sentinel in wait(list(self.running), timeout):
            proc, task, _ = self.running.pop(sentinel)
            proc.join()
            done.append((task, proc.exitcode))
        return done

    def overdue(self, limit: float) -> list[dict]:
        late = [s for s, (_, _, t0) in self.running.items() if time.monotonic() - t0 > limit]
        return [self.stop(s) for s in late]

    def stop(self, sentinel: int) -> dict:
        proc, task, _ = self.running.pop(sentinel)
        proc.kill()
        _kill_kernels(Path(task["work"]))
        proc.join(5)
        return task

    def stop_all(self) -> list[dict]:
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
        row = _row(sub, sha)
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


def _task(sub: Submission, out: Path, settings: GradeSettings, exercises: list[ExerciseSpec], jobs: int) -> dict:
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
    return {
        "id": sub.id, "safe_id": sid, "path": str(Path(sub.path).resolve()), "lesson": settings.lesson, "kernel": settings.kernel,
        "exercises": [[ex.key, ex.name, ex.kind] for ex in exercises], "parameters": settings.parameters,
        "lesson_parameters": list(settings.lesson_parameters), "env": env, "timeout": settings.timeout,
        "cell_timeout": settings.cell_timeout, "check_timeout": CHECK_TIMEOUT_S,
        "memory_limit_mb": settings.memory_limit_mb, "max_cell_output": MAX_CELL_OUTPUT,
        "max_notebook_output": MAX_NOTEBOOK_OUTPUT, "work": str(work), "result_path": str(work / "result.json"),
        "log": str(out / "logs" / f"{sid}.log"), "notebook_out": str(out / "notebooks" / f"{sid}.ipynb"),
        "package_root": str(Path(__file__).resolve().parents[1]),
    }


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
                pool.start(_task(sub, out, settings, exercises, jobs))
            finished = pool.wait(0.5)
            for task in pool.overdue(limit):
                finished.append((task, "overdue"))
            for task, code in finished:
                row = rows[task["safe_id"]]
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


def _finish(row: dict, task: dict, code, out: Path, limit: float) -> None:
    """Fill a row from its process's result file, or say why there is none."""
    log = Path(task["log"])
    if log.exists() and log.stat().st_size == 0:
        log.unlink()
    row["log"] = str(log.relative_to(out)) if log.exists() else None
    if code == "overdue":
        row.update(status=TIMEOUT, exercises={}, first_error=(
            f"grading took longer than {limit:.0f} s in all and was stopped; nothing was graded"))
        return
    try:
        result = json.loads(Path(task["result_path"]).read_text())
    except (OSError, ValueError):
        row.update(status=GRADER_ERROR, first_error=(
            f"the grading process ended without a result (exit code {code}); see {row['log']}"))
        return
    row.update(status=result["status"], first_error=result.get("first_error") or "", notes=result.get("notes") or [],
               exercises=result.get("exercises") or {}, runtime_s=result.get("runtime_s"),
               grading_s=result.get("grading_s"), error=result.get("error"))
    nb = Path(task["notebook_out"])
    row["notebook"] = str(nb.relative_to(out)) if result["status"] in RAN and nb.exists() else None
    shutil.rmtree(task["work"], ignore_errors=True)


def _progress(done: int, total: int, row: dict) -> str:
    width = len(str(total))
    score = f"{_num(row['total'])}/{_num(row['max'])}" if row.get("total") is not None else "-"
    seconds = f"{row['grading_s']:.1f} s" if row.get("grading_s") is not None else ""
    line = f"[{done:>{width}}/{total}] {row['id'][:30]:<30} {row['status']:<13} {score:>7} {seconds:>8}"
    return line + (f"  {row['first_error'][:80]}" if row.get("first_error") else "")


# ----------------------------------------------------------------------------- merging shards
def merge(dirs: list[Path], out: Path, exercises: list[ExerciseSpec] | None = None, echo=print) -> Report:
    """Join the reports of several grading runs (the shards of one class) into one in `out`."""
    reports = [Report.load(d) for d in dirs]
    first = reports[0]
    for d, r in zip(dirs[1:], reports[1:]):
        if r.meta.get("lesson") != first.meta.get("lesson"):
            raise GradingError(f"{d} holds lesson {r.meta.get('lesson')}, {dirs[0]} lesson {first.meta.get('lesson')}")
        if r.meta.get("fingerprint") != first.meta.get("fingerprint"):
            raise GradingError(f"{d} and {dirs[0]} were graded with different settings or course_lib versions; "
                               "grade all shards with the same command and checkout")
    shards = [tuple(r.meta["shard"]) for r in reports if r.meta.get("shard")]
    if shards:
        n = shards[0][1]
        if len(shards) != len(reports) or any(s[1] != n for s in shards):
            raise GradingError("the folders are not the shards of one run: each needs --shard I/N with the same N")
        missing = sorted(set(range(1, n + 1)) - {s[0] for s in shards})
        repeated = sorted({s[0] for s in shards if shards.count(s) > 1})
        if missing or repeated:
            raise GradingError("; ".join(filter(None, [missing and f"missing shard(s) {', '.join(f'{i}/{n}' for i in missing)}",
                                                         repeated and f"shard(s) given twice: {', '.join(f'{i}/{n}' for i in repeated)}"])))
        inputs = {r.meta.get("inputs") for r in reports}
        rows = sum(len(r.rows) for r in reports)
        if len(inputs) != 1 or rows != inputs.pop():
            raise GradingError("the shards were not given the same submissions (their row counts do not add up); "
                               "grade every shard on the same folder")
    unfinished = sum(r["status"] in (PENDING, INTERRUPTED) for rep in reports for r in rep.rows)
    if unfinished:
        echo(f"warning: {unfinished} submission(s) in these folders are not graded yet (pending or interrupted)")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for d, rep in zip(dirs, reports):
        for row in rep.rows:
            for key in ("notebook", "log"):
                if row.get(key) and (d / row[key]).exists() and (d / row[key]).resolve() != (out / row[key]).resolve():
                    (out / row[key]).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(d / row[key], out / row[key])
            rows.append(row)
    by_key: dict[str, list[dict]] = {}
    for row in rows:
        by_key.setdefault(safe_id(row["id"]).casefold(), []).append(row)
    for group in by_key.values():
        if len(group) > 1:
            for row in group:
                row.update(status=DUPLICATE, first_error=(
                    f"{len(group)} submissions map to student id {row['id']!r} across the merged folders: keep one"))
    rows.sort(key=lambda r: (safe_id(r["id"]).casefold(), r.get("file") or ""))
    meta = {**first.meta, "shard": None, "merged_from": [str(d) for d in dirs], "interrupted": False,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    merged = Report(out, meta, exercises or first.exercises, rows)
    merged.save()
    return merged


# ----------------------------------------------------------------------------- feedback
def feedback_markdown(row: dict, report: Report) -> str:
    """A short report for one student: what passed, what failed and why, how to reproduce it."""
    lesson, slug = report.meta.get("lesson"), report.meta.get("slug")
    settings = report.meta.get("settings") or {}
    lines = [f"# Lesson {lesson} ({slug}): feedback for {row['id']}", ""]
    status = row["status"]
    if row.get("total") is not None:
        lines.append(f"**{_num(row['total'])} / {_num(row['max'])} points.** " + _status_sentence(row))
    else:
        lines.append(_status_sentence(row))
    lines.append("")
    if status in RAN:
        lines += ["| exercise | verdict | points |", "|---|---|---|"]
        for ex in report.exercises:
            v = (row.get("exercises") or {}).get(ex.key, {})
            lines.append(f"| `{ex.name}` | {v.get('status', '?')} | {_num(row['points'].get(ex.name))} / {_num(ex.points)} |")
        todo = [(ex, row["exercises"][ex.key]) for ex in report.exercises
                if row["exercises"].get(ex.key, {}).get("status") != PASSED]
        if todo:
            lines += ["", "## What to look at", ""]
            for ex, v in todo:
                lines += [f"**`{ex.name}`: {v['status']}.** {v['message']}", ""]
        notes = row.get("notes") or []
        if notes:
            lines += ["## Notes from the grader", "", *[f"- {n}" for n in notes], ""]
        params = ", ".join(f"{k}={v!r}" for k, v in (settings.get("parameters") or {}).items())
        fast = "COURSE_FAST=1 " if settings.get("fast", True) else ""
        lines += [
            "## Reproduce it on your machine", "",
            "1. In Jupyter: *Kernel → Restart Kernel and Run All Cells*. The check cell under each exercise "
            "runs the same checks as the grader and prints the same verdict.",
            f"2. Headless, as the grader did: `{fast}course run YOUR_NOTEBOOK.ipynb --out runs` "
            f"(the grader injected {params or 'no parameters'}).",
            "3. One exercise on its own, in a cell after your definition:",
            "",
            "   ```python",
            "   from course_lib import checks",
            f"   checks.run_check(\"{report.exercises[0].key}\", {report.exercises[0].name})  # any exercise: key and your function",
            "   ```",
            "",
            "The grader runs your own `def`/`class` of each exercise, as written in your notebook, whatever the "
            "check cells printed, and gives the points of the exercises that pass.",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _status_sentence(row: dict) -> str:
    status, err = row["status"], row.get("first_error") or ""
    return {
        GRADED: "Your notebook ran from top to bottom.",
        NOT_ATTEMPTED: "Your notebook ran from top to bottom, but no exercise was attempted.",
        ERROR: f"Your notebook stopped with an error: {err}. Your functions were still checked.",
        TIMEOUT: f"Your notebook ran out of time: {err}. Your functions were still checked.",
        KERNEL_DIED: f"The Python kernel running your notebook died: {err}. Your functions were checked in a fresh kernel.",
        INVALID: f"Your file could not be graded: {err}. Submit the .ipynb file that Jupyter saves.",
        EMPTY: "Your file is empty, so it could not be graded. Save the notebook in Jupyter, then submit that file.",
    }.get(status, f"{status}: {err}")


def write_feedback(report: Report, ids: list[str] | None = None) -> int:
    """Write out/feedback/ID.md for each graded row (or the given ids); the number written."""
    n = 0
    for row in report.rows:
        if row["status"] not in SCORED or (ids and row["id"] not in ids):
            continue
        report.score(row)
        atomic_write(report.out / "feedback" / f"{safe_id(row['id'])}.md", feedback_markdown(row, report))
        n += 1
    return n
