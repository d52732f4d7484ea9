"""Run the course on a CUDA GPU: every solution at its default settings, then pytest; write the GPU column.

    python benchmarks/gpu_run.py                    # all lessons + pytest; prints the course map's GPU cells
    python benchmarks/gpu_run.py --write-readme     # ... and writes them into README.md's course map
    python benchmarks/gpu_run.py 06 07 --no-tests   # some lessons only, without the test suite

Each solution runs in a fresh kernel through papermill (`DEVICE="cuda"`, in a temporary folder: the
repository's notebooks are left as they are), timed with kernel start-up, like the CPU column
(`benchmarks/notebook_runtimes.py`). Then `pytest` runs there as a maintainer runs it (unit tests and
every notebook under COURSE_FAST=1, on the GPU, which "auto" picks). The course map's GPU cell of each
lesson becomes "NN s (GPU name, date; CPU column: MM s)"; a lesson that fails keeps "not measured" and
the script exits 1. Without a CUDA device it says so and exits 2, changing nothing.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import torch
from notebook_runtimes import machine, run_solution

from course_lib.tooling.build import find_lessons, find_root

NOT_MEASURED = "not measured yet (no GPU was available)"
ROW = re.compile(r"^\| (\d\d) \|")


def _in_course_map(lines: list[str]) -> list[bool]:
    """For each line of the README: whether it lies in the `## Course map` section (other tables have rows "| 01 |" too)."""
    inside, flags = False, []
    for line in lines:
        if line.startswith("## "):
            inside = line.strip() == "## Course map"
        flags.append(inside)
    return flags


def course_map_cells(readme: str) -> dict[str, list[str]]:
    """The course map's rows of README.md, by lesson: the cells between the pipes."""
    rows = {}
    lines = readme.splitlines()
    for line, inside in zip(lines, _in_course_map(lines)):
        m = ROW.match(line) if inside else None
        if m:
            rows[m.group(1)] = [c.strip() for c in line.strip().strip("|").split(" | ")]
    return rows


def write_gpu_column(readme: str, cells: dict[str, str], column: int = 4) -> str:
    """README text with the GPU cell (column 4 of | # | lesson | topics | CPU | GPU | open |) of each given lesson."""
    out = []
    lines = readme.splitlines(keepends=True)
    for line, inside in zip(lines, _in_course_map(lines)):
        m = ROW.match(line) if inside else None
        if m and m.group(1) in cells:
            parts = line.rstrip("\n").strip().strip("|").split(" | ")
            if len(parts) <= column:
                raise ValueError(f"the course map row of lesson {m.group(1)} has {len(parts)} cells, expected > {column}")
            parts[column] = cells[m.group(1)]
            line = "| " + " | ".join(p.strip() for p in parts) + " |" + ("\n" if line.endswith("\n") else "")
        out.append(line)
    return "".join(out)


def run_tests(root: Path) -> tuple[int, str, float]:
    """Run the whole test suite; return (exit status, its summary line, seconds)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=root, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    return proc.returncode, (lines[-1] if lines else "no output"), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("lessons", nargs="*", help="lesson numbers (default: all)")
    p.add_argument("--write-readme", action="store_true", help="write the GPU cells into README.md's course map")
    p.add_argument("--no-tests", action="store_true", help="skip the test suite")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device here: run this on a GPU machine (nothing was changed)", file=sys.stderr)
        return 2

    root = find_root()
    lessons = find_lessons(root)
    chosen = [lessons[n.zfill(2)] for n in args.lessons] if args.lessons else list(lessons.values())
    readme_path = root / "README.md"
    cpu = {n: cells[3] for n, cells in course_map_cells(readme_path.read_text()).items()}
    gpu_name, today = torch.cuda.get_device_name(0), datetime.date.today().isoformat()
    print(f"machine: {machine()}\n")
    print("| lesson | GPU | CPU (course map) |\n|---|---|---|")
    cells, failed = {}, []
    for lesson in chosen:
        try:
            _, seconds = run_solution(lesson.number, {"DEVICE": "cuda"})
        except Exception as err:  # a failing notebook keeps its "not measured" cell
            failed.append(lesson.number)
            print(f"| {lesson.number} | failed: {type(err).__name__}: {str(err).splitlines()[0][:120]} | |", flush=True)
            continue
        cells[lesson.number] = f"{seconds:.0f} s ({gpu_name}, {today})"
        print(f"| {lesson.number} | {seconds:.0f} s | {cpu.get(lesson.number, '?')} |", flush=True)

    status = 1 if failed else 0
    if not args.no_tests:
        code, summary, seconds = run_tests(root)
        print(f"\npytest on the GPU: {summary} ({seconds:.0f} s)")
        status = status or (1 if code else 0)
    if args.write_readme and cells:
        readme_path.write_text(write_gpu_column(readme_path.read_text(), cells))
        print(f"wrote the GPU cells of lessons {', '.join(cells)} into {readme_path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
