"""Generative adversarial networks: the minimax game, its non-saturating fix, and WGAN-GP.

Reads top-down: the losses, each written on the network's raw outputs (logits for a discriminator,
scores for a Wasserstein critic) -> the gradient penalty -> generators and discriminators for 2-D
points (MLP) and for 8x8 digits (small convolutional pair, no batch norm in the critic) -> the
trainer, on `training.fit_adversarial`, that also records snapshots of a 2-D run -> mode coverage,
the measure of a 2-D mixture's modes a generator reaches.

Every loss is a scalar to *minimise*. Generators map z ~ N(0, I) (B, latent_dim) to samples, and take
class labels y when built with `num_classes` (a conditional GAN); so do the discriminators.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .core.devices import model_device
from .core.validation import check_shape, choice, integer, invalid, number
from .layers import MLP
from .training import History, fit_adversarial

LOSSES = ("saturating", "non-saturating", "wgan-gp")
LR_SCHEDULES = ("constant", "cosine")


# ----------------------------------------------------------------------------- the losses
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-[E log D(x) + E log(1 - D(G(z)))] with D = sigmoid(logit): the discriminator's side of the game.

    Args:
        real_logits: (B, ...) the discriminator's logits on real data. fake_logits: (B', ...) on samples.
    """
    # -log sigmoid(l) = softplus(-l); -log(1 - sigmoid(l)) = softplus(l): stable for any logit
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, saturating: bool = False) -> torch.Tensor:
    """The generator's loss on the discriminator's logits for its samples.

    saturating=True: E log(1 - D(G(z))), the minimax game's own term, whose gradient vanishes when D
    rejects the samples confidently. saturating=False: -E log D(G(z)), the non-saturating loss with the
    same fixed point and strong gradients where the generator is bad (Goodfellow et al. 2014).
    """
    if saturating:
        return -F.softplus(fake_logits).mean()  # log(1 - sigmoid(l)) = -softplus(l)
    return F.softplus(-fake_logits).mean()  # -log sigmoid(l) = softplus(-l)


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The Wasserstein critic's loss E f(G(z)) - E f(x): minimised, it maximises the dual's estimate of W1."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN generator's loss -E f(G(z))."""
    return -fake_scores.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """E[(||grad_x f(x_hat)||_2 - 1)^2] at random interpolates x_hat = eps x + (1 - eps) x_tilde (Gulrajani et al. 2017).

    One eps ~ U[0, 1] per example (not per pixel), the norm per example over all its entries, the
    fakes detached (the penalty trains the critic only). Unweighted: lambda multiplies it outside.

    Args:
        critic: f, a callable (B, ...) -> (B,) or (B, 1) scores (wrap labels in: `lambda x: D(x, y)`).
        real, fake: (B, ...) paired batches of the same shape.
        generator: draws eps (on the CPU).
    """
    if not isinstance(real, torch.Tensor) or not isinstance(fake, torch.Tensor) or real.shape != fake.shape:
        raise invalid("real and fake", "tensors of one shape (B, ...)", f"{tuple(getattr(real, 'shape', ()))} and "
                      f"{tuple(getattr(fake, 'shape', ()))}")
    B = real.shape[0]
    eps = torch.rand(B, generator=generator, dtype=real.dtype).to(real.device)
    eps = eps.view(B, *([1] * (real.ndim - 1)))  # one eps per example, broadcast over its entries
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # d f(x_hat_i) / d x_hat_i, per example
    norms = grad.reshape(B, -1).norm(dim=1)  # (B,)
    return ((norms - 1) ** 2).mean()


# ----------------------------------------------------------------------------- networks
class _Labels(nn.Module):
    """One-hot class labels appended to a vector input (a conditional GAN's simplest conditioning)."""

    def __init__(self, num_classes: int | None):
        super().__init__()
        self.num_classes = num_classes

    @property
    def width(self) -> int:
        return self.num_classes or 0

    def forward(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.num_classes is None:
            if y is not None:
                raise ValueError("this network is not conditional (num_classes=None) but got labels y")
            return h
        if y is None or y.shape != h.shape[:1]:
            raise invalid("labels y", f"of shape ({h.shape[0]},) for a conditional network",
                          None if y is None else tuple(y.shape))
        return torch.cat([h, F.one_hot(y.long(), self.num_classes).to(h.dtype)], dim=1)


class MLPGenerator(nn.Module):
    """G(z[, y]) for vectors: an MLP from latent_dim (+ a one-hot label) to out_dim."""

    def __init__(self, latent_dim: int = 2, out_dim: int = 2, hidden: tuple[int, ...] = (128, 128),
                 num_classes: int | None = None, activation: str = "relu"):
        super().__init__()
        self.latent_dim = integer(latent_dim, "latent_dim", lo=1)
        self.labels = _Labels(num_classes)
        self.net = MLP(latent_dim + self.labels.width, hidden, out_dim, activation)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_shape(z, "z", f"(B, {self.latent_dim})", z.ndim == 2 and z.shape[1] == self.latent_dim)
        return self.net(self.labels(z, y))


class MLPDiscriminator(nn.Module):
    """D(x[, y]) for vectors: an MLP with LeakyReLU to one raw output per example (a logit, or a critic score)."""

    def __init__(self, in_dim: int = 2, hidden: tuple[int, ...] = (128, 128), num_classes: int | None = None):
        super().__init__()
        self.in_dim = integer(in_dim, "in_dim", lo=1)
        self.labels = _Labels(num_classes)
        sizes = [in_dim + self.labels.width, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_shape(x, "x", f"(B, {self.in_dim})", x.ndim == 2 and x.shape[1] == self.in_dim)
        return self.net(self.labels(x, y)).squeeze(1)  # (B,)


class ConvGenerator(nn.Module):
    """G(z[, y]) for 8x8 images in [-1, 1]: a linear map to (2C, 4, 4), upsampling, two 3x3 convolutions, tanh."""

    def __init__(self, latent_dim: int = 32, channels: int = 32, num_classes: int | None = None):
        super().__init__()
        self.latent_dim, C = integer(latent_dim, "latent_dim", lo=1), integer(channels, "channels", lo=1)
        self.labels = _Labels(num_classes)
        self.fc = nn.Linear(latent_dim + self.labels.width, 2 * C * 4 * 4)
        self.body = nn.Sequential(
            nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),  # (2C, 8, 8)
            nn.Conv2d(2 * C, C, 3, padding=1), nn.ReLU(),
            nn.Conv2d(C, 1, 3, padding=1), nn.Tanh(),
        )
        self.channels = C

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_shape(z, "z", f"(B, {self.latent_dim})", z.ndim == 2 and z.shape[1] == self.latent_dim)
        B = z.shape[0]
        h = self.fc(self.labels(z, y)).view(B, 2 * self.channels, 4, 4)  # (B, 2C, 4, 4)
        return self.body(h)  # (B, 1, 8, 8)


class ConvDiscriminator(nn.Module):
    """D(x[, y]) for 8x8 images: two 3x3 convolutions (the second strided), LeakyReLU, no batch norm.

    No batch norm, so that each example's score depends on that example only: the gradient penalty
    is a per-example constraint (Gulrajani et al.). A label enters as 10 extra constant channels.
    """

    def __init__(self, channels: int = 32, num_classes: int | None = None):
        super().__init__()
        C = integer(channels, "channels", lo=1)
        self.num_classes = num_classes
        extra = num_classes or 0
        self.body = nn.Sequential(
            nn.Conv2d(1 + extra, C, 3, padding=1), nn.LeakyReLU(0.2),  # (C, 8, 8)
            nn.Conv2d(C, 2 * C, 3, stride=2, padding=1), nn.LeakyReLU(0.2),  # (2C, 4, 4)
        )
        self.head = nn.Linear(2 * C * 4 * 4, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_shape(x, "x", "(B, 1, 8, 8)", x.ndim == 4 and tuple(x.shape[1:]) == (1, 8, 8))
        B = x.shape[0]
        if self.num_classes is not None:
            if y is None or y.shape != (B,):
                raise invalid("labels y", f"of shape ({B},) for a conditional network", None if y is None else tuple(y.shape))
            planes = F.one_hot(y.long(), self.num_classes).to(x.dtype)[:, :, None, None].expand(B, -1, 8, 8)
            x = torch.cat([x, planes], dim=1)  # (B, 1 + classes, 8, 8)
        elif y is not None:
            raise ValueError("this network is not conditional (num_classes=None) but got labels y")
        h = self.body(x).reshape(B, -1)  # (B, 2C*4*4)
        return self.head(h).squeeze(1)  # (B,)


# ----------------------------------------------------------------------------- training
@dataclass(frozen=True)
class GANConfig:
    """How a GAN is trained.

    Attributes:
        loss: "saturating" (the minimax game), "non-saturating", or "wgan-gp".
        latent_dim: size of z ~ N(0, I).
        n_critic: discriminator steps per generator step (5 for WGAN-GP in the paper).
        gp_weight: lambda of the gradient penalty (10 for images; about 0.1 for 2-D toys).
        lr, betas: of both Adam optimisers ((0.5, 0.999) for GANs, (0, 0.9) for WGAN-GP).
        epochs, batch_size: the usual.
        lr_schedule: "constant", or "cosine": both learning rates decay to 0 over the run along
            half a cosine, which lets a 2-D GAN settle on its modes instead of circling them.
        snapshot_every: record the generator's samples (and, on 2-D data, the discriminator on a grid)
            every this many generator steps; 0 records nothing.
    """

    loss: str = "non-saturating"
    latent_dim: int = 2
    n_critic: int = 1
    gp_weight: float = 10.0
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    epochs: int = 100
    batch_size: int = 128
    lr_schedule: str = "constant"
    snapshot_every: int = 0

    def __post_init__(self):
        choice(self.loss, "loss", LOSSES)
        integer(self.latent_dim, "latent_dim", lo=1)
        integer(self.n_critic, "n_critic", lo=1)
        number(self.gp_weight, "gp_weight", lo=0)
        number(self.lr, "lr", lo=0, lo_open=True)
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        integer(self.epochs, "epochs", lo=1)
        integer(self.batch_size, "batch_size", lo=1)
        choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES)
        integer(self.snapshot_every, "snapshot_every", lo=0)


@dataclass
class Snapshots:
    """What a run looked like as it trained: for the training scrubber.

    Attributes:
        steps: (S,) generator steps at which each snapshot was taken.
        samples: (S, N, ...) the generator's output for one fixed batch of z.
        grid: (S, G, G) the discriminator's output (logit or score) on a G x G grid over `lim`, for 2-D data.
        lim: (xmin, xmax, ymin, ymax) of the grid.
        loss: the run's loss ("saturating", "non-saturating", "wgan-gp"): grid holds logits of
            D = sigmoid(logit) for the first two, critic scores for the third.
    """

    steps: torch.Tensor
    samples: torch.Tensor
    grid: torch.Tensor | None = None
    lim: tuple[float, float, float, float] | None = None
    loss: str = "non-saturating"

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class Losses:
    """The loss functions `train_gan` plays the game with: swap in your own (lesson 04 trains with its exercises').

    generator is the non-saturating loss (fake_logits) -> scalar; the saturating one always comes from
    this module. penalty is `gradient_penalty`'s signature.
    """

    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = discriminator_loss
    generator: Callable[[torch.Tensor], torch.Tensor] = generator_loss
    critic: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = critic_loss
    wgan_generator: Callable[[torch.Tensor], torch.Tensor] = wgan_generator_loss
    penalty: Callable[..., torch.Tensor] = gradient_penalty


def _split(batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    return (batch[0], batch[1]) if isinstance(batch, tuple) else (batch, None)


def train_gan(generator: nn.Module, discriminator: nn.Module, data, config: GANConfig | None = None, *,
              seed: int = 0, device: str | torch.device = "auto", progress: bool = True, desc: str = "GAN",
              snapshot_n: int = 500, snapshot_lim: tuple[float, float, float, float] | None = None,
              grid_size: int = 60, losses: Losses | None = None,
              on_step: Callable[[nn.Module, int], None] | None = None) -> tuple[History, Snapshots | None]:
    """Train a GAN with the loss of `config`, on `training.fit_adversarial`; return its History and snapshots.

    The discriminator (the critic, for WGAN-GP) steps on every batch and the generator on every
    n_critic-th. For WGAN-GP the critic's loss is critic_loss + gp_weight * gradient_penalty.

    Args:
        generator, discriminator: G(z[, y]) and D(x[, y]) (conditional when `data` is (x, y)).
        data: real examples (N, ...), or a tuple (x, y) for a conditional GAN.
        config: the loss, latent size, n_critic, lambda, optimiser and epochs.
        snapshot_n: samples per snapshot; snapshot_lim, grid_size: the grid of D's output (2-D data).
        losses: the loss functions to use (default this module's).
        on_step: optional callback(generator, step) after each generator step, e.g. a `training.EMA`.
    Returns:
        (History with "critic_loss" and "generator_loss", Snapshots or None when snapshot_every = 0).
    """
    cfg = config if config is not None else GANConfig()
    fns = losses if losses is not None else Losses()
    conditional = isinstance(data, tuple)

    def noise(n: int, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(n, cfg.latent_dim, device=like.device)

    def d_loss(G: nn.Module, D: nn.Module, batch) -> torch.Tensor:
        x, y = _split(batch)
        kw = {"y": y} if conditional else {}
        fake = G(noise(len(x), x), **kw).detach()
        if cfg.loss == "wgan-gp":
            penalty = fns.penalty(lambda h: D(h, **kw), x, fake)
            return fns.critic(D(x, **kw), D(fake, **kw)) + cfg.gp_weight * penalty
        return fns.discriminator(D(x, **kw), D(fake, **kw))

    def g_loss(G: nn.Module, D: nn.Module, batch) -> torch.Tensor:
        x, y = _split(batch)
        kw = {"y": y} if conditional else {}
        scores = D(G(noise(len(x), x), **kw), **kw)
        if cfg.loss == "wgan-gp":
            return fns.wgan_generator(scores)
        if cfg.loss == "saturating":
            return generator_loss(scores, saturating=True)
        return fns.generator(scores)

    g_opt = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=cfg.betas)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr, betas=cfg.betas)
    n = len(data[0] if conditional else data)
    g_steps = max(1, cfg.epochs * -(-n // cfg.batch_size) // cfg.n_critic)  # generator steps in the run

    def factor(step: int) -> float:  # the learning rate's multiplier after `step` generator steps
        if cfg.lr_schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * min(step, g_steps) / g_steps))  # half a cosine, 1 -> 0

    snaps = SnapshotRecorder(generator, discriminator, data, cfg.snapshot_every, cfg.latent_dim, cfg.loss, seed=seed,
                             n=snapshot_n, lim=snapshot_lim, grid_size=grid_size) if cfg.snapshot_every else None

    def after_generator_step(G: nn.Module, step: int) -> None:
        for opt in (g_opt, d_opt):
            for group in opt.param_groups:
                group["lr"] = cfg.lr * factor(step)
        if on_step is not None:
            on_step(G, step)
        if snaps is not None:
            snaps(G, step)

    history = fit_adversarial(
        generator, discriminator, g_loss, d_loss, data, epochs=cfg.epochs, batch_size=cfg.batch_size,
        n_critic=cfg.n_critic, generator_optimizer=g_opt, critic_optimizer=d_opt, seed=seed, device=device,
        progress=progress, desc=desc, on_step=after_generator_step,
    )
    return history, (snaps.done() if snaps else None)


class SnapshotRecorder:
    """Records a run for the training scrubber: call it after each generator step, `.done()` gives the Snapshots.

    Every `every` generator steps (and after the first) it keeps the generator's samples for one fixed
    batch of z and, on 2-D data, the discriminator's output on a grid over the data.

    Args:
        generator, discriminator: the two networks being trained.
        data: the real data (N, ...), or (x, y) for a conditional GAN (the snapshots then use fixed labels).
        every: generator steps between snapshots. latent_dim: size of z. loss: the run's loss (see Snapshots).
        seed: seeds the fixed z. n: samples per snapshot. lim: the grid's (xmin, xmax, ymin, ymax), default
            the data's box widened by a quarter on each side. grid_size: G, the grid is G x G.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, data, every: int, latent_dim: int,
                 loss: str = "non-saturating", *, seed: int = 0, n: int = 500,
                 lim: tuple[float, float, float, float] | None = None, grid_size: int = 60):
        x = data[0] if isinstance(data, tuple) else data
        self.D, self.every, self.loss = discriminator, integer(every, "every", lo=1), choice(loss, "loss", LOSSES)
        self.steps, self.samples, self.grids = [], [], []
        self.z = torch.randn(n, integer(latent_dim, "latent_dim", lo=1), generator=torch.Generator().manual_seed(seed + 1))
        self.points = x.ndim == 2 and x.shape[1] == 2
        self.y = (data[1][torch.randint(len(x), (n,), generator=torch.Generator().manual_seed(seed + 2))]
                  if isinstance(data, tuple) else None)  # (n,) labels of the training set's classes
        self.lim, self.grid = None, None
        if self.points:
            lo, hi = x.min(0).values, x.max(0).values
            pad = 0.25 * (hi - lo)
            self.lim = lim or (float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1]))
            xs = torch.linspace(self.lim[0], self.lim[1], grid_size)
            ys = torch.linspace(self.lim[2], self.lim[3], grid_size)
            gx, gy = torch.meshgrid(xs, ys, indexing="xy")
            self.grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (G*G, 2), row-major from ymin
            self.grid_size = grid_size

    @torch.no_grad()
    def __call__(self, G: nn.Module, step: int) -> None:
        if step % self.every and step != 1:
            return
        device = model_device(G)
        kw = {"y": self.y.to(device)} if self.y is not None else {}
        was = G.training
        G.eval()
        self.steps.append(step)
        self.samples.append(G(self.z.to(device), **kw).cpu())
        if self.points and self.y is None:
            d_was = self.D.training
            self.D.eval()
            self.grids.append(self.D(self.grid.to(device)).cpu().view(self.grid_size, self.grid_size))
            self.D.train(d_was)
        G.train(was)

    def done(self) -> Snapshots:
        grid = torch.stack(self.grids) if self.grids else None
        return Snapshots(torch.tensor(self.steps), torch.stack(self.samples), grid, self.lim, self.loss)


@torch.no_grad()
def sample(generator: nn.Module, n: int, latent_dim: int, y: torch.Tensor | None = None,
           generator_rng: torch.Generator | None = None) -> torch.Tensor:
    """n samples G(z[, y]) with z ~ N(0, I) drawn on the CPU (the same under a seed on any device), returned on the CPU."""
    device = model_device(generator)
    z = torch.randn(integer(n, "n", lo=1), integer(latent_dim, "latent_dim", lo=1), generator=generator_rng)
    was = generator.training
    generator.eval()
    out = generator(z.to(device), **({"y": y.to(device)} if y is not None else {})).cpu()
    generator.train(was)
    return out


# ----------------------------------------------------------------------------- mode coverage
@dataclass(frozen=True)
class ModeCoverage:
    """How many modes of a 2-D mixture a generator reaches.

    Attributes:
        covered: modes that receive at least `min_share` of the samples a perfect generator would put
            within `radius` standard deviations of them (n / K each).
        modes: K, the number of modes.
        high_quality: the share of samples within `radius` standard deviations of some mode.
        counts: (K,) high-quality samples per mode.
    """

    covered: int
    modes: int
    high_quality: float
    counts: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.covered}/{self.modes} modes, {100 * self.high_quality:.0f}% high-quality samples"


def mode_coverage(samples: torch.Tensor, centres: torch.Tensor, std: float, radius: float = 3.0,
                  min_share: float = 0.2) -> ModeCoverage:
    """Count the modes of a Gaussian mixture that samples reach (as in VEEGAN and PacGAN).

    A sample is high quality when it lies within radius * std of its nearest centre; a mode is
    covered when it gets at least min_share * n / K high-quality samples (n samples, K modes).

    Args:
        samples: (n, 2) generated points. centres: (K, 2) the mixture's means. std: each mode's std.
    """
    check_shape(samples, "samples", "(n, D)", isinstance(samples, torch.Tensor) and samples.ndim == 2)
    check_shape(centres, "centres", f"(K, {samples.shape[1]})",
                isinstance(centres, torch.Tensor) and centres.ndim == 2 and centres.shape[1] == samples.shape[1])
    number(std, "std", lo=0, lo_open=True)
    d = torch.cdist(samples.double(), centres.double())  # (n, K)
    nearest, which = d.min(dim=1)
    good = nearest <= radius * std
    counts = torch.bincount(which[good], minlength=len(centres))  # (K,)
    need = min_share * len(samples) / len(centres)
    return ModeCoverage(int((counts >= need).sum()), len(centres), float(good.double().mean()),
                        tuple(int(c) for c in counts))


def coverage_history(snapshots: Snapshots, centres: torch.Tensor, std: float, **kwargs) -> list[ModeCoverage]:
    """`mode_coverage` of every snapshot of a 2-D run: how the modes were found (or lost) as it trained."""
    return [mode_coverage(s, centres, std, **kwargs) for s in snapshots.samples]


def jensen_shannon(p: torch.Tensor, q: torch.Tensor, dx: float) -> float:
    """JSD(p || q) in nats for two densities tabulated on one grid of spacing dx: what D* leaves of the game.

    With the optimal discriminator D* = p / (p + q), the value is -log 4 + 2 JSD(p || q) (Goodfellow et al.).
    """
    p, q = p.double() / (p.sum() * dx), q.double() / (q.sum() * dx)  # normalised on the grid
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor, b: torch.Tensor) -> float:
        mask = a > 0
        return float((a[mask] * (a[mask] / b[mask]).log()).sum() * dx)

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


__all__ = [
    "LOSSES", "discriminator_loss", "generator_loss", "critic_loss", "wgan_generator_loss", "gradient_penalty",
    "MLPGenerator", "MLPDiscriminator", "ConvGenerator", "ConvDiscriminator", "GANConfig", "LR_SCHEDULES", "Losses",
    "Snapshots", "SnapshotRecorder",
    "train_gan", "sample", "ModeCoverage", "mode_coverage", "coverage_history", "jensen_shannon",
]

