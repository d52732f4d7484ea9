"""Time `course grade` on a synthetic class: the speed-up with --jobs, and the overhead per submission.

    python benchmarks/grading.py                         # lesson 01, 8 submissions, --jobs 1 and 2
    python benchmarks/grading.py --students 16 --jobs 1 2 4 8

The class is half copies of the solution, half of the untouched student version, graded with
COURSE_FAST=1 (the default of `course grade`). The notebooks' own execution time is measured with
a plain papermill run of each version in a fresh kernel (kernel start included, as in grading), so

    overhead per submission = (wall time of `course grade --jobs 1`) / submissions - mean notebook time

counts everything grading adds: starting the command, the process per submission, the injected
parameters, the grader's re-run of every check, the reports. Everything runs in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import papermill
import torch

from course_lib.tooling.build import find_lessons, find_root


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{os.cpu_count()} CPU cores ({cpu}){gpu}; Python {platform.python_version()}, torch {torch.__version__}"


def plain_run(src: Path, tmp: Path) -> float:
    """Wall time of a plain papermill run of `src` (COURSE_FAST=1, a fresh kernel)."""
    start = time.perf_counter()
    papermill.execute_notebook(str(src), str(tmp / src.name), cwd=str(tmp), progress_bar=False, log_output=False,
                               execution_timeout=600)
    return time.perf_counter() - start


def grade_run(lesson: str, folder: Path, out: Path, jobs: int) -> tuple[float, list[dict]]:
    """Wall time of `course grade` (the whole command, start-up included) and its rows."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "course_lib.tooling.cli", "grade", lesson, str(folder), "--out", str(out),
                             "--jobs", str(jobs)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(result.stdout + result.stderr)
    rows = json.loads((out / "grades.json").read_text())["submissions"]
    assert all(r["status"] in ("graded", "not attempted") for r in rows), [r["status"] for r in rows]
    return wall, rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lesson", default="01", help="lesson number (default 01)")
    p.add_argument("--students", type=int, default=8, help="submissions in the class (default 8)")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="values of --jobs to time (default: 1 2)")
    p.add_argument("--repeat", type=int, default=2, help="rounds of all measurements, interleaved; the fastest "
                                                         "of each is kept (default 2)")
    args = p.parse_args(argv)

    lesson = find_lessons(find_root())[args.lesson.zfill(2)]
    n = args.students
    os.environ["COURSE_FAST"] = "1"
    print(f"machine: {machine()}")
    print(f"lesson {lesson.number}, {n} submissions (half solution, half untouched), COURSE_FAST=1, "
          f"fastest of {args.repeat} interleaved rounds\n", flush=True)
    versions = [lesson.path("solutions", ".ipynb"), lesson.path("lessons", ".ipynb")]
    plain: list[list[float]] = [[], []]
    walls: dict[int, list[tuple[float, list[dict]]]] = {j: [] for j in args.jobs}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "class").mkdir()
        (tmp / "plain").mkdir()
        for i in range(n):
            shutil.copy(versions[i % 2], tmp / "class" / f"student{i:03d}.ipynb")
        for r in range(args.repeat):  # interleaved, so that a busy spell of the machine hits every measurement
            for v, src in enumerate(versions):
                plain[v].append(plain_run(src, tmp / "plain"))
            for jobs in args.jobs:
                walls[jobs].append(grade_run(lesson.number, tmp / "class", tmp / f"out-{jobs}", jobs))
            print(f"round {r + 1}: plain {plain[0][-1]:.1f} s / {plain[1][-1]:.1f} s; "
                  + ", ".join(f"--jobs {j}: {walls[j][-1][0]:.1f} s" for j in args.jobs), flush=True)

    per_notebook = (min(plain[0]) * math.ceil(n / 2) + min(plain[1]) * (n // 2)) / n
    print(f"\nplain papermill run: solution {min(plain[0]):.1f} s, student version {min(plain[1]):.1f} s "
          f"(mean over the class {per_notebook:.1f} s)\n")
    print("| --jobs | wall time | speed-up | efficiency | overhead per submission (vs plain papermill) "
          "| (vs its own notebook time) | in the worker |")
    print("|---|---|---|---|---|---|---|")
    base = min(w for w, _ in walls[args.jobs[0]]) * args.jobs[0]
    for jobs in args.jobs:
        wall, rows = min(walls[jobs], key=lambda x: x[0])
        own = sum(r["runtime_s"] for r in rows)
        inside = statistics.mean(r["grading_s"] - r["runtime_s"] for r in rows)
        seq = jobs == 1
        print(f"| {jobs} | {wall:.1f} s | {base / wall:.2f} | {base / wall / jobs:.0%} | "
              f"{f'{wall / n - per_notebook:.2f} s' if seq else ''} | {f'{(wall - own) / n:.2f} s' if seq else ''} "
              f"| {inside:.2f} s |")
    print("\noverhead per submission, --jobs 1: (wall time - the notebooks' time) / submissions, the notebooks' time"
          "\ntaken from plain papermill runs, or from the runtime_s of each row of the same grading run; in the"
          "\nworker: mean grading_s - runtime_s (the grader's re-run of the checks, writing the executed notebook).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
