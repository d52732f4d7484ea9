"""A kernel manager whose clients wait for messages in short polls, so a missed wake-up cannot stall a run.

Seen here (2026-12-02): papermill waited forever on a cell after a widget cell while the kernel sat
idle, its reply sent (nbclient issue 312 reports the same). The asyncio side of a zmq socket can
miss the wake-up of a message that has arrived; a wait with no timeout then never ends. Each poll
here ends after at most POLL_S seconds with a synchronous look at the socket (what pyzmq does when a
poll times out), so a message that arrived is read within POLL_S, and a wait with a timeout still
ends at its deadline. `course build --execute`, `course run` and the benchmarks run notebooks with
`SlicedKernelManager`; the grader has its own watch for replies that never come (grading/client.py).

Imported lazily: the `course` command starts without jupyter_client.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Type

POLL_S = 1.0


class SlicedChannel(AsyncZMQSocketChannel):
    """get_msg as a series of polls of at most POLL_S seconds, up to the caller's timeout (None: for ever)."""

    async def get_msg(self, timeout: float | None = None) -> dict:  # type: ignore[override]
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_S if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await super().get_msg(timeout=min(POLL_S, left))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedKernelClient(AsyncKernelClient):
    """An async kernel client whose shell and iopub channels poll in slices."""

    shell_channel_class = Type(SlicedChannel)  # type: ignore[assignment]
    iopub_channel_class = Type(SlicedChannel)  # type: ignore[assignment]


class SlicedKernelManager(AsyncKernelManager):
    """Pass as `kernel_manager_class` to nbclient or papermill."""

    client_class = DottedObjectName("course_lib.tooling.kernels.SlicedKernelClient")
    client_factory = Type(SlicedKernelClient)  # what client() builds (setting client_class alone does not change it)
