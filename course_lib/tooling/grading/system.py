"""What the parent and the workers do to files and processes: atomic writes, stopping a kernel."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def atomic_write(path: Path, text: str) -> None:
    """Write a file so that readers only ever see the old or the new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def kill_kernel(pid: int) -> None:
    """SIGKILL a kernel and its process group (jupyter_client starts each kernel in a session of its own)."""
    for kill, target in ((getattr(os, "killpg", None), pid), (os.kill, pid)):
        try:
            if kill is not None:
                kill(target, signal.SIGKILL)
                return
        except OSError:
            continue
