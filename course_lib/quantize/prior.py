"""Autoregressive models over the tokens (PixelCNN's masks, a small transformer prior) and the
likelihood bounds on lesson 02's scale."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.validation import check_shape, choice, integer, invalid, number
from ..training import History, fit
from .codes import gumbel_noise
from .model import VQVAE


# ----------------------------------------------------------------------------- a prior over the tokens
def pixelcnn_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """PixelCNN's (van den Oord et al. 2016) mask of a k x k convolution, raster order: 1 where the kernel may look.

    Type "A" (first layer) hides the centre pixel itself; type "B" (later layers) lets it through,
    since by then the centre's features depend only on pixels before it.
    """
    k = integer(kernel_size, "kernel_size", lo=1)
    if k % 2 == 0:
        raise invalid("kernel_size", "an odd size (the centre is the pixel predicted)", k)
    choice(mask_type, "mask_type", ("A", "B"))
    m = torch.ones(k, k)
    c = k // 2
    m[c, c + (1 if mask_type == "B" else 0):] = 0  # the centre row from the centre (A) or after it (B)
    m[c + 1:] = 0  # every row below
    return m


class TokenPrior(nn.Module):
    """An autoregressive prior over a grid of L code indices in raster order: p(k) = prod_i p(k_i | k_<i).

    A small causal transformer: token and position embeddings, `depth` pre-norm blocks with a causal
    mask, a head to num_codes logits; position i reads [BOS, k_1, ..., k_{i-1}]. Sampling takes L
    passes, one token at a time (why autoregressive models sample slowly).

    codebook: optional (K, D) code vectors to tie the prior to. A token then enters as a linear map of
    its code vector, and the head scores code k by u . e_k + b_k: codes that decode alike are read and
    predicted alike, which is what lets 1,000 digits teach a prior over 512 codes.
    """

    def __init__(self, num_codes: int, length: int, width: int = 64, depth: int = 2, heads: int = 4,
                 dropout: float = 0.5, codebook: torch.Tensor | None = None):
        super().__init__()
        self.num_codes, self.length = integer(num_codes, "num_codes", lo=2), integer(length, "length", lo=1)
        integer(width, "width", lo=1)
        if width % integer(heads, "heads", lo=1):
            raise invalid("width", f"a multiple of heads = {heads}", width)
        number(dropout, "dropout", 0.0, 1.0, hi_open=True)
        if codebook is None:
            self.tokens = nn.Embedding(num_codes + 1, width)  # the last index is BOS
            self.head = nn.Linear(width, num_codes)
        else:
            check_shape(codebook, "codebook", f"({num_codes}, D)",
                        isinstance(codebook, torch.Tensor) and codebook.ndim == 2 and len(codebook) == num_codes)
            self.register_buffer("codebook", codebook.detach().clone())
            self.read = nn.Linear(codebook.shape[1], width)
            self.bos = nn.Parameter(torch.zeros(1, width))
            self.write = nn.Linear(width, codebook.shape[1])
            self.bias = nn.Parameter(torch.zeros(num_codes))
        self.positions = nn.Parameter(torch.zeros(length, width))
        block = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.register_buffer("causal", torch.triu(torch.full((length, length), float("-inf")), diagonal=1))

    def _embed(self, k: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "codebook"):
            return self.tokens(k)
        table = torch.cat([self.read(self.codebook), self.bos])  # (K + 1, width): BOS last
        return table[k]

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "codebook"):
            return self.head(h)
        return self.write(h) @ self.codebook.T + self.bias  # (B, L, K): u . e_k + b_k

    def _flat(self, indices: torch.Tensor) -> torch.Tensor:
        flat = indices.reshape(indices.shape[0], -1).long()
        check_shape(indices, "indices", f"(B, {self.length}) or a (B, h, w) grid of {self.length} codes",
                    flat.shape[1] == self.length)
        return flat

    def logits(self, indices: torch.Tensor) -> torch.Tensor:
        """Logits (B, L, num_codes) of each position given the ones before it."""
        k = self._flat(indices)
        B, L = k.shape
        bos = torch.full((B, 1), self.num_codes, dtype=torch.long, device=k.device)
        inp = torch.cat([bos, k[:, :-1]], dim=1)  # (B, L): shifted right
        h = self._embed(inp) + self.positions[:L]  # (B, L, width)
        h = self.blocks(h, mask=self.causal[:L, :L])
        return self._head(self.norm(h))

    def log_prob(self, indices: torch.Tensor) -> torch.Tensor:
        """log p(k) in nats per grid (B,)."""
        k = self._flat(indices)
        logp = F.log_softmax(self.logits(k), dim=-1)
        return logp.gather(-1, k[..., None]).squeeze(-1).sum(dim=1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """n grids of codes (n, L), one position per pass, each drawn with the Gumbel-max trick."""
        integer(n, "n", lo=1)
        number(temperature, "temperature", 0.0, lo_open=True)
        device = self.positions.device
        k = torch.zeros(n, self.length, dtype=torch.long, device=device)
        for i in range(self.length):  # L passes: position i needs the tokens before it
            logits = self.logits(k)[:, i] / temperature
            g = gumbel_noise(tuple(logits.shape), generator, device=device, dtype=logits.dtype)
            k[:, i] = (logits + g).argmax(dim=-1)
        return k


def prior_loss(prior: TokenPrior, indices: torch.Tensor) -> torch.Tensor:
    """The prior's training loss: the mean over the batch of -log p(k) in nats per grid."""
    if isinstance(indices, (tuple, list)):
        indices = indices[0]
    return -prior.log_prob(indices).mean()


def train_prior(prior: TokenPrior, train_indices: torch.Tensor, val_indices: torch.Tensor | None = None, *,
                epochs: int, batch_size: int = 64, lr: float = 6e-3, weight_decay: float = 0.01, seed: int = 0,
                device: str | torch.device = "auto", progress: bool = True, desc: str = "prior") -> History:
    """Fit the prior by maximum likelihood (AdamW) on grids of code indices.

    With val_indices, the epoch with the lowest validation loss is kept; without (every grid spent on
    training, the number of epochs fixed beforehand), the last epoch is. History gains `best_epoch`
    (from 1): the epoch whose weights the prior keeps.
    """
    integer(epochs, "epochs", lo=1)
    number(lr, "lr", 0.0, lo_open=True)
    opt = torch.optim.AdamW(prior.parameters(), lr=lr, weight_decay=weight_decay)
    best: dict = {"loss": math.inf, "state": None, "epoch": None}

    def keep_best(m: nn.Module, epoch: int, loss: float) -> None:
        if loss < best["loss"]:
            best.update(loss=loss, state=copy.deepcopy(m.state_dict()), epoch=epoch)

    val = None if val_indices is None else prior._flat(val_indices)
    history = fit(prior, prior_loss, prior._flat(train_indices), val_data=val, epochs=epochs,
                  batch_size=batch_size, optimizer=opt, seed=seed, device=device, progress=progress, desc=desc,
                  on_epoch=keep_best if val is not None else None)
    if val is not None:
        prior.load_state_dict(best["state"])
    prior.eval()
    history.best_epoch = best["epoch"] if val is not None else epochs
    return history


# ----------------------------------------------------------------------------- likelihoods on lesson 02's scale
@torch.no_grad()
def gumbel_iw_nll(model: VQVAE, x: torch.Tensor, k: int = 100, generator: torch.Generator | None = None) -> torch.Tensor:
    """-log p(x) bounded by importance sampling with K hard samples of q(z|x), for a Gumbel VQVAE; (B,) nats.

    log w = log p(x|z) + log p(z) - log q(z|x), z a grid of categorical choices drawn exactly (Gumbel-max),
    p(z) uniform over the codes at every position: the discrete model, not its relaxation.
    """
    if model.config.quantizer != "gumbel":
        raise invalid("model", "a VQVAE with quantizer='gumbel'", repr(model.config.quantizer))
    integer(k, "k", lo=1)
    logits = model.encode(x)  # (B, K, h, w)
    log_q = F.log_softmax(logits, dim=1)
    B, K = logits.shape[:2]
    positions = logits[0, 0].numel()
    log_w = []
    for _ in range(k):
        g = gumbel_noise(tuple(logits.shape), generator, device=logits.device, dtype=logits.dtype)
        idx = (logits + g).argmax(dim=1)  # (B, h, w), an exact sample of q
        lq = log_q.gather(1, idx[:, None]).reshape(B, -1).sum(1)
        rec = model.reconstruction_nll(model.decode_indices(idx), x)
        log_w.append(-rec - positions * math.log(K) - lq)
    log_w = torch.stack(log_w)  # (k, B)
    return -(torch.logsumexp(log_w, dim=0) - math.log(k))


@torch.no_grad()
def vq_nll(model: VQVAE, prior: TokenPrior, x: torch.Tensor) -> torch.Tensor:
    """The VQ-VAE's bound -log p(x) <= -log p(x | z_q) - log p_prior(z_q) (a deterministic posterior), (B,) nats."""
    model.eval()
    prior.eval()
    logits, q = model(x)
    return model.reconstruction_nll(logits, x) - prior.log_prob(q.indices)
