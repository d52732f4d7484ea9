"""What a run grades with: the settings every submission runs under, the exercises and their points.

A changed setting, or a changed file anywhere in course_lib (a check, a reference implementation,
the grader), changes `GradeSettings.fingerprint`, and a later run grades everything again.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from ..project import PACKAGE_DIR
from .task import ExerciseSpec
from .vocabulary import GradingError


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
        """Hash of the settings and of every .py file of the course_lib package (checks, references, grader)."""
        h = hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode())
        for f in sorted(PACKAGE_DIR.rglob("*.py")):
            h.update(f.relative_to(PACKAGE_DIR).as_posix().encode())
            h.update(f.read_bytes())
        return h.hexdigest()[:16]


def lesson_exercises(lesson: str) -> list[ExerciseSpec]:
    """The lesson's exercises from the checks registry, with their default points."""
    from course_lib import checks  # imports torch: only when a grading needs it

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
