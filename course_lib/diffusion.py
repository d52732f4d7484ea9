"""Denoising diffusion (DDPM, Ho et al. 2020) and its deterministic sampler (DDIM, Song et al. 2021).

The process is kept apart from the network: `GaussianDiffusion` owns the noise schedule and every
formula of the forward and reverse processes, and takes the noise-prediction network as an argument
to each call, `model(x_t, t) -> eps` with `t` an int64 tensor (B,). The network never sees a beta.

Time steps are 0-based indices t = 0 .. T-1 into the schedule, so index t is the paper's step t + 1:
`q_sample(x0, t=0)` adds the first step's noise beta_1, and the sampler's last step (t = 0) maps x_1
to x_0 without adding noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

NoiseModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SIGMAS = ("beta", "beta_tilde")


# ----------------------------------------------------------------------------- schedules
def linear_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Betas rising linearly from beta_start to beta_end over T steps (Ho et al.), float64 (T,)."""
    _check_T(T)
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(f"expected 0 < beta_start <= beta_end < 1, got beta_start={beta_start!r}, beta_end={beta_end!r}")
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_beta_schedule(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Betas of the cosine schedule (Nichol & Dhariwal 2021), float64 (T,).

    alphabar(t) = f(t) / f(0) with f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2), and
    beta_t = 1 - alphabar(t) / alphabar(t - 1), capped at max_beta (the last steps would reach 1).
    """
    _check_T(T)
    if s < 0 or not 0.0 < max_beta < 1.0:
        raise ValueError(f"expected s >= 0 and 0 < max_beta < 1, got s={s!r}, max_beta={max_beta!r}")
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2  # f(t), t = 0 .. T
    alphabar = f / f[0]
    betas = 1 - alphabar[1:] / alphabar[:-1]  # beta_t = 1 - alphabar_t / alphabar_{t-1}
    return betas.clamp(max=max_beta)


def _check_T(T: int) -> None:
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"T must be a positive number of steps, got {T!r}")


# ----------------------------------------------------------------------------- helpers
def _gather(a: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """a[t] shaped (B, 1, ..., 1) to broadcast against x (B, ...), on x's device and dtype."""
    out = a.to(x.device)[t.to(x.device)].to(x.dtype)  # (B,)
    return out.view(-1, *([1] * (x.ndim - 1)))


def _randn(shape: Sequence[int], generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """Standard normal noise drawn on the CPU (the same under a seed on every device), moved to like's device."""
    return torch.randn(tuple(shape), generator=generator, dtype=like.dtype).to(like.device)


@dataclass
class Trajectory:
    """The states a sampler went through, for drawing the reverse process.

    Attributes:
        ts: (S,) the time step of each recorded denoising step, from high to low.
        xs: (S + 1, B, ...) xs[i] is the state x_t before step ts[i]; xs[-1] is the final sample.
        x0s: (S, B, ...) the network's estimate of x_0 at step ts[i].
    """

    ts: torch.Tensor
    xs: torch.Tensor
    x0s: torch.Tensor

    def __len__(self) -> int:
        return len(self.ts)


class _Recorder:
    def __init__(self, every: int, last: int):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        self.every, self.last = every, last
        self.ts, self.xs, self.x0s = [], [], []

    def add(self, i: int, t: int, x: torch.Tensor, x0: torch.Tensor) -> None:
        if i % self.every == 0 or i == self.last:
            self.ts.append(t)
            self.xs.append(x.detach().cpu())
            self.x0s.append(x0.detach().cpu())

    def done(self, x: torch.Tensor) -> Trajectory:
        return Trajectory(torch.tensor(self.ts), torch.stack(self.xs + [x.detach().cpu()]), torch.stack(self.x0s))


# ----------------------------------------------------------------------------- the process
class GaussianDiffusion:
    """The forward noising process and the reverse sampler for a given beta schedule.

    Args:
        betas: (T,) noise schedule, each in (0, 1).
        sigma: the reverse-process variance sigma_t^2 of DDPM sampling: "beta" (sigma_t^2 = beta_t)
            or "beta_tilde" (the posterior variance, beta~_t = (1 - alphabar_{t-1}) / (1 - alphabar_t) beta_t).
    """

    def __init__(self, betas: torch.Tensor, sigma: str = "beta"):
        betas = torch.as_tensor(betas, dtype=torch.float64).detach().cpu()
        if betas.ndim != 1 or len(betas) < 1 or not ((betas > 0) & (betas < 1)).all():
            raise ValueError(f"betas must be a 1-D schedule of values in (0, 1), got {tuple(betas.shape)} values")
        if sigma not in SIGMAS:
            raise ValueError(f"sigma must be one of {SIGMAS}, got {sigma!r}")
        self.T, self.sigma = len(betas), sigma
        self.betas = betas
        self.alphas = 1.0 - betas  # alpha_t = 1 - beta_t
        self.alphabar = torch.cumprod(self.alphas, 0)  # alphabar_t = prod_{s<=t} alpha_s
        self.alphabar_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphabar[:-1]])  # alphabar_{t-1}, 1 at t=0
        # q(x_{t-1} | x_t, x_0) = N(coef_x0 x_0 + coef_xt x_t, beta~_t I)
        self.posterior_variance = betas * (1 - self.alphabar_prev) / (1 - self.alphabar)
        self.posterior_coef_x0 = betas * self.alphabar_prev.sqrt() / (1 - self.alphabar)
        self.posterior_coef_xt = (1 - self.alphabar_prev) * self.alphas.sqrt() / (1 - self.alphabar)

    def __repr__(self) -> str:
        return f"GaussianDiffusion(T={self.T}, beta {self.betas[0]:.3g}..{self.betas[-1]:.3g}, sigma={self.sigma!r})"

    @property
    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio of x_t given x_0: alphabar_t / (1 - alphabar_t), (T,)."""
        return self.alphabar / (1 - self.alphabar)

    # -- argument checks
    def _t(self, t: int | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """t as an int64 tensor (B,) on x's device, checked to lie in 0 .. T-1."""
        if x.ndim < 1:
            raise ValueError("expected a batch x of shape (B, ...), got a scalar")
        if isinstance(t, int) and not isinstance(t, bool):
            t = torch.full((x.shape[0],), t, dtype=torch.long)
        if not isinstance(t, torch.Tensor) or t.dtype not in (torch.int64, torch.int32) or t.shape != x.shape[:1]:
            got = f"tensor {t.dtype} {tuple(t.shape)}" if isinstance(t, torch.Tensor) else repr(t)
            raise ValueError(f"t must be an int or an integer tensor of shape ({x.shape[0]},) (one step per example), got {got}")
        if len(t) and (int(t.min()) < 0 or int(t.max()) >= self.T):
            raise ValueError(f"t must lie in 0 .. {self.T - 1} (T = {self.T}), got values {int(t.min())} .. {int(t.max())}")
        return t.long().to(x.device)

    @staticmethod
    def _same_shape(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
        if a.shape != b.shape:
            raise ValueError(f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")

    # -- forward process
    def q_sample(self, x0: torch.Tensor, t: int | torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Sample x_t ~ q(x_t | x_0) in one step.

        Args:
            x0: (B, ...) clean data. t: (B,) step indices (or one int for all). noise: (B, ...) eps,
                drawn when omitted.
        """
        t = self._t(t, x0)
        noise = torch.randn_like(x0) if noise is None else noise
        self._same_shape(x0, noise, "x0 and noise")
        return _gather(self.alphabar.sqrt(), t, x0) * x0 + _gather((1 - self.alphabar).sqrt(), t, x0) * noise  # sqrt(ab) x0 + sqrt(1-ab) eps

    def q_step(self, x_prev: torch.Tensor, t: int | torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """One forward step x_t ~ q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)."""
        t = self._t(t, x_prev)
        noise = torch.randn_like(x_prev) if noise is None else noise
        self._same_shape(x_prev, noise, "x_prev and noise")
        return _gather(self.alphas.sqrt(), t, x_prev) * x_prev + _gather(self.betas.sqrt(), t, x_prev) * noise

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (B, ...) and variance (B, 1, ..., 1) of q(x_{t-1} | x_t, x_0); at t = 0 the variance is 0."""
        self._same_shape(x0, xt, "x0 and xt")
        t = self._t(t, xt)
        mean = _gather(self.posterior_coef_x0, t, xt) * x0 + _gather(self.posterior_coef_xt, t, xt) * xt
        return mean, _gather(self.posterior_variance, t, xt)

    def predict_x0(self, xt: torch.Tensor, t: int | torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The x_0 implied by a noise estimate: (x_t - sqrt(1 - alphabar_t) eps) / sqrt(alphabar_t)."""
        t = self._t(t, xt)
        self._same_shape(xt, eps, "xt and eps")
        return (xt - _gather((1 - self.alphabar).sqrt(), t, xt) * eps) / _gather(self.alphabar.sqrt(), t, xt)

    # -- training (Algorithm 1)
    def training_loss(self, model: NoiseModel, x0: torch.Tensor, t: torch.Tensor | None = None,
                      noise: torch.Tensor | None = None) -> torch.Tensor:
        """The simple loss E ||eps - eps_theta(sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps, t)||^2 (mean over entries).

        Args:
            model: eps_theta(x_t, t). x0: (B, ...) a batch of data. t, noise: drawn uniformly /
                from N(0, I) when omitted (pass them to make the loss deterministic).
        """
        # 1. t ~ Uniform{0, .., T-1}, eps ~ N(0, I)
        t = torch.randint(0, self.T, (x0.shape[0],), device=x0.device) if t is None else self._t(t, x0)
        noise = torch.randn_like(x0) if noise is None else noise
        # 2. noise the data in one step, 3. regress the noise
        xt = self.q_sample(x0, t, noise)
        return F.mse_loss(model(xt, t), noise)

    # -- sampling (Algorithm 2)
    def sigma2(self, t: int | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The reverse-process variance sigma_t^2 (B, 1, ..., 1) at step t."""
        table = self.betas if self.sigma == "beta" else self.posterior_variance
        return _gather(table, self._t(t, x), x)

    def _p_step(self, model: NoiseModel, xt: torch.Tensor, t: int | torch.Tensor,
                noise: torch.Tensor | None, generator: torch.Generator | None, clip: float | None):
        t = self._t(t, xt)
        eps = model(xt, t)
        x0 = self.predict_x0(xt, t, eps)
        if clip is None:
            # mu = (x_t - (1 - alpha_t) / sqrt(1 - alphabar_t) eps) / sqrt(alpha_t)
            mean = (xt - _gather(self.betas / (1 - self.alphabar).sqrt(), t, xt) * eps) / _gather(self.alphas.sqrt(), t, xt)
        else:  # the same mean, written through the posterior with the x_0 estimate clipped to the data range
            x0 = x0.clamp(-clip, clip)
            mean, _ = self.q_posterior(x0, xt, t)
        z = _randn(xt.shape, generator, xt) if noise is None else noise
        self._same_shape(xt, z, "xt and noise")
        nonzero = (t > 0).to(xt.dtype).view(-1, *([1] * (xt.ndim - 1)))  # no noise at the last step
        return mean + nonzero * self.sigma2(t, xt).sqrt() * z, x0

    @torch.no_grad()
    def p_sample(self, model: NoiseModel, xt: torch.Tensor, t: int | torch.Tensor, noise: torch.Tensor | None = None,
                 generator: torch.Generator | None = None, clip: float | None = None) -> torch.Tensor:
        """One reverse step: x_{t-1} = (x_t - (1 - alpha_t) / sqrt(1 - alphabar_t) eps_theta) / sqrt(alpha_t) + sigma_t z.

        Args:
            model: eps_theta. xt: (B, ...) the current state. t: the step (int or (B,)).
            noise: z (B, ...), drawn when omitted; not used at t = 0, where no noise is added.
            clip: when given, clip the implied x_0 estimate to [-clip, clip] and take the posterior
                mean from it (equal to the formula above when nothing is clipped).
        """
        return self._p_step(model, xt, t, noise, generator, clip)[0]

    @torch.no_grad()
    def sample(self, model: NoiseModel, shape: Sequence[int], generator: torch.Generator | None = None,
               device: str | torch.device | None = None, clip: float | None = None,
               return_trajectory: bool = False, every: int = 1) -> torch.Tensor | tuple[torch.Tensor, Trajectory]:
        """Draw samples with DDPM's ancestral sampler (T network calls).

        Args:
            model: eps_theta. shape: (B, ...) of the samples. generator: seeds x_T and every z (drawn
                on the CPU, so a seed gives the same samples on any device). device: where to run
                (default: the model's). clip: see `p_sample`.
            return_trajectory: also return a `Trajectory` recording every `every`-th step (and the last).
        """
        # 1. x_T ~ N(0, I)
        x = _randn(shape, generator, _like(model, device))
        rec = _Recorder(every, self.T - 1) if return_trajectory else None
        # 2. for t = T, .., 1: x_{t-1} = mu_theta(x_t, t) + sigma_t z (z = 0 at the last step)
        for i, t in enumerate(range(self.T - 1, -1, -1)):
            x_next, x0 = self._p_step(model, x, t, None, generator, clip)
            if rec is not None:
                rec.add(i, t, x, x0)
            x = x_next
        # 3. return x_0
        return (x, rec.done(x)) if rec is not None else x

    def ddim_timesteps(self, steps: int) -> torch.Tensor:
        """`steps` indices evenly spread over 0 .. T-1, descending (the DDIM sub-sequence tau)."""
        if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= self.T:
            raise ValueError(f"steps must be an int in 1 .. {self.T} (T), got {steps!r}")
        if steps == 1:  # one step from pure noise: t = T-1 (linspace(0, T-1, 1) would give [0])
            return torch.tensor([self.T - 1])
        return torch.linspace(0, self.T - 1, steps, dtype=torch.float64).round().long().flip(0)

    @torch.no_grad()
    def ddim_sample(self, model: NoiseModel, shape: Sequence[int], steps: int = 50, eta: float = 0.0,
                    generator: torch.Generator | None = None, device: str | torch.device | None = None,
                    clip: float | None = None, return_trajectory: bool = False,
                    every: int = 1) -> torch.Tensor | tuple[torch.Tensor, Trajectory]:
        """Draw samples with DDIM over `steps` of the T steps; eta = 0 is deterministic given x_T.

        Each step from t to the previous kept step s (alphabar_s = 1 after the last):
            x0_hat = (x_t - sqrt(1 - alphabar_t) eps) / sqrt(alphabar_t)
            sigma = eta * sqrt((1 - alphabar_s) / (1 - alphabar_t)) * sqrt(1 - alphabar_t / alphabar_s)
            x_s = sqrt(alphabar_s) x0_hat + sqrt(1 - alphabar_s - sigma^2) eps + sigma z
        With eta = 1 and steps = T this is DDPM with sigma_t^2 = beta~_t.

        Args: as `sample`, plus steps (1 .. T) and eta >= 0.
        """
        if not isinstance(eta, (int, float)) or isinstance(eta, bool) or not 0 <= eta < math.inf:
            raise ValueError(f"eta must be a number >= 0 (0: DDIM, 1: DDPM-like), got {eta!r}")
        ts = self.ddim_timesteps(steps)
        x = _randn(shape, generator, _like(model, device))
        rec = _Recorder(every, len(ts) - 1) if return_trajectory else None
        for i, t in enumerate(ts.tolist()):
            ab = float(self.alphabar[t])
            ab_prev = float(self.alphabar[ts[i + 1]]) if i + 1 < len(ts) else 1.0
            tt = self._t(t, x)
            eps = model(x, tt)
            x0 = self.predict_x0(x, tt, eps)
            if clip is not None:
                x0 = x0.clamp(-clip, clip)
                eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)  # the noise consistent with the clipped x0
            sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
            x_next = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
            if sigma > 0:
                x_next = x_next + sigma * _randn(x.shape, generator, x)
            if rec is not None:
                rec.add(i, t, x, x0)
            x = x_next
        return (x, rec.done(x)) if rec is not None else x


def _like(model, device: str | torch.device | None) -> torch.Tensor:
    """An empty tensor with the model's dtype and the requested device (default: the model's)."""
    try:
        p = next(model.parameters())
        dtype, where = p.dtype, p.device
    except (AttributeError, StopIteration):  # a plain function, e.g. an oracle predictor
        dtype, where = torch.get_default_dtype(), torch.device("cpu")
    return torch.empty((), dtype=dtype, device=where if device is None else torch.device(device))
