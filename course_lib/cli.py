"""The `course` command: build the lessons from their sources, run a lesson headless.

    course list
    course build [--check] [--execute [NN ...]]
    course run NN [--lesson] [-p NAME VALUE ...] [--out DIR] [--fast] [--kernel NAME] [--timeout S]

Errors a user can cause (unknown lesson, bad parameter, missing kernel) end with one line on
stderr and exit status 2; a notebook that fails while running ends with exit status 1.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path

from . import build as nbbuild


class UsageError(Exception):
    """A mistake in the command line or the environment, reported as one line."""


# ----------------------------------------------------------------------------- helpers
def _lesson(root: Path, number: str) -> nbbuild.Lesson:
    lessons = nbbuild.find_lessons(root)
    key = number.zfill(2) if number.isdigit() else number
    if key not in lessons:
        have = ", ".join(f"{n} ({l.slug})" for n, l in lessons.items()) or "none"
        raise UsageError(f"no lesson {number!r}; the lessons are: {have}")
    return lessons[key]


def notebook_parameters(nb) -> dict[str, object]:
    """Names and default values assigned in the cell tagged `parameters`."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            params = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        params[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        params[node.targets[0].id] = None
            return params
    raise UsageError("the notebook has no cell tagged 'parameters'")


def parse_parameters(pairs: list[list[str]], defaults: dict[str, object], where: str) -> dict[str, object]:
    """Turn -p NAME VALUE pairs into typed values, checked against the notebook's parameters."""
    params = {}
    for name, raw in pairs:
        if name not in defaults:
            raise UsageError(f"{where} has no parameter {name!r}; its parameters are: {', '.join(defaults)}")
        default = defaults[name]
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw  # a bare word is a string: -p DEVICE cpu
        if isinstance(default, bool) and not isinstance(value, bool):
            raise UsageError(f"parameter {name} expects True or False (default {default!r}), got {raw!r}")
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if default is not None and not isinstance(value, type(default)):
            raise UsageError(
                f"parameter {name} expects {type(default).__name__} (default {default!r}), got {raw!r}"
            )
        params[name] = value
    return params


def _check_kernel(name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if name not in specs:
        have = ", ".join(sorted(specs)) or "none"
        raise UsageError(
            f"no Jupyter kernel named {name!r} (installed: {have}); "
            "install one with: python -m ipykernel install --user --name python3"
        )


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise UsageError(f"this command needs {module}: install the course with  pip install -e \".[dev]\"") from None


# ----------------------------------------------------------------------------- commands
def cmd_list(args) -> int:
    root = nbbuild.find_root()
    for n, lesson in nbbuild.find_lessons(root).items():
        print(f"{n}  {lesson.slug:<28} solutions/{lesson.stem}.ipynb  lessons/{lesson.stem}.ipynb")
    return 0


def cmd_build(args) -> int:
    _require("jupytext")
    root = nbbuild.find_root()
    lessons = [_lesson(root, n) for n in args.lessons] if args.lessons else None
    changed = nbbuild.build(root, lessons, check=args.check)
    for path in changed:
        print(f"{'out of date' if args.check else 'wrote'}: {path.relative_to(root)}")
    if args.check:
        if changed:
            print("course: generated files are out of date with their sources; run: course build", file=sys.stderr)
            return 1
        print("all lessons and notebooks are up to date")
    if args.execute:
        for lesson in lessons or nbbuild.find_lessons(root).values():
            print(f"executing solutions/{lesson.stem}.ipynb at default settings ...", flush=True)
            seconds = nbbuild.execute_solution(lesson)
            print(f"  done in {seconds:.0f} s")
    return 0


def cmd_run(args) -> int:
    _require("papermill")
    import papermill

    if args.notebook.endswith(".ipynb"):
        source = Path(args.notebook)
        if not source.is_file():
            raise UsageError(f"notebook {args.notebook} not found")
        where = f"notebook {source.name}"
    else:
        lesson = _lesson(nbbuild.find_root(), args.notebook)
        source = lesson.path("lessons" if args.lesson else "solutions", ".ipynb")
        where = f"lesson {lesson.number}"
    try:
        nb = nbbuild.read_notebook(source)
    except Exception as err:
        raise UsageError(f"{source} is not a readable notebook: {err}") from None
    params = parse_parameters(args.parameters, notebook_parameters(nb), where)
    kernel = args.kernel or nb.metadata.get("kernelspec", {}).get("name")
    if not kernel:
        raise UsageError(f"{source} names no kernel in its metadata; pass --kernel NAME")
    _check_kernel(kernel)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / source.name
    if args.fast:
        os.environ["COURSE_FAST"] = "1"
    print(f"running {source} -> {output}" + (f" with {params}" if params else ""), flush=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source), str(output), parameters=params, kernel_name=kernel, cwd=str(out_dir),
            progress_bar=False, execution_timeout=args.timeout, log_output=False,
        )
    except papermill.PapermillExecutionError as err:
        print(f"course: the notebook stopped in cell {err.exec_count}: {err.ename}: {err.evalue}", file=sys.stderr)
        print(f"course: the partly executed notebook is in {output}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - start:.0f} s: {output}")
    return 0


# ----------------------------------------------------------------------------- entry point
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="course", description="Deep generative models course: build and run the lessons.")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list the lessons").set_defaults(func=cmd_list)

    b = sub.add_parser("build", help="regenerate lessons/ and the paired notebooks from solutions/*.py")
    b.add_argument("lessons", nargs="*", metavar="NN", help="only these lessons (default: all)")
    b.add_argument("--check", action="store_true", help="change nothing; exit 1 if any generated file is out of date")
    b.add_argument("--execute", action="store_true", help="also run the solutions at default settings and store their outputs")
    b.set_defaults(func=cmd_build)

    r = sub.add_parser("run", help="execute a lesson headless with papermill")
    r.add_argument("notebook", metavar="NN", help="lesson number (e.g. 01) or a path to a .ipynb")
    r.add_argument("--lesson", action="store_true", help="run the student version (lessons/) instead of the solution")
    r.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="set a parameter of the notebook (repeatable)")
    r.add_argument("--out", default="runs", help="output folder (default: runs)")
    r.add_argument("--fast", action="store_true", help="COURSE_FAST=1: tiny training, for a quick smoke run")
    r.add_argument("--kernel", help="Jupyter kernel (default: the notebook's)")
    r.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell (default 1800)")
    r.set_defaults(func=cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, nbbuild.BuildError) as err:
        print(f"course: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("course: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
