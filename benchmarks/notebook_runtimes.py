"""Time every solution notebook at its default settings and print the figures for the course map.

    python benchmarks/notebook_runtimes.py            # all lessons, DEVICE="auto"
    python benchmarks/notebook_runtimes.py 01 --device cpu
    python benchmarks/notebook_runtimes.py --fast     # COURSE_FAST=1 (what the test suite runs)

Each notebook runs in a fresh kernel through papermill into a temporary folder (the repository is
left untouched). The printed table names the machine, so figures from different machines are
never mixed up. Kernel start-up is included: it is part of what a student waits for.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import papermill
import torch

from course_lib.tooling.build import find_lessons, find_root
from course_lib.tooling.kernels import SlicedKernelManager


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{os.cpu_count()} CPU cores ({cpu}){gpu}; Python {platform.python_version()}, torch {torch.__version__}"


def run_solution(number: str, params: dict, fast: bool = False) -> tuple[dict, float]:
    """Execute lesson `number`'s solution in a fresh kernel (temporary folder); return (notebook, seconds)."""
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    src = find_lessons(find_root())[number].path("solutions", ".ipynb")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / src.name
        start = time.perf_counter()
        papermill.execute_notebook(str(src), str(out), parameters=params, cwd=tmp, progress_bar=False, log_output=False,
                                   kernel_manager_class=SlicedKernelManager)
        return json.loads(out.read_text()), time.perf_counter() - start


def run_seeds(number: str, seeds: list[int], device: str) -> tuple[dict[int, dict], dict[int, float]]:
    """Run lesson `number`'s solution once per seed at its default settings; return its Report and runtime per seed."""
    from course_lib.metrics import read_reports

    reports, runtimes = {}, {}
    for seed in seeds:
        notebook, runtimes[seed] = run_solution(number, {"SEED": seed, "DEVICE": device})
        (reports[seed],) = read_reports(notebook)
        print(f"seed {seed}: notebook ran in {runtimes[seed]:.0f} s", flush=True)
    return reports, runtimes


def seeds_parser(description: str) -> argparse.ArgumentParser:
    """The arguments every per-lesson benchmark takes: --seeds 0,1,2 (one notebook run each) and --device."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", default="0,1,2", type=lambda v: [int(s) for s in v.split(",")],
                        help="comma-separated seeds, one notebook run each")
    parser.add_argument("--device", default="auto")
    return parser


def check_targets(targets: dict[str, bool]) -> int:
    """Print each target as met or NOT met; the exit status: 0 when all are met."""
    for what, ok in targets.items():
        print(f"target {what}: {'met' if ok else 'NOT met'}")
    return 0 if all(targets.values()) else 1


def benchmark_args(description: str, argv: list[str] | None) -> dict:
    """Parse `--device D -p NAME VALUE ...` into the notebook's parameters."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="auto")
    p.add_argument("-p", dest="parameters", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    args = p.parse_args(argv)
    return {"DEVICE": args.device, **{k: ast.literal_eval(v) for k, v in args.parameters}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("lessons", nargs="*", help="lesson numbers (default: all)")
    p.add_argument("--device", default="auto", help='DEVICE parameter passed to the notebooks (default "auto")')
    p.add_argument("--fast", action="store_true", help="COURSE_FAST=1 instead of the default settings")
    args = p.parse_args(argv)

    lessons = find_lessons(find_root())
    chosen = [lessons[n.zfill(2)] for n in args.lessons] if args.lessons else list(lessons.values())
    print(f"machine: {machine()}")
    print(f"settings: {'COURSE_FAST=1' if args.fast else 'defaults'}, DEVICE={args.device!r}\n")
    print("| lesson | notebook | seconds |")
    print("|---|---|---|")
    for lesson in chosen:
        _, seconds = run_solution(lesson.number, {"DEVICE": args.device}, fast=args.fast)
        print(f"| {lesson.number} | solutions/{lesson.stem}.ipynb | {seconds:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
