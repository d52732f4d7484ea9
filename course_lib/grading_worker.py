"""One submission, in its own process: read it, run it in a fresh kernel, grade it in that kernel.

`child_main(task)` runs in a process of its own for each submission (see grading.py). It

1. reads the file; an empty file, invalid JSON or anything that is not a notebook ends here;
2. clears the stored outputs and injects the grading parameters with papermill (after the cell
   tagged `parameters`, or at the top when the notebook has none);
3. starts a fresh kernel in a temporary working folder and runs the cells one by one, with a time
   limit per cell and one for the whole notebook, stopping at the first error; at a time limit the
   kernel is interrupted, and stopped when it does not answer within a few seconds; a watchdog
   thread stops it when it uses more memory than allowed; outputs beyond a size cap are left out
   of the executed notebook;
4. grades: sends grading_kernel.py to the same kernel (or to a fresh one when the kernel died or
   hung) and re-runs every exercise's check there, one request per exercise, each with a time limit;
5. writes the executed notebook, with the grade at the top, and its result as JSON.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import traceback
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_core.utils import ensure_async, run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from papermill.parameterize import parameterize_notebook
from papermill.translators import PythonTranslator, papermill_translators

from .grading import (
    EMPTY, ERROR, GRADED, GRADER_ERROR, INVALID, KERNEL_DIED, MISSING, NOT_ATTEMPTED, TIMEOUT,
    atomic_write, kill_kernel,
)

KERNEL_FILE = Path(__file__).with_name("grading_kernel.py")
INTERRUPT_GRACE_S = 5.0  # a kernel still busy this long after the interrupt sent at a timeout is stopped
POLL_S = 0.1  # how often the watchdog looks at the kernel's memory
STARTUP_TIMEOUT_S = 120
REPLY_POLL_S = 5  # while a cell runs, look this often whether it is over its limit, or done with its reply lost
MAX_FILE_BYTES = 500_000_000  # a notebook with its stored outputs; anything larger is not read


class _Translator(PythonTranslator):
    """papermill's Python translator, writing tuples as tuples (papermill itself makes them strings)."""

    @classmethod
    def translate(cls, val):
        if isinstance(val, tuple):
            return "(" + "".join(f"{cls.translate(v)}, " for v in val).rstrip(" ") + ")"
        return super().translate(val)


TRANSLATOR = "course-grade-python"
papermill_translators.register(TRANSLATOR, _Translator)


class Unreadable(Exception):
    """The submission cannot be run: `status` (empty or invalid) and a message saying why."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------------------- reading
def load_submission(path: Path):
    """The submission as a v4 notebook node with no outputs; Unreadable when it is not one."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise Unreadable(INVALID, f"not a notebook: {size / 1e6:.0f} MB is more than any notebook of a lesson "
                                  f"(the limit is {MAX_FILE_BYTES / 1e6:.0f} MB)")
    raw = path.read_bytes()
    if not raw.strip():
        raise Unreadable(EMPTY, "the file is empty" if not raw else "the file holds only blank space")
    for magic, what in ((b"PK\x03\x04", "a zip archive: unzip it and submit the .ipynb inside"),
                        (b"%PDF", "a PDF: submit the .ipynb file itself, not an export")):
        if raw.startswith(magic):
            raise Unreadable(INVALID, f"not a notebook: the file is {what}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unreadable(INVALID, "not a notebook: the file is binary, not JSON text") from None
    if not text.lstrip().startswith(("{", "[")):
        raise Unreadable(INVALID, "not a notebook: plain text, not the JSON of an .ipynb file (a script, or an export?)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise Unreadable(INVALID, f"not a notebook: invalid JSON at line {err.lineno}, column {err.colno} "
                                  f"({err.msg}); the file may be cut short or edited by hand") from None
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        raise Unreadable(INVALID, "not a notebook: valid JSON, but without the cells of a Jupyter notebook")
    try:
        if data.get("nbformat") == 4:
            for cell in data["cells"] if isinstance(data.get("cells"), list) else []:  # outputs: the grader makes its own
                if isinstance(cell, dict) and cell.get("cell_type") == "code":
                    cell["outputs"], cell["execution_count"] = [], None
            nb = nbformat.from_dict(data)
        else:
            nb = nbformat.reads(text, as_version=4)
    except Exception as err:
        raise Unreadable(INVALID, f"not a readable notebook: {type(err).__name__}: {err}") from None
    return _normalized(nb)


def _normalized(nb):
    """Every cell with a type, text source, metadata and an id; code cells without outputs."""
    if not isinstance(nb.get("cells"), list):
        raise Unreadable(INVALID, "not a readable notebook: its 'cells' is not a list")
    for i, cell in enumerate(nb.cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise Unreadable(INVALID, f"not a readable notebook: cell {i} has no valid cell_type")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise Unreadable(INVALID, f"not a readable notebook: the source of cell {i} is not text")
        cell["source"] = source
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = nbformat.NotebookNode()
        tags = cell.metadata.get("tags")
        if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            cell.metadata["tags"] = []  # papermill looks for tags on every cell
        if cell.cell_type == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if not isinstance(cell.get("id"), str):
            cell["id"] = nbformat.v4.nbbase.random_cell_id()
    if not isinstance(nb.get("metadata"), dict):
        nb["metadata"] = nbformat.NotebookNode()
    nb.metadata.pop("widgets", None)  # the state of the student's own run: stale, and can be large
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    return nb


# ----------------------------------------------------------------------------- static analysis
_LINE_MAGIC = re.compile(r"^(\s*)(?:[%!]|[\w.,\[\] ]+=\s*[%!])")
_PYTHON_CELL_MAGICS = ("%%time", "%%timeit", "%%capture", "%%prun")


def python_source(source: str) -> str | None:
    """The cell as plain Python with the same lines (IPython's own translation of magics and `!`).

    None for a cell magic whose body is not Python (%%bash, %%writefile...).
    """
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        if not lines[0].lstrip().startswith(_PYTHON_CELL_MAGICS):
            return None
        lines[0] = "pass"  # %%time and friends: the body is Python
    text = "\n".join(lines) + "\n"
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(text)
    except Exception:  # no IPython, or a cell it cannot read: magic lines become `pass`
        return "".join(f"{m.group(1)}pass\n" if (m := _LINE_MAGIC.match(line)) else line + "\n" for line in lines)


def definitions(cells: list[tuple[int, str, bool]], names: set[str]) -> tuple[list[dict], list[int]]:
    """What the grader re-runs: per code cell, the top-level statements to execute again.

    cells: (number, source, is a parameters cell) for each code cell, in order. Taken: imports,
    every `def`/`class` without decorators, any `def`/`class` named like an exercise, and (only for
    a fresh kernel) the assignments of the parameters cells. Returns the cells' specs and the
    numbers of the cells that are not valid Python.
    """
    specs, broken = [], []
    for number, source, is_parameters in cells:
        code = python_source(source)
        if code is None:
            continue
        try:
            body = ast.parse(code).body
        except (SyntaxError, ValueError):
            broken.append(number)
            continue
        statements = []
        for i, node in enumerate(body):
            if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.module != "__future__"):
                statements.append((i, False))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.name in names or not node.decorator_list:
                    statements.append((i, False))
            elif is_parameters and isinstance(node, (ast.Assign, ast.AnnAssign)):
                statements.append((i, True))
        if statements:
            specs.append({"number": number, "source": code, "statements": statements})
    return specs, broken


def _parameter_names(cell) -> set[str]:
    names = set()
    try:
        for node in ast.parse(python_source(cell.source) or "").body:
            if isinstance(node, ast.Assign):
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    except SyntaxError:
        pass
    return names


# ----------------------------------------------------------------------------- kernel
def _size(content: dict) -> int:
    """Rough size in bytes of one output message."""
    size = len(content.get("text", "")) + sum(len(line) for line in content.get("traceback", []))
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(json.dumps(value, default=str))
    return size


class _Client(NotebookClient):
    """nbclient with output caps, timeouts that end the request at once, and a quick check of the kernel."""

    def __init__(self, nb, cell_cap: int, notebook_cap: int, **kw):
        super().__init__(nb, **kw)
        self.cell_cap, self.notebook_cap = cell_cap, notebook_cap
        self.used: dict[int, int] = {}
        self.dropped: dict[int, int] = {}
        self.timed_out = False
        self.limit, self.started, self.idle_seen, self.lost_replies = 0.0, 0.0, False, 0

    def arm(self, seconds: float) -> None:
        """Set the time limit of the next request; nbclient wakes us every REPLY_POLL_S to look at it."""
        self.limit, self.started = seconds, time.monotonic()
        self.timeout = max(1, math.ceil(min(seconds, REPLY_POLL_S)))
        self.timed_out, self.idle_seen = False, False

    def process_message(self, msg, cell, cell_index):
        content = msg.get("content", {})
        if msg.get("msg_type") == "status" and content.get("execution_state") == "idle":
            self.idle_seen = True  # the kernel is done with this request (its outputs all came before)
        return super().process_message(msg, cell, cell_index)

    async def _async_handle_timeout(self, timeout, cell=None):
        """Called every REPLY_POLL_S without a reply: go on waiting, finish a request whose reply got lost,
        or, past the limit, interrupt the kernel and end the request as if the cell had raised."""
        if self.idle_seen:  # done, but the execute_reply never came (seen with ipykernel 7): go on without it
            self.lost_replies += 1
            errors = [o for o in (cell.outputs if cell is not None else []) if o.get("output_type") == "error"]
            if errors:
                return {"content": {"status": "error", "ename": errors[0].get("ename", ""),
                                    "evalue": errors[0].get("evalue", ""), "traceback": []}}
            return {"content": {"status": "ok"}}
        if time.monotonic() - self.started < self.limit:
            return None
        self.timed_out = True
        try:
            await ensure_async(self.km.interrupt_kernel())
        except Exception:
            pass
        return {"content": {"status": "error", "ename": "TimeoutError", "traceback": [],
                            "evalue": f"stopped by the grader after {self.limit:g} s"}}

    async def _async_check_alive(self) -> None:
        if self.km is not None and not await ensure_async(self.km.is_alive()):  # the process, not the heartbeat
            raise DeadKernelError("Kernel died")
        await super()._async_check_alive()

    async def _async_responsive(self, seconds: float) -> bool:
        msg_id = await ensure_async(self.kc.kernel_info())
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=left))
            except Empty:
                return False
            if msg["parent_header"].get("msg_id") == msg_id:
                return True
        return False

    def responsive(self, seconds: float) -> bool:
        """True when the kernel answers a request within `seconds` (after an interrupt: it stopped)."""
        try:
            return run_sync(self._async_responsive)(seconds)
        except Exception:
            return False

    def output(self, outs, msg, display_id, cell_index):
        if self.clear_before_next_output:
            self.used[cell_index] = 0
        size = _size(msg.get("content", {}))
        used = self.used.get(cell_index, 0)
        if used + size > self.cell_cap or sum(self.used.values()) + size > self.notebook_cap:
            self.dropped[cell_index] = self.dropped.get(cell_index, 0) + size
            return None
        self.used[cell_index] = used + size
        return super().output(outs, msg, display_id, cell_index)

    def clear_output(self, outs, msg, cell_index):
        super().clear_output(outs, msg, cell_index)
        if not msg.get("content", {}).get("wait"):
            self.used[cell_index] = 0


def _rss_mb(pid: int) -> float | None:
    """Resident memory of a process and its children, in MB (None when it cannot be read)."""
    try:
        import psutil

        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20
    except Exception:
        return None


class _Watchdog(threading.Thread):
    """Stops the kernel when it (with its children) uses more memory than allowed."""

    def __init__(self, memory_limit_mb: int):
        super().__init__(daemon=True, name="course-grade-watchdog")
        self.limit = memory_limit_mb
        self.pid: int | None = None
        self.reason: str | None = None
        self._stop_event = threading.Event()

    def watch(self, pid: int) -> None:
        self.pid, self.reason = pid, None

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while self.limit and not self._stop_event.wait(POLL_S):
            pid = self.pid
            rss = _rss_mb(pid) if pid is not None else None
            if rss is not None and rss > self.limit:
                self.reason, self.pid = (f"the kernel used {rss:.0f} MB of memory, over the {self.limit} MB limit "
                                         "(--memory-limit), and was stopped"), None
                kill_kernel(pid)


# ----------------------------------------------------------------------------- one submission
class _Session:
    """Runs and grades one notebook; owns its kernels, working folder and watchdog."""

    def __init__(self, task: dict):
        self.task = task
        self.nonce = secrets.token_hex(8)
        self.work = Path(task["work"])
        self.verdict_file = self.work / f"verdicts-{self.nonce}.jsonl"
        self.workdir = Path(tempfile.mkdtemp(prefix="course-grade-"))
        (self.work / "workdir").write_text(str(self.workdir))  # removed by the parent if it has to stop us
        self.env = {**os.environ, **task["env"]}
        self.notes: list[str] = []
        self.stuck = False
        self.clients: list[_Client] = []
        self.watchdog = _Watchdog(task["memory_limit_mb"])
        self.watchdog.start()

    # ---------------------------------------------------------------- kernels
    def _start(self, nb) -> _Client:
        t = self.task
        client = _Client(
            nb, t["max_cell_output"], t["max_notebook_output"], kernel_name=t["kernel"], timeout=t["cell_timeout"],
            interrupt_on_timeout=True, startup_timeout=STARTUP_TIMEOUT_S, store_widget_state=True,
            record_timing=True, shutdown_kernel="immediate", resources={"metadata": {"path": str(self.workdir)}},
        )
        self.clients.append(client)
        client.km = client.create_kernel_manager()
        client.start_new_kernel(env=self.env, cwd=str(self.workdir))
        pid = client.km.provisioner.process.pid
        with open(self.work / "kernel.pids", "a") as f:  # so that the parent can stop it on Ctrl-C
            f.write(f"{pid}\n")
        self.watchdog.watch(pid)
        client.start_new_kernel_client()
        return client

    @staticmethod
    def _alive(client: _Client | None) -> bool:
        try:
            return client is not None and client.km is not None and bool(run_sync(client.km.is_alive)())
        except Exception:
            return False

    def _exit_status(self, client: _Client) -> str:
        try:
            code = client.km.provisioner.process.poll()
        except Exception:
            code = None
        if code is None:
            return ""
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"

    def _stop_if_stuck(self, client: _Client) -> bool:
        """After a timeout: True when the kernel answers again, else stop it (it ignored the interrupt)."""
        if client.responsive(INTERRUPT_GRACE_S):
            return True
        kill_kernel(client.km.provisioner.process.pid)
        self.stuck = True
        return False

    def close(self) -> None:
        self.watchdog.stop()
        for client in self.clients:
            try:
                process = client.km.provisioner.process
                if process.poll() is None:  # alive, so its pid is still ours: stop its whole process group,
                    kill_kernel(process.pid)  # with whatever the notebook started in there
                client._cleanup_kernel()
            except Exception:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ---------------------------------------------------------------- steps
    def parameterize(self, nb):
        """Inject the grading parameters with papermill; note a missing or different parameters cell."""
        t = self.task
        tagged = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
        if not tagged:
            self.notes.append("no cell tagged 'parameters': the grading parameters were injected at the top")
        else:
            have, want = _parameter_names(tagged[0]), set(t["lesson_parameters"])
            missing, extra = sorted(want - have), sorted(have - want)
            if missing or extra:
                diff = "; ".join(filter(None, [missing and f"missing {', '.join(missing)}",
                                               extra and f"not in the lesson: {', '.join(extra)}"]))
                self.notes.append(f"parameters differ from lesson {t['lesson']}'s ({diff}): "
                                  "a notebook from another version of the lesson?")
        nb.metadata["papermill"] = {}
        nb.metadata["kernelspec"] = {"name": t["kernel"], "display_name": t["kernel"], "language": "python"}
        return parameterize_notebook(nb, t["parameters"], kernel_name=TRANSLATOR, language="python")

    @staticmethod
    def labels(nb) -> dict[int, str]:
        """'code cell N' (counting the student's code cells) for each code cell index of the run notebook."""
        labels, n = {}, 0
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if "injected-parameters" in cell.metadata.get("tags", []):
                labels[i] = "the injected parameters"
            else:
                n += 1
                labels[i] = f"code cell {n}"
        return labels

    def execute(self, client: _Client, nb, labels: dict[int, str]) -> tuple[str, dict | None]:
        """Run the notebook's cells until the end, the first error, a timeout or the kernel's death."""
        t = self.task
        deadline = time.monotonic() + t["timeout"]
        count = 0
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            count += 1
            if not cell.source.strip():
                continue
            label = labels[index]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return TIMEOUT, {"cell": label, "message": f"the notebook ran past its {t['timeout']:g} s limit "
                                                           f"(--timeout) before {label}"}
            by_notebook = remaining < t["cell_timeout"]
            client.arm(min(t["cell_timeout"], remaining))
            try:
                client.execute_cell(cell, index, execution_count=count)
            except CellExecutionError as err:
                if client.timed_out:
                    cell.outputs.append(nbformat.v4.new_output("stream", name="stderr", text=(
                        f"[course grade: stopped at the time limit ({client.limit:g} s)]\n")))
                    self._stop_if_stuck(client)
                    return TIMEOUT, self._timeout(label, by_notebook)
                return ERROR, {"cell": label, "ename": err.ename, "evalue": _short(err.evalue),
                               "message": f"{label}: {err.ename}: {_short(err.evalue)}"}
            except CellTimeoutError:
                return TIMEOUT, self._timeout(label, by_notebook)
            except DeadKernelError:
                if client.timed_out:
                    return TIMEOUT, self._timeout(label, by_notebook)
                why = self.watchdog.reason or (
                    f"the kernel died ({self._exit_status(client) or 'no exit status'}): os._exit, a crash in "
                    "compiled code, or the machine running out of memory")
                return KERNEL_DIED, {"cell": label, "message": f"{label}: {why}"}
            finally:
                self._note_dropped(client, cell, index, label)
        return GRADED, None

    def _timeout(self, label: str, by_notebook: bool) -> dict:
        t = self.task
        if by_notebook:
            msg = f"the notebook ran past its {t['timeout']:g} s limit (--timeout) in {label}"
        else:
            msg = f"{label} ran past the {t['cell_timeout']:g} s limit per cell (--cell-timeout): an endless loop?"
        if self.stuck:
            msg += "; the kernel ignored the interrupt and was stopped"
        return {"cell": label, "message": msg}

    def _note_dropped(self, client: _Client, cell, index: int, label: str) -> None:
        dropped = client.dropped.pop(index, 0)
        if dropped:
            text = f"[course grade: {dropped / 1e6:.1f} MB of this cell's output was left out of the graded notebook]\n"
            cell.outputs.append(nbformat.v4.new_output("stream", name="stderr", text=text))
            self.notes.append(f"{label}: {dropped / 1e6:.1f} MB of output left out of the graded notebook")

    # ---------------------------------------------------------------- grading
    def grade(self, client: _Client | None, specs: list[dict]) -> tuple[dict, str | None]:
        """Verdict per exercise key, re-run by the grader; and a grader error, if the grader itself failed."""
        t = self.task
        exercises = t["exercises"]
        todo = list(range(len(exercises)))
        outcomes: dict[str, dict] = {}
        fresh = not self._alive(client)
        tries = 0
        while todo and tries <= len(exercises):
            tries += 1
            if fresh or not self._alive(client):
                fresh = True
                client = self._start(nbformat.v4.new_notebook())
                self.notes.append("the functions were graded in a fresh kernel, with the notebook's imports and "
                                  "definitions only")
            state, detail = self._request(client, self._setup_source(specs, fresh), 2 * t["check_timeout"])
            if state != "ok":
                if not fresh:  # the notebook left its kernel unusable for the grader: start over in a fresh one
                    self.notes.append(f"the grader could not set up in the notebook's kernel ({detail or state})")
                    fresh = True
                    continue
                if state == "error":
                    return outcomes, f"the grader could not set up in a fresh kernel: {detail}"
                for i in todo:  # a definition that hangs or kills the kernel as it is defined
                    outcomes[exercises[i][0]] = {"status": "failed", "cases_run": 0, "message": (
                        "running the notebook's definitions " + ("took too long" if state == "timeout" else
                                                                 "killed the kernel") + f" ({detail or state})")}
                break
            while todo:
                i = todo.pop(0)
                key, name, _ = exercises[i]
                state, detail = self._request(client, f"_course_grader_{self.nonce}.check({i})")
                if state == "timeout":
                    outcomes[key] = {"status": "failed", "cases_run": 0, "message": (
                        f"the check of your {name} did not finish within {t['check_timeout']:g} s and was stopped "
                        "(an endless loop?)")}
                elif state == "died":
                    outcomes[key] = {"status": "failed", "cases_run": 0, "message": (
                        f"the kernel died while checking your {name}: {detail or 'os._exit or a crash'}")}
                    fresh = True
                    break
                elif state == "error":
                    outcomes[key] = {"status": "failed", "cases_run": 0,
                                     "message": f"checking your {name} raised {detail}"}
                if todo and not self._alive(client):  # stopped after ignoring an interrupt: go on in a fresh one
                    fresh = True
                    break
        verdicts = self._read_verdicts()
        for key, outcome in outcomes.items():
            verdicts.setdefault(key, outcome)
        return verdicts, None

    def _setup_source(self, specs: list[dict], fresh: bool) -> str:
        t = self.task
        spec = {"nonce": self.nonce, "lesson": t["lesson"], "exercises": t["exercises"], "cells": specs,
                "fresh": fresh, "workdir": str(self.workdir), "result_path": str(self.verdict_file),
                "package_root": t["package_root"]}
        n = self.nonce
        return (
            f"def _course_grade_{n}(user_ns):\n"
            f"    ns = {{'__name__': 'course_lib_grading_kernel'}}\n"
            f"    exec(compile({KERNEL_FILE.read_text()!r}, {str(KERNEL_FILE)!r}, 'exec'), ns)\n"
            f"    import json\n"
            f"    return ns['Grader'](json.loads({json.dumps(spec)!r}), user_ns)\n"
            f"_course_grader_{n} = _course_grade_{n}(globals())\n"
            f"del _course_grade_{n}\n"
        )

    def _request(self, client: _Client, source: str, seconds: float | None = None) -> tuple[str, str | None]:
        """Run one grader cell: ("ok" | "error" | "timeout" | "died", detail)."""
        cell = nbformat.v4.new_code_cell(source)
        client.nb.cells.append(cell)
        index = len(client.nb.cells) - 1
        client.arm(seconds or self.task["check_timeout"])
        try:
            client.execute_cell(cell, index, store_history=False)
            return "ok", None
        except CellExecutionError as err:
            if client.timed_out:
                self._stop_if_stuck(client)
                return "timeout", None
            return "error", f"{err.ename}: {_short(err.evalue)}"
        except CellTimeoutError:
            return "timeout", None
        except DeadKernelError:
            return ("timeout" if client.timed_out else "died"), self.watchdog.reason or self._exit_status(client)
        finally:
            client.nb.cells.pop(index)
            client.dropped.pop(index, None)

    def _read_verdicts(self) -> dict[str, dict]:
        verdicts = {}
        try:
            lines = self.verdict_file.read_text(encoding="utf-8").splitlines()
        except OSError:
            return verdicts
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("nonce") == self.nonce and record.get("kind") == "check":
                verdicts[record["key"]] = {k: record.get(k) for k in ("status", "message", "cases_run")}
        return verdicts

    # ---------------------------------------------------------------- the whole run
    def run(self, nb) -> dict:
        t = self.task
        names = {name.split(".")[0] for _, name, _ in t["exercises"]}
        nb = self.parameterize(nb)
        labels = self.labels(nb)
        cells, number = [], 0
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                tags = set(cell.metadata.get("tags", []))
                number += "injected-parameters" not in tags
                cells.append((number, cell.source, bool({"parameters", "injected-parameters"} & tags)))
        specs, broken = definitions(cells, names)
        if broken:
            self.notes.append(f"not valid Python, so skipped by the grader: code cell{'s' if len(broken) > 1 else ''} "
                              + ", ".join(map(str, broken)))
        start = time.monotonic()
        client = self._start(nb)
        status, error = self.execute(client, nb, labels)
        runtime = time.monotonic() - start
        verdicts, grader_error = self.grade(client if status != KERNEL_DIED and not self.stuck else None, specs)
        lost = sum(c.lost_replies for c in self.clients)
        if lost:
            self.notes.append(f"the kernel finished {lost} request(s) without its reply reaching the grader "
                              "(an ipykernel 7 bug); the grader went on without them")
        self.notes = list(dict.fromkeys(self.notes))
        if grader_error:
            return {"status": GRADER_ERROR, "first_error": grader_error, "error": error, "notes": self.notes,
                    "exercises": {}, "runtime_s": round(runtime, 2)}
        for key, _, _ in t["exercises"]:
            verdicts.setdefault(key, {"status": "failed", "cases_run": 0,
                                      "message": "the grader could not check this exercise (see the log)"})
        if all(v["status"] == MISSING for v in verdicts.values()):
            self.notes.append(f"none of lesson {t['lesson']}'s exercise functions were found: "
                              "is this the notebook of another lesson?")
        if status == GRADED and all(v["status"] in (NOT_ATTEMPTED, MISSING) for v in verdicts.values()):
            status = NOT_ATTEMPTED
        result = {"status": status, "first_error": error["message"] if error else "", "error": error,
                  "notes": self.notes, "exercises": verdicts, "runtime_s": round(runtime, 2)}
        self._write_notebook(nb, result)
        return result

    def _write_notebook(self, nb, result: dict) -> None:
        t = self.task
        lines = [f"**Graded by `course grade`** (lesson {t['lesson']}, {time.strftime('%Y-%m-%d %H:%M')}): "
                 f"status **{result['status']}**" + (f" — {result['first_error']}" if result["first_error"] else ""),
                 "", "| exercise | verdict | message |", "|---|---|---|"]
        for key, name, _ in t["exercises"]:
            v = result["exercises"][key]
            lines.append(f"| `{name}` | {v['status']} | {_md_cell(v['message'])} |")
        lines += [f"\n*{note}*" for note in result["notes"]]
        cell = nbformat.v4.new_markdown_cell("\n".join(lines), metadata={"tags": ["course-grade"]})
        nb.cells.insert(0, cell)
        atomic_write(Path(t["notebook_out"]), nbformat.v4.writes(nb) + "\n")


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _md_cell(text: str) -> str:
    return _short(text, 500).replace("|", "\\|")


def grade_submission(task: dict) -> dict:
    """Grade one submission (see the module docstring); the result as a JSON-ready dict."""
    start = time.monotonic()
    try:
        nb = load_submission(Path(task["path"]))
    except Unreadable as err:
        return {"status": err.status, "first_error": str(err), "error": None, "notes": [], "exercises": {},
                "runtime_s": 0.0, "grading_s": round(time.monotonic() - start, 2)}
    except OSError as err:
        return {"status": INVALID, "first_error": f"the file cannot be read: {err.strerror or err}", "error": None,
                "notes": [], "exercises": {}, "runtime_s": 0.0, "grading_s": round(time.monotonic() - start, 2)}
    session = _Session(task)
    try:
        result = session.run(nb)
    finally:
        session.close()
    result["grading_s"] = round(time.monotonic() - start, 2)
    return result


def child_main(task: dict) -> None:
    """Entry point of a submission's process: its own session, output to its log, result to a file."""
    try:
        os.setsid()  # out of the terminal's process group: Ctrl-C reaches the parent, which stops us
    except (AttributeError, OSError):
        pass
    fd = os.open(task["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        result = grade_submission(task)
    except BaseException as err:  # a bug of the grader, not of the submission: say so, keep the traceback
        traceback.print_exc()
        result = {"status": GRADER_ERROR, "first_error": f"the grader failed: {type(err).__name__}: {_short(err)}",
                  "error": None, "notes": [], "exercises": {}, "runtime_s": None}
    atomic_write(Path(task["result_path"]), json.dumps(result))
