"""The VQ-VAE on the digits (a grid of codes, or a set of global variables on lesson 02's networks),
with a categorical decoder over the grey levels so its likelihood is on lesson 02's scale."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..core.validation import check_shape, choice, integer, invalid, number
from ..metrics import psnr
from ..training import History, fit
from ..vae import ConvDecoder, ConvEncoder  # the global layout reuses lesson 02's networks
from .codes import GumbelQuantizer, Quantized, VectorQuantizer, VQConfig, code_counts, perplexity, usage


# ----------------------------------------------------------------------------- the VQ-VAE on the digits
@dataclass(frozen=True)
class VQVAEConfig:
    """A convolutional VQ-VAE for small grey images, with its codes on a grid or as a set of global variables.

    quantizer: "vq" (a VectorQuantizer with `vq`'s settings) or "gumbel" (a GumbelQuantizer with
    num_codes and code_dim from `vq`, temperature tau). levels: the decoder is a categorical over the
    grey levels, so -log p(x | z_q) is a code length in nats, on lesson 02's scale.
    latent: "grid" (a code per cell of an (H/2, W/2) grid, each seeing an 8 x 8 window) or "global"
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
        self.encoder = nn.Sequential(  # each token sees its 2 x 2 cell in an 8 x 8 window of context
            nn.Conv2d(C, w // 2, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w // 2, w, 2, stride=2), nn.ReLU(),  # (B, w, H/2, W/2)
            nn.Conv2d(w, out, 3, padding=1),  # context from the neighbouring cells: a steadier test PSNR over seeds
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


# ----------------------------------------------------------------------------- training and reading out
@torch.no_grad()
def encode_indices(model: VQVAE, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The code indices of images x (B, C, H, W) in eval mode: (B, h, w) int64 (the argmax for a Gumbel model)."""
    model.eval()
    out = [model.quantizer(model.encode(x[i:i + batch_size])).indices for i in range(0, len(x), batch_size)]
    return torch.cat(out)


@torch.no_grad()
def reconstruct(model: VQVAE, x: torch.Tensor) -> torch.Tensor:
    """E[x | z_q] of images x in eval mode (the codebook does not move): (B, C, H, W) in [0, 1]."""
    model.eval()
    logits, _ = model(x)
    return model.mean_image(logits)


def train_vqvae(model: VQVAE, x_train: torch.Tensor, x_val: torch.Tensor | None = None, *, epochs: int,
                batch_size: int = 64, lr: float = 3e-3, kmeans_init: bool = True, tau_end: float | None = None,
                seed: int = 0, device: str | torch.device = "auto", progress: bool = True,
                desc: str = "VQ-VAE") -> History:
    """Fit `model` with Adam and a cosine learning rate; keep the epoch that reconstructs x_val best.

    1. (VQ, kmeans_init) initialise the codebook by k-means on the encoder's first outputs;
    2. train on -log p(x | z_q) + the quantiser's loss (`vqvae_loss`), annealing a Gumbel model's tau
       geometrically from its config's value to `tau_end` (None: no annealing);
    3. after each epoch, measure the validation PSNR in eval mode; restore the best epoch's weights
       (codebook and EMA statistics included).
    History gains `val_psnr` (per epoch) and `best_epoch` (from 1; None without x_val).
    """
    integer(epochs, "epochs", lo=1)
    number(lr, "lr", 0.0, lo_open=True)
    if tau_end is not None:
        number(tau_end, "tau_end", 0.0, lo_open=True)
    model._check(x_train)
    if model.config.quantizer == "vq" and kmeans_init:
        with torch.no_grad():
            model.quantizer.init_from_data(model.encode(x_train), generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * math.ceil(len(x_train) / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    tau0 = model.config.tau

    def on_step(m: nn.Module, i: int) -> None:
        sched.step()
        if tau_end is not None and model.config.quantizer == "gumbel":
            model.quantizer.tau = tau0 * (tau_end / tau0) ** (min(i + 1, steps) / steps)  # geometric annealing

    best: dict = {"psnr": -math.inf, "state": None, "epoch": None}
    val_psnr: list[float] = []

    def on_epoch(m: nn.Module, epoch: int, loss: float) -> None:
        if x_val is None:
            return
        xv = x_val.to(next(model.parameters()).device)
        value = psnr(reconstruct(model, xv), xv)  # eval mode: this pass does not move an EMA codebook
        model.train()
        val_psnr.append(value)
        if value > best["psnr"]:
            best.update(psnr=value, state=copy.deepcopy(model.state_dict()), epoch=epoch)

    history = fit(model, vqvae_loss, x_train, epochs=epochs, batch_size=batch_size, optimizer=opt, seed=seed,
                  device=device, progress=progress, desc=desc, on_step=on_step, on_epoch=on_epoch)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    history.val_psnr = val_psnr
    history.best_epoch = best["epoch"]
    return history


def with_codebook(config: VQVAEConfig, **changes) -> VQVAEConfig:
    """The same model with a different quantiser setting, e.g. with_codebook(cfg, num_codes=64, update="loss")."""
    return replace(config, vq=replace(config.vq, **changes))


# ----------------------------------------------------------------------------- a trained VQ-VAE's codebook
@dataclass(frozen=True)
class CodebookHealth:
    """A trained VQ-VAE's codebook, measured over a split, and a few of its reconstructions.

    counts: (K,) how often each code is used over the split. originals, reconstructions: (n, 1, H, W)
    in [0, 1]. psnr: the reconstructions' PSNR in dB over the split.
    """

    num_codes: int
    rule: str
    counts: torch.Tensor
    perplexity: float
    usage: float
    originals: torch.Tensor
    reconstructions: torch.Tensor
    psnr: float

    def __post_init__(self) -> None:
        K = integer(self.num_codes, "num_codes", lo=2)
        check_shape(self.counts, "counts", f"({K},)", isinstance(self.counts, torch.Tensor) and self.counts.shape == (K,))
        for name in ("originals", "reconstructions"):
            x = getattr(self, name)
            check_shape(x, name, "(n, 1, H, W)", isinstance(x, torch.Tensor) and x.ndim == 4 and x.shape[1] == 1)
        if self.originals.shape != self.reconstructions.shape:
            raise invalid("originals and reconstructions", "tensors of one shape",
                          f"{tuple(self.originals.shape)} and {tuple(self.reconstructions.shape)}")

    @property
    def dead(self) -> int:
        """How many codes the split never uses."""
        return int((self.counts == 0).sum())


def codebook_health(num_codes: int, rule: str, indices: torch.Tensor, originals: torch.Tensor,
                    reconstructions: torch.Tensor, n: int = 8, held_out: torch.Tensor | None = None) -> CodebookHealth:
    """Measure a codebook from the code indices of a whole split (any shape) and a split's reconstructions.

    Args:
        num_codes, rule: the model's codebook size and update rule (the widget's keys).
        indices: every code index a split was quantised to, e.g. (N, h, w): the counts and the usage.
        originals, reconstructions: (N, 1, H, W) in [0, 1]; the PSNR is over all of them, the first
            `n` are kept for the picture.
        held_out: the indices of another split (e.g. the test digits) for the perplexity; default `indices`.
    """
    K = integer(num_codes, "num_codes", lo=2)
    n = integer(n, "n", lo=1)
    check_shape(originals, "originals", "(N, 1, H, W)", isinstance(originals, torch.Tensor) and originals.ndim == 4)
    if not isinstance(reconstructions, torch.Tensor) or reconstructions.shape != originals.shape:
        raise invalid("reconstructions", f"of the originals' shape {tuple(originals.shape)}",
                      tuple(getattr(reconstructions, "shape", ())) or type(reconstructions).__name__)
    idx = indices.detach().cpu()
    ppl = perplexity((idx if held_out is None else held_out).detach().cpu(), K)
    return CodebookHealth(K, str(rule), code_counts(idx, K), ppl, usage(idx, K), originals[:n].detach().cpu().float(),
                          reconstructions[:n].detach().cpu().float().clamp(0, 1), psnr(reconstructions, originals))
