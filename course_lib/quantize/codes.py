"""The exercises' functions (nearest code, straight-through, the VQ loss terms, Gumbel noise and the
Gumbel-softmax, perplexity and usage) and the two quantisers that return one type, `Quantized`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..core.validation import check_shape, choice, integer, invalid, number


# ----------------------------------------------------------------------------- the exercises' functions
def nearest_code(z: torch.Tensor, codebook: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """k = argmin_j ||z - e_j||^2 for each row of z: z (N, D), codebook (K, D) -> (N,) int64."""
    check_shape(z, "z", "(N, D)", isinstance(z, torch.Tensor) and z.ndim == 2)
    check_shape(codebook, "codebook", f"(K, {z.shape[1]})",
                isinstance(codebook, torch.Tensor) and codebook.ndim == 2 and codebook.shape[1] == z.shape[1])
    e2 = (codebook**2).sum(1)  # (K,)
    out = []
    for i in range(0, len(z), chunk):  # ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2; ||z||^2 does not change the argmin
        zc = z[i:i + chunk]
        out.append((e2[None, :] - 2 * zc @ codebook.T).argmin(dim=1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=z.device)


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """z_e + sg(z_q - z_e): equal to z_q in the forward pass, the identity's gradient to z_e in the backward."""
    if z_e.shape != z_q.shape:
        raise invalid("z_e and z_q", "tensors of one shape", f"{tuple(z_e.shape)} and {tuple(z_q.shape)}")
    return z_e + (z_q - z_e).detach()


def vq_losses(z_e: torch.Tensor, z_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codebook loss ||sg[z_e] - e||^2, commitment loss ||z_e - sg[e]||^2), each a mean over all entries.

    The codebook term moves only the codes (towards the encoder outputs assigned to them); the
    commitment term moves only the encoder (towards its codes). beta weighs the second, outside.
    """
    if z_e.shape != z_q.shape:
        raise invalid("z_e and z_q", "tensors of one shape", f"{tuple(z_e.shape)} and {tuple(z_q.shape)}")
    return F.mse_loss(z_q, z_e.detach()), F.mse_loss(z_e, z_q.detach())


def gumbel_noise(shape: tuple[int, ...], generator: torch.Generator | None = None, eps: float = 1e-10,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """g = -log(-log U), U ~ U(0, 1) clamped away from 0 and 1 so g stays finite; drawn on the CPU."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64).clamp(eps, 1 - eps)
    return (-torch.log(-torch.log(u))).to(device=device, dtype=dtype)


def gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """A relaxed one-hot sample softmax((logits + g) / tau) over the last dimension (Jang et al.; Maddison et al. 2017).

    argmax(logits + g) is an exact sample of Categorical(softmax(logits)) (the Gumbel-max trick); the
    softmax at temperature tau relaxes it, one-hot as tau -> 0. hard=True returns the one-hot of the
    argmax in the forward pass with the soft sample's gradient (straight-through).
    """
    tau = number(tau, "tau", 0.0, lo_open=True)
    g = gumbel_noise(tuple(logits.shape), generator, device=logits.device, dtype=logits.dtype)
    soft = F.softmax((logits + g) / tau, dim=-1)
    if not hard:
        return soft
    one_hot = F.one_hot(soft.argmax(dim=-1), logits.shape[-1]).to(soft.dtype)
    return one_hot + (soft - soft.detach())  # exactly one-hot forward (soft - soft is 0), the soft gradient


def code_counts(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """How often each of the num_codes codes is used in `indices` (any shape): (K,) int64."""
    integer(num_codes, "num_codes", lo=1)
    flat = indices.reshape(-1).long()
    if flat.numel() and (flat.min() < 0 or flat.max() >= num_codes):
        raise invalid("indices", f"code indices in 0..{num_codes - 1}", f"values in {flat.min().item()}..{flat.max().item()}")
    return torch.bincount(flat, minlength=num_codes)


def perplexity(indices: torch.Tensor, num_codes: int) -> float:
    """exp(H(usage)): the effective number of codes used by `indices` (measure it over a whole split)."""
    counts = code_counts(indices, num_codes).double()
    if counts.sum() == 0:
        raise invalid("indices", "at least one code index", "an empty tensor")
    p = counts / counts.sum()
    return math.exp(-(p[p > 0] * p[p > 0].log()).sum().item())


def usage(indices: torch.Tensor, num_codes: int) -> float:
    """The fraction of the codebook's codes used at least once in `indices`."""
    return (code_counts(indices, num_codes) > 0).double().mean().item()


# ----------------------------------------------------------------------------- quantisers
class Quantized(NamedTuple):
    """What every quantiser returns: z_q (with straight-through gradients), indices, its loss, and the batch's perplexity."""

    z_q: torch.Tensor
    indices: torch.Tensor
    loss: torch.Tensor
    perplexity: float


def _to_rows(z: torch.Tensor, dim: int, name: str) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(B, D, H, W) -> rows (B*H*W, D) and the shape to restore; (N, D) stays as it is."""
    if z.ndim == 2 and z.shape[1] == dim:
        return z, ()
    if z.ndim == 4 and z.shape[1] == dim:
        B, D, H, W = z.shape
        return z.permute(0, 2, 3, 1).reshape(-1, D), (B, H, W)  # (B*H*W, D)
    raise invalid(name, f"of shape (N, {dim}) or (B, {dim}, H, W)", tuple(z.shape))


def _from_rows(rows: torch.Tensor, grid: tuple[int, ...]) -> torch.Tensor:
    if not grid:
        return rows
    B, H, W = grid
    return rows.view(B, H, W, -1).permute(0, 3, 1, 2).contiguous()  # (B, D, H, W)


@dataclass(frozen=True)
class VQConfig:
    """A vector quantiser's settings.

    update: "loss" (the codebook learns from its loss term, van den Oord et al. 2017) or "ema" (each
    code is the moving average of the encoder outputs assigned to it; no codebook loss). beta: the
    commitment weight. decay: the EMA's. restart: replace codes whose average use falls below
    `dead_threshold` times the uniform share by encoder outputs of the current batch (training only).
    """

    num_codes: int = 512
    code_dim: int = 16
    beta: float = 0.25
    update: str = "ema"
    decay: float = 0.95
    restart: bool = True
    dead_threshold: float = 0.3

    def __post_init__(self) -> None:
        integer(self.num_codes, "num_codes", lo=2)
        integer(self.code_dim, "code_dim", lo=1)
        number(self.beta, "beta", 0.0)
        choice(self.update, "update", ("loss", "ema"))
        number(self.decay, "decay", 0.0, 1.0, hi_open=True)
        number(self.dead_threshold, "dead_threshold", 0.0, 1.0)


class VectorQuantizer(nn.Module):
    """Replace each encoder output by its nearest code; learn the codebook by its loss or by EMA.

    forward(z_e) -> Quantized(z_q, indices, loss, perplexity) with loss = codebook + beta * commitment
    ("loss") or beta * commitment ("ema"). The EMA update and restarts happen in training mode only:
    an evaluation pass never moves the codebook.
    """

    def __init__(self, config: VQConfig = VQConfig()):
        super().__init__()
        self.config = config
        K, D = config.num_codes, config.code_dim
        self.codebook = nn.Parameter(torch.randn(K, D) / math.sqrt(D), requires_grad=config.update == "loss")
        self.register_buffer("ema_count", torch.full((K,), 1.0 / K))
        self.register_buffer("ema_sum", self.codebook.detach().clone() / K)
        self.register_buffer("restarts", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def init_from_data(self, z: torch.Tensor, iters: int = 10, generator: torch.Generator | None = None) -> None:
        """k-means initialisation: codes start on the encoder outputs z (rows or (B, D, H, W)), then Lloyd steps."""
        rows, _ = _to_rows(z.detach(), self.config.code_dim, "z")
        K = self.config.num_codes
        pick = torch.randint(len(rows), (K,), generator=generator).to(rows.device)
        centres = rows[pick].clone() + 1e-3 * torch.randn(K, rows.shape[1], generator=generator).to(rows.device)
        for _ in range(integer(iters, "iters", lo=0)):
            k = nearest_code(rows, centres)
            counts = torch.bincount(k, minlength=K).to(rows.dtype)
            sums = torch.zeros_like(centres).index_add_(0, k, rows)
            used = counts > 0
            centres[used] = sums[used] / counts[used, None]
        self.codebook.copy_(centres)
        self.ema_sum.copy_(centres / K)
        self.ema_count.fill_(1.0 / K)

    def forward(self, z_e: torch.Tensor) -> Quantized:
        cfg = self.config
        rows, grid = _to_rows(z_e, cfg.code_dim, "z_e")
        indices = nearest_code(rows.detach(), self.codebook.detach())  # 1. nearest code of each vector
        if self.training and cfg.update == "ema":
            self._ema_update(rows.detach(), indices)  # 2. move the codes (EMA), restart dead ones
        z_q = self.codebook[indices]  # (N, D)
        codebook_loss, commitment = vq_losses(rows, z_q)  # 3. the two terms, each moving one side
        loss = cfg.beta * commitment + (codebook_loss if cfg.update == "loss" else 0.0)
        out = straight_through(rows, z_q)  # 4. the decoder sees z_q; the encoder gets the decoder's gradient
        return Quantized(_from_rows(out, grid), indices.view(grid) if grid else indices, loss,
                         perplexity(indices, cfg.num_codes))

    @torch.no_grad()
    def _ema_update(self, rows: torch.Tensor, indices: torch.Tensor) -> None:
        cfg = self.config
        K = cfg.num_codes
        one_hot_counts = torch.bincount(indices, minlength=K).to(rows.dtype)  # n_k
        sums = torch.zeros(K, rows.shape[1], dtype=rows.dtype, device=rows.device).index_add_(0, indices, rows)
        self.ema_count.mul_(cfg.decay).add_(one_hot_counts / len(rows), alpha=1 - cfg.decay)  # share of use
        self.ema_sum.mul_(cfg.decay).add_(sums / len(rows), alpha=1 - cfg.decay)
        used = self.ema_count > 1e-12
        self.codebook.data[used] = self.ema_sum[used] / self.ema_count[used, None]  # e_k = m_k / N_k
        if cfg.restart:
            dead = (self.ema_count < cfg.dead_threshold / K).nonzero().flatten()
            if len(dead):
                pick = torch.randint(len(rows), (len(dead),), device=rows.device)
                self.codebook.data[dead] = rows[pick]
                self.ema_sum[dead] = rows[pick] / K
                self.ema_count[dead] = 1.0 / K
                self.restarts += len(dead)


class GumbelQuantizer(nn.Module):
    """A categorical choice among num_codes codes from logits (B, K, H, W) or (N, K), relaxed with the Gumbel-softmax.

    In training the weights are gumbel_softmax(logits, tau, hard) and z_q = weights @ codebook; in eval
    mode the choice is the argmax (hard, deterministic). loss = KL(q || uniform) per position, a mean
    (the prior's term of the ELBO; weight it outside).
    """

    def __init__(self, num_codes: int, code_dim: int, tau: float = 1.0, hard: bool = True):
        super().__init__()
        self.num_codes, self.code_dim = integer(num_codes, "num_codes", lo=2), integer(code_dim, "code_dim", lo=1)
        self.tau = number(tau, "tau", 0.0, lo_open=True)
        self.hard = bool(hard)
        self.codebook = nn.Parameter(torch.randn(num_codes, code_dim) / math.sqrt(code_dim))

    def forward(self, logits: torch.Tensor, generator: torch.Generator | None = None) -> Quantized:
        rows, grid = _to_rows(logits, self.num_codes, "logits")
        if self.training:
            weights = gumbel_softmax(rows, self.tau, self.hard, generator)  # (N, K)
        else:
            weights = F.one_hot(rows.argmax(dim=1), self.num_codes).to(rows.dtype)
        indices = weights.argmax(dim=1)
        z_q = weights @ self.codebook  # (N, D)
        log_q = F.log_softmax(rows, dim=1)
        kl = (log_q.exp() * (log_q + math.log(self.num_codes))).sum(dim=1).mean()  # KL(q || uniform)
        return Quantized(_from_rows(z_q, grid), indices.view(grid) if grid else indices, kl,
                         perplexity(indices, self.num_codes))
