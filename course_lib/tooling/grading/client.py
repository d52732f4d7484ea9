"""The worker's side of a kernel: an nbclient client with limits, and a watchdog on the kernel's memory.

KernelClient runs one request at a time with a time limit of its own (`arm`), interrupts the kernel
past it, finishes a request whose reply was lost, caps the output kept per cell and per notebook,
and notices at once when the kernel's process is gone. Watchdog stops a kernel over its memory limit.
"""

from __future__ import annotations

import json
import math
import threading
import time
from queue import Empty

from jupyter_core.utils import ensure_async, run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from .system import kill_kernel

POLL_S = 0.1  # how often the watchdog looks at the kernel's memory
REPLY_POLL_S = 5  # while a cell runs, look this often whether it is over its limit, or done with its reply lost


def _size(content: dict) -> int:
    """Rough size in bytes of one output message."""
    size = len(content.get("text", "")) + sum(len(line) for line in content.get("traceback", []))
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(json.dumps(value, default=str))
    return size


class KernelClient(NotebookClient):
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


def rss_mb(pid: int) -> float | None:
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


class Watchdog(threading.Thread):
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
            rss = rss_mb(pid) if pid is not None else None
            if rss is not None and rss > self.limit:
                self.reason, self.pid = (f"the kernel used {rss:.0f} MB of memory, over the {self.limit} MB limit "
                                         "(--memory-limit), and was stopped"), None
                kill_kernel(pid)
