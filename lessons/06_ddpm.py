# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 06 — Denoising diffusion: DDPM and DDIM
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/dgm-course/deep-generative-models/blob/main/lessons/06_ddpm.ipynb)
#
# A diffusion model learns to generate by learning to **undo noise**. A fixed forward process
# destroys an image in $T$ small Gaussian steps until nothing but noise is left; a network is trained
# to predict the noise that was added at any step; and sampling runs the process backwards, from pure
# noise to an image, one denoising step at a time (Sohl-Dickstein et al., 2015; Ho et al., 2020). In
# this lesson you build every piece, first on a 2-D point cloud where each step can be drawn, then on
# the digits, and end with a sampler 20 times faster than the one you started with.
#
# **You will learn to**
# - write the forward process step by step and in closed form, and see why its variance stays at 1;
# - compare the linear and cosine noise schedules through $\bar\alpha_t$ and the signal-to-noise ratio;
# - derive the reverse process from the posterior $q(x_{t-1} \mid x_t, x_0)$ and the variational bound,
#   and see why predicting the noise gives a simple squared-error loss;
# - implement Algorithm 1 (training) and Algorithm 2 (sampling) of Ho et al. exactly;
# - condition a network on time (sinusoidal embeddings, a small U-Net);
# - read the noise predictor as the score of the noised data, and see the learned vector field;
# - write DDIM's step and sample in 50 steps instead of 1000;
# - measure sample quality with four figures next to their real-data floors, check the samples are
#   not copies of the training set, and compute the variational bound in bits per dimension, on
#   lesson 02's scale.
#
# **Prerequisites:** lesson 02 (Gaussians, KL divergence, the ELBO); the reparameterization
# $x = \mu + \sigma \varepsilon$.
#
# **How to work through it:** fill in each exercise (replace `raise NotImplementedError(...)`) and run
# the check cell below it. If your function does not pass yet, the lesson goes on with the reference
# implementation from `course_lib`, so every later cell still runs.
#
# Runtime at default settings: about 4 minutes on a 2-core laptop CPU (measured: see the README's
# benchmarks), most of it training the two models and running the 1000-step samplers; on a GPU an
# estimate, not yet measured, is well under a minute.

# %%
# Colab only: install course_lib (a no-op anywhere else).
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "course-lib @ git+https://github.com/dgm-course/deep-generative-models"],
        check=True,
    )

# %%
# %matplotlib inline
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from course_lib import checks, data, metrics, viz, widgets
from course_lib import diffusion as D
from course_lib.metrics import Report, nats_to_bits_per_dim, sample_quality
from course_lib.training import EMA, fast, fit, resolve_device, seed_everything
from course_lib.unet import SinusoidalEmbedding, TimeMLP, UNet, UNetConfig, count_parameters

# %% [markdown]
# ## 0. Parameters and data
#
# Tagged `parameters` for papermill and `course run 06 -p NAME VALUE`; `COURSE_FAST=1` shrinks every
# training run to a few steps and the number of diffusion steps to 100.

# %% tags=["parameters"]
SEED = 0
DEVICE = "auto"  # "auto": a CUDA GPU if there is one, else Apple's MPS, else the CPU
DATASET = "digits"  # the sample-quality figures below are for the bundled digits
T = 1000  # diffusion steps
SCHEDULE = "cosine"  # noise schedule of the digits model: "cosine" or "linear"
TOY = "swiss_roll"  # the 2-D data set of sections 1-6: swiss_roll, moons, eight_gaussians, checkerboard
TOY_POINTS = 5000
TOY_EPOCHS = 200  # training epochs of the 2-D model
TOY_LR = 3e-3  # its peak learning rate (one cycle: warm up, then anneal)
TOY_EMA_DECAY = 0.995  # its samples come from an exponential moving average of the weights too
CHANNELS = 24  # width of the U-Net's first level
EPOCHS = 80  # training epochs of the digits model
BATCH_SIZE = 128
LR = 2e-3
EMA_DECAY = 0.999  # the samples come from an exponential moving average of the weights
DDIM_STEPS = 50
N_SAMPLES = 256  # digit samples drawn by each sampler for the evaluation
BOUND_STRATA = 50  # network calls per test digit for the variational bound (section 11)

# %%
T = fast(T, 100)
TOY_EPOCHS = fast(TOY_EPOCHS, 2)
EPOCHS = fast(EPOCHS, 2)
N_SAMPLES = fast(N_SAMPLES, 64)
BOUND_STRATA = fast(BOUND_STRATA, 5)
DDIM_STEPS = min(DDIM_STEPS, T)
device = resolve_device(DEVICE)
seed_everything(SEED)

toy = data.make_toy(TOY, TOY_POINTS, seed=SEED)
toy_mean, toy_std = toy.mean(0), toy.std(0)
toy = (toy - toy_mean) / toy_std  # zero mean, unit variance per coordinate: the scale of the noise
toy_held_out = (data.make_toy(TOY, 2000, seed=SEED + 1) - toy_mean) / toy_std  # fresh points, to judge samples
x_train, y_train = data.load_dataset(DATASET, "train")
x_test, y_test = data.load_dataset(DATASET, "test")
x_train, x_test = x_train * 2 - 1, x_test * 2 - 1  # images in [-1, 1], the range the noise is measured against
IMAGE_SHAPE = tuple(x_train.shape[1:])
print(f"device: {device}")
print(f"{TOY}: {len(toy)} points; {DATASET}: {len(x_train)} training images of shape {IMAGE_SHAPE} in [-1, 1]")

# %% [markdown]
# ## 1. The forward process: destroying data one small step at a time
#
# Fix a **variance schedule** $0 < \beta_1 < \dots < \beta_T < 1$. The forward process is a Markov
# chain that adds a little Gaussian noise at each step:
#
# $$q(x_t \mid x_{t-1}) = \mathcal N\big(\sqrt{1 - \beta_t}\, x_{t-1},\ \beta_t I\big), \qquad\text{i.e.}\qquad x_t = \sqrt{1 - \beta_t}\, x_{t-1} + \sqrt{\beta_t}\, \varepsilon_t, \quad \varepsilon_t \sim \mathcal N(0, I).$$
#
# The factor $\sqrt{1 - \beta_t}$ shrinks the signal while the noise is added, so that the variance
# is preserved: if $\operatorname{Var}(x_{t-1}) = 1$ then
# $\operatorname{Var}(x_t) = (1 - \beta_t) \cdot 1 + \beta_t = 1$. After enough steps $x_T$ is
# (almost exactly) a standard normal, whatever $x_0$ was: that is the distribution we will sample from.
#
# > **A slide typo to avoid.** Some lecture slides write $x_t = \sqrt{1 - \beta_t}\, x_{t-1} + \beta_t \varepsilon$,
# > with $\beta_t$ where $\sqrt{\beta_t}$ belongs. Then
# > $\operatorname{Var}(x_t) = (1 - \beta_t)\operatorname{Var}(x_{t-1}) + \beta_t^2 < \operatorname{Var}(x_{t-1})$,
# > and the chain collapses towards 0 instead of N(0, I). Numerically, starting from unit variance:

# %%
betas = D.linear_beta_schedule(1000)
var_right = var_typo = 1.0
for b in betas.tolist():
    var_right = (1 - b) * var_right + b  # sqrt(beta) eps: adds variance beta
    var_typo = (1 - b) * var_typo + b**2  # beta eps: adds only beta^2
x = torch.randn(20_000, generator=torch.Generator().manual_seed(SEED))
x_right, x_typo = x.clone(), x.clone()
for b in betas.tolist():
    x_right = math.sqrt(1 - b) * x_right + math.sqrt(b) * torch.randn_like(x)
    x_typo = math.sqrt(1 - b) * x_typo + b * torch.randn_like(x)
print("after 1000 steps of the linear schedule, starting from variance 1:")
print(f"  x_t = sqrt(1-beta) x + sqrt(beta) eps: variance {var_right:.4f} (simulated: {x_right.var():.4f})")
print(f"  x_t = sqrt(1-beta) x + beta eps      : variance {var_typo:.4f} (simulated: {x_typo.var():.4f})")

# %% [markdown]
# Here is the forward chain on the 2-D data, step by step. The spiral blurs, shrinks towards the
# origin and spreads into the circles of $\mathcal N(0, I)$. In the explorer below the figure, a
# second panel shows how much of the variance is left from the data ($\bar\alpha_t$, section 2) and
# how much is noise.

# %%
toy_diffusion = D.GaussianDiffusion(D.linear_beta_schedule(T))
chain = widgets.forward_chain(toy[:2000], toy_diffusion, [int(v) for v in np.linspace(0, T - 1, 50).round()], seed=SEED)
fig, axes = plt.subplots(1, 5, figsize=(17, 3.4))
for ax, t in zip(axes, [0, T // 20, T // 10, T // 4, T - 1]):
    ts_kept = chain[0].tolist()
    k = min(range(len(ts_kept)), key=lambda i: abs(ts_kept[i] - t))
    pts = chain[1][k]
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5)
    viz.plot_prior_contours(ax)
    ax.set(title=f"x_t at t = {ts_kept[k]}", xlim=(-3.5, 3.5), ylim=(-3.5, 3.5), aspect="equal")
plt.tight_layout()
plt.show()

# %% tags=["nbval-ignore-output"]
widgets.forward_explorer(toy[:2000], toy_diffusion, steps=50, seed=SEED)

# %% [markdown]
# ## 2. Jumping to any step: $q(x_t \mid x_0)$ in closed form
#
# Write $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s=1}^t \alpha_s$. Composing Gaussians
# steps gives a Gaussian again: unrolling two steps,
# $x_t = \sqrt{\alpha_t \alpha_{t-1}}\, x_{t-2} + \sqrt{\alpha_t (1 - \alpha_{t-1})}\, \varepsilon_{t-1} + \sqrt{1 - \alpha_t}\, \varepsilon_t$,
# and the two noise terms add up to one of variance $\alpha_t - \alpha_t \alpha_{t-1} + 1 - \alpha_t = 1 - \alpha_t \alpha_{t-1}$.
# By induction
#
# $$q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t) I\big), \qquad x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon .$$
#
# So training never has to run the chain: any $x_t$ is one line away from $x_0$.
#
# **Indexing in code.** Python counts from 0, so the schedules are tensors of length $T$ and index
# `t = 0 .. T-1` stands for the paper's step $t + 1$: `diffusion.alphabar[0]` is $\bar\alpha_1 = 1 - \beta_1$,
# and the sampler's last step, `t = 0`, maps $x_1$ to $x_0$. The `GaussianDiffusion` object from
# `course_lib.diffusion` holds the schedule: `diffusion.betas`, `.alphas`, `.alphabar` and
# `.alphabar_prev` ($\bar\alpha_{t-1}$, equal to 1 at `t = 0`), float64 tensors of shape `(T,)`.
# The helper `at(a, t, x)` below picks `a[t]` for a batch of steps and shapes it to broadcast against `x`.
#
# ### Exercise 1 — `q_sample`
# Write `q_sample(diffusion, x0, t, noise)`: `x0` and `noise` have shape `(B, ...)`, `t` is an integer
# tensor `(B,)` (each example its own step). Return $x_t$.

# %%
def at(a: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """a[t] for steps t (B,), as a (B, 1, ..., 1) tensor on x's device and dtype (broadcasts against x)."""
    return a.to(x.device)[t.to(x.device)].to(x.dtype).view(-1, *([1] * (x.ndim - 1)))


def q_sample(diffusion: D.GaussianDiffusion, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps, for x0, noise (B, ...) and t (B,)."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise q_sample: replace this line with your code")


# %%
q_sample = checks.check("06.q_sample", q_sample)

# %% [markdown]
# The one-shot sample and the step-by-step chain have the same distribution. On the 2-D data at
# $t$ = T/10, their means and covariances agree up to Monte Carlo error:

# %% tags=["nbval-ignore-output"]
t_check = T // 10
x0 = toy[:4000]
one_shot = q_sample(toy_diffusion, x0, torch.full((len(x0),), t_check), torch.randn_like(x0))
stepwise = x0.clone()
for s in range(t_check + 1):
    stepwise = toy_diffusion.q_step(stepwise, s)
for name, pts in (("one shot, q(x_t | x_0)", one_shot), ("chain of q(x_s | x_(s-1))", stepwise)):
    cov = torch.cov(pts.T)
    print(f"{name:<27} mean {pts.mean(0).numpy().round(3)}  covariance {cov.numpy().round(3).tolist()}")

# %% [markdown]
# ## 3. Noise schedules: linear and cosine
#
# Ho et al. use a **linear** schedule, $\beta_t$ from $10^{-4}$ to $0.02$ over $T = 1000$ steps. Nichol &
# Dhariwal (2021) noticed that with it $\bar\alpha_t$ reaches almost 0 long before $t = T$: the last few
# hundred steps all look like pure noise and are wasted, the more so for small images, where a little
# noise already drowns the few pixels. Their **cosine** schedule sets $\bar\alpha_t$ directly,
#
# $$\bar\alpha_t = \frac{f(t)}{f(0)}, \qquad f(t) = \cos^2\!\Big(\frac{t / T + s}{1 + s} \cdot \frac{\pi}{2}\Big), \qquad s = 0.008,$$
#
# and derives $\beta_t = 1 - \bar\alpha_t / \bar\alpha_{t-1}$, clipped at $0.999$ (at $t = T$ the
# formula gives $\beta_T = 1$, a step that would erase everything at once). The small offset $s$ keeps
# $\beta_1$ from being tiny. A useful way to compare schedules is the **signal-to-noise ratio** of $x_t$,
# $\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)$: the cosine schedule lowers it evenly in log scale.
#
# ### Exercise 2 — the cosine schedule
# Write `cosine_betas(T, s)` returning the float64 tensor of the $T$ betas (for steps $1 .. T$).
# Compute $f$ at $t = 0, 1, \dots, T$ (`torch.arange(T + 1, dtype=torch.float64)`), then $\bar\alpha$, then
# the ratios, and clip with `.clamp(max=0.999)`.

# %%
def cosine_betas(T: int, s: float = 0.008) -> torch.Tensor:
    """The betas (T,) of the cosine schedule, capped at 0.999."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise cosine_betas: replace this line with your code")


# %%
cosine_betas = checks.check("06.cosine_betas", cosine_betas)

# %% tags=["nbval-ignore-output"]
schedules = {"linear": D.GaussianDiffusion(D.linear_beta_schedule(T)), "cosine": D.GaussianDiffusion(cosine_betas(T))}
fig, axes = plt.subplots(1, 3, figsize=(15, 3.4))
for name, dfn in schedules.items():
    axes[0].plot(dfn.betas, label=name)
    axes[1].plot(dfn.alphabar, label=name)
    axes[2].plot(dfn.snr.log(), label=name)
axes[0].set(title=r"$\beta_t$", xlabel="t", yscale="log")
axes[1].set(title=r"$\bar\alpha_t$: the share of the signal's variance left", xlabel="t")
axes[2].set(title=r"log SNR$(t) = \log \bar\alpha_t / (1 - \bar\alpha_t)$", xlabel="t")
for ax in axes:
    ax.legend()
plt.tight_layout()
plt.show()
for name, dfn in schedules.items():
    wasted = (dfn.alphabar < 1e-3).double().mean().item()
    print(f"{name:>6}: alphabar_T = {dfn.alphabar[-1]:.2e}; {100 * wasted:.0f}% of the steps have alphabar < 0.001 "
          "(less than 3% of the signal's standard deviation left)")

# %% [markdown]
# The same digit noised at a few steps under each schedule (one fixed noise image, so only the
# mixing weight changes). At $t = 3T/5$ (600 of $T = 1000$), the linear schedule has left
# $\bar\alpha_t \approx 0.03$ (a signal standard deviation of 0.16 against noise of 0.99) and the last
# 300 steps only stir noise; the cosine schedule still has $\bar\alpha_t \approx 0.34$ and fades the
# digit out evenly:

# %% tags=["nbval-ignore-output"]
t_show = 3 * T // 5
widgets.render_schedules(x_train[0], t=t_show, T=T)
plt.show()
for name, dfn in schedules.items():
    ab = dfn.alphabar[t_show].item()
    print(f"{name:>6} at t = {t_show}: alphabar {ab:.3f}, signal std {math.sqrt(ab):.2f}, noise std {math.sqrt(1 - ab):.2f}")
digit, noise = x_train[:1], torch.randn(1, *IMAGE_SHAPE, generator=torch.Generator().manual_seed(SEED))
steps = [int(v) for v in np.linspace(0, T - 1, 9).round()]
rows = [torch.cat([q_sample(dfn, digit, torch.tensor([t]), noise) for t in steps]) for dfn in schedules.values()]
viz.show_image_rows({name: (r.clamp(-1, 1) + 1) / 2 for name, r in zip(schedules, rows)},
                    title=f"t = {', '.join(map(str, steps))}")
plt.show()

# %% [markdown]
# Explore: move $t$, change $T$ and the linear schedule's range of betas.

# %% tags=["nbval-ignore-output"]
widgets.schedule_explorer(x_train[0], T=T)

# %% [markdown]
# ## 4. The reverse process and the posterior
#
# To generate we run the chain backwards: start from $x_T \sim \mathcal N(0, I)$ and draw
# $x_{t-1} \sim q(x_{t-1} \mid x_t)$. That reverse conditional needs the whole data distribution, so we
# learn an approximation of the same form as the forward steps (for small $\beta_t$ the true reverse
# step is close to Gaussian):
#
# $$p_\theta(x_{t-1} \mid x_t) = \mathcal N\big(\mu_\theta(x_t, t),\ \sigma_t^2 I\big).$$
#
# What should $\mu_\theta$ aim at? Given $x_0$ as well, the reverse step **is** tractable. By Bayes,
# $q(x_{t-1} \mid x_t, x_0) \propto q(x_t \mid x_{t-1})\, q(x_{t-1} \mid x_0)$, a product of two Gaussians
# in $x_{t-1}$, hence Gaussian:
#
# $$q(x_{t-1} \mid x_t, x_0) = \mathcal N\big(\tilde\mu_t(x_t, x_0),\ \tilde\beta_t I\big), \quad
# \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\, \beta_t}{1 - \bar\alpha_t}\, x_0 + \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}\, x_t, \quad
# \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\, \beta_t .$$
#
# (Complete the square: the precision is $\alpha_t / \beta_t + 1 / (1 - \bar\alpha_{t-1}) = (1 - \bar\alpha_t) / (\beta_t (1 - \bar\alpha_{t-1}))$.)
# At the first step $\bar\alpha_0 = 1$: the variance is 0 and the mean is $x_0$.
#
# ### Exercise 3 — the posterior
# Write `q_posterior(diffusion, x0, xt, t)` returning `(mean, variance)`: the mean of shape `(B, ...)`,
# the variance of shape `(B, 1, ..., 1)` (use `at`). `diffusion.alphabar_prev` holds $\bar\alpha_{t-1}$.
# Compute the coefficients on the float64 schedule tensors first and pick them with `at` last: in
# float32, $1 - \bar\alpha_t$ at the first steps ($\approx 10^{-4}$) keeps only three or four digits.

# %%
def q_posterior(diffusion: D.GaussianDiffusion, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor):
    """Mean (B, ...) and variance (B, 1, ..., 1) of q(x_{t-1} | x_t, x_0)."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise q_posterior: replace this line with your code")


# %%
q_posterior = checks.check("06.q_posterior", q_posterior)

# %% [markdown]
# ### The variational bound, and why we predict the noise
#
# As for the VAE of lesson 02, with $x_{1:T}$ as latent variables and $q$ as the (fixed) encoder,
# $-\log p_\theta(x_0) \le \mathbb E_q\big[-\log \frac{p_\theta(x_{0:T})}{q(x_{1:T} \mid x_0)}\big]$, and
# rearranging with the posteriors above splits the bound into one term per step:
#
# $$L = \underbrace{\mathrm{KL}\big(q(x_T \mid x_0) \,\|\, p(x_T)\big)}_{L_T:\ \text{no parameters}}
# + \sum_{t=2}^T \underbrace{\mathbb E_q\, \mathrm{KL}\big(q(x_{t-1} \mid x_t, x_0) \,\|\, p_\theta(x_{t-1} \mid x_t)\big)}_{L_{t-1}}
# \; \underbrace{-\ \mathbb E_q \log p_\theta(x_0 \mid x_1)}_{L_0} .$$
#
# Each $L_{t-1}$ is a KL between two Gaussians with the same variance $\sigma_t^2$, so it is a squared
# distance between means: $L_{t-1} = \mathbb E_q \frac{1}{2\sigma_t^2} \|\tilde\mu_t(x_t, x_0) - \mu_\theta(x_t, t)\|^2 + C$.
# Now write $x_0$ through the noise, $x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\, \varepsilon) / \sqrt{\bar\alpha_t}$:
# the target mean becomes
# $\tilde\mu_t = \frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\, \varepsilon\big)$.
# Ho et al. give $\mu_\theta$ the same form with a network $\varepsilon_\theta(x_t, t)$ in place of $\varepsilon$:
#
# $$\mu_\theta(x_t, t) = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{1 - \alpha_t}{\sqrt{1 - \bar\alpha_t}}\, \varepsilon_\theta(x_t, t)\Big)
# \quad\Longrightarrow\quad
# L_{t-1} = \mathbb E \frac{\beta_t^2}{2 \sigma_t^2 \alpha_t (1 - \bar\alpha_t)} \big\|\varepsilon - \varepsilon_\theta(\sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon,\ t)\big\|^2 + C .$$
#
# The network only has to **predict the noise** in $x_t$. Ho et al. then drop the weight in front and
# train on $L_\text{simple} = \mathbb E_{t, x_0, \varepsilon} \|\varepsilon - \varepsilon_\theta(x_t, t)\|^2$,
# which gives better samples. Why that helps is visible in the weight itself, with $\sigma_t^2 = \beta_t$:
# $\lambda_t = \beta_t / (2 \alpha_t (1 - \bar\alpha_t))$.
#
# %% tags=["nbval-ignore-output"]
lam = {name: dfn.betas / (2 * dfn.alphas * (1 - dfn.alphabar)) for name, dfn in schedules.items()}  # the bound's weights
for name, w in lam.items():
    shown = sorted({t for t in (0, 9, 99, T // 2, T - 2, T - 1) if t < T})
    print(f"{name:>6}: lambda_t at t = {', '.join(f'{t + 1}: {w[t]:.4f}' for t in shown)}")
fig, ax = plt.subplots(figsize=(6, 3))
for name, w in lam.items():
    ax.plot(np.arange(1, T + 1), w, label=name)
ax.axhline(1.0, color="0.5", linestyle="--", linewidth=1, label=r"$L_\text{simple}$: 1 for every t")
ax.set(xscale="log", yscale="log", xlabel="step t", ylabel=r"weight $\lambda_t$", title="the bound's weight on each step's noise error")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The bound's weight is largest at the first steps, about $1/(2\alpha_1) \approx 0.5$ at $t = 1$, and falls
# to about 0.005 to 0.01 from $t \approx 100$ on (linear schedule). Those first steps are the easy, nearly
# clean ones: $x_t$ is the image with a faint haze, and removing it changes little. The bound spends
# most of its weight there. $L_\text{simple}$ weights every step alike, so compared with the bound it
# **down-weights the easy, nearly clean steps** and moves the effort to the noisier ones, where the
# network must know what a digit looks like to remove the noise. Samples get better; the bound itself
# gets worse (section 10 measures it). The cosine schedule has one more peak, at its very last step:
# there $\beta_T$ is capped at 0.999, $\alpha_T = 0.001$, and the weight jumps to about 500. Section 10 meets
# that step again.
#
# ## 5. Training: Algorithm 1
#
# > **repeat**: $x_0 \sim$ data; $t \sim \text{Uniform}\{1, \dots, T\}$; $\varepsilon \sim \mathcal N(0, I)$;
# > take a gradient step on $\big\|\varepsilon - \varepsilon_\theta(\sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon,\ t)\big\|^2$ — **until** converged.
#
# ### Exercise 4 — the training loss
# Write `training_loss(diffusion, model, x0)` for a batch `x0` of shape `(B, ...)`: draw one step per
# example (`torch.randint(0, diffusion.T, (B,), device=x0.device)`) and the noise
# (`torch.randn_like`), build $x_t$ with your `q_sample`, and return the mean squared error between
# the noise and `model(xt, t)` (a scalar).

# %%
def training_loss(diffusion: D.GaussianDiffusion, model, x0: torch.Tensor) -> torch.Tensor:
    """Algorithm 1's loss on a batch x0 (B, ...): mean of (eps - model(x_t, t))^2."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise training_loss: replace this line with your code")


# %%
training_loss = checks.check("06.training_loss", training_loss)

# %% [markdown]
# ### A time-conditioned network
#
# One network serves all $T$ steps, so it must know $t$. We embed the integer $t$ like a Transformer
# position: sines and cosines at geometrically spaced frequencies,
# $\big(\sin(t\, \omega_i), \cos(t\, \omega_i)\big)$ with $\omega_i = 10000^{-i / (d/2)}$, then a small MLP.
# Nearby steps get similar codes and every scale of $t$ is represented:

# %%
emb = SinusoidalEmbedding(64)(torch.arange(T))  # (T, 64)
fig, axes = plt.subplots(1, 2, figsize=(13, 3))
axes[0].imshow(emb.T, aspect="auto", cmap="RdBu")
axes[0].set(title="sinusoidal embedding of t (rows: features)", xlabel="t", ylabel="feature")
sim = torch.nn.functional.normalize(emb, dim=1) @ torch.nn.functional.normalize(emb, dim=1).T
axes[1].plot(sim[T // 2])
axes[1].set(title=f"cosine similarity of the code of t = {T // 2} with the others", xlabel="t")
plt.tight_layout()
plt.show()

# %% [markdown]
# For the 2-D data the noise predictor is an MLP whose residual blocks are each shifted by the time
# embedding (`course_lib.unet.TimeMLP`). Train it with your loss. Two things decide whether the
# samples show a spiral or a disc: enough steps with a learning rate that first warms up and then
# anneals (a one-cycle schedule), and sampling from an **exponential moving average** (EMA) of the
# weights rather than from the last, still jittering, iterate (section 7 uses both for the digits too).

# %% tags=["nbval-ignore-output"]
seed_everything(SEED)
toy_model = TimeMLP(dim=2, hidden=128, layers=3)
toy_ema = EMA(toy_model, decay=TOY_EMA_DECAY)
toy_optimizer = torch.optim.Adam(toy_model.parameters(), lr=TOY_LR)
toy_steps = TOY_EPOCHS * math.ceil(len(toy) / 256)
toy_scheduler = torch.optim.lr_scheduler.OneCycleLR(toy_optimizer, TOY_LR, total_steps=toy_steps, pct_start=0.05)


def toy_after_step(model, step):
    toy_scheduler.step()
    toy_ema(model, step)


toy_history = fit(toy_model, lambda m, b: training_loss(toy_diffusion, m, b), toy, epochs=TOY_EPOCHS,
                  batch_size=256, optimizer=toy_optimizer, on_step=toy_after_step, seed=SEED, device=device,
                  desc="2-D model")
print(f"{count_parameters(toy_model):,} parameters, {toy_steps} steps in {toy_history.seconds:.0f} s")

# %%
viz.plot_history(toy_history, title="2-D model: training loss (noise regression)")
plt.show()

# %% [markdown]
# The loss does not go to 0 and is not meant to: at large $t$, $x_t$ is nearly pure noise and
# $\varepsilon$ can be read off it, but at small $t$ the noise is a tiny perturbation of an unknown
# $x_0$ and only partly predictable.
#
# ## 6. Sampling: Algorithm 2
#
# > $x_T \sim \mathcal N(0, I)$; **for** $t = T, \dots, 1$: $z \sim \mathcal N(0, I)$ if $t > 1$, else $z = 0$;
# > $\displaystyle x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{1 - \alpha_t}{\sqrt{1 - \bar\alpha_t}}\, \varepsilon_\theta(x_t, t)\Big) + \sigma_t z$; **return** $x_0$.
#
# Both places use $\alpha_t$, the single step's factor, not $\bar\alpha_t$ (another slide typo:
# $1/\sqrt{\bar\alpha_t}$ would blow $x$ up by $1/\sqrt{\bar\alpha_T}$). There is **no noise at the last
# step**: $x_0$ is the denoised mean. Two choices of $\sigma_t^2$ give nearly the same samples (Ho et
# al.): $\sigma_t^2 = \beta_t$, right when $x_0$ is pure noise, and $\sigma_t^2 = \tilde\beta_t$, right when
# $x_0$ is a single point. We use $\beta_t$.
#
# ### Exercise 5 — one reverse step
# Write `p_sample(diffusion, model, xt, t, z)` for one step `t` (a Python int, the same for the whole
# batch; remember index `t` is the paper's $t + 1$) and the noise `z` of the shape of `xt`. The model
# wants its steps as a tensor: `torch.full((B,), t, dtype=torch.long, device=xt.device)`.
#
# ### Exercise 6 — the sampling loop
# Write `sample(diffusion, model, shape, generator)`: draw $x_T$ and each $z$ with
# `torch.randn(shape, generator=generator)` (on the CPU, then `.to(device)` with the model's device,
# so a seed gives the same samples everywhere), and call your `p_sample` for `t = T-1, ..., 0`.

# %%
def p_sample(diffusion: D.GaussianDiffusion, model, xt: torch.Tensor, t: int, z: torch.Tensor) -> torch.Tensor:
    """One step of Algorithm 2: x_{t-1} from x_t at step t (an int) with noise z; no noise at t = 0."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise p_sample: replace this line with your code")


@torch.no_grad()
def sample(diffusion: D.GaussianDiffusion, model, shape, generator: torch.Generator | None = None) -> torch.Tensor:
    """Algorithm 2: x_T ~ N(0, I), then T reverse steps; returns x_0 of the given shape."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise sample: replace this line with your code")


# %%
p_sample = checks.check("06.p_sample", p_sample)

# %%
sample = checks.check("06.sample", sample)

# %% [markdown]
# Samples of the 2-D model (its averaged weights), drawn with your sampler, next to held-out data:

# %% tags=["nbval-ignore-output"]
toy_net = toy_ema.model.eval()
start = time.perf_counter()
toy_samples = sample(toy_diffusion, toy_net, (2000, 2), torch.Generator().manual_seed(SEED)).cpu()
print(f"2000 samples in {time.perf_counter() - start:.1f} s ({T} steps)")
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharex=True, sharey=True)
axes[0].scatter(toy_held_out[:, 0], toy_held_out[:, 1], s=2, alpha=0.5)
axes[0].set(title=f"held-out data ({TOY})", aspect="equal")
axes[1].scatter(toy_samples[:, 0], toy_samples[:, 1], s=2, alpha=0.5, color="C1")
axes[1].set(title=f"DDPM samples ({T} steps)", aspect="equal", xlim=(-3, 3), ylim=(-3, 3))
plt.tight_layout()
plt.show()

# %% [markdown]
# How close is close? The **energy distance** between two point sets,
# $2\,\mathbb E\|X - Y\| - \mathbb E\|X - X'\| - \mathbb E\|Y - Y'\|$ (Székely & Rizzo), is 0 only for equal
# distributions and needs no bandwidth. Two finite samples of the *same* distribution still score a
# little above 0, so the samples' figure is printed next to that **floor**: 2000 real training points
# against the same held-out points (mean of 10 draws). A ratio near 1 means the samples are as close
# to fresh data as real data is.

# %% tags=["nbval-ignore-output"]
toy_floor, toy_floor_std = metrics.energy_floor(toy, toy_held_out, n=len(toy_samples), seed=SEED)
toy_energy = metrics.energy_distance(toy_samples, toy_held_out)
print(f"energy distance to held-out data: samples {toy_energy:.5f}; real training points {toy_floor:.5f} "
      f"+- {toy_floor_std:.5f} (the floor); ratio {toy_energy / toy_floor:.2f}")

# %% [markdown]
# The two choices of $\sigma_t^2$ with the same network and the same seed: $\tilde\beta_t < \beta_t$ adds a
# little less noise per step. Left, your samples ($\sigma_t^2 = \beta_t$); right, the library's sampler with
# $\tilde\beta_t$, which also records its trajectory for the next figures:

# %% tags=["nbval-ignore-output"]
tilde_sampler = D.GaussianDiffusion(toy_diffusion.betas, sigma="beta_tilde")
tilde_samples, toy_traj = tilde_sampler.sample(toy_net, (2000, 2), generator=torch.Generator().manual_seed(SEED),
                                               return_trajectory=True, every=max(1, T // 50))
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharex=True, sharey=True)
for ax, (pts, label) in zip(axes, ((toy_samples, r"$\beta_t$"), (tilde_samples, r"$\tilde\beta_t$"))):
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, color="C1")
    ax.set(title=rf"$\sigma_t^2$ = {label}: energy distance {metrics.energy_distance(pts, toy_held_out):.5f}",
           aspect="equal", xlim=(-3, 3), ylim=(-3, 3))
plt.tight_layout()
plt.show()

# %% [markdown]
# Compare the two energy distances in the titles with each other and with the floor above: a
# difference smaller than the floor's own spread is no difference at this sample size.

# %% [markdown]
# ### Watching the reverse process
#
# The library's sampler (`diffusion.sample`, the same Algorithm 2) can record the trajectory: the state
# $x_t$ at each step and the network's current guess of the clean data,
# $\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\, \varepsilon_\theta(x_t, t)) / \sqrt{\bar\alpha_t}$.
# Early on, every point's guess is near the data's mean; the structure appears in the middle steps,
# and the last steps only polish. Left: the cloud $x_t$; right: the guesses $\hat x_0$.

# %%
widgets.render_reverse(toy_traj, index=len(toy_traj) // 2, reference=toy_held_out)
plt.show()

# %% tags=["nbval-ignore-output"]
widgets.reverse_explorer(toy_traj, reference=toy_held_out)

# %% [markdown]
# ### The noise predictor is a score
#
# Lesson 01 noted that the best denoiser of a slightly noisy $\tilde x$ moves it along
# $\sigma^2 \nabla_{\tilde x} \log p(\tilde x)$, the **score** of the noisy data. The same holds at every step
# here. For one $x_0$, $\nabla_{x_t} \log q(x_t \mid x_0) = -(x_t - \sqrt{\bar\alpha_t} x_0) / (1 - \bar\alpha_t) = -\varepsilon / \sqrt{1 - \bar\alpha_t}$,
# and the regression to $\varepsilon$ learns its average over the $x_0$ that could have produced $x_t$
# (Vincent, 2011):
#
# $$\varepsilon_\theta(x_t, t) \approx -\sqrt{1 - \bar\alpha_t}\; \nabla_{x_t} \log p_t(x_t),$$
#
# with $p_t$ the distribution of $x_t$. So $-\varepsilon_\theta / \sqrt{1 - \bar\alpha_t}$ is a vector field that
# points towards the data, and each sampling step follows it a little, plus noise. The learned field at
# three noise levels (arrows show its direction, colours its length): at $t = 3T/10$ it points at the
# data's centre from everywhere; as $t$ falls it turns towards the nearest arm of the spiral, and grows
# steep across it.

# %%
grid = torch.stack(torch.meshgrid(torch.linspace(-2.4, 2.4, 25), torch.linspace(-2.4, 2.4, 25), indexing="xy"), -1)
points = grid.reshape(-1, 2)  # (625, 2)
fig, axes = plt.subplots(1, 3, figsize=(16, 5))
for ax, t in zip(axes, (3 * T // 10, T // 10, T // 50)):
    with torch.no_grad():
        eps = toy_net(points.to(device), torch.full((len(points),), t, device=device)).cpu()
    score = -eps / math.sqrt(1 - toy_diffusion.alphabar[t].item())  # grad log p_t(x)
    length = score.norm(dim=1, keepdim=True)
    ax.scatter(toy_held_out[:, 0], toy_held_out[:, 1], s=1, color="0.65")
    arrows = ax.quiver(points[:, 0], points[:, 1], *(score / length).T, length[:, 0].log10(), cmap="viridis",
                       angles="xy", scale=30, width=0.004)
    fig.colorbar(arrows, ax=ax, shrink=0.75, label=r"$\log_{10}$ |score|")
    ax.set(title=rf"score at t = {t} ($\bar\alpha_t$ = {toy_diffusion.alphabar[t].item():.3f})", aspect="equal",
           xlim=(-2.6, 2.6), ylim=(-2.6, 2.6))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 7. Diffusion on the digits
#
# For images the noise predictor is a small **U-Net** (`course_lib.unet.UNet`, reused by lesson 07):
# convolutional residual blocks at 8×8 and 4×4 with skip connections between the matching levels,
# self-attention at the lowest resolution, and the time embedding added inside every residual block.
# Its output layer starts at zero, so the untrained network predicts "no noise". Two things that
# matter for sample quality on a small budget: the **cosine schedule** (section 3), and an
# **exponential moving average (EMA)** of the weights, which we sample from: the last iterate of Adam
# jitters around a good solution, the average sits in the middle of it.

# %% tags=["nbval-ignore-output"]
seed_everything(SEED)
betas = cosine_betas(T) if SCHEDULE == "cosine" else D.linear_beta_schedule(T)
diffusion = D.GaussianDiffusion(betas)
unet = UNet(UNetConfig(in_channels=IMAGE_SHAPE[0], channels=CHANNELS, channel_mult=(1, 2), attention=(1,)))
ema = EMA(unet, decay=EMA_DECAY)
optimizer = torch.optim.Adam(unet.parameters(), lr=LR)
total_steps = EPOCHS * math.ceil(len(x_train) / BATCH_SIZE)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, LR, total_steps=total_steps, pct_start=0.05)


def after_step(model, step):
    scheduler.step()
    ema(model, step)


history = fit(unet, lambda m, b: training_loss(diffusion, m, b), x_train, epochs=EPOCHS, batch_size=BATCH_SIZE,
              optimizer=optimizer, on_step=after_step, seed=SEED, device=device, desc="U-Net")
print(f"U-Net: {count_parameters(unet):,} parameters, {total_steps} steps in {history.seconds:.0f} s")

# %%
viz.plot_history(history, title="digits: training loss", logy=True)
plt.show()

# %% [markdown]
# ### Samples: DDPM, 1000 steps
#
# `N_SAMPLES` digits from the averaged weights with Algorithm 2. During sampling we clip the
# estimate $\hat x_0$ to the data range $[-1, 1]$ at each step and take the posterior mean
# $\tilde\mu_t(x_t, \hat x_0)$ (`clip=1.0`; without clipping it is exactly the formula of exercise 5).

# %% tags=["nbval-ignore-output"]
model = ema.model.eval()
start = time.perf_counter()
ddpm_samples, traj = diffusion.sample(model, (N_SAMPLES, *IMAGE_SHAPE), generator=torch.Generator().manual_seed(SEED),
                                      clip=1.0, return_trajectory=True, every=max(1, T // 100))
ddpm_samples = ddpm_samples.cpu()
ddpm_seconds = time.perf_counter() - start
print(f"DDPM: {N_SAMPLES} samples, {T} network calls, {ddpm_seconds:.1f} s")
viz.show_images((ddpm_samples[:64] + 1) / 2, nrow=16, title=f"DDPM samples ({T} steps)")
plt.show()

# %% [markdown]
# The reverse process on the first 16 of those digits (recorded by the same run): $x_t$ (top) and the
# network's guess $\hat x_0$ (bottom) at a step halfway through. Slide through the steps below: the
# guesses settle on a digit's identity long before $x_t$ looks like one.

# %%
widgets.render_reverse(traj, index=len(traj) // 2, n=16)
plt.show()

# %% tags=["nbval-ignore-output"]
widgets.reverse_explorer(traj, n=16)

# %% [markdown]
# ## 8. DDIM: the same network, 20 times fewer steps
#
# The training loss only involves the marginals $q(x_t \mid x_0)$, never the single steps. Song et
# al. (2021) build a family of non-Markovian forward processes with the **same marginals**, hence the
# same optimal $\varepsilon_\theta$, whose reverse step can jump from $t$ to any earlier $s$:
#
# $$x_s = \sqrt{\bar\alpha_s}\, \hat x_0 + \sqrt{1 - \bar\alpha_s - \sigma^2}\; \varepsilon_\theta(x_t, t) + \sigma z,
# \qquad \sigma = \eta \sqrt{\frac{1 - \bar\alpha_s}{1 - \bar\alpha_t}} \sqrt{1 - \frac{\bar\alpha_t}{\bar\alpha_s}} .$$
#
# First predict $\hat x_0$, then re-noise it to level $s$ with the predicted noise. With $\eta = 0$
# the sampler is **deterministic** (an ODE discretisation: one $x_T$, one image), and it works with a
# sub-sequence of 50 of the 1000 steps; $\eta = 1$ with all steps recovers DDPM with $\sigma_t^2 = \tilde\beta_t$.
#
# ### Exercise 7 — one DDIM step
# Write `ddim_step(diffusion, eps, xt, t, t_prev, eta, z)`: from $x_t$ at step `t` to the earlier step
# `t_prev` (both Python ints) given the network's prediction `eps` and a noise `z` of the shape of
# `xt`, used only when $\sigma > 0$. `t_prev = -1` means the end of sampling, where
# $\bar\alpha_{t_\text{prev}} = 1$: careful, `diffusion.alphabar[-1]` is Python's *last* entry, $\bar\alpha_T \approx 0$.
# Under the square root, take `max(..., 0.0)` against rounding.

# %%
def ddim_step(diffusion: D.GaussianDiffusion, eps: torch.Tensor, xt: torch.Tensor, t: int, t_prev: int, eta: float,
              z: torch.Tensor) -> torch.Tensor:
    """One DDIM step from x_t (step t) to x_{t_prev} given eps; t_prev = -1 is the end (alphabar = 1)."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise ddim_step: replace this line with your code")


# %%
ddim_step = checks.check("06.ddim_step", ddim_step)

# %% [markdown]
# Your step in a loop over 50 of the steps, from 16 noise images, next to the library's sampler from the
# same noise. One thing the loop adds around your step: it clips the estimate $\hat x_0$ to the data range
# $[-1, 1]$ and hands your step the noise consistent with the clipped estimate, as the library's
# `clip=1.0` does. Without it, the first step divides by $\sqrt{\bar\alpha_T} \approx 5 \cdot 10^{-5}$ (the
# cosine schedule's last $\bar\alpha$) and turns the network's small error at $t = T$ into pixels in the
# thousands, and the samples end far outside $[-1, 1]$. That is why both samplers here clip (going
# further, question 3, shows what DDPM does without it).

# %% tags=["nbval-ignore-output"]
@torch.no_grad()
def ddim_loop(diffusion, model, shape, steps, eta=0.0, generator=None):
    ts = diffusion.ddim_timesteps(steps).tolist()
    x = torch.randn(shape, generator=generator).to(device)  # x_T
    for t, t_prev in zip(ts, [*ts[1:], -1]):
        eps = model(x, torch.full((shape[0],), t, dtype=torch.long, device=device))
        ab = diffusion.alphabar[t].item()
        x0 = ((x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)).clamp(-1, 1)  # the clipped estimate of x_0
        eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)  # the noise consistent with it
        z = torch.randn(shape, generator=generator).to(device) if eta > 0 and t_prev >= 0 else torch.zeros_like(x)
        x = ddim_step(diffusion, eps, x, t, t_prev, eta, z)
    return x.cpu()


yours = ddim_loop(diffusion, model, (16, *IMAGE_SHAPE), DDIM_STEPS, generator=torch.Generator().manual_seed(SEED))
library = diffusion.ddim_sample(model, (16, *IMAGE_SHAPE), steps=DDIM_STEPS, generator=torch.Generator().manual_seed(SEED),
                                clip=1.0).cpu()
print(f"largest difference between your loop and the library's: {(yours - library).abs().max():.2e}")
viz.show_image_rows({"your DDIM": (yours.clamp(-1, 1) + 1) / 2, "library": (library.clamp(-1, 1) + 1) / 2})
plt.show()

# %% [markdown]
# The measured samples below use the library's sampler with `clip=1.0`, as for DDPM. The same trained
# network, sampled both ways, side by side:

# %% tags=["nbval-ignore-output"]
start = time.perf_counter()
ddim_samples = diffusion.ddim_sample(model, (N_SAMPLES, *IMAGE_SHAPE), steps=DDIM_STEPS, eta=0.0,
                                     generator=torch.Generator().manual_seed(SEED), clip=1.0).cpu()
ddim_seconds = time.perf_counter() - start
print(f"DDIM: {N_SAMPLES} samples, {DDIM_STEPS} network calls, {ddim_seconds:.1f} s "
      f"({ddpm_seconds / ddim_seconds:.0f}x faster than DDPM's {ddpm_seconds:.1f} s)")
viz.show_image_rows({f"DDPM, {T} steps": (ddpm_samples[:16] + 1) / 2, f"DDIM, {DDIM_STEPS} steps": (ddim_samples[:16] + 1) / 2})
plt.show()

# %% [markdown]
# Because DDIM with $\eta = 0$ is a deterministic map from noise to image, the noise is a latent code:
# the same $x_T$ sampled with fewer and fewer steps gives the same digit, in coarser and coarser
# detail, and $\eta > 0$ adds fresh randomness on the way:

# %% tags=["nbval-ignore-output"]
rows = {}
for steps, eta in ((DDIM_STEPS, 0.0), (20, 0.0), (10, 0.0), (5, 0.0), (DDIM_STEPS, 1.0)):
    out = diffusion.ddim_sample(model, (12, *IMAGE_SHAPE), steps=min(steps, T), eta=eta,
                                generator=torch.Generator().manual_seed(SEED + 2), clip=1.0).cpu()
    rows[f"{min(steps, T)} steps, eta={eta:g}"] = (out + 1) / 2
viz.show_image_rows(rows)
plt.show()

# %% [markdown]
# ## 9. How good are the samples?
#
# Looking is not measuring. We compare the samples with the 447 **test** digits (which the model
# never saw) through the features of a small digits classifier (`course_lib.metrics`, trained
# deterministically in seconds):
# - the **Fréchet distance** (FD) between Gaussians fitted to the two feature sets,
#   $\|\mu_1 - \mu_2\|^2 + \operatorname{tr}\big(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2})^{1/2}\big)$
#   (the FID recipe, with a digits classifier in place of Inception);
# - the **kernel distance** (KID, an unbiased squared MMD, can be slightly negative);
# - **precision** (how many samples lie on the data manifold) and **recall** (how much of the
#   data manifold the samples cover), from $k$-nearest-neighbour balls.
#
# With a few hundred samples none of these is zero even for real digits: two sets of real images
# differ. Each figure is printed next to its **floor**, the same measure between as many real
# *training* digits and the test split (mean of 10 draws). A ratio FD / floor near 1 means "as close
# to the test set as real training digits are". For scale: the 350 validation digits, real images by
# other writers, score about 1.6.

# %% tags=["nbval-ignore-output"]
if DATASET == "digits":
    quality = {"DDPM": sample_quality((ddpm_samples.clamp(-1, 1) + 1) / 2, seed=SEED),
               "DDIM": sample_quality((ddim_samples.clamp(-1, 1) + 1) / 2, seed=SEED)}
    for name, q in quality.items():
        print(f"--- {name}")
        print(q)
else:
    quality = {}
    print(f"the sample-quality classifier is trained on the digits; no figures for {DATASET}")

# %% [markdown]
# **Reading the four figures.** The Fréchet distance compares means and covariances of the features:
# its ratio to the floor is the headline. KID asks the same question without the Gaussian assumption
# and without FD's bias at small samples: it is unbiased, so two samples of one distribution score 0 on
# average. The floor's KID is above 0 here because the training and test splits differ a little (the
# end of this section measures it), so again compare the samples' KID with the floor's, not with 0. Precision is the
# share of samples that land among real digits (close to some test digit, in the $k$-nearest-neighbour
# sense); recall the share of test digits that some sample lands near, that is, how much of the variety
# of real digits the samples cover. Even the floor's precision and recall are below 1: a finite set of
# real digits does not cover another. A model that copied one good digit would have high precision and
# low recall; blurry samples low precision. Compare each of the four with its floor above.
#
# ### Are the samples copies?
#
# A Fréchet distance at the floor is also what a model that **memorised** the 1000 training digits and
# returned them would score. So look at each sample's distance to its nearest training digit (over the
# 64 pixels, in $[-1, 1]$) and compare with the same distance for the test digits, real digits the model
# never saw: copies would sit at 0, far below the test digits' distances.

# %% tags=["nbval-ignore-output"]
sample_nn, sample_idx = metrics.nearest_neighbours(ddpm_samples.clamp(-1, 1), x_train)
test_nn, _ = metrics.nearest_neighbours(x_test, x_train)
viz.plot_nearest_distances(sample_nn, test_nn, label="DDPM samples")
plt.show()
close = test_nn.quantile(0.05).item()
print(f"median distance to the nearest training digit: samples {sample_nn.median():.2f}, test digits {test_nn.median():.2f}")
print(f"closest: samples {sample_nn.min():.2f}, test digits {test_nn.min():.2f}; "
      f"{(sample_nn < close).double().mean():.0%} of the samples are closer than the closest 5% of test digits ({close:.2f})")
nearest = sample_nn.argsort()[:8]  # the 8 samples closest to a training digit, above that digit
viz.show_image_rows({"closest samples": (ddpm_samples[nearest].clamp(-1, 1) + 1) / 2,
                     "nearest training digit": (x_train[sample_idx[nearest]] + 1) / 2})
plt.show()

# %% [markdown]
# In the run stored here the two histograms overlap: a sample is as far from its nearest training digit
# as a new test digit is (medians about 2.3 for both), and no more samples than test digits fall in the
# closest 5%. The closest pairs above look alike, but they are no closer than the closest real test
# digits are to theirs (compare the two minimums): similar handwriting, the way every new "0" is near
# some old "0", not copies. With 1000 training digits and 80 epochs this model has not memorised;
# question 7 of going further makes one that does.
#
# **What the floor itself measures.** It compares *training* digits with *test* digits, and the split
# follows the file's order, so the two splits may differ a little (other writers, other sessions). The
# same Fréchet distance between two disjoint halves of the training digits separates that shift from
# the sampling noise:

# %% tags=["nbval-ignore-output"]
if DATASET == "digits":
    feats_train = metrics.digits_features((x_train + 1) / 2, seed=SEED)
    feats_test = metrics.digits_features((x_test + 1) / 2, seed=SEED)
    n_half = min(len(x_test), len(x_train) // 2)
    draws = torch.Generator().manual_seed(SEED)
    within, across = [], []
    for _ in range(10):
        order = torch.randperm(len(x_train), generator=draws)
        within.append(metrics.frechet_distance(feats_train[order[:n_half]], feats_train[order[n_half:2 * n_half]]))
        across.append(metrics.frechet_distance(feats_train[order[:n_half]], feats_test))
    print(f"FD of {n_half} training digits against {n_half} other training digits: {np.mean(within):.3f} +- {np.std(within):.3f}")
    print(f"FD of {n_half} training digits against the {len(x_test)} test digits:    {np.mean(across):.3f} +- {np.std(across):.3f}")

# %% [markdown]
# Two halves of the training digits are about half as far apart as training and test digits: about half
# of the floor is the shift between the splits, the rest the sampling noise of a few hundred images. A
# perfect model of the *training* digits scores the floor, not 0, and a sample set can even land a little
# below it by chance.

# %% [markdown]
# ## 10. The likelihood: the variational bound in bits per dimension
#
# Lesson 02 scored its VAE by the probability it gives the test digits: 88.9 nats per digit, 2.003
# bits per dimension. A diffusion model is a latent-variable model too, and section 4's bound
# $L = L_T + \sum_{t \ge 2} L_{t-1} + L_0$ is an upper bound on $-\log p_\theta(x_0)$ in nats. Its parts:
# $L_T$ in closed form; each $L_{t-1}$ a KL between two Gaussians (`diffusion.step_kl`); and $L_0$ with Ho et
# al.'s **discretised decoder**: the digits have 17 grey levels, so $p_\theta(x_0 \mid x_1)$ gives each pixel
# the mass of $\mathcal N(\mu_\theta(x_1, 1), \beta_1)$ over its level's bin of $[-1, 1]$ (the outer bins reach to
# $\pm\infty$). That makes it a probability of the discrete image, on the same scale as the VAE's.
# Summing 1000 KL terms for each digit would cost a full sampler run; `diffusion.nll_bound` estimates
# the sum without bias from `BOUND_STRATA` network calls per digit: the first and last five steps one by
# one, one random step in each of equal ranges in between.

# %% tags=["nbval-ignore-output"]
levels = data.DIGITS_LEVELS if DATASET == "digits" else 256  # grey levels of the data
start = time.perf_counter()
with torch.no_grad():
    bound = diffusion.nll_bound(model, x_test.to(device), levels=levels, strata=BOUND_STRATA,
                                generator=torch.Generator().manual_seed(SEED))
bound = {k: v.cpu() for k, v in bound.items()}
bound_seconds = time.perf_counter() - start
pixels = int(np.prod(IMAGE_SHAPE))
bound_nats = bound["total"].mean().item()
bound_se = bound["total"].std().item() / math.sqrt(len(x_test))
for name, key in (("L_T (prior)", "prior"), ("KL terms L_1 .. L_(T-1)", "diffusion"), ("L_0 (decoder)", "decoder")):
    print(f"{name:<24} {bound[key].mean():8.2f} nats")
print(f"{'bound on -log p(x)':<24} {bound_nats:8.2f} +- {bound_se:.2f} nats per test digit = "
      f"{nats_to_bits_per_dim(bound_nats, pixels):.3f} bits/dim ({bound_seconds:.0f} s)")
print(f"{'lesson 02 VAE':<24} {88.86:8.2f} nats per test digit = 2.003 bits/dim (importance-weighted, K = 1000)")

# %% [markdown]
# Where do the nats go? Each step's KL term, averaged over the test digits:

# %% tags=["nbval-ignore-output"]
steps_shown = sorted({t for t in (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, T - 100, T - 10, T - 2, T - 1) if 1 <= t < T})
with torch.no_grad():
    per_step = [diffusion.step_kl(model, x_test.to(device), t).mean().item() for t in steps_shown]
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot([t + 1 for t in steps_shown], per_step, marker="o")
ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="nats per digit", title=r"$L_{t-1}$: the bound, step by step")
plt.tight_layout()
plt.show()
print("nats per digit at steps " + ", ".join(f"{t + 1}: {v:.3g}" for t, v in zip(steps_shown, per_step)))

# %% [markdown]
# **What the gap means.** Both numbers are upper bounds on $-\log p(x)$ of the test digits, so the bound
# does not say the diffusion model is a worse density than the VAE by that much: it says this bound is
# loose for this network. Two places hold most of it, and both come from choices made for sample
# quality. The first steps carry the bound's largest weights (section 4), and $L_\text{simple}$ trained
# them with weight 1, so their noise errors cost many nats here. And the cosine schedule caps its last
# $\beta$ at 0.999: the last step divides by $\sqrt{\alpha_T} \approx 0.03$, which multiplies any error of
# $\varepsilon_\theta$ there by about 30 in the mean, and squares it in the KL. Ho et al. saw the same trade:
# on CIFAR-10 their $L_\text{simple}$ model has the better FID and a bound of 3.75 bits/dim, worse than the
# likelihood models of the day. Training on the bound's weights, learning the variances $\sigma_t^2$
# (Nichol & Dhariwal, 2021) or the schedule itself (Kingma et al., 2021) closes most of the gap.

# %% [markdown]
# The lesson's figures, read by `benchmarks/ddpm_quality.py`. For reference, a plain MLP noise
# predictor (0.9M parameters, EMA, linear schedule, no clipping) trained for 3 minutes on the same
# CPU reaches about **2.1 × the floor** with 1000-step DDPM and **1.8 ×** with 50-step DDIM.

# %% tags=["nbval-ignore-output"]
values = dict(train_seconds=history.seconds, ddpm_seconds=ddpm_seconds, ddim_seconds=ddim_seconds,
              ddim_speedup=ddpm_seconds / ddim_seconds, n_samples=N_SAMPLES, T=T, ddim_steps=DDIM_STEPS,
              toy_train_seconds=toy_history.seconds, toy_energy=toy_energy, toy_energy_floor=toy_floor,
              toy_energy_floor_std=toy_floor_std, toy_energy_ratio=toy_energy / toy_floor,
              nn_median_samples=sample_nn.median().item(), nn_median_test=test_nn.median().item(),
              nn_min_samples=sample_nn.min().item(), nn_min_test=test_nn.min().item(),
              bound_nats=bound_nats, bound_nats_se=bound_se, bound_bits_per_dim=nats_to_bits_per_dim(bound_nats, pixels),
              bound_prior=bound["prior"].mean().item(), bound_diffusion=bound["diffusion"].mean().item(),
              bound_decoder=bound["decoder"].mean().item(), bound_seconds=bound_seconds)
for name, q in quality.items():
    values.update(q.report("06", prefix=name.lower() + "_").values)
report = Report("06", **values)
report

# %% [markdown]
# ## 11. Going further
#
# 1. **Schedules.** Retrain the digits model with `SCHEDULE = "linear"`. Which sampler suffers more,
#    DDPM or DDIM with 10 steps? Look at the schedules' log SNR to explain it.
# 2. **The variance.** Sample with `D.GaussianDiffusion(betas, sigma="beta_tilde")` and the same
#    network. Does FD move? (Ho et al. found the two choices equivalent for sample quality.)
# 3. **No clipping.** Sample with `clip=None`. What happens to the pixel range and to FD?
# 4. **Predict $x_0$ or $v$ instead of $\varepsilon$.** Rewrite the loss so the network outputs
#    $\hat x_0$; what does the implied weighting of the steps become?
# 5. **DDIM inversion.** Run the deterministic DDIM update backwards from a test digit to get its
#    $x_T$, then sample from it again: do you get the digit back? Interpolate between two inverted
#    codes (lesson 02's slerp).
# 6. **The bound against the samples.** Train with the bound's weights $\lambda_t$ (section 4) instead of
#    $L_\text{simple}$, or cap the cosine schedule's betas at 0.99 instead of 0.999. How do bits/dim and
#    FD move? Section 10's per-step figure tells you where to look.
# 7. **Memorisation on purpose.** Train the digits model far longer on the first 50 training digits
#    only. When do the nearest-neighbour distances of section 9 collapse towards 0?
#
# **The scoreboard.** Every model of the course side by side (likelihood, sample quality against the real floor, training and sampling time), read from the lessons' own figures: [the README's scoreboard](https://github.com/dgm-course/deep-generative-models#scoreboard).
#
# ## Summary
#
# - The forward process $x_t = \sqrt{1 - \beta_t}\, x_{t-1} + \sqrt{\beta_t}\, \varepsilon$ keeps the variance at 1
#   and has the closed form $x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon$.
# - The cosine schedule spends the steps evenly in log SNR; the linear one wastes its last steps on
#   small images.
# - The posterior $q(x_{t-1} \mid x_t, x_0)$ is Gaussian; matching its mean with a network written
#   through the noise turns the variational bound into the regression $\|\varepsilon - \varepsilon_\theta(x_t, t)\|^2$.
# - Algorithm 2 samples with $x_{t-1} = (x_t - \frac{1 - \alpha_t}{\sqrt{1 - \bar\alpha_t}} \varepsilon_\theta) / \sqrt{\alpha_t} + \sigma_t z$,
#   no noise at the last step; DDIM reuses the same network for a deterministic sampler with 50 steps.
# - The noise predictor is the score of the noised data, scaled: $\varepsilon_\theta = -\sqrt{1 - \bar\alpha_t}\, \nabla \log p_t$.
# - Sample quality is measured against held-out data, always next to the real-vs-real floor, with
#   the samples' distances to the training set beside it (a copy would score at the floor too).
# - The variational bound, with a discretised decoder, puts diffusion on lesson 02's scale; a network
#   trained for samples gives a loose bound.
#
# ## References
#
# - J. Sohl-Dickstein, E. Weiss, N. Maheswaranathan, S. Ganguli. *Deep unsupervised learning using
#   nonequilibrium thermodynamics.* ICML 2015.
# - J. Ho, A. Jain, P. Abbeel. *Denoising diffusion probabilistic models.* NeurIPS 2020 (Algorithms 1 and 2).
# - A. Nichol, P. Dhariwal. *Improved denoising diffusion probabilistic models.* ICML 2021 (the cosine schedule).
# - J. Song, C. Meng, S. Ermon. *Denoising diffusion implicit models.* ICLR 2021.
# - P. Vincent. *A connection between score matching and denoising autoencoders.* Neural Computation 2011.
# - D. Kingma, T. Salimans, B. Poole, J. Ho. *Variational diffusion models.* NeurIPS 2021.
# - G. Székely, M. Rizzo. *Energy statistics: a class of statistics based on distances.* J. Stat. Plan. Inference 2013.
# - M. Heusel et al. *GANs trained by a two time-scale update rule converge to a local Nash
#   equilibrium.* NeurIPS 2017 (FID); M. Bińkowski et al. *Demystifying MMD GANs.* ICLR 2018 (KID);
#   T. Kynkäänniemi et al. *Improved precision and recall metric for assessing generative models.* NeurIPS 2019.
