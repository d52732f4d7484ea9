"""Machine-readable records that notebooks store in their outputs, and the one reader for them.

A displayed object whose `_repr_mimebundle_` carries a custom MIME type next to its text leaves a
JSON record in the executed notebook. Two kinds exist:

    CHECK_MIME   an exercise check's verdict (`course_lib.checks.CheckResult`), read by graders
    REPORT_MIME  figures a lesson measured (`Report`), read back by the benchmarks

`read(notebook, mime)` finds every record of one kind. No torch here: the `course` command and
the benchmarks read records without loading it.
"""

from __future__ import annotations

import json
from typing import Any

CHECK_MIME = "application/vnd.course.check+json"
REPORT_MIME = "application/vnd.course.metrics+json"
KINDS = (CHECK_MIME, REPORT_MIME)


def read(notebook: dict, mime: str) -> list[dict]:
    """Every record of type `mime` in the outputs of an executed notebook (nbformat dict or node), in order."""
    if mime not in KINDS:
        raise ValueError(f"mime must be one of {KINDS}, got {mime!r}")
    found = []
    for cell in notebook.get("cells", []):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = out.get("data", {})
            if mime in data:
                record = data[mime]
                found.append(json.loads(record) if isinstance(record, str) else dict(record))
    return found


class Report:
    """Named figures a lesson measured, displayed as a table and stored machine-readably.

    Benchmarks read them back from an executed notebook (`read(nb, REPORT_MIME)`, or
    `course_lib.metrics.read_reports`), so a figure printed in the README comes from the lesson's
    own run, not from a re-implementation of it.
    """

    def __init__(self, lesson: str, **values: Any):
        if not values:
            raise ValueError("a Report needs at least one named value, e.g. Report('02', test_nll=88.9)")
        self.lesson = lesson
        self.values = {k: (v if isinstance(v, str) else float(v)) for k, v in values.items()}

    def _text(self) -> str:
        width = max(map(len, self.values))
        return "\n".join(f"{k:<{width}}  {v:.4g}" if isinstance(v, float) else f"{k:<{width}}  {v}"
                         for k, v in self.values.items())

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": self._text(), REPORT_MIME: {"lesson": self.lesson, **self.values}}

    def __repr__(self) -> str:
        return self._text()
