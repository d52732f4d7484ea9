"""The grader's side inside a submission's kernel. Sent as text by the grader; notebooks never import it.

After a student's notebook has run, the worker (worker.py) executes this file's source in the same kernel
(or in a fresh kernel when that one died or hung), creates `Grader(spec)` and calls
`grader.check(i)` once per exercise, each call a separate request with its own time limit. The
grader

1. re-anchors itself in the submission's working folder, whatever the notebook did with it;
2. imports a fresh copy of course_lib from disk, so a notebook that patched the imported checks or
   the reference implementations changes nothing;
3. re-runs the notebook's top-level imports and definitions, as written in the notebook, in a copy
   of the kernel's namespace: each exercise is graded on the student's own `def` or `class`, even
   when a check cell rebound the name to the reference, was edited or deleted, or never ran
   because the notebook stopped early;
4. appends each verdict, tagged with the run's random nonce, to a file named only in the spec.

The verdicts never come from anything the notebook printed or displayed. This file imports only the
standard library: it runs as text in a namespace of its own, with no package around it.
"""

from __future__ import annotations

import ast
import importlib
import json
import linecache
import os
import sys

_open = open  # bound when the grader is defined, before any student code runs through it


class Grader:
    """Defines the student's functions again and re-runs the lesson's checks on them."""

    def __init__(self, spec: dict, user_ns: dict):
        self.spec = spec
        self._anchor(spec["workdir"])
        self.checks = _fresh_course_lib(spec["package_root"], spec["lesson"])
        self.namespace = dict(user_ns)
        self.namespace["__name__"] = "__main__"
        self.found: dict[str, object] = {}
        self.problems: dict[str, str] = {}
        self._define(spec["cells"], spec["fresh"])
        self._write({"kind": "setup", "found": sorted(self.found), "problems": self.problems,
                     "course_lib": getattr(self.checks, "__file__", "")})

    # ------------------------------------------------------------------ steps
    @staticmethod
    def _anchor(workdir: str) -> None:
        try:
            os.makedirs(workdir, exist_ok=True)
            os.chdir(workdir)
        except OSError:
            pass

    def _define(self, cells: list[dict], fresh: bool) -> None:
        """Run the chosen top-level statements of each cell, in notebook order, in the namespace copy."""
        wanted = {name.split(".")[0] for _, name, _ in self.spec["exercises"]}
        for cell in cells:
            filename = f"<code cell {cell['number']}>"
            source = cell["source"]
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            body = ast.parse(source, filename).body
            for index, fresh_only in cell["statements"]:
                if fresh_only and not fresh:
                    continue
                node = body[index]
                name = getattr(node, "name", None)
                try:
                    exec(compile(ast.Module(body=[node], type_ignores=[]), filename, "exec"), self.namespace)
                except KeyboardInterrupt:
                    raise
                except BaseException as err:  # the student's definition itself raised (a NameError, SystemExit...)
                    if name in wanted:
                        self.found.pop(name, None)
                        self.problems[name] = (
                            f"running your `{'class' if isinstance(node, ast.ClassDef) else 'def'} {name}` "
                            f"({filename[1:-1]}, line {node.lineno}) raised {type(err).__name__}: {err}"
                        )
                    continue
                if name in wanted:
                    self.found[name] = self.namespace.get(name)
                    self.problems.pop(name, None)

    def check(self, index: int) -> None:
        """Run exercise `index`'s check on the student's definition and record the verdict."""
        key, name, kind = self.spec["exercises"][index]
        top, *attrs = name.split(".")
        record = {"kind": "check", "key": key}
        if top in self.problems:
            record.update(status="failed", message=self.problems[top], cases_run=0)
        elif top not in self.found:
            record.update(
                status="missing", cases_run=0,
                message=f"no `{'class' if kind == 'class' else 'def'} {top}` at the top level of a code cell: "
                        f"the {kind} is missing or was renamed (the grader looks for the name the exercise gives)",
            )
        else:
            student = self.found[top]
            for attr in attrs:
                student = getattr(student, attr, None)
            result = self.checks.run_check(key, student)
            record.update(status=result.status, message=result.message, cases_run=result.cases_run)
        self._write(record)

    def _write(self, record: dict) -> None:
        path = self.spec["result_path"]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with _open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"nonce": self.spec["nonce"], **record}, default=str) + "\n")


def _fresh_course_lib(package_root: str, lesson: str):
    """course_lib.checks imported anew from package_root, with the lesson's checks registered."""
    for name in [m for m in sys.modules if m == "course_lib" or m.startswith("course_lib.")]:
        del sys.modules[name]
    sys.path.insert(0, package_root)
    importlib.invalidate_caches()
    try:
        checks = importlib.import_module("course_lib.checks")
        checks.exercises(lesson)
    finally:
        sys.path.remove(package_root)
    return checks
