# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 04 — Generative adversarial networks: the minimax game and WGAN-GP
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/dgm-course/deep-generative-models/blob/main/lessons/04_gan.ipynb)
#
# Lessons 01-02 trained a decoder by asking it to *reconstruct*; a generative adversarial network
# (Goodfellow et al., 2014) never compares a sample with a particular data point. A **generator** maps
# noise to samples, a **discriminator** tries to tell samples from data, and each is trained against
# the other. There is no likelihood and no encoder: the discriminator *is* the loss, and it is learned.
# That makes GANs sharp and fast to sample, and notoriously hard to train. In this lesson you write the
# game, watch it fail in the ways it is known to fail, on 2-D mixtures where every failure can be seen
# and counted, and fix it with the Wasserstein critic and its gradient penalty (Gulrajani et al., 2017);
# then you train a conditional digit GAN and score it on the same scale as lesson 06's diffusion model.
#
# **You will learn to**
# - write the value function $\min_G \max_D V(D, G)$, derive the optimal discriminator and the
#   Jensen-Shannon divergence it leaves;
# - see why the generator's minimax loss saturates, and use the non-saturating loss;
# - recognise oscillation, a too-good discriminator and mode collapse, and count modes;
# - state the Wasserstein-1 distance through its dual, enforce a Lipschitz critic with a gradient
#   penalty, and write one training step of each player;
# - condition a GAN on a class label;
# - evaluate samples with the Inception score and the Fréchet distance, each next to real data, and
#   check the samples are not copies.
#
# **Prerequisites:** lesson 01 (networks, training loops); lesson 02 (KL divergence); lesson 06's
# sample-quality section helps for the evaluation.
#
# **How to work through it:** fill in each exercise (replace `raise NotImplementedError(...)`) and run
# the check cell below it. If your function does not pass yet, the lesson goes on with the reference
# implementation from `course_lib`, so every later cell still runs.
#
# Runtime at default settings: about 4 minutes on a 2-core laptop CPU (measured: see the README's
# benchmarks), most of it the 2-D runs and the digit GAN.

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
import torch.nn.functional as F

from course_lib import checks, data, metrics, viz, widgets
from course_lib import gan as G
from course_lib.metrics import Report, sample_quality
from course_lib.training import EMA, fast, resolve_device, seed_everything

# %% [markdown]
# ## 0. Parameters and data
#
# Tagged `parameters` for papermill and `course run 04 -p NAME VALUE`; `COURSE_FAST=1` shrinks every
# training run to a few steps.

# %% tags=["parameters"]
SEED = 0
DEVICE = "auto"  # "auto": a CUDA GPU if there is one, else Apple's MPS, else the CPU
DATASET = "digits"  # the sample-quality figures below are for the bundled digits
TOY_STD = 0.02  # std of each of the 8 gaussians (the WGAN-GP paper's); 0.1 is too easy to show anything
TOY_POINTS = 51200  # 2-D training points: 200 batches of 256 per epoch
TOY_BATCH = 256
TOY_EPOCHS = 20  # 4000 generator steps on the 8 gaussians
GRID_EPOCHS = 60  # 12000 steps on the 25-mode grid
TOY_HIDDEN = 128  # width of the 2-D MLPs (two hidden layers)
TOY_LR = 1e-3
WGAN_CRITIC_STEPS = 3000  # critic steps of the 2-D WGAN-GP runs (n_critic of them per generator step)
LATENT_DIM = 32  # the digit GAN's z
CHANNELS = 32  # width of its convolutional generator and discriminator
DIGIT_LOSS = "non-saturating"  # Adam(0.5, 0.999); or "wgan-gp": lambda 10, n_critic 5, Adam(0, 0.9) (section 7)
EPOCHS = 150  # training epochs of the digit GAN (WGAN-GP: 200)
BATCH_SIZE = 64
LR = 1e-3  # annealed to 0 along half a cosine (WGAN-GP: 2e-3)
EMA_DECAY = 0.999  # samples come from an exponential moving average of the generator's weights
N_SAMPLES = 256  # digit samples for the evaluation: the n of lesson 06's figures

# %%
TOY_EPOCHS = fast(TOY_EPOCHS, 1)
GRID_EPOCHS = fast(GRID_EPOCHS, 1)
WGAN_CRITIC_STEPS = fast(WGAN_CRITIC_STEPS, 50)
EPOCHS = fast(EPOCHS, 2)
N_SAMPLES = fast(N_SAMPLES, 64)
device = resolve_device(DEVICE)
seed_everything(SEED)

toy = data.eight_gaussians(TOY_POINTS, seed=SEED, std=TOY_STD)
toy_centres = data.eight_gaussian_centres()
GRID_SCALE = 2.828  # the grid's positions -4 .. 4 have std 2.83: scaled to unit variance, as the WGAN-GP code does
grid_toy = data.gaussian_grid(TOY_POINTS, seed=SEED) / GRID_SCALE
grid_centres, grid_std = data.gaussian_grid_centres() / GRID_SCALE, 0.05 / GRID_SCALE
x_train, y_train = data.load_dataset(DATASET, "train")
x_test, y_test = data.load_dataset(DATASET, "test")
x_train, x_test = x_train * 2 - 1, x_test * 2 - 1  # images in [-1, 1]: the generator ends in tanh
print(f"device: {device}")
print(f"8 gaussians (std {TOY_STD}) and a 5 x 5 grid: {len(toy)} points each; "
      f"{DATASET}: {len(x_train)} training images of shape {tuple(x_train.shape[1:])} in [-1, 1]")

# %% [markdown]
# ## 1. The game
#
# A **discriminative** model learns $p(y \mid x)$: is this a 3 or an 8, is this image real or fake. A
# **generative** model learns $p(x)$ well enough to *draw* from it. A GAN builds a generative model out
# of a discriminative one. The generator $G$ maps noise $z \sim p(z) = \mathcal N(0, I)$ to a sample
# $G(z)$; the discriminator $D(x) \in (0, 1)$ is the probability it gives that $x$ is real. They play
#
# $$\min_G \max_D \; V(D, G) = \mathbb E_{x \sim p_\text{data}}[\log D(x)] + \mathbb E_{z \sim p(z)}[\log(1 - D(G(z)))].$$
#
# $D$ maximises $V$: it is the log-likelihood of a classifier that labels data 1 and samples 0 (binary
# cross-entropy with the sign flipped). $G$ minimises it: it wants its samples labelled real.
#
# > **A slide typo to avoid.** Some slides write $\min_G \min_D$. Then $D$ would *minimise* the
# > log-likelihood of the right labels: it would call data fake and samples real, and the game has
# > no meaning. It is $\min_G \max_D$.
#
# **Exercise 1.** The networks output **logits** $\ell$ (any real number) and $D = \sigma(\ell)$.
# Write the discriminator's loss, the quantity it *minimises*: $-\big(\text{mean}\log D(x) + \text{mean}\log(1 - D(G(z)))\big)$.
# Compute it from the logits without forming $\sigma(\ell)$ first: $\log\sigma(-100)$ is $\log 0$ in
# float32. Use $-\log\sigma(\ell) = \operatorname{softplus}(-\ell)$ and $-\log(1 - \sigma(\ell)) = \operatorname{softplus}(\ell)$
# (or `F.binary_cross_entropy_with_logits`). The two batches may differ in size: one mean each.

# %%
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-[mean log D(x) + mean log(1 - D(G(z)))] from logits real_logits (B,) and fake_logits (B',)."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise discriminator_loss: replace this line with your code")


# %%
discriminator_loss = checks.check("04.discriminator_loss", discriminator_loss)

# %% [markdown]
# ## 2. The optimal discriminator and the divergence it leaves
#
# For a fixed generator with sample density $p_g$, $V$ is an integral over $x$ of
# $p_\text{data}(x) \log D(x) + p_g(x) \log(1 - D(x))$. Maximising $a \log y + b \log(1 - y)$ over
# $y$ gives $y = a / (a + b)$, so the best discriminator is
#
# $$D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)}.$$
#
# Putting it back, with the mixture $m = (p_\text{data} + p_g)/2$,
#
# $$V(D^*, G) = \mathbb E_{p_\text{data}}\Big[\log \frac{p_\text{data}}{2m}\Big] + \mathbb E_{p_g}\Big[\log \frac{p_g}{2m}\Big] = -\log 4 + 2\,\mathrm{JSD}(p_\text{data} \,\|\, p_g),$$
#
# with the Jensen-Shannon divergence $\mathrm{JSD}(p \| q) = \tfrac12 \mathrm{KL}(p \| m) + \tfrac12 \mathrm{KL}(q \| m)$,
# which is 0 only when $p_g = p_\text{data}$. Against a perfect discriminator, the generator minimises
# a divergence: the game's fixed point is $p_g = p_\text{data}$, where $D^* = 1/2$ everywhere.
#
# Both claims can be checked numerically. In 1-D, with $p_\text{data} = \mathcal N(0, 1)$ and a
# "generator" whose samples follow $\mathcal N(1.5, 0.7^2)$, we tabulate the densities, and train a small
# discriminator on samples of the two with exercise 1's loss:

# %% tags=["nbval-ignore-output"]
grid_1d = torch.linspace(-5, 6, 2201, dtype=torch.float64)
dx = float(grid_1d[1] - grid_1d[0])
p_data = torch.exp(-0.5 * grid_1d**2) / math.sqrt(2 * math.pi)
p_g = torch.exp(-0.5 * ((grid_1d - 1.5) / 0.7) ** 2) / (0.7 * math.sqrt(2 * math.pi))
d_star = p_data / (p_data + p_g)
value = float(((p_data * d_star.log() + p_g * (p_g / (p_data + p_g)).log()) * dx).sum())
jsd = G.jensen_shannon(p_data, p_g, dx)
print(f"V(D*, G) = {value:.5f};  -log 4 + 2 JSD = {-math.log(4) + 2 * jsd:.5f}  (JSD = {jsd:.4f} nats, at most log 2 = 0.6931)")

seed_everything(SEED)
disc_1d = G.MLPDiscriminator(1, (32, 32))
opt = torch.optim.Adam(disc_1d.parameters(), lr=3e-3)
for _ in range(fast(1500, 20)):
    real_1d, fake_1d = torch.randn(256, 1), 1.5 + 0.7 * torch.randn(256, 1)
    loss = discriminator_loss(disc_1d(real_1d), disc_1d(fake_1d))
    opt.zero_grad()
    loss.backward()
    opt.step()
with torch.no_grad():
    d_learned = torch.sigmoid(disc_1d(grid_1d.float()[:, None])).double()
fig, ax = plt.subplots(figsize=(8, 3.4))
ax.plot(grid_1d, p_data, color="0.3", label=r"$p_\mathrm{data} = \mathcal{N}(0, 1)$")
ax.plot(grid_1d, p_g, color="tab:orange", label=r"$p_g = \mathcal{N}(1.5, 0.7^2)$")
ax.plot(grid_1d, d_star, color="tab:blue", linewidth=2.5, label=r"$D^* = p_\mathrm{data} / (p_\mathrm{data} + p_g)$")
ax.plot(grid_1d, d_learned, color="tab:red", linestyle="--", label="D trained on samples (1500 steps)")
ax.set(xlabel="x", ylim=(-0.02, 1.02), title="the optimal discriminator, and one learned from samples")
ax.legend(fontsize="small", loc="center left")
plt.tight_layout()
plt.show()
where = (p_data + p_g) > 1e-3  # where there are samples to learn from
print(f"largest |D - D*| where either density exceeds 1e-3: {(d_learned - d_star)[where].abs().max():.3f}")

# %% [markdown]
# The learned discriminator follows $D^*$ where there are samples, and it is free to do anything where
# there are none (both tails): nothing in the loss constrains it there. That freedom comes back in
# section 5.
#
# ## 3. The generator's loss: why the minimax form saturates
#
# The minimax generator minimises $\mathbb E \log(1 - D(G(z)))$. Early in training the samples are bad,
# the discriminator rejects them confidently, $D(G(z)) \approx 0$, and the loss is flat there: with
# $D = \sigma(\ell)$, $\frac{d}{d\ell}\log(1 - \sigma(\ell)) = -\sigma(\ell) = -D$, which vanishes as
# $D \to 0$. The generator learns least exactly when it is worst. Goodfellow et al. proposed the
# **non-saturating** loss $-\mathbb E \log D(G(z))$ instead: the same fixed point, and a gradient
# $\frac{d}{d\ell}(-\log\sigma(\ell)) = -(1 - D)$, about $-1$ when $D \approx 0$.
#
# **Exercise 2.** Write the non-saturating generator loss from the discriminator's logits on the
# generator's samples, stable at any logit.

# %%
def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -mean log D(G(z)) from the logits fake_logits (B,)."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise generator_loss: replace this line with your code")


# %%
generator_loss = checks.check("04.generator_loss", generator_loss)

# %% [markdown]
# The two losses and their gradients with respect to the logit, as functions of $D(G(z))$, computed by
# autograd through the library's saturating loss and your non-saturating one:

# %%
logit = torch.linspace(-9, 9, 400, requires_grad=True)
d_of = torch.sigmoid(logit).detach()
curves = {}
for name, fn in (("saturating: log(1 - D)", lambda v: G.generator_loss(v, saturating=True)),
                 ("non-saturating: -log D", generator_loss)):
    per_example = torch.stack([fn(v[None]) for v in logit])
    (grad,) = torch.autograd.grad(per_example.sum(), logit)
    curves[name] = (per_example.detach(), grad)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for (name, (loss, grad)), colour in zip(curves.items(), ("tab:red", "tab:blue")):
    axes[0].plot(d_of, loss, color=colour, label=name)
    axes[1].plot(d_of, grad.abs(), color=colour, label=name)
axes[0].set(xlabel="D(G(z))", ylabel="generator loss", title="the two generator losses")
axes[1].set(xlabel="D(G(z))", ylabel="|d loss / d logit|", title="their gradients: the minimax one vanishes at D ~ 0")
axes[1].axvspan(0, 0.1, color="0.9", label="early training: D rejects the samples")
for ax in axes:
    ax.legend(fontsize="small")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Training on 8 gaussians: oscillation and mode collapse
#
# The test bed: 8 gaussians of std 0.02 on a circle of radius 2. The generator is an MLP from
# $z \in \mathbb R^2$ to a point; the discriminator an MLP with LeakyReLU to a logit. `G.train_gan` plays the
# game on `training.fit_adversarial` (one discriminator step and one generator step per batch, Adam with
# $\beta_1 = 0.5$) and uses **your** losses (`G.Losses`). It also records 40 snapshots of each run: the
# samples of a fixed batch of $z$ and the discriminator on a grid.
#
# **Counting modes.** A sample is *high quality* when it lies within 3 standard deviations of a mode;
# a mode is *covered* when it receives at least 20 % of its fair share $n / K$ of high-quality samples
# (the VEEGAN and PacGAN protocol). For perfect samples 98.9 % are high quality ($P(\chi^2_2 < 9)$).
#
# Three runs of the same networks, Adam with learning rate 1e-3 and $\beta_1 = 0.5$: the non-saturating
# loss with the learning rate kept constant, the same with the learning rate annealed to 0 along half a
# cosine, and the minimax (saturating) loss with the annealed rate, for half the steps.

# %% tags=["nbval-ignore-output"]
my_losses = G.Losses(discriminator=discriminator_loss, generator=generator_loss)


def toy_run(points, loss, epochs, schedule, lr=TOY_LR, betas=(0.5, 0.999), n_critic=1, gp_weight=0.0, name=""):
    """Train a fresh pair of 2-D MLPs; return the generator, its snapshots and the seconds it took."""
    seed_everything(SEED)
    gen = G.MLPGenerator(2, 2, (TOY_HIDDEN, TOY_HIDDEN))
    disc = G.MLPDiscriminator(2, (TOY_HIDDEN, TOY_HIDDEN))
    g_steps = epochs * math.ceil(len(points) / TOY_BATCH) // n_critic
    cfg = G.GANConfig(loss=loss, latent_dim=2, n_critic=n_critic, gp_weight=gp_weight, lr=lr, betas=betas,
                      epochs=epochs, batch_size=TOY_BATCH, lr_schedule=schedule, snapshot_every=max(1, g_steps // 40))
    start = time.perf_counter()
    _, snaps = G.train_gan(gen, disc, points, cfg, seed=SEED, device=device, losses=my_losses, desc=name)
    return gen, snaps, time.perf_counter() - start


def final_coverage(gen, centres, std):
    """Mode coverage of 2500 fresh samples."""
    samples = G.sample(gen, 2500, 2, generator_rng=torch.Generator().manual_seed(SEED + 7))
    return G.mode_coverage(samples, centres, std), samples


toy_runs, toy_results = {}, {}
BASELINE, BEST = "non-saturating, constant lr", "non-saturating, lr annealed"
for name, loss, schedule, epochs in ((BASELINE, "non-saturating", "constant", TOY_EPOCHS),
                                     (BEST, "non-saturating", "cosine", TOY_EPOCHS),
                                     ("minimax (saturating), lr annealed, half the steps", "saturating", "cosine",
                                      max(1, TOY_EPOCHS // 2))):
    gen, snaps, seconds = toy_run(toy, loss, epochs, schedule, name=name)
    cov, samples = final_coverage(gen, toy_centres, TOY_STD)
    toy_runs[name], toy_results[name] = snaps, (cov, samples, seconds)
    print(f"{name:<50} {cov}  ({seconds:.0f} s)")

# %% [markdown]
# The samples at the end of each run (orange) over the data (grey), and the number of modes covered as
# each run trained:

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 4, figsize=(16, 4.0), gridspec_kw={"width_ratios": [1, 1, 1, 1.3]})
for ax, (name, (cov, samples, _)) in zip(axes, toy_results.items()):
    ax.scatter(toy[:3000, 0], toy[:3000, 1], s=2, color="0.6", linewidths=0)
    ax.scatter(samples[:, 0], samples[:, 1], s=2, color="tab:orange", alpha=0.6, linewidths=0)
    ax.set(xlim=(-2.8, 2.8), ylim=(-2.8, 2.8), aspect="equal", xticks=[], yticks=[])
    ax.set_title(f"{name.replace(', lr', chr(10) + 'lr', 1)}\n{cov}", fontsize="small")
for name, snaps in toy_runs.items():
    axes[3].plot(snaps.steps, [c.covered for c in G.coverage_history(snaps, toy_centres, TOY_STD)], label=name)
axes[3].set(xlabel="generator step", ylabel="modes covered (of 8)", ylim=(-0.3, 8.3), title="modes found and lost")
axes[3].legend(fontsize="x-small", loc="lower right", framealpha=0.9)
plt.tight_layout()
plt.show()

# %% [markdown]
# What the runs stored here show (look at the right panel as you read):
#
# - **Oscillation.** With a constant learning rate the game does not settle: the generator moves mass
#   towards the modes the discriminator currently favours, the discriminator follows, and modes are
#   found and lost again and again. The blue count jumps between 1 and 8 until the very end, and where
#   it ends is a matter of the step you stopped at. Plain gradient steps on a min-max problem circle
#   the equilibrium instead of settling on it (on the bilinear game $\min_x \max_y xy$ simultaneous
#   gradient steps spiral outwards).
# - **Mode collapse.** At its low points only one or two modes get their share of sharp samples, and
#   the share of samples near any mode falls with the count (the dashed curve of section 6's scrubber):
#   the generator's mass is in transit from the modes it dropped to the ones the discriminator now
#   favours. Dropping a mode costs the generator nothing as long as the discriminator is fooled on the
#   modes it keeps, and the discriminator, chasing the current samples, forgets the dropped modes.
# - **Annealing the learning rate** shrinks the circles: as the steps shrink, both players settle, and
#   the generator ends on all 8 modes with sharp samples. This is an optimisation fix, not a new
#   objective. The saturating loss, also annealed, covers 7 of the 8 modes in half the steps: it learns
#   here because its discriminator is never confident enough to flatten $\log(1 - D)$ for long.
# - **A too-good discriminator** is the other classic failure: if $D$ separates data and samples
#   perfectly, $\log(1 - D(G(z)))$ is flat and the minimax generator stops learning (section 3). With
#   the non-saturating loss the gradient survives, but it points wherever $D$ happens to slope, which is
#   not necessarily towards the data: look at the maps of section 6, where $D$ is flat away from the
#   points it has seen.
#
# ### A harder test: 25 modes on a grid
#
# The same comparison on a $5 \times 5$ grid of gaussians (std 0.05, spacing 2, scaled to unit variance),
# with three times the steps: 25 modes are much harder to keep at once.

# %% tags=["nbval-ignore-output"]
grid_runs, grid_results = {}, {}
for name, schedule in ((BASELINE, "constant"), (BEST, "cosine")):
    gen, snaps, seconds = toy_run(grid_toy, "non-saturating", GRID_EPOCHS, schedule, name=f"grid: {name}")
    cov, samples = final_coverage(gen, grid_centres, grid_std)
    grid_runs[name], grid_results[name] = snaps, (cov, samples, seconds)
    print(f"25-mode grid, {name:<42} {cov}  ({seconds:.0f} s)")
fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
for ax, (name, (cov, samples, _)) in zip(axes, grid_results.items()):
    ax.scatter(grid_toy[:5000, 0], grid_toy[:5000, 1], s=2, color="0.6", linewidths=0)
    ax.scatter(samples[:, 0], samples[:, 1], s=2, color="tab:orange", alpha=0.6, linewidths=0)
    ax.set(xlim=(-2, 2), ylim=(-2, 2), aspect="equal", xticks=[], yticks=[])
    ax.set_title(f"{name}\n{cov}", fontsize="small")
plt.tight_layout()
plt.show()

# %% [markdown]
# Both runs keep most of the grid at this budget, the annealed one all of it, with the same share of
# sharp samples; the constant-lr run has left some modes empty at the step it stopped.
# With two thirds of the steps, the annealed recipe covered 12 to 20 modes over three seeds while
# calibrating this lesson: 25 modes need time.) The benchmark
# (`benchmarks/gan_quality.py`) repeats both comparisons over three seeds; the README lists its figures.
#
# ## 5. The Wasserstein critic
#
# **Why the JSD is a poor guide.** When the two distributions sit on disjoint supports (thin manifolds
# in a big space, or our sharp modes early in training) the JSD is $\log 2$ whatever the distance
# between them, and so is its gradient: zero. The **Wasserstein-1** (earth mover's) distance,
#
# $$W_1(p, q) = \inf_{\gamma \in \Pi(p, q)} \mathbb E_{(x, y) \sim \gamma} \|x - y\|,$$
#
# the cost of moving the mass of $q$ onto $p$, keeps growing with the distance. In 1-D, for two narrow
# bumps a distance $\theta$ apart:

# %% tags=["nbval-ignore-output"]
thetas = np.linspace(0, 3, 61)
narrow = lambda mu: torch.exp(-0.5 * ((grid_1d - mu) / 0.05) ** 2)
jsds = [G.jensen_shannon(narrow(0.0), narrow(float(t)), dx) for t in thetas]
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(thetas, jsds, color="tab:red", label="JSD (nats)")
ax.plot(thetas, thetas, color="tab:blue", label=r"$W_1 = \theta$")
ax.axhline(math.log(2), color="tab:red", linestyle=":", linewidth=1)
ax.set(xlabel=r"distance $\theta$ between the bumps", title=r"JSD saturates at log 2; $W_1$ keeps pointing the way")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# **The dual.** The infimum over couplings is intractable, but the Kantorovich-Rubinstein duality
# writes the same number as a supremum over **1-Lipschitz** functions $f$ ($|f(x) - f(y)| \le \|x - y\|$):
#
# $$W_1(p_\text{data}, p_g) = \sup_{\|f\|_L \le 1} \; \mathbb E_{x \sim p_\text{data}}[f(x)] - \mathbb E_{z}[f(G(z))].$$
#
# A network $f$, the **critic**, plays the discriminator's role: it outputs a raw score, not a
# probability, and maximises $\mathbb E f(x) - \mathbb E f(G(z))$; the generator minimises
# $-\mathbb E f(G(z))$. The constraint is essential: without it the critic's scores run off to infinity
# on any pair of distinguishable sets. WGAN (Arjovsky et al., 2017) **clipped the weights** to
# $[-c, c]$; that bounds the Lipschitz constant crudely, pushes the weights to $\pm c$, and gives either
# vanishing or exploding gradients depending on $c$. WGAN-GP instead notes that the optimal critic has
# gradient norm 1 almost everywhere on the straight lines between coupled points of $p_\text{data}$ and
# $p_g$, and **penalises** the deviation there:
#
# $$L_\text{critic} = \mathbb E f(\tilde x) - \mathbb E f(x) + \lambda\, \mathbb E_{\hat x}\big[(\|\nabla_{\hat x} f(\hat x)\|_2 - 1)^2\big],
# \qquad \hat x = \epsilon x + (1 - \epsilon) \tilde x, \quad \epsilon \sim U[0, 1],$$
#
# with $x$ real, $\tilde x = G(z)$ fake, one $\epsilon$ **per example** (so $\hat x$ lies on the segment
# between a real and a fake example, not scattered pixel by pixel), and the norm per example over all
# its entries. Practical rules, each with a reason:
# - **no batch normalisation in the critic**: the penalty constrains the gradient of each example's score
#   with respect to that example; batch norm makes every score depend on the whole batch (use no
#   normalisation, or layer norm);
# - **$n_\text{critic} = 5$** critic steps per generator step: the generator's gradient is only as good as
#   the critic's estimate of $W_1$;
# - **Adam with $\beta_1 = 0$, $\beta_2 = 0.9$**: momentum hurts a target that moves every step;
# - **$\lambda = 10$ for images, much smaller (0.1) for 2-D toys**: the penalty competes with the
#   critic's main term, whose scale depends on the data's (the paper's own toy code uses 0.1).
#
# **Exercise 3.** The critic's loss from raw scores: $\text{mean} f(G(z)) - \text{mean} f(x)$.

# %%
def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The Wasserstein critic's loss mean f(G(z)) - mean f(x) from scores real_scores (B,) and fake_scores (B',)."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise critic_loss: replace this line with your code")


# %%
critic_loss = checks.check("04.critic_loss", critic_loss)

# %% [markdown]
# **Exercise 4.** The gradient penalty, unweighted (λ multiplies it outside): draw one
# $\epsilon \sim U[0, 1]$ per example with `torch.rand(..., generator=generator)` shaped
# `(B, 1, ..., 1)`, form $\hat x$ from the *detached* real and fake batches, ask for its gradient with
# `torch.autograd.grad(f(x_hat).sum(), x_hat, create_graph=True)` (the sum gives each example its own
# gradient, since score $i$ depends on $\hat x_i$ only; `create_graph` lets the penalty train the critic),
# and return the mean over the batch of $(\|g_i\|_2 - 1)^2$ with the norm over all of example $i$'s entries.

# %%
def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """mean_i (||grad f(x_hat_i)||_2 - 1)^2 at x_hat = eps real + (1 - eps) fake; real, fake (B, ...); one eps per example."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise gradient_penalty: replace this line with your code")


# %%
gradient_penalty = checks.check("04.gradient_penalty", gradient_penalty)

# %% [markdown]
# **Exercises 5 and 6.** One step of each player, Algorithm 1 of Gulrajani et al. The critic's step:
# fresh noise $z$ of shape `(len(real), generator.latent_dim)`, fakes that carry **no** gradient to the
# generator (`torch.no_grad()` or `.detach()`), the critic's loss plus `gp_weight` times your penalty,
# then `zero_grad`, `backward`, `step`. The generator's step: `batch_size` fresh samples, the loss
# $-\text{mean} f(G(z))$ (exercise 3's sign, from the other side), and its own optimizer (which holds
# only the generator's weights: the critic does not move). Both return the loss before the update as a
# float (`loss.item()`).

# %%
def critic_step(generator, critic, optimizer, real: torch.Tensor, gp_weight: float) -> float:
    """One WGAN-GP critic update on the real batch real (B, ...); returns the loss before it."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise critic_step: replace this line with your code")


def generator_step(generator, critic, optimizer, batch_size: int) -> float:
    """One WGAN generator update on batch_size fresh samples; returns the loss -mean f(G(z)) before it."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise generator_step: replace this line with your code")


# %%
critic_step = checks.check("04.critic_step", critic_step)

# %%
generator_step = checks.check("04.generator_step", generator_step)

# %% [markdown]
# ### Algorithm 1, by hand
#
# Your two steps in the paper's loop, on the 8 gaussians with $\lambda = 0.1$, $n_\text{critic} = 5$,
# Adam($\beta = (0, 0.9)$) and the same annealed learning rate as the best run above. Unlike a GAN's
# losses, the critic's estimate $\mathbb E f(x) - \mathbb E f(G(z))$ of $W_1$ means something: it rises
# while the critic learns to see the gap, then falls as the samples approach the data.

# %% tags=["nbval-ignore-output"]
seed_everything(SEED)
wgen = G.MLPGenerator(2, 2, (TOY_HIDDEN, TOY_HIDDEN)).to(device)
wcritic = G.MLPDiscriminator(2, (TOY_HIDDEN, TOY_HIDDEN)).to(device)
g_opt = torch.optim.Adam(wgen.parameters(), lr=TOY_LR, betas=(0.0, 0.9))
c_opt = torch.optim.Adam(wcritic.parameters(), lr=TOY_LR, betas=(0.0, 0.9))
n_critic, g_steps = 5, WGAN_CRITIC_STEPS // 5
recorder = G.SnapshotRecorder(wgen, wcritic, toy, every=max(1, g_steps // 40), latent_dim=2, loss="wgan-gp", seed=SEED)
w1_estimates, start = [], time.perf_counter()
order = torch.randperm(len(toy), generator=torch.Generator().manual_seed(SEED))
for step in range(1, g_steps + 1):
    for group in (*g_opt.param_groups, *c_opt.param_groups):  # half a cosine, from TOY_LR to 0
        group["lr"] = TOY_LR * 0.5 * (1 + math.cos(math.pi * (step - 1) / g_steps))
    for i in range(n_critic):  # 1. n_critic critic steps on fresh real batches
        k = ((step - 1) * n_critic + i) * TOY_BATCH % (len(toy) - TOY_BATCH + 1)
        real = toy[order[k:k + TOY_BATCH]].to(device)
        critic_step(wgen, wcritic, c_opt, real, 0.1)
    generator_step(wgen, wcritic, g_opt, TOY_BATCH)  # 2. one generator step
    recorder(wgen, step)
    if step % max(1, g_steps // 40) == 0:  # the critic's estimate of W1 on a fresh batch, penalty left out
        with torch.no_grad():
            fresh = toy[torch.randint(len(toy), (2048,))].to(device)
            w1_estimates.append((step, (wcritic(fresh).mean() - wcritic(wgen(torch.randn(2048, 2, device=device))).mean()).item()))
wgan_seconds = time.perf_counter() - start
toy_runs["WGAN-GP, lambda 0.1, n_critic 5 (your steps)"] = recorder.done()
cov, samples = final_coverage(wgen, toy_centres, TOY_STD)
toy_results["WGAN-GP, lambda 0.1, n_critic 5 (your steps)"] = (cov, samples, wgan_seconds)
print(f"WGAN-GP (your steps): {cov}  ({wgan_seconds:.0f} s)")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
steps_w, values_w = zip(*w1_estimates)
axes[0].plot(steps_w, values_w, marker=".")
axes[0].set(xlabel="generator step", ylabel="E f(x) - E f(G(z))", title="the critic's estimate of W1")
axes[1].scatter(toy[:3000, 0], toy[:3000, 1], s=2, color="0.6", linewidths=0)
axes[1].scatter(samples[:, 0], samples[:, 1], s=2, color="tab:orange", alpha=0.6, linewidths=0)
axes[1].set(xlim=(-2.8, 2.8), ylim=(-2.8, 2.8), aspect="equal", xticks=[], yticks=[], title=f"WGAN-GP samples: {cov}")
plt.tight_layout()
plt.show()

# %% [markdown]
# For comparison, $\lambda = 10$ (the value for images) for half the steps, through `G.train_gan`:

# %% tags=["nbval-ignore-output"]
name = "WGAN-GP, lambda 10, n_critic 5, half the steps"
gen, snaps, seconds = toy_run(toy, "wgan-gp", max(1, round(WGAN_CRITIC_STEPS / 2 * TOY_BATCH / len(toy))), "cosine",
                              betas=(0.0, 0.9), n_critic=5, gp_weight=10.0, name=name)
cov, samples = final_coverage(gen, toy_centres, TOY_STD)
toy_runs[name], toy_results[name] = snaps, (cov, samples, seconds)
print(f"{name}: {cov}  ({seconds:.0f} s)")

# %% [markdown]
# **Reading the WGAN-GP runs.** On these sharp toys and this budget the critic's gradients point the
# generator towards the data from anywhere (no saturation, no flat regions), and its samples spread
# over the circle instead of collapsing; but they stay **diffuse**: a smaller share of them lands
# within 3 std of a mode than for the annealed non-saturating GAN. The Lipschitz constraint makes the
# critic smooth, so it cannot demand mass *exactly* on a 0.02-wide mode; and with $n_\text{critic} = 5$
# the generator makes a fifth of the steps. The paper trains its toys for 100,000 generator steps; with
# 600 the annealed non-saturating GAN is the better sampler here. The figures of `benchmarks/gan_quality.py`
# (three seeds) say the same. With $\lambda = 10$ the penalty dominates the critic's loss on data whose
# distances are of order 1, and in this budget its samples come nowhere near the modes (scrub that run
# in section 6): $\lambda$ must be scaled to the data, 10 for images, about 0.1 here.
#
# ## 6. Scrub through the training
#
# Every 2-D run above, snapshot by snapshot: the samples over the data, the discriminator's $D(x)$
# (red: "real", blue: "fake") or the critic's score, and the mode count over the run. Choose the run and
# slide through its snapshots. Watch the constant-lr run lose and find modes, the discriminator's map
# chase the samples, and the critic's smooth slopes. (Static figure first, for a notebook without a
# kernel: the last snapshot of the constant-lr run.)

# %%
hopping = BASELINE
widgets.render_gan_training(toy_runs[hopping], len(toy_runs[hopping]) - 1, toy[:3000], toy_centres, TOY_STD, title=hopping)
plt.show()

# %% tags=["nbval-ignore-output"]
widgets.training_scrubber(toy_runs, toy[:3000], toy_centres, TOY_STD, start=hopping)

# %% [markdown]
# ## 7. A conditional GAN on the digits
#
# For the digits, a small convolutional pair (`G.ConvGenerator`, `G.ConvDiscriminator`: a linear layer to
# $4 \times 4$, upsampling, two $3 \times 3$ convolutions and tanh; a discriminator of two convolutions with
# LeakyReLU and **no batch norm**, so it can serve as a WGAN-GP critic too), with the learning rate
# annealed as on the toys and an exponential moving average of the generator's weights to sample from
# (as lesson 06 did for the U-Net).
#
# **Conditioning.** A conditional GAN (Mirza & Osindero, 2014) gives both players the label $y$:
# $G(z, y)$ and $D(x, y)$. Here the generator gets $[z, \text{onehot}(y)]$ and the discriminator the
# image with 10 extra constant planes, one per class, the one of $y$ set to 1. The discriminator now
# judges "is this a real **3**", so a generator that draws a good 8 when asked for a 3 is penalised; one
# label per sample makes every class reachable on demand, which is also a cure for mode collapse across
# classes. Sampling with labels drawn like the training labels gives a model of the digits as a whole,
# which we evaluate below.
#
# **Which game?** `DIGIT_LOSS` chooses. The default is the non-saturating GAN with your two losses; with
# `DIGIT_LOSS = "wgan-gp"` the same networks play WGAN-GP with your critic loss and penalty
# ($\lambda = 10$, $n_\text{critic} = 5$, Adam(0, 0.9); give it `EPOCHS = 200` and `LR = 2e-3`).
# Measured on the course's CPU (`benchmarks/gan_quality.py`, three seeds, the README lists the figures),
# WGAN-GP reaches 1.2 to 1.6 × the real floor in about 50 s, and the non-saturating game 0.85 to 1.4 × in
# about 40 s (the Fréchet distance of 256 samples moves by 15-20 % with the seed alone): with five critic
# steps per generator step WGAN-GP makes a
# fifth of the generator updates, and its samples stay a little noisy. WGAN-GP's strengths (a loss that
# tracks quality, training that rarely diverges, little tuning of the balance between the players) pay
# off on bigger models and longer runs; on a 2-core budget, with the learning rate annealed and the
# weights averaged, the cheaper game wins. Measure, do not assume.

# %% tags=["nbval-ignore-output"]
seed_everything(SEED)
digit_gen = G.ConvGenerator(LATENT_DIM, CHANNELS, num_classes=10)
digit_disc = G.ConvDiscriminator(CHANNELS, num_classes=10)
ema = EMA(digit_gen, decay=EMA_DECAY)
wgan = DIGIT_LOSS == "wgan-gp"
digit_cfg = G.GANConfig(loss=DIGIT_LOSS, latent_dim=LATENT_DIM, n_critic=5 if wgan else 1, gp_weight=10.0, lr=LR,
                        betas=(0.0, 0.9) if wgan else (0.5, 0.999), epochs=EPOCHS, batch_size=BATCH_SIZE,
                        lr_schedule="cosine")
all_mine = G.Losses(discriminator=discriminator_loss, generator=generator_loss, critic=critic_loss,
                    penalty=gradient_penalty)
history, _ = G.train_gan(digit_gen, digit_disc, (x_train, y_train), digit_cfg, seed=SEED, device=device,
                         losses=all_mine, on_step=ema, desc="digit GAN")
gen_params = sum(p.numel() for p in digit_gen.parameters())
disc_params = sum(p.numel() for p in digit_disc.parameters())
print(f"{DIGIT_LOSS}: generator {gen_params:,} and discriminator {disc_params:,} parameters; "
      f"{len(history.step['generator_loss'])} generator steps in {history.seconds:.0f} s")

# %%
viz.plot_history(history, title=f"digit GAN ({DIGIT_LOSS}): the two players' losses")
plt.show()

# %% [markdown]
# A GAN's losses do not fall like a classifier's: each player's loss is measured against an opponent
# that keeps improving. For the non-saturating game a discriminator loss near $2 \log 2 = 1.39$ means
# it can barely tell samples from digits; one that dives to 0 means it wins, and the generator's
# gradient becomes unreliable. (With WGAN-GP the critic's loss is minus its estimate of $W_1$, plus the
# penalty, and rises towards 0 as the samples improve; the generator's loss $-\mathbb E f(G(z))$ means
# nothing on its own, since nothing anchors the critic's scores to a level.)
# Ten samples of each class from the averaged generator, one row per class:

# %% tags=["nbval-ignore-output"]
sampler = ema.model.eval()
rows = {f"class {c}": (G.sample(sampler, 10, LATENT_DIM, y=torch.full((10,), c),
                                generator_rng=torch.Generator().manual_seed(SEED + c)).clamp(-1, 1) + 1) / 2
        for c in range(10)}
viz.show_image_rows(rows)
plt.show()

# %% [markdown]
# **Walk the latent space** with the class held fixed: slide between two noise seeds and see the style
# (slant, thickness, size) change while the digit stays. The path is lesson 02's slerp, since $z$ is a
# Gaussian code. Then the class explorer: the same 16 codes, any class.

# %%
walk_class = 5


def generate_class(z: torch.Tensor) -> torch.Tensor:
    """The averaged generator at class walk_class, images in [0, 1]."""
    y = torch.full((len(z),), walk_class, dtype=torch.long)
    return (sampler(z.to(device), y.to(device)).cpu().clamp(-1, 1) + 1) / 2


z_a, z_b = (torch.randn(LATENT_DIM, generator=torch.Generator().manual_seed(s)) for s in (0, 1))
widgets.render_interpolation(generate_class, z_a, z_b, 0.5, mode="slerp", names=("seed 0", "seed 1"))
plt.show()

# %% tags=["nbval-ignore-output"]
widgets.seed_interpolation_explorer(generate_class, LATENT_DIM)

# %% tags=["nbval-ignore-output"]
widgets.condition_explorer(lambda z, y: (sampler(z.to(device), y.to(device)).cpu().clamp(-1, 1) + 1) / 2, LATENT_DIM)

# %% [markdown]
# ## 8. How good are the samples?
#
# Two scores built on a classifier's view of images, both computed with the course's digits classifier
# (`course_lib.metrics`) in place of the Inception network of the papers:
#
# - the **Inception score** (Salimans et al., 2016), $\mathrm{IS} = \exp\big(\mathbb E_x\, \mathrm{KL}(p(y \mid x) \,\|\, p(y))\big)$
#   with $p(y) = \mathbb E_x\, p(y \mid x)$: high when each sample is confidently one class and the
#   classes are balanced; at most 10 here. It never looks at real data, so it cannot see a sample that is
#   a confident but wrong-looking digit, nor the variety *within* a class.
# - the **Fréchet distance** of lesson 06 (the FID recipe): Gaussians fitted to the classifier's features
#   of samples and of the test digits, compared; with KID, precision and recall beside it.
#
# Each next to its real-data value: the score of real digits at the same sample size.

# %% tags=["nbval-ignore-output"]
eval_labels = y_train[torch.randint(len(y_train), (N_SAMPLES,), generator=torch.Generator().manual_seed(SEED + 11))]
start = time.perf_counter()
gan_samples = G.sample(sampler, N_SAMPLES, LATENT_DIM, y=eval_labels,
                       generator_rng=torch.Generator().manual_seed(SEED + 12)).clamp(-1, 1)
sample_seconds = time.perf_counter() - start  # one pass of the generator: for the scoreboard
gan_images = (gan_samples + 1) / 2
if DATASET == "digits":
    inception = metrics.digits_inception_score(gan_images, seed=SEED)
    inception_floor, inception_floor_std = metrics.digits_inception_floor(N_SAMPLES, seed=SEED)
    quality = sample_quality(gan_images, seed=SEED)
    print(f"Inception score (digits classifier): samples {inception:.2f}; real test digits {inception_floor:.2f} "
          f"+- {inception_floor_std:.2f} (at most 10)")
    print(quality)
else:
    inception = inception_floor = inception_floor_std = float("nan")
    quality = None
    print(f"the sample-quality classifier is trained on the digits; no figures for {DATASET}")

# %% [markdown]
# For scale, lesson 06's DDPM reached about 1.3 × its floor at this sample size (the README's
# benchmarks); while calibrating this lesson, the same GAN without conditioning reached about 1.5 × and
# a plain MLP GAN about 2 ×. A Fréchet distance at or even below the floor is possible: the floor is
# itself a finite sample of training digits, and the samples are judged against the test digits. Read precision and recall against their floors too: a
# GAN's classic profile is high precision with lower recall (sharp samples, less variety).
#
# ### Are the samples copies?
#
# As in lesson 06: each sample's distance to its nearest training digit, next to the test digits' own.

# %% tags=["nbval-ignore-output"]
sample_nn, sample_idx = metrics.nearest_neighbours(gan_samples, x_train)
test_nn, _ = metrics.nearest_neighbours(x_test, x_train)
viz.plot_nearest_distances(sample_nn, test_nn, label="GAN samples")
plt.show()
print(f"median distance to the nearest training digit: samples {sample_nn.median():.2f}, test digits {test_nn.median():.2f}; "
      f"closest: samples {sample_nn.min():.2f}, test digits {test_nn.min():.2f}")
nearest = sample_nn.argsort()[:8]
viz.show_image_rows({"closest samples": gan_images[nearest], "nearest training digit": (x_train[sample_idx[nearest]] + 1) / 2})
plt.show()

# %% [markdown]
# The lesson's figures, read by `benchmarks/gan_quality.py`:

# %% tags=["nbval-ignore-output"]
values = dict(n_samples=N_SAMPLES, sample_seconds=sample_seconds, digit_loss=DIGIT_LOSS, digits_train_seconds=history.seconds,
              inception=inception,
              inception_floor=inception_floor, inception_floor_std=inception_floor_std,
              nn_median_samples=sample_nn.median().item(), nn_median_test=test_nn.median().item(),
              nn_min_samples=sample_nn.min().item(), nn_min_test=test_nn.min().item(), seed=SEED)
for prefix, results in (("toy", toy_results), ("grid", grid_results)):
    for name, (cov, _, seconds) in results.items():
        key = f"{prefix}: {name}"
        values.update({f"{key}: modes": cov.covered, f"{key}: high quality": cov.high_quality, f"{key}: seconds": seconds})
if quality is not None:
    values.update(quality.report("04", prefix="gan_").values)
report = Report("04", **values)
report

# %% [markdown]
# ## 9. Going further
#
# 1. **The saturating loss from a confident start.** Pre-train the discriminator for 200 steps against
#    the untrained generator, then train the minimax game. Does the generator move? Plot its gradient norm.
# 2. **Weight clipping.** Replace the penalty by clipping the critic's weights to $[-0.01, 0.01]$ after
#    each step (WGAN). Histogram the weights after training: where do they sit?
# 3. **λ and n_critic.** Scrub the runs with λ = 0.1 and λ = 10: how does the critic's map differ?
#    Retrain with $n_\text{critic} = 1$.
# 4. **Unconditional digits.** Train the digit GAN with `num_classes=None` on `x_train` alone; compare
#    the Fréchet distance and the class balance of its samples (the classifier's histogram).
# 5. **Batch norm in the critic.** Add `nn.BatchNorm2d` after the first convolution and train: what does
#    the penalty do now, and why?
# 6. **PacGAN.** Let the discriminator see two samples at once (concatenate pairs): it can then notice
#    a lack of variety. Does the constant-lr run on the grid keep more modes?
#
# **The scoreboard.** Every model of the course side by side (likelihood, sample quality against the real floor, training and sampling time), read from the lessons' own figures: [the README's scoreboard](https://github.com/dgm-course/deep-generative-models#scoreboard).
#
# ## Summary
#
# - A GAN plays $\min_G \max_D \mathbb E \log D(x) + \mathbb E \log(1 - D(G(z)))$; against the optimal
#   $D^* = p_\text{data} / (p_\text{data} + p_g)$ the generator minimises $-\log 4 + 2\,\mathrm{JSD}$.
# - Losses are computed from logits with softplus; the generator uses the non-saturating $-\log D(G(z))$.
# - The game oscillates; with a constant learning rate the generator drops and refinds modes. Mode
#   coverage is counted, not guessed: 3 std, 20 % of the fair share.
# - WGAN-GP's critic estimates $W_1$ through the Kantorovich-Rubinstein dual, kept 1-Lipschitz by the
#   penalty $\lambda\,\mathbb E(\|\nabla f(\hat x)\|_2 - 1)^2$ at random interpolates, one $\epsilon$ per
#   example; no batch norm, $n_\text{critic} = 5$, Adam(0, 0.9), λ = 10 for images, 0.1 for 2-D toys.
# - Conditioning feeds the label to both players. Samples are judged by the Inception score and the
#   Fréchet distance next to real data, and by their distance to the training set.
#
# ## References
#
# - I. Goodfellow et al. *Generative adversarial nets.* NeurIPS 2014.
# - M. Arjovsky, S. Chintala, L. Bottou. *Wasserstein GAN.* ICML 2017.
# - I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville. *Improved training of Wasserstein GANs.*
#   NeurIPS 2017 (Algorithm 1).
# - M. Mirza, S. Osindero. *Conditional generative adversarial nets.* arXiv 2014.
# - T. Salimans et al. *Improved techniques for training GANs.* NeurIPS 2016 (the Inception score).
# - M. Heusel et al. *GANs trained by a two time-scale update rule converge to a local Nash equilibrium.*
#   NeurIPS 2017 (FID).
# - A. Srivastava et al. *VEEGAN.* NeurIPS 2017; Z. Lin et al. *PacGAN.* NeurIPS 2018 (mode counting).
# - L. Mescheder, A. Geiger, S. Nowozin. *Which training methods for GANs do actually converge?* ICML 2018.
