"""Denoising diffusion (DDPM, Ho et al. 2020) and its deterministic sampler (DDIM, Song et al. 2021).

The process is kept apart from the network: `GaussianDiffusion` owns the noise schedule and every
formula of the forward and reverse processes, and takes the noise-prediction network as an argument
to each call, `model(x_t, t, **model_kwargs) -> eps` with `t` an int64 tensor (B,). The network never
sees a beta. Sampling is split as a scheduler does it: `step` (DDPM) and `ddim_step` turn one
prediction eps into the next state, and one loop calls the network and then a step, so both
samplers share it. Conditioning (class labels, ...) passes through `model_kwargs` untouched, so
classifier-free guidance is a wrapper around the model, not a sampler option.

Time steps are 0-based indices t = 0 .. T-1 into the schedule, so index t is the paper's step t + 1:
`q_sample(x0, t=0)` adds the first step's noise beta_1, and the sampler's last step (t = 0) maps x_1
to x_0 without adding noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .core.devices import model_device, model_dtype
from .core.validation import choice, integer, number, same_shape

NoiseModel = Callable[..., torch.Tensor]  # model(x_t (B, ...), t (B,), **model_kwargs) -> eps (B, ...)
SIGMAS = ("beta", "beta_tilde")


# ----------------------------------------------------------------------------- schedules
def linear_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Betas rising linearly from beta_start to beta_end over T steps (Ho et al.), float64 (T,)."""
    T = integer(T, "T", lo=1, hint=" (the number of steps)")
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(f"expected 0 < beta_start <= beta_end < 1, got beta_start={beta_start!r}, beta_end={beta_end!r}")
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_beta_schedule(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Betas of the cosine schedule (Nichol & Dhariwal 2021), float64 (T,).

    alphabar(t) = f(t) / f(0) with f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2), and
    beta_t = 1 - alphabar(t) / alphabar(t - 1), capped at max_beta (the last steps would reach 1).
    """
    T = integer(T, "T", lo=1, hint=" (the number of steps)")
    number(s, "s", lo=0)
    number(max_beta, "max_beta", lo=0, hi=1, lo_open=True, hi_open=True)
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2  # f(t), t = 0 .. T
    alphabar = f / f[0]
    betas = 1 - alphabar[1:] / alphabar[:-1]  # beta_t = 1 - alphabar_t / alphabar_{t-1}
    return betas.clamp(max=max_beta)


SCHEDULES = ("linear", "cosine")


def schedule_alphabars(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> dict[str, torch.Tensor]:
    """alphabar_t (T,) float64 of the linear (beta_start .. beta_end) and the cosine schedule, by name."""
    betas = {"linear": linear_beta_schedule(T, beta_start, beta_end), "cosine": cosine_beta_schedule(T)}
    return {kind: torch.cumprod(1 - b, 0) for kind, b in betas.items()}  # alphabar_t = prod_{s<=t} (1 - beta_s)


# ----------------------------------------------------------------------------- helpers
def _gather(a: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """a[t] shaped (B, 1, ..., 1) to broadcast against x (B, ...), on x's device and dtype."""
    out = a.to(x.device)[t.to(x.device)].to(x.dtype)  # (B,)
    return out.view(-1, *([1] * (x.ndim - 1)))


def _randn(shape: Sequence[int], generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """Standard normal noise drawn on the CPU (the same under a seed on every device), moved to like's device."""
    return torch.randn(tuple(shape), generator=generator, dtype=like.dtype).to(like.device)


def _like(model: NoiseModel, device: str | torch.device | None) -> torch.Tensor:
    """An empty tensor with the model's dtype on the requested device (default: the model's; a plain function: cpu)."""
    where = model_device(model) if device is None else torch.device(device)
    return torch.empty((), dtype=model_dtype(model), device=where)


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
        self.every, self.last = integer(every, "every", lo=1), last
        self.ts, self.xs, self.x0s = [], [], []

    def add(self, i: int, t: int, x: torch.Tensor, x0: torch.Tensor) -> None:
        if i % self.every == 0 or i == self.last:
            self.ts.append(t)
            self.xs.append(x.detach().cpu())
            self.x0s.append(x0.detach().cpu())

    def done(self, x: torch.Tensor) -> Trajectory:
        return Trajectory(torch.tensor(self.ts), torch.stack([*self.xs, x.detach().cpu()]), torch.stack(self.x0s))


# A step of a sampling loop: (index i in the loop, step t, prediction eps, state x_t) -> (next state, x0 estimate)
Update = Callable[[int, int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


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
        self.T, self.sigma = len(betas), choice(sigma, "sigma", SIGMAS)
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

    # -- forward process
    def q_sample(self, x0: torch.Tensor, t: int | torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Sample x_t ~ q(x_t | x_0) in one step.

        Args:
            x0: (B, ...) clean data. t: (B,) step indices (or one int for all). noise: (B, ...) eps,
                drawn when omitted.
        """
        t = self._t(t, x0)
        noise = torch.randn_like(x0) if noise is None else noise
        same_shape(x0, noise, "x0 and noise")
        # x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps
        return _gather(self.alphabar.sqrt(), t, x0) * x0 + _gather((1 - self.alphabar).sqrt(), t, x0) * noise

    def q_step(self, x_prev: torch.Tensor, t: int | torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """One forward step x_t ~ q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)."""
        t = self._t(t, x_prev)
        noise = torch.randn_like(x_prev) if noise is None else noise
        same_shape(x_prev, noise, "x_prev and noise")
        return _gather(self.alphas.sqrt(), t, x_prev) * x_prev + _gather(self.betas.sqrt(), t, x_prev) * noise

    def q_chain(self, x0: torch.Tensor, keep: Sequence[int], generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the forward process step by step from x0, keeping the states at the steps `keep`.

        Args:
            x0: (B, ...) data (the first step, t = 0, noises it once). keep: steps in 0 .. T-1.
            generator: draws every step's noise (on the CPU).
        Returns:
            (ts (K,) sorted unique int64, xs (K, B, ...)): xs[k] is x_t at t = ts[k].
        """
        ts = sorted({integer(t, "t", 0, self.T - 1, what="an integer step", hint=f" (T = {self.T})") for t in keep})
        if not ts:
            raise ValueError("keep must name at least one step to keep")
        x, kept = x0, []
        for t in range(ts[-1] + 1):
            x = self.q_step(x, t, _randn(x.shape, generator, x))  # x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps
            if t == ts[len(kept)]:
                kept.append(x.clone())
        return torch.tensor(ts), torch.stack(kept)

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (B, ...) and variance (B, 1, ..., 1) of q(x_{t-1} | x_t, x_0); at t = 0 the variance is 0."""
        same_shape(x0, xt, "x0 and xt")
        t = self._t(t, xt)
        mean = _gather(self.posterior_coef_x0, t, xt) * x0 + _gather(self.posterior_coef_xt, t, xt) * xt
        return mean, _gather(self.posterior_variance, t, xt)

    def predict_x0(self, xt: torch.Tensor, t: int | torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The x_0 implied by a noise estimate: (x_t - sqrt(1 - alphabar_t) eps) / sqrt(alphabar_t)."""
        t = self._t(t, xt)
        same_shape(xt, eps, "xt and eps")
        return (xt - _gather((1 - self.alphabar).sqrt(), t, xt) * eps) / _gather(self.alphabar.sqrt(), t, xt)

    # -- training (Algorithm 1)
    def training_loss(self, model: NoiseModel, x0: torch.Tensor, t: torch.Tensor | None = None,
                      noise: torch.Tensor | None = None, model_kwargs: dict | None = None) -> torch.Tensor:
        """The simple loss E ||eps - eps_theta(sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps, t)||^2 (mean over entries).

        Args:
            model: eps_theta(x_t, t, **model_kwargs). x0: (B, ...) a batch of data. t, noise: drawn
                uniformly / from N(0, I) when omitted (pass them to make the loss deterministic).
            model_kwargs: passed to the model as they are, e.g. {"y": labels} (B,) for a conditional one.
        """
        # 1. t ~ Uniform{0, .., T-1}, eps ~ N(0, I)
        t = torch.randint(0, self.T, (x0.shape[0],), device=x0.device) if t is None else self._t(t, x0)
        noise = torch.randn_like(x0) if noise is None else noise
        # 2. noise the data in one step, 3. regress the noise
        xt = self.q_sample(x0, t, noise)
        return F.mse_loss(model(xt, t, **(model_kwargs or {})), noise)

    # -- one reverse step, given the network's prediction (what a scheduler does)
    def sigma2(self, t: int | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The reverse-process variance sigma_t^2 (B, 1, ..., 1) at step t."""
        table = self.betas if self.sigma == "beta" else self.posterior_variance
        return _gather(table, self._t(t, x), x)

    def step(self, eps: torch.Tensor, xt: torch.Tensor, t: int | torch.Tensor, noise: torch.Tensor | None = None,
             clip: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One DDPM step from x_t to x_{t-1} given the predicted noise eps; returns (x_{t-1}, x0 estimate).

        x_{t-1} = (x_t - (1 - alpha_t) / sqrt(1 - alphabar_t) eps) / sqrt(alpha_t) + sigma_t z, with no
        noise at the last step (t = 0).

        Args:
            eps: (B, ...) the network's prediction at (x_t, t). xt: (B, ...). t: the step (int or (B,)).
            noise: z (B, ...); drawn with randn_like when omitted (unused at t = 0).
            clip: when given, clip the implied x_0 estimate to [-clip, clip] and take the posterior
                mean from it (equal to the formula above when nothing is clipped).
        """
        t = self._t(t, xt)
        x0 = self.predict_x0(xt, t, eps)
        if clip is None:
            # mu = (x_t - (1 - alpha_t) / sqrt(1 - alphabar_t) eps) / sqrt(alpha_t)
            mean = (xt - _gather(self.betas / (1 - self.alphabar).sqrt(), t, xt) * eps) / _gather(self.alphas.sqrt(), t, xt)
        else:  # the same mean, written through the posterior with the x_0 estimate clipped to the data range
            x0 = x0.clamp(-clip, clip)
            mean, _ = self.q_posterior(x0, xt, t)
        z = torch.randn_like(xt) if noise is None else noise
        same_shape(xt, z, "xt and noise")
        nonzero = (t > 0).to(xt.dtype).view(-1, *([1] * (xt.ndim - 1)))  # no noise at the last step
        return mean + nonzero * self.sigma2(t, xt).sqrt() * z, x0

    def ddim_sigma(self, t: int, t_prev: int, eta: float) -> float:
        """DDIM's noise scale between step t and the earlier step t_prev (-1: after the last step, alphabar = 1).

        sigma = eta * sqrt((1 - alphabar_prev) / (1 - alphabar_t)) * sqrt(1 - alphabar_t / alphabar_prev)
        """
        ab, ab_prev = self._alphabar_pair(t, t_prev)
        return eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))

    def _alphabar_pair(self, t: int, t_prev: int) -> tuple[float, float]:
        t = integer(t, "t", 0, self.T - 1, what="an integer step", hint=f" (T = {self.T})")
        t_prev = integer(t_prev, "t_prev", -1, t - 1, what="an earlier integer step",
                         hint=" (-1 for the end of sampling)")
        return float(self.alphabar[t]), (float(self.alphabar[t_prev]) if t_prev >= 0 else 1.0)

    def ddim_step(self, eps: torch.Tensor, xt: torch.Tensor, t: int, t_prev: int, eta: float = 0.0,
                  noise: torch.Tensor | None = None, clip: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One DDIM step from x_t to x_s, s = t_prev < t (-1: the end), given eps; returns (x_s, x0 estimate).

            x0_hat = (x_t - sqrt(1 - alphabar_t) eps) / sqrt(alphabar_t)
            x_s = sqrt(alphabar_s) x0_hat + sqrt(1 - alphabar_s - sigma^2) eps + sigma z
        with sigma from `ddim_sigma` (0 for eta = 0: deterministic). With eta = 1 and consecutive steps
        this is DDPM with sigma_t^2 = beta~_t.

        Args:
            eps: (B, ...) the network's prediction at (x_t, t). xt: (B, ...). t, t_prev: ints.
            eta: >= 0. noise: z (B, ...), drawn with randn_like when needed and omitted.
            clip: clip the x_0 estimate to [-clip, clip] and use the noise consistent with it.
        """
        eta = number(eta, "eta", lo=0, hint=" (0: DDIM, 1: DDPM-like)")
        ab, ab_prev = self._alphabar_pair(t, t_prev)
        x0 = self.predict_x0(xt, t, eps)
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
            eps = (xt - math.sqrt(ab) * x0) / math.sqrt(1 - ab)  # the noise consistent with the clipped x0
        sigma = self.ddim_sigma(t, t_prev, eta)
        x_next = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            z = torch.randn_like(xt) if noise is None else noise
            same_shape(xt, z, "xt and noise")
            x_next = x_next + sigma * z
        return x_next, x0

    # -- the variational bound in nats (Ho et al. eq. 5), for a likelihood on lesson 02's scale
    def prior_kl(self, x0: torch.Tensor) -> torch.Tensor:
        """L_T = KL(q(x_T | x_0) || N(0, I)) summed over each example's entries: (B,) nats."""
        ab = float(self.alphabar[-1])
        kl = 0.5 * (ab * x0.double() ** 2 + (1 - ab) - 1 - math.log(1 - ab))  # KL(N(sqrt(ab) x0, 1 - ab) || N(0, 1))
        return kl.flatten(1).sum(1)

    def step_kl(self, model: NoiseModel, x0: torch.Tensor, t: int | torch.Tensor, noise: torch.Tensor | None = None,
                model_kwargs: dict | None = None) -> torch.Tensor:
        """L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t)) at x_t ~ q(x_t | x_0), for steps t >= 1: (B,) nats.

        Both are Gaussians: the posterior N(mu~, beta~_t) and the model N(mu_theta, sigma_t^2), so
        KL = 0.5 sum [log(sigma_t^2 / beta~_t) + beta~_t / sigma_t^2 - 1 + (mu~ - mu_theta)^2 / sigma_t^2].
        """
        t = self._t(t, x0)
        if int(t.min()) < 1:
            raise ValueError("t must be >= 1 for the KL terms: step 0 is the decoder's (`decoder_nll`)")
        xt = self.q_sample(x0, t, noise)
        eps = model(xt, t, **(model_kwargs or {}))
        mean_q, var_q = self.q_posterior(x0.double(), xt.double(), t)
        mean_p = self.step(eps.double(), xt.double(), t, torch.zeros_like(mean_q))[0]  # mu_theta(x_t, t)
        var_p = self.sigma2(t, mean_q)
        kl = 0.5 * (torch.log(var_p / var_q) + var_q / var_p - 1 + (mean_q - mean_p) ** 2 / var_p)
        return kl.flatten(1).sum(1)

    def decoder_nll(self, model: NoiseModel, x0: torch.Tensor, levels: int, noise: torch.Tensor | None = None,
                    model_kwargs: dict | None = None) -> torch.Tensor:
        """L_0 = -log p_theta(x_0 | x_1) with Ho et al.'s discretised decoder: (B,) nats.

        x_0 holds `levels` grey levels evenly spaced on [-1, 1] (bins of width 2 / (levels - 1)); each
        pixel's probability is the mass of N(mu_theta(x_1, 1), beta_1) over its bin, the outer bins
        reaching to -inf and +inf, so the levels' probabilities sum to 1. The decoder's variance is
        beta_1 whichever `sigma` the sampler uses (beta~_1 is 0).
        """
        levels = integer(levels, "levels", lo=2, what="an integer")
        t = self._t(0, x0)
        x1 = self.q_sample(x0, t, noise)
        eps = model(x1, t, **(model_kwargs or {}))
        mean = self.step(eps.double(), x1.double(), t, torch.zeros_like(x1, dtype=torch.float64))[0]  # mu_theta(x_1, 1)
        x = x0.double()
        half, sd = 1.0 / (levels - 1), math.sqrt(float(self.betas[0]))
        normal = torch.distributions.Normal(mean, sd)
        upper = torch.where(x > 1 - half, torch.ones_like(x), normal.cdf(x + half))  # +inf above the top level
        lower = torch.where(x < -1 + half, torch.zeros_like(x), normal.cdf(x - half))  # -inf below the bottom one
        log_p = torch.log((upper - lower).clamp_min(1e-300))
        return -log_p.flatten(1).sum(1)

    def nll_bound(self, model: NoiseModel, x0: torch.Tensor, levels: int, strata: int = 50, ends: int = 5,
                  generator: torch.Generator | None = None, model_kwargs: dict | None = None) -> dict[str, torch.Tensor]:
        """An unbiased estimate of the variational bound -log p(x_0) <= L_T + sum_{t>=1} L_{t-1} + L_0, per example.

        The T - 1 KL terms are estimated by stratified sampling of the step, with `strata` network calls
        per example: the `ends` first and last steps, where the terms are largest and change fastest
        (the first steps weigh most; the cosine schedule's last beta is capped at 0.999), are computed
        one by one, and the steps between them are split into equal ranges with one uniformly drawn
        step each, weighted by the range's size. Each term draws its own x_t ~ q(x_t | x_0) (from
        `generator`, on the CPU).

        Args:
            model: eps_theta. x0: (B, ...) data on the grid of `levels` grey levels in [-1, 1].
            levels: the number of grey levels (17 for the digits). strata: network calls per example
                (<= T - 1). ends: steps computed exactly at each end (fewer when strata is small).
        Returns:
            {"prior": L_T, "diffusion": the KL terms, "decoder": L_0, "total": their sum}, each (B,) float64 nats.
        """
        if self.T < 2:
            raise ValueError("the bound needs T >= 2 steps")
        strata = integer(strata, "strata", 1, self.T - 1, what="an integer", hint=f" (T - 1 = {self.T - 1})")
        ends = min(integer(ends, "ends", lo=0), (strata - 1) // 2)
        B = x0.shape[0]
        like = x0.new_empty(())
        middle = torch.linspace(1 + ends, self.T - ends, strata - 2 * ends + 1).floor().long().tolist()
        ranges = [(t, t + 1) for t in range(1, 1 + ends)] + list(zip(middle[:-1], middle[1:])) \
            + [(t, t + 1) for t in range(self.T - ends, self.T)]  # (lo, hi): steps lo .. hi - 1
        total = torch.zeros(B, dtype=torch.float64, device=x0.device)
        for lo, hi in ranges:
            if hi <= lo:
                continue
            t = lo + (torch.rand(B, generator=generator) * (hi - lo)).long().clamp(max=hi - lo - 1)  # uniform in the range
            noise = _randn(x0.shape, generator, like)
            total += (hi - lo) * self.step_kl(model, x0, t.to(x0.device), noise, model_kwargs)
        decoder = self.decoder_nll(model, x0, levels, _randn(x0.shape, generator, like), model_kwargs)
        prior = self.prior_kl(x0)
        return {"prior": prior, "diffusion": total, "decoder": decoder, "total": prior + total + decoder}

    # -- sampling (Algorithm 2): one loop over the network and a step
    def _loop(self, model: NoiseModel, shape: Sequence[int], ts: Sequence[int], update: Update,
              generator: torch.Generator | None, device: str | torch.device | None, model_kwargs: dict | None,
              return_trajectory: bool, every: int) -> torch.Tensor | tuple[torch.Tensor, Trajectory]:
        # 1. x_T ~ N(0, I)
        x = _randn(shape, generator, _like(model, device))
        rec = _Recorder(every, len(ts) - 1) if return_trajectory else None
        kwargs = model_kwargs or {}
        # 2. for each step, high to low: predict the noise, then step to the next state
        for i, t in enumerate(ts):
            eps = model(x, self._t(t, x), **kwargs)
            x_next, x0 = update(i, t, eps, x)
            if rec is not None:
                rec.add(i, t, x, x0)
            x = x_next
        # 3. return x_0
        return (x, rec.done(x)) if rec is not None else x

    @torch.no_grad()
    def p_sample(self, model: NoiseModel, xt: torch.Tensor, t: int | torch.Tensor, noise: torch.Tensor | None = None,
                 generator: torch.Generator | None = None, clip: float | None = None,
                 model_kwargs: dict | None = None) -> torch.Tensor:
        """One reverse step: x_{t-1} = (x_t - (1 - alpha_t) / sqrt(1 - alphabar_t) eps_theta) / sqrt(alpha_t) + sigma_t z.

        Args:
            model: eps_theta. xt: (B, ...) the current state. t: the step (int or (B,)).
            noise: z (B, ...), drawn (with `generator`) when omitted; not used at t = 0.
            clip: see `step`. model_kwargs: passed to the model, e.g. {"y": labels}.
        """
        eps = model(xt, self._t(t, xt), **(model_kwargs or {}))
        z = _randn(xt.shape, generator, xt) if noise is None else noise
        return self.step(eps, xt, t, z, clip)[0]

    @torch.no_grad()
    def sample(self, model: NoiseModel, shape: Sequence[int], generator: torch.Generator | None = None,
               device: str | torch.device | None = None, clip: float | None = None,
               return_trajectory: bool = False, every: int = 1,
               model_kwargs: dict | None = None) -> torch.Tensor | tuple[torch.Tensor, Trajectory]:
        """Draw samples with DDPM's ancestral sampler (T network calls).

        Args:
            model: eps_theta. shape: (B, ...) of the samples. generator: seeds x_T and every z (drawn
                on the CPU, so a seed gives the same samples on any device). device: where to run
                (default: the model's). clip: see `step`.
            return_trajectory: also return a `Trajectory` recording every `every`-th step (and the last).
            model_kwargs: passed to the model at every step, e.g. {"y": labels} (B,).
        """

        def update(i: int, t: int, eps: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.step(eps, x, t, _randn(x.shape, generator, x), clip)  # z = 0 at the last step

        return self._loop(model, shape, range(self.T - 1, -1, -1), update, generator, device, model_kwargs,
                          return_trajectory, every)

    def ddim_timesteps(self, steps: int) -> torch.Tensor:
        """`steps` indices evenly spread over 0 .. T-1, descending (the DDIM sub-sequence tau)."""
        steps = integer(steps, "steps", 1, self.T, what="an int", hint=f" (T = {self.T})")
        if steps == 1:  # one step from pure noise: t = T-1 (linspace(0, T-1, 1) would give [0])
            return torch.tensor([self.T - 1])
        return torch.linspace(0, self.T - 1, steps, dtype=torch.float64).round().long().flip(0)

    @torch.no_grad()
    def ddim_sample(self, model: NoiseModel, shape: Sequence[int], steps: int = 50, eta: float = 0.0,
                    generator: torch.Generator | None = None, device: str | torch.device | None = None,
                    clip: float | None = None, return_trajectory: bool = False,
                    every: int = 1, model_kwargs: dict | None = None) -> torch.Tensor | tuple[torch.Tensor, Trajectory]:
        """Draw samples with DDIM over `steps` of the T steps (see `ddim_step`); eta = 0 is deterministic given x_T.

        Args: as `sample`, plus steps (1 .. T) and eta >= 0.
        """
        eta = number(eta, "eta", lo=0, hint=" (0: DDIM, 1: DDPM-like)")
        ts = self.ddim_timesteps(steps).tolist()
        prev = [*ts[1:], -1]  # the step each one goes to; -1: the end (alphabar = 1)

        def update(i: int, t: int, eps: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            z = _randn(x.shape, generator, x) if eta > 0 and prev[i] >= 0 else None  # no draw where sigma = 0
            return self.ddim_step(eps, x, t, prev[i], eta, z, clip)

        return self._loop(model, shape, ts, update, generator, device, model_kwargs, return_trajectory, every)
