"""Flows on discrete data and their training: uniform dequantisation, the bound in nats per example,
importance weighting, and a trainer that keeps the best validation epoch."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..core.devices import model_device
from ..core.validation import check_shape, integer, invalid, number
from ..training import History, fit
from .model import Flow


# ----------------------------------------------------------------------------- discrete data
def dequantize(levels: torch.Tensor, num_levels: int, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform dequantisation: y = (levels + u) / num_levels, u ~ U[0, 1) per pixel; returns (y, log_det).

    y lies in [0, 1). log_det = -D log(num_levels) per example is log|det dy/dv| for v = levels + u,
    the Jacobian that keeps a density on y in the units of the grey levels:
    log p(v) = log p_y(y) - D log(num_levels).

    Args:
        levels: (B, D) integer grey levels in 0..num_levels-1.
        generator: draws u (on the CPU).
    """
    integer(num_levels, "num_levels", lo=2)
    check_shape(levels, "levels", "(B, D)", isinstance(levels, torch.Tensor) and levels.ndim == 2)
    if levels.is_floating_point() and not torch.equal(levels, levels.round()):
        raise invalid("levels", "integer grey levels (to_grey_levels gives them)", "non-integer values")
    if levels.numel() and (levels.min() < 0 or levels.max() > num_levels - 1):
        raise invalid("levels", f"grey levels in 0..{num_levels - 1}", f"values in {levels.min().item()}..{levels.max().item()}")
    u = torch.rand(levels.shape, generator=generator).to(levels.device)
    y = (levels.float() + u) / num_levels
    return y, torch.full((levels.shape[0],), -levels.shape[1] * math.log(num_levels), device=levels.device)


def dequantized_nll(log_prob: Callable[[torch.Tensor], torch.Tensor], levels: torch.Tensor, num_levels: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw of the dequantisation bound -log P(levels) <= E_u[-log p(levels + u)], in nats per example (B,).

    Args:
        log_prob: the model's log-density of y = (levels + u) / num_levels in [0, 1)^D, (B, D) -> (B,).
        levels: (B, D) integer grey levels.
    """
    y, log_det = dequantize(levels, num_levels, generator)
    return -(log_prob(y) + log_det)


def importance_weighted_nll(log_prob: Callable[[torch.Tensor], torch.Tensor], levels: torch.Tensor, num_levels: int,
                            k: int = 10, generator: torch.Generator | None = None) -> torch.Tensor:
    """The K-draw bound -log (1/K sum_k p(levels + u_k)), tighter than one draw and still valid; (B,) nats."""
    integer(k, "k", lo=1)
    nll = torch.stack([dequantized_nll(log_prob, levels, num_levels, generator) for _ in range(k)])  # (K, B)
    return -(torch.logsumexp(-nll, dim=0) - math.log(k))


@torch.no_grad()
def evaluate_nll(flow: Flow, levels: torch.Tensor, num_levels: int, draws: int = 10, k: int = 1,
                 seed: int = 0, batch_size: int = 512) -> float:
    """The mean over `draws` of the K-draw dequantisation bound, in nats per example, in eval mode."""
    was = flow.training
    flow.eval()
    g = torch.Generator().manual_seed(seed)
    device = model_device(flow)
    total = 0.0
    for _ in range(integer(draws, "draws", lo=1)):
        for i in range(0, len(levels), batch_size):
            batch = levels[i:i + batch_size].to(device)
            total += importance_weighted_nll(flow.log_prob, batch, num_levels, k, g).sum().item()
    flow.train(was)
    return total / (draws * len(levels))


def samples_to_levels(y: torch.Tensor, num_levels: int) -> torch.Tensor:
    """Samples y in [0, 1) of a dequantised model back to grey levels floor(num_levels * y), clamped."""
    return torch.floor(y * num_levels).clamp(0, num_levels - 1).long()


# ----------------------------------------------------------------------------- training
@dataclass(frozen=True)
class FlowConfig:
    """How to fit a flow by maximum likelihood.

    num_levels: None for continuous data (2-D points: loss -log p(x)); for grey levels, the loss is one
    draw of the dequantisation bound in nats. The weights of the best validation epoch are kept
    (early stopping: flows on small data overfit).
    """

    epochs: int = 80
    batch_size: int = 64
    lr: float = 3e-4
    num_levels: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        integer(self.epochs, "epochs", lo=1)
        integer(self.batch_size, "batch_size", lo=1)
        number(self.lr, "lr", 0.0, lo_open=True)
        if self.num_levels is not None:
            integer(self.num_levels, "num_levels", lo=2)


LogProb = Callable[[Flow, torch.Tensor], torch.Tensor]  # (flow, x (B, D)) -> log p(x) (B,)


def flow_loss(config: FlowConfig, log_prob: LogProb | None = None, nll: Callable = dequantized_nll
              ) -> Callable[[Flow, torch.Tensor], torch.Tensor]:
    """The training loss of `config`: mean -log p(x), or the mean one-draw dequantisation bound.

    log_prob(flow, x) and nll(log_prob, levels, num_levels) replace the library's (e.g. by a student's).
    """
    lp = log_prob if log_prob is not None else (lambda flow, x: flow.log_prob(x))
    if config.num_levels is None:
        return lambda flow, x: -lp(flow, x).mean()
    return lambda flow, levels: nll(lambda y: lp(flow, y), levels, config.num_levels).mean()


def train_flow(flow: Flow, train_data: torch.Tensor, val_data: torch.Tensor | None = None,
               config: FlowConfig = FlowConfig(), device: str | torch.device = "auto", progress: bool = True,
               desc: str = "flow", log_prob: LogProb | None = None, nll: Callable = dequantized_nll) -> History:
    """Fit `flow` with Adam; with `val_data`, restore the weights of the best validation epoch.

    log_prob, nll: as in `flow_loss`. History gains `best_epoch` (counted from 1; None without validation data).
    """
    best: dict = {"loss": math.inf, "state": None, "epoch": None}

    def keep_best(model: nn.Module, epoch: int, loss: float) -> None:
        if val_data is not None and loss < best["loss"]:
            best.update(loss=loss, state=copy.deepcopy(model.state_dict()), epoch=epoch)

    history = fit(flow, flow_loss(config, log_prob, nll), train_data, epochs=config.epochs, batch_size=config.batch_size,
                  lr=config.lr, val_data=val_data, seed=config.seed, device=device, progress=progress, desc=desc,
                  on_epoch=keep_best)
    if best["state"] is not None:
        flow.load_state_dict(best["state"])
    flow.eval()
    history.best_epoch = best["epoch"]
    return history
