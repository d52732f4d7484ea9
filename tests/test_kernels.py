"""The sliced kernel client: a wait is a series of short polls, so a missed wake-up cannot stall a run."""

import asyncio
import time
from queue import Empty

import nbformat
import pytest
from jupyter_client.channels import AsyncZMQSocketChannel
from nbclient import NotebookClient

from course_lib.tooling import kernels


def _channel(monkeypatch, replies):
    """A SlicedChannel whose underlying poll answers from `replies` (Empty where a poll finds nothing)."""
    calls = []

    async def fake_get_msg(self, timeout=None):
        calls.append(timeout)
        await asyncio.sleep(0)
        item = replies.pop(0) if replies else Empty
        if item is Empty:
            await asyncio.sleep(timeout or 0)
            raise Empty
        return item

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", fake_get_msg)
    return kernels.SlicedChannel.__new__(kernels.SlicedChannel), calls


def test_a_wait_without_timeout_polls_again_until_the_message_is_read(monkeypatch):
    monkeypatch.setattr(kernels, "POLL_S", 0.01)
    channel, calls = _channel(monkeypatch, [Empty, Empty, Empty, {"msg_type": "execute_reply"}])
    msg = asyncio.run(channel.get_msg())  # a plain wait with no timeout would have hung on the first miss
    assert msg == {"msg_type": "execute_reply"}
    assert calls == [0.01] * 4  # every poll is one slice


def test_a_wait_with_a_timeout_still_ends_at_its_deadline(monkeypatch):
    monkeypatch.setattr(kernels, "POLL_S", 0.05)
    channel, calls = _channel(monkeypatch, [])
    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=0.2))
    assert 0.19 < time.monotonic() - start < 0.5
    assert len(calls) >= 4 and max(calls) <= 0.05


def test_notebooks_run_with_the_sliced_kernel_manager():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 6 * 7\nprint(x)")])
    seen = []
    client = NotebookClient(nb, kernel_name="python3", timeout=60, kernel_manager_class=kernels.SlicedKernelManager,
                            on_cell_executed=lambda **kw: seen.append((type(client.kc), type(client.kc.shell_channel),
                                                                       type(client.kc.iopub_channel))))
    client.execute()
    assert seen == [(kernels.SlicedKernelClient, kernels.SlicedChannel, kernels.SlicedChannel)]
    assert nb.cells[0].outputs[0]["text"] == "42\n"


def test_papermill_hands_the_sliced_manager_to_its_client(tmp_path, monkeypatch):
    import papermill

    seen = []
    original = kernels.SlicedKernelClient.start_channels

    def spy(self, *args, **kwargs):
        seen.append(type(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(kernels.SlicedKernelClient, "start_channels", spy)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    out = papermill.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), progress_bar=False,
                                     kernel_manager_class=kernels.SlicedKernelManager)
    assert seen == [kernels.SlicedKernelClient]
    assert out.cells[0].outputs[0]["text"] == "42\n"
