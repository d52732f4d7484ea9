"""One submission, in its own process: read it, run it in a fresh kernel, grade it in that kernel.

`child_main(task)` runs in a process of its own for each submission (see runner.py), started with
the Task the parent made for it. It

1. reads the file; an empty file, invalid JSON or anything that is not a notebook ends here;
2. clears the stored outputs and injects the grading parameters with papermill (after the cell
   tagged `parameters`, or at the top when the notebook has none);
3. starts a fresh kernel in a temporary working folder and runs the cells one by one, with a time
   limit per cell and one for the whole notebook, stopping at the first error; at a time limit the
   kernel is interrupted, and stopped when it does not answer within a few seconds; a watchdog
   thread stops it when it uses more memory than allowed; outputs beyond a size cap are left out
   of the executed notebook;
4. grades: sends kernel.py, as text, to the same kernel (or to a fresh one when the kernel died or
   hung) and re-runs every exercise's check there, one request per exercise, each with a time limit;
5. writes the executed notebook, with the grade at the top, and its result as JSON.

Reading the file and picking the definitions is notebook.py; the client and its limits, client.py.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
import traceback
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from papermill.parameterize import parameterize_notebook
from papermill.translators import PythonTranslator, papermill_translators

from .client import KernelClient, Watchdog
from .notebook import Unreadable, definitions, load_submission, parameter_names
from .system import atomic_write, kill_kernel
from .task import Task
from .vocabulary import ERROR, GRADED, GRADER_ERROR, INVALID, KERNEL_DIED, MISSING, NOT_ATTEMPTED, TIMEOUT

KERNEL_FILE = Path(__file__).with_name("kernel.py")  # sent as text into the kernel, never imported there
INTERRUPT_GRACE_S = 5.0  # a kernel still busy this long after the interrupt sent at a timeout is stopped
STARTUP_TIMEOUT_S = 120
START_ATTEMPTS = 3  # a kernel that fails to start is started again: two processes can pick the same free port
# between choosing it and binding it (jupyter_client's port cache is per process; its issue 487)


class _Translator(PythonTranslator):
    """papermill's Python translator, writing tuples as tuples (papermill itself makes them strings)."""

    @classmethod
    def translate(cls, val):
        if isinstance(val, tuple):
            return "(" + "".join(f"{cls.translate(v)}, " for v in val).rstrip(" ") + ")"
        return super().translate(val)


TRANSLATOR = "course-grade-python"
papermill_translators.register(TRANSLATOR, _Translator)


# ----------------------------------------------------------------------------- one submission
class _Session:
    """Runs and grades one notebook; owns its kernels, working folder and watchdog."""

    def __init__(self, task: Task):
        self.task = task
        self.nonce = secrets.token_hex(8)
        self.work = task.work
        self.verdict_file = self.work / f"verdicts-{self.nonce}.jsonl"
        self.workdir = Path(tempfile.mkdtemp(prefix="course-grade-"))
        (self.work / "workdir").write_text(str(self.workdir))  # removed by the parent if it has to stop us
        self.env = {**os.environ, **task.env}
        self.notes: list[str] = []
        self.stuck = False
        self.clients: list[KernelClient] = []
        self.watchdog = Watchdog(task.memory_limit_mb)
        self.watchdog.start()

    # ---------------------------------------------------------------- kernels
    def _start(self, nb) -> KernelClient:
        """A fresh kernel for `nb`, ready; one that dies or hangs while starting is stopped and started again."""
        for attempt in range(1, START_ATTEMPTS + 1):
            client = self._launch(nb)
            try:
                client.start_new_kernel_client()  # waits for the kernel's first reply
                return client
            except Exception as err:  # died before replying (a port taken by another kernel), or no reply in time
                if attempt == START_ATTEMPTS:
                    raise
                self.notes.append(f"a kernel failed to start ({type(err).__name__}: {_short(err, 120)}) "
                                  "and was started again")
                try:  # nbclient has shut it down already; a kernel that still runs is stopped with its group
                    process = client.km.provisioner.process
                    if process.poll() is None:
                        kill_kernel(process.pid)
                except Exception:
                    pass
        raise AssertionError("unreachable")

    def _launch(self, nb) -> KernelClient:
        """Start a kernel process for `nb` and record its pid (the parent stops it on Ctrl-C)."""
        t = self.task
        client = KernelClient(
            nb, t.max_cell_output, t.max_notebook_output, kernel_name=t.kernel, timeout=t.cell_timeout,
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
        return client

    @staticmethod
    def _alive(client: KernelClient | None) -> bool:
        try:
            return client is not None and client.km is not None and bool(run_sync(client.km.is_alive)())
        except Exception:
            return False

    def _exit_status(self, client: KernelClient) -> str:
        try:
            code = client.km.provisioner.process.poll()
        except Exception:
            code = None
        if code is None:
            return ""
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"

    def _stop_if_stuck(self, client: KernelClient) -> bool:
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
            have, want = parameter_names(tagged[0]), set(t.lesson_parameters)
            missing, extra = sorted(want - have), sorted(have - want)
            if missing or extra:
                diff = "; ".join(filter(None, [missing and f"missing {', '.join(missing)}",
                                               extra and f"not in the lesson: {', '.join(extra)}"]))
                self.notes.append(f"parameters differ from lesson {t.lesson}'s ({diff}): "
                                  "a notebook from another version of the lesson?")
        nb.metadata["papermill"] = {}
        nb.metadata["kernelspec"] = {"name": t.kernel, "display_name": t.kernel, "language": "python"}
        return parameterize_notebook(nb, t.parameters, kernel_name=TRANSLATOR, language="python")

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

    def execute(self, client: KernelClient, nb, labels: dict[int, str]) -> tuple[str, dict | None]:
        """Run the notebook's cells until the end, the first error, a timeout or the kernel's death."""
        t = self.task
        deadline = time.monotonic() + t.timeout
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
                return TIMEOUT, {"cell": label, "message": f"the notebook ran past its {t.timeout:g} s limit "
                                                           f"(--timeout) before {label}"}
            by_notebook = remaining < t.cell_timeout
            client.arm(min(t.cell_timeout, remaining))
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
            msg = f"the notebook ran past its {t.timeout:g} s limit (--timeout) in {label}"
        else:
            msg = f"{label} ran past the {t.cell_timeout:g} s limit per cell (--cell-timeout): an endless loop?"
        if self.stuck:
            msg += "; the kernel ignored the interrupt and was stopped"
        return {"cell": label, "message": msg}

    def _note_dropped(self, client: KernelClient, cell, index: int, label: str) -> None:
        dropped = client.dropped.pop(index, 0)
        if dropped:
            text = f"[course grade: {dropped / 1e6:.1f} MB of this cell's output was left out of the graded notebook]\n"
            cell.outputs.append(nbformat.v4.new_output("stream", name="stderr", text=text))
            self.notes.append(f"{label}: {dropped / 1e6:.1f} MB of output left out of the graded notebook")

    # ---------------------------------------------------------------- grading
    def grade(self, client: KernelClient | None, specs: list[dict]) -> tuple[dict, str | None]:
        """Verdict per exercise key, re-run by the grader; and a grader error, if the grader itself failed."""
        t = self.task
        exercises = t.exercises
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
            state, detail = self._request(client, self._setup_source(specs, fresh), 2 * t.check_timeout)
            if state != "ok":
                if not fresh:  # the notebook left its kernel unusable for the grader: start over in a fresh one
                    self.notes.append(f"the grader could not set up in the notebook's kernel ({detail or state})")
                    fresh = True
                    continue
                if state == "error":
                    return outcomes, f"the grader could not set up in a fresh kernel: {detail}"
                for i in todo:  # a definition that hangs or kills the kernel as it is defined
                    outcomes[exercises[i].key] = {"status": "failed", "cases_run": 0, "message": (
                        "running the notebook's definitions " + ("took too long" if state == "timeout" else
                                                                 "killed the kernel") + f" ({detail or state})")}
                break
            while todo:
                i = todo.pop(0)
                key, name = exercises[i].key, exercises[i].name
                state, detail = self._request(client, f"_course_grader_{self.nonce}.check({i})")
                if state == "timeout":
                    outcomes[key] = {"status": "failed", "cases_run": 0, "message": (
                        f"the check of your {name} did not finish within {t.check_timeout:g} s and was stopped "
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
        spec = {"nonce": self.nonce, "lesson": t.lesson, "exercises": t.exercise_list(), "cells": specs,
                "fresh": fresh, "workdir": str(self.workdir), "result_path": str(self.verdict_file),
                "package_root": str(t.package_root)}
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

    def _request(self, client: KernelClient, source: str, seconds: float | None = None) -> tuple[str, str | None]:
        """Run one grader cell: ("ok" | "error" | "timeout" | "died", detail)."""
        cell = nbformat.v4.new_code_cell(source)
        client.nb.cells.append(cell)
        index = len(client.nb.cells) - 1
        client.arm(seconds or self.task.check_timeout)
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
        names = {ex.name.split(".")[0] for ex in t.exercises}
        nb = self.parameterize(nb)
        labels = self.labels(nb)
        cells, number = [], 0
        for cell in nb.cells:
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
        for ex in t.exercises:
            verdicts.setdefault(ex.key, {"status": "failed", "cases_run": 0,
                                      "message": "the grader could not check this exercise (see the log)"})
        if all(v["status"] == MISSING for v in verdicts.values()):
            self.notes.append(f"none of lesson {t.lesson}'s exercise functions were found: "
                              "is this the notebook of another lesson?")
        if status == GRADED and all(v["status"] in (NOT_ATTEMPTED, MISSING) for v in verdicts.values()):
            status = NOT_ATTEMPTED
        result = {"status": status, "first_error": error["message"] if error else "", "error": error,
                  "notes": self.notes, "exercises": verdicts, "runtime_s": round(runtime, 2)}
        self._write_notebook(nb, result)
        return result

    def _write_notebook(self, nb, result: dict) -> None:
        t = self.task
        lines = [f"**Graded by `course grade`** (lesson {t.lesson}, {time.strftime('%Y-%m-%d %H:%M')}): "
                 f"status **{result['status']}**" + (f" — {result['first_error']}" if result["first_error"] else ""),
                 "", "| exercise | verdict | message |", "|---|---|---|"]
        for ex in t.exercises:
            v = result["exercises"][ex.key]
            lines.append(f"| `{ex.name}` | {v['status']} | {_md_cell(v['message'])} |")
        lines += [f"\n*{note}*" for note in result["notes"]]
        cell = nbformat.v4.new_markdown_cell("\n".join(lines), metadata={"tags": ["course-grade"]})
        nb.cells.insert(0, cell)
        atomic_write(t.notebook_out, nbformat.v4.writes(nb) + "\n")


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _md_cell(text: str) -> str:
    return _short(text, 500).replace("|", "\\|")


def grade_submission(task: Task) -> dict:
    """Grade one submission (see the module docstring); the result as a JSON-ready dict."""
    start = time.monotonic()
    try:
        nb = load_submission(task.path)
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


def child_main(task: Task) -> None:
    """Entry point of a submission's process: its own session, output to its log, result to a file."""
    try:
        os.setsid()  # out of the terminal's process group: Ctrl-C reaches the parent, which stops us
    except (AttributeError, OSError):
        pass
    fd = os.open(task.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        result = grade_submission(task)
    except BaseException as err:  # a bug of the grader, not of the submission: say so, keep the traceback
        traceback.print_exc()
        result = {"status": GRADER_ERROR, "first_error": f"the grader failed: {type(err).__name__}: {_short(err)}",
                  "error": None, "notes": [], "exercises": {}, "runtime_s": None}
    atomic_write(task.result_path, json.dumps(result))
