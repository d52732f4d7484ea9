"""Latent diffusion's first stage: an autoencoder whose latents are scaled to unit variance (Rombach et al. 2022).

`LatentCodec` wraps any trained module with `encode(x) -> z` and `decode(z) -> x` (lesson 01's
`Autoencoder`, a VAE's mean encoder, ...). Its scale factor is 1 / std of the latents, one number over
every entry of the training set's encodings (Stable Diffusion's 0.18215 is this number for its
autoencoder): `encode` multiplies by it, so the diffusion model sees latents of unit variance like its
N(0, I) noise, and `decode` divides by it first. Forgetting the division decodes latents 1/scale too large.
"""

from __future__ import annotations

import torch
from torch import nn

from .core.validation import integer, invalid, number


class LatentCodec(nn.Module):
    """encode(x) = scale * E(x), decode(z) = D(z / scale), with scale = 1 / std of E(x) over the training data.

    Args:
        autoencoder: a module with encode(x) -> z (B, ...) and decode(z) -> x; kept frozen in eval mode.
        scale: the factor, if known; else call `fit_scale(x_train)` before encoding.
    """

    def __init__(self, autoencoder: nn.Module, scale: float | None = None):
        super().__init__()
        for name in ("encode", "decode"):
            if not callable(getattr(autoencoder, name, None)):
                raise invalid("autoencoder", "a module with encode(x) and decode(z) methods", type(autoencoder).__name__)
        self.autoencoder = autoencoder.eval().requires_grad_(False)
        self.register_buffer("scale", torch.tensor(float("nan") if scale is None else number(scale, "scale", 0.0, lo_open=True)))

    @property
    def scale_factor(self) -> float:
        """1 / std of the unscaled latents on the training data."""
        return self.scale.item()

    @torch.no_grad()
    def fit_scale(self, x: torch.Tensor, batch_size: int = 1024) -> float:
        """Set scale = 1 / std of every entry of the encodings of x (the training data); returns it."""
        integer(batch_size, "batch_size", lo=1)
        self.autoencoder.eval()
        z = torch.cat([self.autoencoder.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        std = z.double().std().item()
        if not std > 0:
            raise invalid("x", "data whose latents are not all equal (std > 0)", f"latents with std {std}")
        self.scale.fill_(1.0 / std)
        return self.scale_factor

    def _fitted(self) -> torch.Tensor:
        if torch.isnan(self.scale):
            raise RuntimeError("the scale factor is not set: call fit_scale(x_train) first, or pass scale=")
        return self.scale

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z = scale * E(x): latents of unit variance on the training data."""
        return self.autoencoder.encode(x) * self._fitted()

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x = D(z / scale): undo the scale before decoding."""
        return self.autoencoder.decode(z / self._fitted())
