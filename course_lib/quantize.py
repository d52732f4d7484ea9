"""Discrete latents: vector quantisation (VQ-VAE) and the Gumbel-softmax, with one quantiser interface.

Reads top-down: the functions the lesson's exercises are about (nearest code, the straight-through
estimator, the two VQ loss terms, Gumbel noise and the Gumbel-softmax, perplexity and usage) -> the
quantisers, `VectorQuantizer` (a codebook trained by its loss or by exponential moving averages, with
k-means initialisation and dead-code restarts) and `GumbelQuantizer` (a relaxed categorical choice
of code, as in DALL-E's dVAE), both returning a `Quantized` -> the VQ-VAE on the digits, whose decoder
is a categorical over the 17 grey levels so its likelihood is on lesson 02's scale.

Shapes: codes live on the channel axis. A quantiser takes z_e (B, D, H, W) (or (N, D)) and returns
z_q of the same shape, indices (B, H, W) (or (N,)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .core.validation import check_shape, choice, integer, invalid, number
from .vae import ConvDecoder, ConvEncoder  # the global layout reuses lesson 02's networks


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


# ----------------------------------------------------------------------------- the VQ-VAE on the digits
@dataclass(frozen=True)
class VQVAEConfig:
    """A convolutional VQ-VAE for small grey images, with its codes on a grid or as a set of global variables.

    quantizer: "vq" (a VectorQuantizer with `vq`'s settings) or "gumbel" (a GumbelQuantizer with
    num_codes and code_dim from `vq`, temperature tau). levels: the decoder is a categorical over the
    grey levels, so -log p(x | z_q) is a code length in nats, on lesson 02's scale.
    latent: "grid" (a code per cell of an (H/2, W/2) grid, each seeing a 4 x 4 window) or "global"
    (`variables` codes, each seeing the whole image, held as a (variables, 1) grid; the encoder and
    decoder are lesson 02's ConvEncoder and ConvDecoder with a `hidden`-wide linear layer).
    """

    image_shape: tuple[int, int, int] = (1, 8, 8)
    width: int = 64
    levels: int = 17
    quantizer: str = "vq"
    vq: VQConfig = VQConfig()
    tau: float = 1.0
    kl_weight: float = 1.0
    latent: str = "grid"
    variables: int = 16
    hidden: int = 256

    def __post_init__(self) -> None:
        choice(self.latent, "latent", ("grid", "global"))
        integer(self.variables, "variables", lo=1)
        integer(self.hidden, "hidden", lo=1)
        if len(self.image_shape) != 3 or any(not isinstance(s, int) or s < 1 for s in self.image_shape):
            raise invalid("image_shape", "(C, H, W) of positive integers", self.image_shape)
        integer(self.width, "width", lo=1)
        integer(self.levels, "levels", lo=2)
        choice(self.quantizer, "quantizer", ("vq", "gumbel"))


class VQVAE(nn.Module):
    """x (B, C, H, W) in [0, 1] -> z_e (B, D, H/2, W/2) -> quantiser -> z_q -> logits (B, C, H, W, levels)."""

    def __init__(self, config: VQVAEConfig = VQVAEConfig()):
        super().__init__()
        self.config = config
        C, H, W = config.image_shape
        w, D, K = config.width, config.vq.code_dim, config.vq.num_codes
        out = D if config.quantizer == "vq" else K  # the VQ's encoder outputs vectors; the Gumbel one logits
        self.quantizer = VectorQuantizer(config.vq) if config.quantizer == "vq" else GumbelQuantizer(K, D, config.tau)
        if config.latent == "global":
            n = config.variables
            self.encoder = ConvEncoder(config.image_shape, 0, config.hidden, n * out, width=w // 2)
            self.decoder = ConvDecoder(n * D, config.image_shape, config.hidden, config.levels, width=w // 2)
            return
        self.encoder = nn.Sequential(  # each token sees a 4 x 4 window: local codes generalise to new digits
            nn.Conv2d(C, w // 2, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w // 2, w, 2, stride=2), nn.ReLU(),  # (B, w, H/2, W/2)
            nn.Conv2d(w, out, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(D, w, 1), nn.ReLU(),
            nn.ConvTranspose2d(w, w // 2, 2, stride=2), nn.ReLU(),  # (B, w/2, H, W)
            nn.Conv2d(w // 2, C * config.levels, 3, padding=1),
        )

    def _check(self, x: torch.Tensor) -> None:
        check_shape(x, "x", f"(B, {', '.join(map(str, self.config.image_shape))})",
                    isinstance(x, torch.Tensor) and tuple(x.shape[1:]) == self.config.image_shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's output: z_e (B, D, h, w) for VQ, logits (B, K, h, w) for Gumbel ((h, w) = (variables, 1) if global)."""
        self._check(x)
        h = self.encoder(x)
        if self.config.latent == "global":
            h = h.view(len(x), -1, self.config.variables, 1)  # (B, D or K, variables, 1)
        return h

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Logits of the categorical over grey levels, (B, C, H, W, levels)."""
        B = z_q.shape[0]
        C, H, W = self.config.image_shape
        if self.config.latent == "global":
            z_q = z_q.reshape(B, -1)  # (B, D * variables)
        logits = self.decoder(z_q)[..., :H, :W]  # (B, C*L, H, W)
        return logits.view(B, C, self.config.levels, H, W).permute(0, 1, 3, 4, 2)

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Logits from a grid of code indices (B, h, w)."""
        z_q = self.quantizer.codebook[indices.long()].permute(0, 3, 1, 2)  # (B, D, h, w)
        return self.decode(z_q)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Quantized]:
        q = self.quantizer(self.encode(x))
        return self.decode(q.z_q), q

    def levels_of(self, x: torch.Tensor) -> torch.Tensor:
        """Grey level indices round(x (levels - 1)) of images in [0, 1]."""
        return torch.round(x * (self.config.levels - 1)).long()

    def reconstruction_nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) in nats per image (B,), the categorical over grey levels."""
        B = x.shape[0]
        nll = F.cross_entropy(logits.reshape(-1, self.config.levels), self.levels_of(x).reshape(-1), reduction="none")
        return nll.view(B, -1).sum(dim=1)

    def mean_image(self, logits: torch.Tensor) -> torch.Tensor:
        """E[x | z] in [0, 1], (B, C, H, W)."""
        values = torch.linspace(0, 1, self.config.levels, device=logits.device, dtype=logits.dtype)
        return (F.softmax(logits, dim=-1) * values).sum(dim=-1)


def vqvae_loss(model: VQVAE, x: torch.Tensor) -> torch.Tensor:
    """The training loss: mean over the batch of -log p(x | z_q), plus the quantiser's loss (per image)."""
    if isinstance(x, (tuple, list)):
        x = x[0]
    logits, q = model(x)
    weight = model.config.kl_weight if model.config.quantizer == "gumbel" else 1.0
    positions = q.indices[0].numel()
    return model.reconstruction_nll(logits, x).mean() + weight * q.loss * positions


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
