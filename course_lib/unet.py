"""Time-conditioned noise-prediction networks for diffusion: a small U-Net for images, an MLP for points.

Read top-down: the sinusoidal time embedding -> a residual block that takes it -> self-attention ->
down/up-sampling -> the U-Net that stacks them; then `TimeMLP` for 2-D data. Both are called as
`model(x, t)` (or `model(x, t, y)` with class labels, for lesson 07's guidance) and never see a
noise schedule: `t` is just an integer step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .core.validation import check_shape, integer, invalid, is_integer, number


# ----------------------------------------------------------------------------- time embedding
class SinusoidalEmbedding(nn.Module):
    """Embed integer steps t (B,) as (B, dim) sines and cosines of geometrically spaced frequencies.

    emb[:, i] = sin(t * w_i), emb[:, dim/2 + i] = cos(t * w_i), with w_i = max_period^(-i / (dim/2))
    (the Transformer's position encoding, used for time by Ho et al.).
    """

    def __init__(self, dim: int, max_period: float = 10_000.0):
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"the embedding dimension must be an even number >= 2, got {dim!r}")
        half = dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(max_period) * torch.arange(half) / half), persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        check_shape(t, "steps t", "(B,)", t.ndim == 1)
        angles = t.float()[:, None] * self.freqs[None]  # (B, dim/2)
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (B, dim)


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding of t followed by a small MLP; optionally plus a learnt class embedding.

    With `num_classes` set, label y = num_classes means "no label" (the null class that
    classifier-free guidance trains with), so one network learns both p(x) and p(x | y).
    """

    def __init__(self, channels: int, dim: int, num_classes: int | None = None):
        super().__init__()
        self.sinusoidal = SinusoidalEmbedding(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.num_classes = num_classes
        self.label = nn.Embedding(num_classes + 1, dim) if num_classes is not None else None

    def forward(self, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.mlp(self.sinusoidal(t))  # (B, dim)
        if self.label is None:
            if y is not None:
                raise ValueError("this network has no class conditioning (num_classes=None) but got labels y")
            return emb
        if y is None:
            y = torch.full_like(t, self.num_classes)  # the null label: unconditional
        check_shape(y, "labels y", f"{tuple(t.shape)} (one per example)", y.shape == t.shape)
        return emb + self.label(y.long())


# ----------------------------------------------------------------------------- blocks
class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv, with the time embedding added in between, and a skip connection.

    With `scale_shift` the embedding both scales and shifts the normalised features,
    h = GroupNorm(h) * (1 + scale) + shift (FiLM; the "adaptive group norm" of Dhariwal & Nichol 2021):
    a multiplicative path by which the step and the label can switch features on and off, not only
    move them.
    """

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int = 8, dropout: float = 0.0,
                 scale_shift: bool = False):
        super().__init__()
        self.scale_shift = scale_shift
        self.norm1 = nn.GroupNorm(math.gcd(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out if scale_shift else c_out)
        self.norm2 = nn.GroupNorm(math.gcd(groups, c_out), c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
        e = self.emb(F.silu(emb))[:, :, None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.norm2(h) * (1 + scale) + shift  # the step (and label) scale and shift every channel
        else:
            h = self.norm2(h + e)  # the step (and label) shift every channel
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H*W positions of a feature map, with a skip connection."""

    def __init__(self, channels: int, heads: int = 4, groups: int = 8):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.norm = nn.GroupNorm(math.gcd(groups, channels), channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # (B, H*W, C)
        h, _ = self.attn(h, h, h, need_weights=False)
        return x + h.transpose(1, 2).reshape(B, C, H, W)


# ----------------------------------------------------------------------------- the U-Net
@dataclass(frozen=True)
class UNetConfig:
    """Shape of a small U-Net.

    Attributes:
        in_channels: image channels (1 for digits; 4 or so for lesson 07's latents).
        channels: width of the first level; level i has channels * channel_mult[i].
        channel_mult: one entry per resolution; each level after the first halves H and W.
        blocks: residual blocks per level on the way down (one more on the way up, for the skips).
        attention: indices of the levels that get self-attention after each block.
        num_classes: None for an unconditional model; else the number of classes (label
            num_classes is the null label).
        dropout, groups: of the residual blocks.
        scale_shift: the embedding scales and shifts the features of each residual block (FiLM)
            instead of only shifting them: a stronger hold of the label (lesson 07).
    """

    in_channels: int = 1
    channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2)
    blocks: int = 1
    attention: tuple[int, ...] = ()
    num_classes: int | None = None
    dropout: float = 0.0
    groups: int = 8
    heads: int = 4
    scale_shift: bool = False

    def __post_init__(self):
        object.__setattr__(self, "channel_mult", tuple(self.channel_mult))  # frozen: tuples, never shared lists
        object.__setattr__(self, "attention", tuple(self.attention))
        for name in ("in_channels", "channels", "blocks", "groups", "heads"):
            integer(getattr(self, name), name, lo=1)
        if not self.channel_mult or any(not is_integer(m) or m < 1 for m in self.channel_mult):
            raise invalid("channel_mult", "one positive integer per resolution level", repr(self.channel_mult))
        for level in self.attention:
            integer(level, "each attention level", 0, len(self.channel_mult) - 1, what="an index of channel_mult")
        if self.num_classes is not None:
            integer(self.num_classes, "num_classes", lo=1, hint=" (None: unconditional)")
        number(self.dropout, "dropout", lo=0, hi=1, hi_open=True)
        if not isinstance(self.scale_shift, bool):
            raise invalid("scale_shift", "True or False", repr(self.scale_shift))


class UNet(nn.Module):
    """eps_theta(x_t, t[, y]): a U-Net over (B, C, H, W) with H and W divisible by 2^(levels-1)."""

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        cfg = self.config = config if config is not None else UNetConfig()
        emb_dim = 4 * cfg.channels
        self.time = TimeEmbedding(cfg.channels, emb_dim, cfg.num_classes)
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.channels, 3, padding=1)

        def block(c_in: int, c_out: int, level: int) -> nn.ModuleList:
            parts = [ResBlock(c_in, c_out, emb_dim, cfg.groups, cfg.dropout, cfg.scale_shift)]
            if level in cfg.attention:
                parts.append(SelfAttention(c_out, cfg.heads, cfg.groups))
            return nn.ModuleList(parts)

        # 1. down: blocks at each level, then a strided conv to the next; remember every output
        widths = [cfg.channels * m for m in cfg.channel_mult]
        self.down, skips, c = nn.ModuleList(), [cfg.channels], cfg.channels
        for level, w in enumerate(widths):
            for _ in range(cfg.blocks):
                self.down.append(block(c, w, level))
                c = w
                skips.append(c)
            if level < len(widths) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1)]))
                skips.append(c)
        # 2. middle, at the lowest resolution, with attention
        mid = (ResBlock(c, c, emb_dim, cfg.groups, cfg.dropout, cfg.scale_shift), SelfAttention(c, cfg.heads, cfg.groups),
               ResBlock(c, c, emb_dim, cfg.groups, cfg.dropout, cfg.scale_shift))
        self.mid = nn.ModuleList(mid)
        # 3. up: blocks + 1 per level, each taking a skip, then nearest-neighbour upsampling
        self.up = nn.ModuleList()
        for level in reversed(range(len(widths))):
            for _ in range(cfg.blocks + 1):
                self.up.append(block(c + skips.pop(), widths[level], level))
                c = widths[level]
            if level > 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)]))
        self.out = nn.Sequential(nn.GroupNorm(math.gcd(cfg.groups, c), c), nn.SiLU(), nn.Conv2d(c, cfg.in_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)  # start as "predict zero noise": a calm first step
        nn.init.zeros_(self.out[-1].bias)

    @staticmethod
    def _run(parts: nn.ModuleList, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for p in parts:
            h = p(h, emb) if isinstance(p, ResBlock) else p(h)
        return h

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        check_shape(x, "x", f"(B, {cfg.in_channels}, H, W)", x.ndim == 4 and x.shape[1] == cfg.in_channels)
        factor = 2 ** (len(cfg.channel_mult) - 1)
        if x.shape[2] % factor or x.shape[3] % factor:
            raise invalid("H and W", f"divisible by {factor} for {len(cfg.channel_mult)} levels", tuple(x.shape[2:]))
        check_shape(t, "steps t", f"({x.shape[0]},)", t.shape == x.shape[:1])
        emb = self.time(t, y)  # (B, 4C)
        h = self.conv_in(x)  # (B, C, H, W)
        hs = [h]
        for parts in self.down:
            h = self._run(parts, h, emb)
            hs.append(h)
        h = self._run(self.mid, h, emb)
        for parts in self.up:
            if isinstance(parts[0], ResBlock):
                h = torch.cat([h, hs.pop()], dim=1)  # (B, c + c_skip, h, w)
            h = self._run(parts, h, emb)
        return self.out(h)


# ----------------------------------------------------------------------------- points
class TimeMLP(nn.Module):
    """eps_theta(x_t, t) for vectors (B, D): residual MLP blocks, each shifted by the time embedding.

    Args:
        dim: data dimension D (2 for the toy sets; 64 for flattened digits).
        hidden: width of the hidden layers. layers: number of residual blocks.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3, num_classes: int | None = None):
        super().__init__()
        integer(dim, "dim", lo=1)
        integer(hidden, "hidden", lo=2, what="an integer")
        integer(layers, "layers", lo=1)
        self.dim = dim
        self.time = TimeEmbedding(hidden if hidden % 2 == 0 else hidden + 1, hidden, num_classes)
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(
            nn.ModuleDict({"emb": nn.Linear(hidden, hidden), "norm": nn.LayerNorm(hidden), "mlp": nn.Sequential(
                nn.Linear(hidden, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden))})
            for _ in range(layers)
        )
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_shape(x, "x", f"(B, {self.dim})", x.ndim == 2 and x.shape[1] == self.dim)
        check_shape(t, "steps t", f"({x.shape[0]},)", t.shape == x.shape[:1])
        emb = self.time(t, y)  # (B, hidden)
        h = self.inp(x)  # (B, hidden)
        for b in self.blocks:
            h = h + b["mlp"](b["norm"](h + b["emb"](F.silu(emb))))
        return self.out(h)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
