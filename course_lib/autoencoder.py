"""Autoencoders: encoder g_phi, decoder f_theta, the reconstruction loss, and corruption processes.

Reads top-down: config -> model -> loss -> corruption M(x~|x) -> uses (denoising, inpainting) ->
the latent space (codes of a dataset, paths between two codes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .core.devices import model_device
from .core.validation import check_shape, choice, integer, invalid, number, same_shape
from .layers import ACTIVATIONS, MLP


# ----------------------------------------------------------------------------- model
@dataclass(frozen=True)
class AEConfig:
    """Shape of an MLP autoencoder.

    Attributes:
        image_shape: (C, H, W) of the inputs; (1, 8, 8) for the bundled digits.
        latent_dim: size of the bottleneck code z = g_phi(x).
        hidden: hidden layer sizes of the encoder (the decoder mirrors them).
        activation: nonlinearity between hidden layers.
        linear: a linear autoencoder (no hidden layers, no output squashing): learnable PCA.
    """

    image_shape: tuple[int, int, int] = (1, 8, 8)
    latent_dim: int = 2
    hidden: tuple[int, ...] = (256, 128)
    activation: str = "relu"
    linear: bool = False

    def __post_init__(self):
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise invalid("image_shape", "(C, H, W) with positive sizes", repr(self.image_shape))
        integer(self.latent_dim, "latent_dim", lo=1)
        choice(self.activation, "activation", ACTIVATIONS)
        object.__setattr__(self, "image_shape", tuple(self.image_shape))  # frozen: tuples, never shared lists
        object.__setattr__(self, "hidden", tuple(self.hidden))


class Autoencoder(nn.Module):
    """MLP autoencoder x -> z = g_phi(x) -> x^ = f_theta(z); sigmoid output unless linear."""

    def __init__(self, config: AEConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else AEConfig()
        D = math.prod(cfg.image_shape)
        hidden = () if cfg.linear else cfg.hidden
        self.encoder = MLP(D, hidden, cfg.latent_dim, cfg.activation)  # g_phi
        self.decoder = MLP(cfg.latent_dim, hidden[::-1], D, cfg.activation)  # f_theta

    @property
    def cfg(self) -> AEConfig:
        """The config under its earlier name (notebooks written before it was `config`)."""
        return self.config

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code z = g_phi(x). Args: x (B, C, H, W). Returns (B, latent_dim)."""
        shape = ", ".join(map(str, self.config.image_shape))
        check_shape(x, "images x", f"(B, {shape})", x.ndim == 4 and tuple(x.shape[1:]) == self.config.image_shape)
        B = x.shape[0]
        h = x.reshape(B, -1)  # (B, C*H*W)
        return self.encoder(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction x^ = f_theta(z). Args: z (B, latent_dim). Returns (B, C, H, W)."""
        check_shape(z, "codes z", f"(B, {self.config.latent_dim})", z.ndim == 2 and z.shape[1] == self.config.latent_dim)
        B = z.shape[0]
        h = self.decoder(z)  # (B, C*H*W)
        if not self.config.linear:
            h = torch.sigmoid(h)  # pixels live in [0, 1]
        return h.view(B, *self.config.image_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


# ----------------------------------------------------------------------------- loss
def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """(1/n) sum_i ||x_i - x^_i||^2: squared error summed over pixels, averaged over the batch.

    Args:
        x, x_hat: tensors of the same shape (B, ...).
    """
    same_shape(x, x_hat, "x and x_hat")
    B = x.shape[0]
    return (x - x_hat).pow(2).reshape(B, -1).sum(dim=1).mean()  # (1/n) sum_i ||x_i - x^_i||^2


def autoencoder_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The plain autoencoder objective on a batch, for `training.fit`."""
    return reconstruction_loss(x, model(x))


def denoising_loss(corrupt: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    """The denoising objective ||x - f(g(x~))||^2 with x~ ~ M(x~|x) = `corrupt(x)`, for `training.fit`."""

    def loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return reconstruction_loss(x, model(corrupt(x)))

    return loss


# ----------------------------------------------------------------------------- corruption M(x~|x)
def gaussian_corruption(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive Gaussian noise x~ = x + sigma * eps, eps ~ N(0, I); mean x, variance sigma^2.

    Args:
        x: clean inputs (B, ...); not modified.
        sigma: noise standard deviation >= 0.
        generator: optional torch.Generator on x's device, for reproducible noise.
    """
    number(sigma, "sigma", lo=0)
    eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + sigma * eps  # x~ = x + sigma eps


def masking_corruption(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Masking noise: each entry is set to 0 independently with probability p (else kept).

    Args:
        x: clean inputs (B, ...); not modified.
        p: drop probability in [0, 1]; E[x~] = (1 - p) x.
        generator: optional torch.Generator on x's device.
    """
    number(p, "p", lo=0, hi=1)
    u = torch.rand(x.shape, generator=generator, device=x.device)
    keep = (u >= p).to(x.dtype)  # Bernoulli(1 - p)
    return x * keep


def block_mask(x: torch.Tensor, top: int, left: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide a rectangle of every image (for inpainting).

    Args:
        x: images (B, C, H, W).
        top, left, height, width: the rectangle, in pixels.
    Returns:
        (x_masked, known): x with the rectangle set to 0, and the mask (B, C, H, W) that is 1 where pixels are known.
    """
    check_shape(x, "images x", "(B, C, H, W)", x.ndim == 4)
    H, W = x.shape[-2:]
    if not (0 <= top < H and 0 <= left < W and height > 0 and width > 0 and top + height <= H and left + width <= W):
        raise ValueError(f"rectangle top={top} left={left} height={height} width={width} does not fit in {H}x{W} images")
    known = torch.ones_like(x)
    known[..., top : top + height, left : left + width] = 0
    return x * known, known


@torch.no_grad()
def inpaint(model: nn.Module, x_masked: torch.Tensor, known: torch.Tensor, steps: int = 20) -> torch.Tensor:
    """Fill the unknown pixels by iterating x <- known * x_obs + (1 - known) * f(g(x)).

    Args:
        model: an autoencoder mapping images to reconstructions of the same shape.
        x_masked, known: from `block_mask` (B, C, H, W).
        steps: fixed-point iterations (each projects back onto the observed pixels).
    """
    x = x_masked.clone()
    for _ in range(steps):
        x = known * x_masked + (1 - known) * model(x)
    return x


# ----------------------------------------------------------------------------- analysis
@torch.no_grad()
def encode_all(model: Autoencoder, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Codes of a whole dataset on the model's device, returned on the CPU. Args: x (N, C, H, W)."""
    device = model_device(model)
    return torch.cat([model.encode(x[i : i + batch_size].to(device)).cpu() for i in range(0, x.shape[0], batch_size)])


@torch.no_grad()
def reconstruction_error(model: nn.Module, x: torch.Tensor, x_in: torch.Tensor | None = None) -> float:
    """Mean over images of ||x - f(g(x_in))||^2 (x_in defaults to x; pass a corrupted copy to test denoising)."""
    device = model_device(model)
    x_in = x if x_in is None else x_in
    return float(reconstruction_loss(x.to(device), model(x_in.to(device))))


# ----------------------------------------------------------------------------- the latent space
INTERPOLATIONS = ("linear", "slerp")


def interpolate(z_a: Any, z_b: Any, alphas: Any, mode: str = "linear", eps: float = 1e-6) -> torch.Tensor:
    """Points along the path from z_a (alpha 0) to z_b (alpha 1), linear or spherical.

    slerp(a) = sin((1 - a) w) / sin(w) z_a + sin(a w) / sin(w) z_b, with w the angle between
    z_a and z_b; it falls back to lerp when sin(w) < eps ((anti)parallel or zero vectors).

    Args:
        z_a: (d,) start code.
        z_b: (d,) end code.
        alphas: (K,) positions along the path (a scalar counts as K = 1).
        mode: "linear" or "slerp".
        eps: threshold on sin(w) below which slerp falls back to lerp.
    Returns:
        (K, d) codes, with the dtype and device of z_a (float32 if z_a is not floating).
    """
    choice(mode, "mode", INTERPOLATIONS)
    z_a, z_b = torch.as_tensor(z_a), torch.as_tensor(z_b)
    if z_a.ndim != 1 or z_a.shape != z_b.shape:
        raise ValueError(
            f"z_a and z_b must be vectors of the same shape (d,), got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    dtype = z_a.dtype if z_a.is_floating_point() else torch.float32
    a64 = z_a.to(torch.float64)
    b64 = z_b.to(a64.device, torch.float64)
    t = torch.as_tensor(alphas, dtype=torch.float64, device=a64.device)
    if t.ndim > 1:
        raise ValueError(f"alphas must be a scalar or a vector (K,), got shape {tuple(t.shape)}")
    t = t.reshape(-1, 1)  # (K, 1)
    lerp = (1 - t) * a64 + t * b64  # (K, d)
    if mode == "linear":
        return lerp.to(dtype)
    norms = a64.norm() * b64.norm()
    cos = (a64 @ b64 / norms).clamp(-1.0, 1.0) if norms > 0 else a64.new_tensor(1.0)
    omega = torch.arccos(cos)  # angle between z_a and z_b
    sin = torch.sin(omega)
    if sin < eps:  # (anti)parallel: the great circle is undefined or degenerate
        return lerp.to(dtype)
    path = torch.sin((1 - t) * omega) / sin * a64 + torch.sin(t * omega) / sin * b64  # (K, d)
    return path.to(dtype)
