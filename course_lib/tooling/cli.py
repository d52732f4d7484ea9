"""The `course` command: build the lessons from their sources, run a lesson headless, grade a class.

    course list
    course build [--check] [--execute [NN ...]]
    course run NN [--lesson] [-p NAME VALUE ...] [--out DIR] [--fast] [--kernel NAME] [--timeout S]
    course grade NN SUBMISSION... [--out DIR] [--jobs N] [--timeout S] [--cell-timeout S] [-p NAME VALUE ...]
                 [--points FILE.yaml] [--memory-limit MB] [--shard I/N] [--feedback] [--full] [--regrade]
    course grade --merge DIR... --out DIR [--points FILE.yaml] [--feedback]
    course feedback DIR [--id ID ...]

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
from . import grading


class UsageError(Exception):
    """A mistake in the command line or the environment, reported as one line."""


# ----------------------------------------------------------------------------- helpers
def _lesson(root: Path, number: str) -> nbbuild.Lesson:
    lessons = nbbuild.find_lessons(root)
    key = number.zfill(2) if number.isdigit() else number
    if key not in lessons:
        have = ", ".join(f"{n} ({lesson.slug})" for n, lesson in lessons.items()) or "none"
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
    from .kernels import SlicedKernelManager

    try:
        papermill.execute_notebook(
            str(source), str(output), parameters=params, kernel_name=kernel, cwd=str(out_dir),
            progress_bar=False, execution_timeout=args.timeout, log_output=False,
            kernel_manager_class=SlicedKernelManager,
        )
    except papermill.PapermillExecutionError as err:
        print(f"course: the notebook stopped in cell {err.exec_count}: {err.ename}: {err.evalue}", file=sys.stderr)
        print(f"course: the partly executed notebook is in {output}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - start:.0f} s: {output}")
    return 0


def cmd_grade(args) -> int:
    if args.merge:
        return _merge(args)
    _require("papermill")
    _require("nbclient")
    if not args.lesson:
        raise UsageError("which lesson? course grade NN SUBMISSION... (a notebook, or a folder of them)")
    root = nbbuild.find_root()
    lesson = _lesson(root, args.lesson)
    if not args.submissions:
        raise UsageError(f"no submissions given: course grade {lesson.number} SUBMISSION... "
                         "(a notebook, or a folder with one notebook or one folder per student)")
    try:
        exercises = grading.lesson_exercises(lesson.number)
    except ValueError:
        raise UsageError(f"lesson {lesson.number} has no exercise checks to grade with") from None
    if args.points:
        exercises = grading.load_points(Path(args.points), exercises)
    for name in ("jobs", "timeout", "cell_timeout"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name):g}")
    if args.memory_limit < 0:
        raise UsageError(f"--memory-limit must be a number of MB (0 for no limit), got {args.memory_limit}")
    shard = grading.parse_shard(args.shard) if args.shard is not None else None
    nb = nbbuild.read_notebook(lesson.path("lessons", ".ipynb"))
    defaults = notebook_parameters(nb)
    params = {k: v for k, v in defaults.items() if v is not None}  # every submission runs with the same settings
    params.update(parse_parameters(args.parameters, defaults, f"lesson {lesson.number}"))
    kernel = args.kernel or nb.metadata.get("kernelspec", {}).get("name") or "python3"
    _check_kernel(kernel)
    out = Path(args.out or Path("grades") / lesson.stem)
    subs = grading.find_submissions(args.submissions, lesson.stem, exclude=out)
    settings = grading.GradeSettings(
        lesson=lesson.number, slug=lesson.slug, kernel=kernel, parameters=params, lesson_parameters=tuple(defaults),
        fast=not args.full, timeout=args.timeout, cell_timeout=args.cell_timeout, memory_limit_mb=args.memory_limit,
    )
    return grading.grade(subs, out, settings, exercises, jobs=args.jobs, shard=shard, regrade=args.regrade,
                         feedback=args.feedback)


def _merge(args) -> int:
    dirs = [Path(d) for d in ([args.lesson] if args.lesson else []) + args.submissions]
    if not dirs:
        raise UsageError("--merge needs the output folders of the shards: course grade --merge DIR... --out DIR")
    if not args.out:
        raise UsageError("--merge needs --out DIR, the folder for the merged report")
    for d in dirs:
        if not (d / "grades.json").is_file():
            raise UsageError(f"{d} holds no grades.json: give the --out folders of the shards")
    exercises = grading.load_points(Path(args.points), grading.Report.load(dirs[0]).exercises) if args.points else None
    report = grading.merge(dirs, Path(args.out), exercises)
    for line in report.summary_lines():
        print(line)
    print(f"  merged {len(dirs)} folders into {Path(args.out) / 'grades.csv'} (details in grades.json)")
    if args.feedback:
        print(f"  feedback for {grading.write_feedback(report)} students in {Path(args.out) / 'feedback'}")
    return 0


def cmd_feedback(args) -> int:
    report = grading.Report.load(Path(args.out))
    n = grading.write_feedback(report, args.ids or None)
    if args.ids and n < len(args.ids):
        known = {r["id"] for r in report.rows}
        missing = [i for i in args.ids if i not in known]
        if missing:
            raise UsageError(f"no graded submission with id {', '.join(map(repr, missing))} in {args.out}")
    print(f"wrote feedback for {n} student{'s' if n != 1 else ''} in {Path(args.out) / 'feedback'}")
    return 0


def cmd_scoreboard(args) -> int:
    from . import scoreboard as sb

    root = nbbuild.find_root()
    stored = sb.reports(root)
    gaps = sb.missing(stored)
    for row, keys in gaps.items():
        print(f"missing in lesson {row}: {', '.join(keys)} (run `course build --execute` on it)", file=sys.stderr)
    rows = sb.table(stored)
    text = sb.markdown(rows)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "scoreboard.md").write_text(text + "\n")
        sb.figure(rows, out / "scoreboard.png")
        print(f"wrote {out / 'scoreboard.md'} and {out / 'scoreboard.png'}")
    return 1 if gaps and args.check else 0


def cmd_site(args) -> int:
    from . import site

    _require("nbconvert")
    root = nbbuild.find_root()
    out = Path(args.out) if Path(args.out).is_absolute() else root / args.out
    try:
        files = site.build_site(root, out)
    except site.SiteError as err:
        print(f"course site: {err}", file=sys.stderr)
        return 1
    print(f"built the site: {site.summary(files, out)}")
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

    g = sub.add_parser("grade", help="grade students' notebooks of a lesson: run each, re-run the checks, write grades.csv",
                       description="Grade a lesson's submissions: each runs in a fresh kernel with the grading "
                                   "parameters, then the grader re-runs every check on the student's own functions.")
    g.add_argument("lesson", nargs="?", metavar="NN", help="lesson number (with --merge: the first folder to merge)")
    g.add_argument("submissions", nargs="*", metavar="SUBMISSION",
                   help="a notebook, or a folder with one notebook (or one folder) per student; the id is the name")
    g.add_argument("--out", help="output folder (default: grades/NN_topic); a second run there keeps unchanged grades")
    g.add_argument("--jobs", type=int, default=1,
                   help="submissions graded at once, each in its own process and kernel (default 1)")
    g.add_argument("--timeout", type=float, default=600, help="seconds allowed for a whole notebook (default 600)")
    g.add_argument("--cell-timeout", type=float, default=300, help="seconds allowed per cell (default 300)")
    g.add_argument("--memory-limit", type=int, default=4096, metavar="MB",
                   help="stop a kernel using more memory than this (default 4096; 0: no limit)")
    g.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="set a parameter for every submission (default: the lesson's)")
    g.add_argument("--points", metavar="FILE.yaml", help="points per exercise, e.g. 'reconstruction_loss: 2' (default: 1 each)")
    g.add_argument("--feedback", action="store_true", help="also write a markdown report per student in OUT/feedback/")
    g.add_argument("--shard", metavar="I/N", help="grade only shard I of N (deterministic), for spreading a class over machines")
    g.add_argument("--merge", action="store_true", help="join the --out folders of shards: course grade --merge DIR... --out DIR")
    g.add_argument("--full", action="store_true", help="the lesson's real training sizes (default: COURSE_FAST=1)")
    g.add_argument("--kernel", help="Jupyter kernel (default: the lesson's; never the student's)")
    g.add_argument("--regrade", action="store_true", help="grade everything again, even unchanged files graded before")
    g.set_defaults(func=cmd_grade)

    s = sub.add_parser("scoreboard", help="every model of the course in one table, from the executed solutions' figures")
    s.add_argument("--out", metavar="DIR", help="also write DIR/scoreboard.md and DIR/scoreboard.png (the README's: docs)")
    s.add_argument("--check", action="store_true", help="exit 1 if a lesson does not store a figure the table needs")
    s.set_defaults(func=cmd_scoreboard)

    w = sub.add_parser("site", help="build the course website from the executed solutions (fails on warnings or broken links)")
    w.add_argument("--out", default="_site", help="output folder, emptied first (default: _site)")
    w.set_defaults(func=cmd_site)

    f = sub.add_parser("feedback", help="write each student's markdown report from a grading folder")
    f.add_argument("out", metavar="DIR", help="the --out folder of course grade")
    f.add_argument("--id", dest="ids", nargs="+", metavar="ID", help="only these students")
    f.set_defaults(func=cmd_feedback)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, nbbuild.BuildError, grading.GradingError) as err:
        print(f"course: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("course: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
