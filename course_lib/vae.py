"""Variational autoencoders: the reparameterization trick, the Gaussian KL, decoders, the ELBO, IW-NLL.

Reads top-down: the maths (reparameterize, gaussian_kl, log_normal) -> decoder likelihoods (one
interface: Gaussian, Bernoulli, categorical over grey levels) -> networks (MLP, conv) -> the VAE ->
objectives (negative_elbo, iwae_bound) -> evaluation (iw_nll).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .core.devices import model_device, model_dtype
from .core.validation import check_shape, choice, integer, number
from .layers import ACTIVATIONS, MLP

LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- the maths
def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I): a sample of N(mu, diag(exp(logvar))) that gradients flow through.

    Args:
        mu, logvar: (B, d) mean and log-variance (log sigma^2).
        generator: optional torch.Generator on mu's device.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps  # sigma = exp(logvar / 2)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) summed over the last dimension: shape (B,).

    Args:
        mu, logvar: (B, d).
    """
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=-1)  # 0.5 sum(sigma^2 + mu^2 - 1 - log sigma^2)


def log_normal(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(x; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) / logvar.exp()).sum(dim=-1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(dim=-1)


# ----------------------------------------------------------------------------- likelihoods p(x|z)
class Likelihood:
    """A decoder's output distribution over images; `params_per_pixel` numbers per pixel.

    Every likelihood takes the decoder's output `params` of shape (B, C, H, W, P) and images x of
    shape (B, C, H, W) in [0, 1].
    """

    params_per_pixel: int = 1

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over pixels: (B,)."""
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """E[x|z] as an image (B, C, H, W) in [0, 1]."""
        raise NotImplementedError


class CategoricalLikelihood(Likelihood):
    """A categorical distribution over `levels` grey levels per pixel (x = level / (levels - 1)).

    A proper discrete likelihood: log p(x|z) <= 0, so -log p(x) is a code length in nats.
    """

    def __init__(self, levels: int = 17):
        self.levels = self.params_per_pixel = levels

    def to_levels(self, x: torch.Tensor) -> torch.Tensor:
        """The level index of each pixel: round(x * (levels - 1)); x must lie in [0, 1]."""
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"a categorical likelihood needs pixels in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]")
        return torch.round(x * (self.levels - 1)).long()

    def log_prob(self, params, x):
        B = x.shape[0]
        logp = F.log_softmax(params, dim=-1)  # (B, C, H, W, L)
        picked = logp.gather(-1, self.to_levels(x).unsqueeze(-1)).squeeze(-1)  # (B, C, H, W)
        return picked.reshape(B, -1).sum(dim=1)

    def mean(self, params):
        values = torch.linspace(0, 1, self.levels, device=params.device, dtype=params.dtype)
        return (F.softmax(params, dim=-1) * values).sum(dim=-1)


class BernoulliLikelihood(Likelihood):
    """Bernoulli(p) per pixel with p = sigmoid(logit); for grey values this is the cross-entropy,
    not a normalised likelihood of x (a proper one needs binary x)."""

    def log_prob(self, params, x):
        B = x.shape[0]
        return -F.binary_cross_entropy_with_logits(params[..., 0], x, reduction="none").reshape(B, -1).sum(dim=1)

    def mean(self, params):
        return torch.sigmoid(params[..., 0])


class GaussianLikelihood(Likelihood):
    """N(x; sigmoid(output), std^2) per pixel with a fixed std: the MSE loss up to scale and constant."""

    def __init__(self, std: float = 0.1):
        self.std = std

    def log_prob(self, params, x):
        B = x.shape[0]
        mu = torch.sigmoid(params[..., 0])
        logvar = torch.full_like(mu, 2 * math.log(self.std))
        return log_normal(x.reshape(B, -1), mu.reshape(B, -1), logvar.reshape(B, -1))

    def mean(self, params):
        return torch.sigmoid(params[..., 0])


def make_likelihood(name: str, levels: int = 17, std: float = 0.1) -> Likelihood:
    """The likelihood called `name`: "categorical", "bernoulli" or "gaussian"."""
    if name == "categorical":
        return CategoricalLikelihood(levels)
    if name == "bernoulli":
        return BernoulliLikelihood()
    if name == "gaussian":
        return GaussianLikelihood(std)
    raise ValueError(f"likelihood must be 'categorical', 'bernoulli' or 'gaussian', got {name!r}")


# ----------------------------------------------------------------------------- networks
ARCHS = ("mlp", "conv")


@dataclass(frozen=True)
class VAEConfig:
    """Shape of a VAE.

    Attributes:
        image_shape: (C, H, W) of the inputs.
        latent_dim: dimension of z.
        hidden: hidden layer sizes of the MLP encoder (the decoder mirrors them); for "conv", the
            width of the fully connected layer.
        arch: "mlp" or "conv" (two 3x3 convolutions, one downsampling by 2; ReLU throughout).
        likelihood: "categorical", "bernoulli" or "gaussian".
        levels: grey levels of the categorical likelihood (17 for the digits).
        gaussian_std: the fixed std of the Gaussian likelihood.
        num_classes: > 0 makes a conditional VAE: the one-hot label enters encoder and decoder.
        activation: nonlinearity between layers.
    """

    image_shape: tuple[int, int, int] = (1, 8, 8)
    latent_dim: int = 16
    hidden: tuple[int, ...] = (256, 256)
    arch: str = "mlp"
    likelihood: str = "categorical"
    levels: int = 17
    gaussian_std: float = 0.1
    num_classes: int = 0
    activation: str = "relu"

    def __post_init__(self):
        object.__setattr__(self, "image_shape", tuple(self.image_shape))  # frozen: tuples, never shared lists
        object.__setattr__(self, "hidden", tuple(self.hidden))
        choice(self.arch, "arch", ARCHS)
        integer(self.latent_dim, "latent_dim", lo=1)
        integer(self.num_classes, "num_classes", lo=0, what="an integer", hint=" (0: not conditional)")
        choice(self.activation, "activation", ACTIVATIONS)
        if self.likelihood == "categorical":
            integer(self.levels, "levels", lo=2, what="an integer")
        if self.likelihood == "gaussian":
            number(self.gaussian_std, "gaussian_std", lo=0, lo_open=True)
        make_likelihood(self.likelihood, self.levels, self.gaussian_std)  # validates the name


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> two 3x3 convolutions (the second with stride 2) -> linear -> (B, out_dim)."""

    def __init__(self, image_shape, extra: int, hidden: int, out_dim: int, width: int = 32):
        super().__init__()
        C, H, W = image_shape
        self.conv = nn.Sequential(
            nn.Conv2d(C, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        )
        n = 2 * width * ((H + 1) // 2) * ((W + 1) // 2)
        self.head = MLP(n + extra, (hidden,), out_dim)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        B = x.shape[0]
        h = self.conv(x).reshape(B, -1)  # (B, 2w * H/2 * W/2)
        return self.head(h if extra is None else torch.cat([h, extra], dim=1))


class ConvDecoder(nn.Module):
    """(B, in_dim) -> linear -> (2w, H/2, W/2) -> transposed conv x2 -> conv -> (B, C * P, H, W)."""

    def __init__(self, in_dim: int, image_shape, hidden: int, params: int, width: int = 32):
        super().__init__()
        C, H, W = image_shape
        self.start = (2 * width, (H + 1) // 2, (W + 1) // 2)
        self.fc = MLP(in_dim, (hidden,), math.prod(self.start))
        self.deconv = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, output_padding=0), nn.ReLU(),
            nn.Conv2d(width, C * params, 3, padding=1),
        )
        self.H, self.W = H, W

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        B = z.shape[0]
        h = self.fc(z).view(B, *self.start)  # (B, 2w, H/2, W/2)
        return self.deconv(h)[..., : self.H, : self.W]  # (B, C*P, H, W)


class VAE(nn.Module):
    """Encoder q_phi(z|x) = N(mu, diag(sigma^2)), prior p(z) = N(0, I), decoder p_theta(x|z)."""

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else VAEConfig()
        self.likelihood = make_likelihood(cfg.likelihood, cfg.levels, cfg.gaussian_std)
        C, H, W = cfg.image_shape
        D, P, k, y = C * H * W, self.likelihood.params_per_pixel, cfg.latent_dim, cfg.num_classes
        if cfg.arch == "mlp":
            self.encoder = MLP(D + y, cfg.hidden, 2 * k, cfg.activation)
            self.decoder = MLP(k + y, cfg.hidden[::-1], D * P, cfg.activation)
        else:
            width = cfg.hidden[0] if cfg.hidden else 256
            self.encoder = ConvEncoder(cfg.image_shape, y, width, 2 * k)
            self.decoder = ConvDecoder(k + y, cfg.image_shape, width, P)

    @property
    def cfg(self) -> VAEConfig:
        """The config under its earlier name (notebooks written before it was `config`)."""
        return self.config

    def _onehot(self, y: torch.Tensor | None, B: int, device) -> torch.Tensor | None:
        if self.config.num_classes == 0:
            if y is not None:
                raise ValueError("this VAE is not conditional (num_classes=0) but labels were given")
            return None
        if y is None or y.shape != (B,):
            raise ValueError(f"a conditional VAE needs labels y of shape ({B},), got {None if y is None else tuple(y.shape)}")
        if y.numel() and (y.min() < 0 or y.max() >= self.config.num_classes):
            raise ValueError(f"labels must lie in [0, {self.config.num_classes - 1}], "
                             f"got values in [{int(y.min())}, {int(y.max())}]")
        return F.one_hot(y.long().to(device), self.config.num_classes).float()

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z|x): mu, logvar, each (B, latent_dim). Args: x (B, C, H, W); y (B,) labels."""
        shape = ", ".join(map(str, self.config.image_shape))
        check_shape(x, "images x", f"(B, {shape})", x.ndim == 4 and tuple(x.shape[1:]) == self.config.image_shape)
        B = x.shape[0]
        onehot = self._onehot(y, B, x.device)
        if self.config.arch == "mlp":
            h = x.reshape(B, -1)  # (B, C*H*W)
            h = h if onehot is None else torch.cat([h, onehot], dim=1)
            out = self.encoder(h)
        else:
            out = self.encoder(x, onehot)
        mu, logvar = out.chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters of p(x|z): (B, C, H, W, P). Args: z (B, latent_dim); y (B,) labels."""
        check_shape(z, "codes z", f"(B, {self.config.latent_dim})", z.ndim == 2 and z.shape[1] == self.config.latent_dim)
        B = z.shape[0]
        onehot = self._onehot(y, B, z.device)
        h = z if onehot is None else torch.cat([z, onehot], dim=1)
        C, H, W = self.config.image_shape
        P = self.likelihood.params_per_pixel
        out = self.decoder(h)
        if self.config.arch == "mlp":
            return out.view(B, C, H, W, P)
        return out.view(B, C, P, H, W).permute(0, 1, 3, 4, 2)  # (B, C, H, W, P)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """log p_theta(x|z) summed over pixels: (B,)."""
        return self.likelihood.log_prob(self.decode(z, y), x)

    def decode_mean(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """E[x|z] as images (B, C, H, W) in [0, 1]."""
        return self.likelihood.mean(self.decode(z, y))

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images E[x|z] with z ~ p(z) = N(0, I): (n, C, H, W)."""
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=model_device(self), dtype=model_dtype(self))
        return self.decode_mean(z, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction E[x|z] with z = mu(x) (the posterior mean)."""
        mu, _ = self.encode(x, y)
        return self.decode_mean(mu, y)


# ----------------------------------------------------------------------------- objectives
class ELBOTerms(NamedTuple):
    """Per-example values (B,): the loss -ELBO (with beta), its reconstruction term and its KL."""

    loss: torch.Tensor
    reconstruction: torch.Tensor  # -E_q[log p(x|z)], one-sample estimate
    kl: torch.Tensor  # KL(q(z|x) || p(z)), closed form


def negative_elbo(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None, beta: float = 1.0) -> ELBOTerms:
    """-ELBO = -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z)) per example (beta = 1: the true bound).

    Args:
        model: a VAE; x: images (B, C, H, W); y: labels (B,) for a conditional VAE.
        beta: weight of the KL (a beta-VAE when != 1).
    """
    mu, logvar = model.encode(x, y)
    z = reparameterize(mu, logvar)
    rec = -model.log_px_given_z(x, z, y)  # -log p(x|z), one sample of z ~ q(z|x)
    kl = gaussian_kl(mu, logvar)
    return ELBOTerms(rec + beta * kl, rec, kl)


def log_weights(model: VAE, x: torch.Tensor, k: int, y: torch.Tensor | None = None) -> torch.Tensor:
    """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x), z_k ~ q(z|x): (B, k)."""
    B = x.shape[0]
    mu, logvar = model.encode(x, y)
    mu_k, logvar_k = mu.repeat_interleave(k, 0), logvar.repeat_interleave(k, 0)  # (B*k, d)
    z = reparameterize(mu_k, logvar_k)
    x_k = x.repeat_interleave(k, 0)
    y_k = None if y is None else y.repeat_interleave(k, 0)
    logw = model.log_px_given_z(x_k, z, y_k) + log_standard_normal(z) - log_normal(z, mu_k, logvar_k)
    return logw.view(B, k)


def iwae_bound(model: VAE, x: torch.Tensor, k: int, y: torch.Tensor | None = None) -> torch.Tensor:
    """The importance-weighted bound log (1/k) sum_k w_k <= log p(x), per example (B,); k = 1 is the ELBO."""
    return torch.logsumexp(log_weights(model, x, k, y), dim=1) - math.log(k)


@torch.no_grad()
def iw_nll(model: VAE, x: torch.Tensor, k: int = 1000, y: torch.Tensor | None = None,
           chunk: int = 100, batch_size: int = 64) -> torch.Tensor:
    """Importance-weighted estimate of -log p(x) in nats per example (B,), with k samples.

    Computed in chunks of samples and of examples, so k = 1000 fits in memory.
    Args:
        model: a trained VAE; x: images (N, C, H, W); y: labels for a conditional VAE.
        k: importance samples per example; chunk: samples drawn at once; batch_size: examples at once.
    """
    for name, value in (("k", k), ("chunk", chunk), ("batch_size", batch_size)):
        integer(value, name, lo=1)
    was_training = model.training
    model.eval()
    device = model_device(model)
    out = []
    try:
        for i in range(0, x.shape[0], batch_size):
            xb = x[i : i + batch_size].to(device)
            yb = None if y is None else y[i : i + batch_size].to(device)
            logw = torch.cat([log_weights(model, xb, min(chunk, k - j), yb) for j in range(0, k, chunk)], dim=1)  # (b, k)
            out.append(-(torch.logsumexp(logw, dim=1) - math.log(k)).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)
