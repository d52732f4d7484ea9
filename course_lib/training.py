"""One generic training loop: seeded, device-agnostic, with a live progress bar and a history."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

try:
    from tqdm.notebook import tqdm as _notebook_tqdm
except ImportError:  # pragma: no cover - ipywidgets is a dependency
    _notebook_tqdm = None

LossFn = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def fast_mode() -> bool:
    """True when `COURSE_FAST=1` asks for tiny training runs (tests, grading)."""
    return os.environ.get("COURSE_FAST", "0").strip() not in ("", "0", "false", "False")


def fast(value, fast_value):
    """Return `fast_value` under `COURSE_FAST=1`, else `value` (the lesson's real setting)."""
    return fast_value if fast_mode() else value


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a torch.Generator seeded the same."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn "auto" into cuda when available (else cpu); check an explicit device name.

    Args:
        device: "auto", "cpu", "cuda", "cuda:N", "mps" or a torch.device.
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but no CUDA GPU is available here; use DEVICE='auto' or 'cpu'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} asked for, but MPS is not available here; use DEVICE='auto' or 'cpu'")
    return dev


@dataclass
class History:
    """Losses recorded by `fit`: one mean per epoch (train and validation) and one per step."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.train_loss)


Data = torch.Tensor | tuple[torch.Tensor, ...]


def _check_data(data, name: str) -> int:
    """Number of examples in a tensor (N, ...) or a tuple of tensors sharing N; clear error otherwise."""
    parts = data if isinstance(data, tuple) else (data,)
    if not parts or not all(isinstance(t, torch.Tensor) and t.ndim >= 1 for t in parts):
        got = type(data).__name__ if not isinstance(data, tuple) else f"tuple of {[type(t).__name__ for t in parts]}"
        raise ValueError(f"{name} must be a non-empty tensor (N, ...) or a tuple of such tensors, got {got}")
    sizes = {t.shape[0] for t in parts}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"{name}'s tensors must share a non-zero first dimension, got sizes {[t.shape[0] for t in parts]}")
    return sizes.pop()


def _take(data: Data, idx: torch.Tensor, device=None) -> Data:
    if isinstance(data, tuple):
        return tuple(t[idx].to(device) if device is not None else t[idx] for t in data)
    return data[idx].to(device) if device is not None else data[idx]


def _batches(data: Data, batch_size: int, generator: torch.Generator | None, device=None) -> list[Data]:
    """Split data (a tensor or a tuple of tensors) into batches, shuffled by `generator` (in order when None)."""
    n = _check_data(data, "data")
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return [_take(data, order[i : i + batch_size], device) for i in range(0, n, batch_size)]


class ProgressBar:
    """tqdm.auto's bar (a live widget in notebooks, text elsewhere).

    In a notebook the bar's display is updated when it closes, so an executed notebook stores the
    final bar ("100% ... loss=...") rather than the text it had when first shown ("0%").
    """

    def __init__(self, total: int, desc: str, disable: bool = False):
        self._handle = None
        in_notebook = _notebook_tqdm is not None and isinstance(tqdm, type) and issubclass(tqdm, _notebook_tqdm)
        if in_notebook and not disable:
            from IPython.display import display

            self.bar = tqdm(total=total, desc=desc, leave=True, display=False)
            self._handle = display(self.bar.container, display_id=True)
        else:
            self.bar = tqdm(total=total, desc=desc, disable=disable, leave=True)

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    def set_postfix(self, postfix: dict) -> None:
        self.bar.set_postfix(postfix)

    def close(self) -> None:
        final = str(self.bar)  # the formatted meter: "desc: 100%|###| n/n [time, loss=...]"
        self.bar.close()
        if self._handle is not None:
            view = {"model_id": self.bar.container.model_id, "version_major": 2, "version_minor": 0}
            self._handle.update({"application/vnd.jupyter.widget-view+json": view, "text/plain": final}, raw=True)


class EMA:
    """Exponential moving average of a model's weights: ema = decay * ema + (1 - decay) * weights.

    Sampling from the averaged weights gives visibly cleaner diffusion samples than the last
    iterate. Call it after each optimizer step (`fit(..., on_step=ema)`); `ema.model` is the
    averaged copy (in eval mode, no gradients).

    Args:
        model: the network being trained. decay: in [0, 1). warmup: for the first steps use
            min(decay, (1 + step) / (10 + step)) so early weights do not linger.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        import copy

        self.decay, self.warmup = decay, warmup
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def __call__(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay
        device = next(model.parameters()).device
        if next(self.model.parameters()).device != device:  # fit() moved the model after we copied it
            self.model.to(device)
        for e, p in zip(self.model.parameters(), model.parameters()):
            e.lerp_(p, 1 - d)  # e = d * e + (1 - d) * p
        for e, b in zip(self.model.buffers(), model.buffers()):
            e.copy_(b)


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: LossFn, data: torch.Tensor, batch_size: int = 512) -> float:
    """Mean of `loss_fn` over `data` (batch means weighted by batch size), model in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    n, total = _check_data(data, "data"), 0.0
    for batch in _batches(data, batch_size, None, device):
        total += float(loss_fn(model, batch)) * _check_data(batch, "batch")
    model.train(was_training)
    return total / n


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train_data: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    val_data: torch.Tensor | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: bool = True,
    desc: str = "training",
    on_epoch: Callable[[nn.Module, int, float], None] | None = None,
    on_step: Callable[[nn.Module, int], None] | None = None,
) -> History:
    """Train `model` by minibatch gradient descent on `loss_fn(model, batch)`; return the History.

    Args:
        model: the network; moved to `device`.
        loss_fn: maps (model, batch (B, ...)) to a scalar loss tensor to minimise.
        train_data: tensor (N, ...) of training examples, or a tuple of tensors sharing N (e.g.
            images and labels: loss_fn then gets a tuple batch); shuffled each epoch from `seed`.
        epochs, batch_size, lr: the usual; `lr` is used only when no `optimizer` is given (Adam).
        val_data: optional tensor (M, ...) or tuple, evaluated at the end of each epoch.
        seed: seeds the shuffling (and the global RNGs, so noise drawn in loss_fn is reproducible).
        device: "auto" (cuda when available), "cpu", "cuda", ...
        on_epoch: optional callback(model, epoch, loss) after each epoch, with the validation loss
            (the training loss without val_data); e.g. to keep the best weights.
    """
    n = _check_data(train_data, "train_data")
    if val_data is not None:
        _check_data(val_data, "val_data")
    if not isinstance(epochs, int) or epochs < 1 or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be positive ints, got epochs={epochs!r} batch_size={batch_size!r}")
    dev = resolve_device(device)
    generator = seed_everything(seed)
    model.to(dev).train()
    opt = optimizer if optimizer is not None else torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    start = time.perf_counter()
    steps_per_epoch = -(-n // batch_size)
    bar = ProgressBar(epochs * steps_per_epoch, desc, disable=not progress)
    for _ in range(epochs):
        total = 0.0
        for batch in _batches(train_data, batch_size, generator, dev):
            # 1. forward: the loss of this batch
            loss = loss_fn(model, batch)
            if loss.ndim != 0:
                raise ValueError(f"loss_fn must return a scalar tensor, got shape {tuple(loss.shape)}")
            # 2. backward and step
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if on_step is not None:
                on_step(model, len(history.step_loss) + 1)
            loss_value = loss.item()
            history.step_loss.append(loss_value)
            total += loss_value * _check_data(batch, "batch")
            bar.update(1)
        history.train_loss.append(total / n)
        # 3. end of epoch: validation and the live figures on the bar
        postfix = {"loss": f"{history.train_loss[-1]:.4g}"}
        if val_data is not None:
            history.val_loss.append(evaluate(model, loss_fn, val_data))
            postfix["val"] = f"{history.val_loss[-1]:.4g}"
        bar.set_postfix(postfix)
        if on_epoch is not None:
            on_epoch(model, history.epochs, history.val_loss[-1] if val_data is not None else history.train_loss[-1])
    bar.close()
    model.eval()
    history.seconds = time.perf_counter() - start
    return history
