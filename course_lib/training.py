"""Training loops: seeded, device-agnostic, with a live progress bar and a history of named series.

Reads top-down: seeding and devices -> the history -> batches -> the progress bar -> `train`, the
one loop over a step function -> `fit` (one model, one optimiser, a loss) and `fit_adversarial`
(a generator and a critic, two optimisers, n critic steps per generator step), both built on it ->
`EMA` and `evaluate`.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .core.devices import model_device, resolve_device
from .core.env import fast, fast_mode
from .core.validation import integer, number

try:
    from tqdm.notebook import tqdm as _notebook_tqdm
except ImportError:  # pragma: no cover - ipywidgets is a dependency
    _notebook_tqdm = None

__all__ = [
    "EMA", "History", "ProgressBar", "evaluate", "fast", "fast_mode", "fit", "fit_adversarial", "resolve_device",
    "seed_everything", "train",
]

Data = torch.Tensor | tuple[torch.Tensor, ...]
LossFn = Callable[[nn.Module, Data], torch.Tensor]
Step = Callable[[Data, int], dict[str, float]]  # (batch on the device, step number from 1) -> named values


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a torch.Generator seeded the same."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- history
@dataclass
class History:
    """What a training loop recorded.

    Attributes:
        train_loss, val_loss: `fit`'s loss, one mean per epoch (val_loss empty without validation data).
        step_loss: `fit`'s loss at every step.
        seconds: wall-clock time of the run.
        epoch: every named series, one mean per epoch (e.g. "critic_loss", "generator_loss", "val_loss").
        step: every named series at the steps where it was recorded.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    epoch: dict[str, list[float]] = field(default_factory=dict)
    step: dict[str, list[float]] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return max((len(v) for v in self.epoch.values()), default=len(self.train_loss))

    def record_step(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.step.setdefault(name, []).append(float(value))

    def record_epoch(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.epoch.setdefault(name, []).append(float(value))


# ----------------------------------------------------------------------------- batches
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


# ----------------------------------------------------------------------------- progress
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


# ----------------------------------------------------------------------------- the loop
def train(
    step: Step,
    train_data: Data,
    modules: Sequence[nn.Module],
    *,
    epochs: int,
    batch_size: int = 64,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: bool = True,
    desc: str = "training",
    validate: Callable[[], dict[str, float]] | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    shown: Sequence[str] | None = None,
) -> History:
    """The loop every trainer shares: seed, move the modules, run `step` on each batch, record, report.

    Args:
        step: step(batch, i) does one update on a batch (already on the device; i counts steps from 1)
            and returns named values to record, e.g. {"loss": 0.31}.
        train_data: tensor (N, ...) or tuple of tensors sharing N; shuffled each epoch from `seed`.
        modules: the networks to move to `device`, put in train mode, and leave in eval mode.
        epochs, batch_size: the usual. seed: seeds the shuffling and the global RNGs.
        device: "auto" (CUDA, then MPS, then the CPU), "cpu", "cuda", ...
        validate: optional, called at the end of each epoch; returns more named values (e.g. {"val_loss": v}).
        on_step: optional callback(i, values) after each step; on_epoch: callback(epoch, epoch means).
        shown: the names shown on the progress bar (default: all).
    Returns:
        a History whose `epoch` and `step` hold every named series.
    """
    n = _check_data(train_data, "train_data")
    epochs, batch_size = integer(epochs, "epochs", lo=1), integer(batch_size, "batch_size", lo=1)
    dev = resolve_device(device)
    generator = seed_everything(seed)
    for m in modules:
        m.to(dev).train()
    history = History()
    start = time.perf_counter()
    bar = ProgressBar(epochs * -(-n // batch_size), desc, disable=not progress)
    i = 0
    for epoch in range(1, epochs + 1):
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for batch in _batches(train_data, batch_size, generator, dev):
            # 1. one update on this batch
            i += 1
            values = step(batch, i)
            # 2. record every named value, weighted by the batch size for the epoch means
            history.record_step(values)
            size = _check_data(batch, "batch")
            for name, value in values.items():
                sums[name] = sums.get(name, 0.0) + float(value) * size
                counts[name] = counts.get(name, 0) + size
            if on_step is not None:
                on_step(i, values)
            bar.update(1)
        # 3. end of epoch: the means, validation, the live figures on the bar
        means = {name: sums[name] / counts[name] for name in sums}
        if validate is not None:
            means.update(validate())
        history.record_epoch(means)
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items() if shown is None or k in shown})
        if on_epoch is not None:
            on_epoch(epoch, means)
    bar.close()
    for m in modules:
        m.eval()
    history.seconds = time.perf_counter() - start
    return history


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: LossFn, data: Data, batch_size: int = 512) -> float:
    """Mean of `loss_fn` over `data` (batch means weighted by batch size), model in eval mode."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    n, total = _check_data(data, "data"), 0.0
    for batch in _batches(data, batch_size, None, device):
        total += float(loss_fn(model, batch)) * _check_data(batch, "batch")
    model.train(was_training)
    return total / n


def _scalar(loss: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"{name} must return a scalar tensor, got {got}")
    return loss


def _update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """Backward and step: zero the gradients first, so one player's loss never moves the other's step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


# ----------------------------------------------------------------------------- one model
def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train_data: Data,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    val_data: Data | None = None,
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
        device: "auto" (CUDA, then MPS, then the CPU), "cpu", "cuda", ...
        on_epoch: optional callback(model, epoch, loss) after each epoch, with the validation loss
            (the training loss without val_data); e.g. to keep the best weights.
        on_step: optional callback(model, step) after each optimiser step, e.g. an `EMA`.
    """
    _check_data(train_data, "train_data")
    if val_data is not None:
        _check_data(val_data, "val_data")
    opt = optimizer if optimizer is not None else torch.optim.Adam(model.parameters(), lr=lr)

    def step(batch: Data, i: int) -> dict[str, float]:
        loss = _scalar(loss_fn(model, batch), "loss_fn")  # 1. forward: the loss of this batch
        _update(opt, loss)  # 2. backward and step
        return {"loss": loss.item()}

    def validate() -> dict[str, float]:
        return {"val_loss": evaluate(model, loss_fn, val_data)}

    def after_epoch(epoch: int, means: dict[str, float]) -> None:
        if on_epoch is not None:
            on_epoch(model, epoch, means["val_loss" if val_data is not None else "loss"])

    history = train(
        step, train_data, [model], epochs=epochs, batch_size=batch_size, seed=seed, device=device, progress=progress,
        desc=desc, validate=validate if val_data is not None else None, on_epoch=after_epoch,
        on_step=(lambda i, values: on_step(model, i)) if on_step is not None else None,
    )
    history.train_loss = history.epoch["loss"]
    history.val_loss = history.epoch.get("val_loss", [])
    history.step_loss = history.step["loss"]
    return history


# ----------------------------------------------------------------------------- two players
AdversarialLoss = Callable[[nn.Module, nn.Module, Data], torch.Tensor]  # (generator, critic, real batch) -> scalar


def fit_adversarial(
    generator: nn.Module,
    critic: nn.Module,
    generator_loss: AdversarialLoss,
    critic_loss: AdversarialLoss,
    train_data: Data,
    *,
    epochs: int,
    batch_size: int = 64,
    n_critic: int = 1,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    generator_optimizer: torch.optim.Optimizer | None = None,
    critic_optimizer: torch.optim.Optimizer | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: bool = True,
    desc: str = "training",
    on_step: Callable[[nn.Module, int], None] | None = None,
    on_epoch: Callable[[nn.Module, int, dict[str, float]], None] | None = None,
) -> History:
    """Train a generator against a critic (GAN, WGAN-GP): the critic steps on every batch, the generator on every n_critic-th.

    Both losses are functions of (generator, critic, real batch) returning a scalar to *minimise*:
    the critic's, e.g. -(log D(x) + log(1 - D(G(z)))) or a Wasserstein critic loss with its penalty;
    the generator's, e.g. the non-saturating -log D(G(z)). They draw their own noise z (the global
    RNG is seeded from `seed`) and take what they need from the batch (its size, or its labels).

    Args:
        generator, critic: the two networks; moved to `device`.
        train_data: real examples (N, ...), or a tuple (images, labels) for a conditional GAN.
        n_critic: critic steps per generator step (5 in WGAN-GP).
        lr, betas: of the two Adam optimisers made when none is given ((0, 0.9) in WGAN-GP).
        on_step: optional callback(generator, step) after each generator step, e.g. an `EMA`.
        on_epoch: optional callback(generator, epoch, epoch means).
    Returns:
        a History with the series "critic_loss" (every step) and "generator_loss" (every n_critic-th).
    """
    n_critic = integer(n_critic, "n_critic", lo=1, hint=" (critic steps per generator step)")
    g_opt = generator_optimizer or torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    d_opt = critic_optimizer or torch.optim.Adam(critic.parameters(), lr=lr, betas=betas)
    g_steps = 0

    def step(batch: Data, i: int) -> dict[str, float]:
        nonlocal g_steps
        # 1. the critic: one step on every batch
        d_loss = _scalar(critic_loss(generator, critic, batch), "critic_loss")
        _update(d_opt, d_loss)
        values = {"critic_loss": d_loss.item()}
        # 2. the generator: one step every n_critic batches, against the updated critic
        if i % n_critic == 0:
            g_loss = _scalar(generator_loss(generator, critic, batch), "generator_loss")
            _update(g_opt, g_loss)
            g_steps += 1
            values["generator_loss"] = g_loss.item()
            if on_step is not None:
                on_step(generator, g_steps)
        return values

    return train(
        step, train_data, [generator, critic], epochs=epochs, batch_size=batch_size, seed=seed, device=device,
        progress=progress, desc=desc,
        on_epoch=(lambda epoch, means: on_epoch(generator, epoch, means)) if on_epoch is not None else None,
    )


# ----------------------------------------------------------------------------- weight averaging
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
        self.decay = number(decay, "decay", lo=0, hi=1, hi_open=True)
        self.warmup = warmup
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def __call__(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay
        device = model_device(model)
        if model_device(self.model) != device:  # fit() moved the model after we copied it
            self.model.to(device)
        for e, p in zip(self.model.parameters(), model.parameters()):
            e.lerp_(p, 1 - d)  # e = d * e + (1 - d) * p
        for e, b in zip(self.model.buffers(), model.buffers()):
            e.copy_(b)
