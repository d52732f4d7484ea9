"""Finding the submissions of a class: student ids, the notebook in each student's folder, shards, hashes.

The id is the file name without its extension, or the folder's name. Hidden files, `.ipynb_checkpoints`
and `__MACOSX` are skipped; every other file is a submission. Several inputs mapping to one id are
all marked duplicate, and none is graded.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .vocabulary import DUPLICATE, INVALID, GradingError

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
    """sha256 of a submission's file ("" for none): a later run keeps the rows of unchanged files."""
    if path is None or not path.is_file():
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
