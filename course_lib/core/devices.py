"""Devices: where a model lives, what DEVICE = "auto" means on this machine, and CPU threads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn "auto" into the best device here (CUDA, then Apple's MPS, then the CPU); check an explicit name.

    Args:
        device: "auto", "cpu", "cuda", "cuda:N", "mps" or a torch.device.
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but no CUDA GPU is available here; use DEVICE='auto' or 'cpu'")
    if dev.type == "mps" and not _mps_available():
        raise ValueError(f"device {device!r} asked for, but MPS is not available here; use DEVICE='auto' or 'cpu'")
    return dev


def model_device(model: object, default: str | torch.device = "cpu") -> torch.device:
    """The device of a model's first parameter (or buffer); `default` for a model with neither or a plain function.

    Args:
        model: an nn.Module, or any callable standing in for one (an exact oracle, a student's function).
        default: where such a stand-in runs.
    """
    if isinstance(model, nn.Module):
        for tensor in model.parameters():
            return tensor.device
        for tensor in model.buffers():
            return tensor.device
    return torch.device(default)


def model_dtype(model: object, default: torch.dtype | None = None) -> torch.dtype:
    """The floating dtype of a model's first floating parameter (or buffer); else `default` (torch's default dtype)."""
    if isinstance(model, nn.Module):
        for tensor in (*model.parameters(), *model.buffers()):
            if tensor.is_floating_point():
                return tensor.dtype
    return default if default is not None else torch.get_default_dtype()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one CPU thread, then restore the count.

    For small tensors (checks, the metric classifier): one thread gives a fixed reduction order, so the
    same numbers every time, and no thread overhead, which on a busy machine can cost ten times the work.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
