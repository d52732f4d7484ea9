"""The report of a grading run: its rows, grades.csv and grades.json, merging shards, feedback per student.

grades.json holds every row (the verdict and message of each check, the settings, the summary);
grades.csv is the spreadsheet view of it. Both are rewritten whole, atomically, after every change.
Points are applied here, from the verdicts: changing them re-scores without running anything again.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from .submissions import Submission, safe_id
from .system import atomic_write
from .task import ExerciseSpec
from .vocabulary import (
    DUPLICATE,
    EMPTY,
    ERROR,
    FORMAT,
    GRADED,
    INTERRUPTED,
    INVALID,
    KERNEL_DIED,
    NOT_ATTEMPTED,
    PASSED,
    PENDING,
    RAN,
    SCORED,
    STATUSES,
    TIMEOUT,
    GradingError,
)


# ----------------------------------------------------------------------------- the report
class Report:
    """The rows of a grading run and the two files written from them."""

    def __init__(self, out: Path, meta: dict, exercises: list[ExerciseSpec], rows: list[dict] | None = None):
        self.out, self.meta, self.exercises = out, meta, exercises
        self.rows: list[dict] = rows or []

    @classmethod
    def load(cls, out: Path) -> Report:
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
            w.writerow([r["id"], r["status"], *(num(pts.get(n)) for n in names), num(r.get("total")),
                        num(r.get("max")), "" if r.get("runtime_s") is None else f"{r['runtime_s']:.1f}",
                        r.get("first_error") or "", "; ".join(r.get("notes") or []), r.get("file") or ""])
        return buf.getvalue()

    def summary_lines(self, seconds: float | None = None, jobs: int | None = None) -> list[str]:
        s = self.summary()
        head = f"lesson {self.meta.get('lesson')} ({self.meta.get('slug')}): {s['submissions']} submissions"
        if seconds is not None:
            head += f" in {seconds:.0f} s" + (f" with {jobs} job{'s' if jobs != 1 else ''}" if jobs else "")
        lines = [head, "  " + ", ".join(f"{n} {status}" for status, n in s["counts"].items())]
        if s["ran"]:
            per = ", ".join(f"{name} {num(m, 2)}/{num(ex.points)}"
                            for (name, m), ex in zip(s["mean_points"].items(), self.exercises))
            lines.append(f"  mean points over the {s['ran']} notebooks that ran: {per}; "
                         f"total {num(s['mean_total'], 2)}/{num(s['max'])}")
        return lines


def num(x, digits: int = 3) -> str:
    """A number as the report shows it: 2, 0.5, 1.33; blank for None."""
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:.{digits}g}"


def new_row(sub: Submission, sha: str) -> dict:
    """The row of a submission not graded yet (pending)."""
    return {"id": sub.id, "file": str(sub.path) if sub.path else "", "sha256": sha, "status": PENDING,
            "first_error": "", "notes": [], "exercises": {}, "runtime_s": None, "grading_s": None,
            "notebook": None, "log": None}


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
            raise GradingError("; ".join(filter(None, [
                missing and f"missing shard(s) {', '.join(f'{i}/{n}' for i in missing)}",
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
        lines.append(f"**{num(row['total'])} / {num(row['max'])} points.** " + _status_sentence(row))
    else:
        lines.append(_status_sentence(row))
    lines.append("")
    if status in RAN:
        lines += ["| exercise | verdict | points |", "|---|---|---|"]
        for ex in report.exercises:
            v = (row.get("exercises") or {}).get(ex.key, {})
            lines.append(f"| `{ex.name}` | {v.get('status', '?')} | {num(row['points'].get(ex.name))} / {num(ex.points)} |")
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
            f"   checks.run_check(\"{report.exercises[0].key}\", {report.exercises[0].name})"
            "  # any exercise: key and your function",
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
