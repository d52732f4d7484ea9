# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 03 — Discrete latents: VQ-VAE and the Gumbel-softmax
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/dgm-course/deep-generative-models/blob/main/lessons/03_vq_vae.ipynb)
#
# Lessons 01 and 02 encoded a digit as a few real numbers. This lesson encodes it as a handful of
# **symbols** from a finite codebook: a 4 × 4 grid of tokens, each one of 512 codes. You build the vector
# quantiser at the heart of the VQ-VAE, see why a gradient can flow through a nearest-neighbour lookup,
# watch a large codebook collapse to a few codes and bring it back, relax a categorical choice with the
# Gumbel-softmax so it can be trained by backpropagation, and finally turn the tokens into a generative
# model with a small autoregressive prior: prior → tokens → decoder. Every model gets a likelihood in nats
# per image, on lesson 02's scale.
#
# **You will learn to**
# - quantise encoder outputs to their nearest codes, and pass gradients through with the straight-through
#   estimator;
# - write the VQ-VAE loss and say which parameters each of its terms moves;
# - measure codebook health (usage, perplexity over a split, dead codes) and fix a collapse with k-means
#   initialisation, EMA updates and dead-code restarts;
# - count the bits a token grid spends per image, next to lesson 01's autoencoder;
# - sample a categorical with the Gumbel-max trick, relax it with the Gumbel-softmax, and evaluate a
#   relaxed model honestly;
# - explain autoregressive models (the chain rule, PixelCNN's masks) and fit a prior over the tokens.
#
# **Prerequisites:** lesson 01 (autoencoders, training loops); lesson 02 (the ELBO, importance sampling,
# nats per image and the VAE's 88.9 nats on these digits).
#
# **How to work through it:** fill in each exercise (replace `raise NotImplementedError(...)`) and run
# the check cell below it. If your function does not pass yet, the lesson goes on with the reference
# implementation from `course_lib`, so every later cell still runs.
#
# Runtime at default settings: about 4 minutes on a 2-core laptop CPU (measured: see the README's
# benchmarks), most of it the prior over tokens and the codebook runs.

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
from course_lib import quantize as Q
from course_lib.metrics import Report, psnr, sample_quality
from course_lib.training import fast, resolve_device, seed_everything

# %% [markdown]
# ## 0. Parameters and data
#
# Tagged `parameters` for papermill and `course run 03 -p NAME VALUE`; `COURSE_FAST=1` shrinks every
# training run to a few steps.

# %% tags=["parameters"]
SEED = 0
DEVICE = "auto"  # "auto": a CUDA GPU if there is one, else Apple's MPS, else the CPU
DATASET = "digits"  # the likelihood and sample figures below are for the bundled digits (17 grey levels)
NUM_CODES = 512  # K, the codebook of the main VQ-VAE
CODE_DIM = 16  # D, the dimension of each code vector
BETA = 0.25  # the commitment weight
EMA_DECAY = 0.95
EPOCHS = 200  # the main VQ-VAE; the epoch with the best validation PSNR is kept
HEALTH_EPOCHS = 40  # each run of the codebook-health comparison
HEALTH_SIZES = (64, 512)  # codebook sizes compared
BATCH_SIZE = 64
LR = 3e-3
GUMBEL_VARIABLES = 16  # the categorical VAE: 16 variables ...
GUMBEL_CLASSES = 8  # ... of 8 classes each (48 bits)
GUMBEL_EPOCHS = 100
TAU_START, TAU_END = 1.0, 0.5  # the temperature, annealed geometrically
PRIOR_EPOCHS = 250  # the prior over tokens, on the training and validation grids; the last epoch is kept
PRIOR_WIDTH = 64
PRIOR_DROPOUT = 0.1
PRIOR_LR = 6e-3
PRIOR_BATCH = 128
N_SAMPLES = 256  # digit samples for the sample-quality figures (lesson 06's n)
TOY_STEPS = 600  # the 2-D codebook explorer's runs

# %%
EPOCHS = fast(EPOCHS, 2)
HEALTH_EPOCHS = fast(HEALTH_EPOCHS, 1)
GUMBEL_EPOCHS = fast(GUMBEL_EPOCHS, 2)
PRIOR_EPOCHS = fast(PRIOR_EPOCHS, 2)
N_SAMPLES = fast(N_SAMPLES, 64)
TOY_STEPS = fast(TOY_STEPS, 60)
device = resolve_device(DEVICE)
seed_everything(SEED)

x_train, y_train = data.load_dataset(DATASET, "train")
x_val, _ = data.load_dataset(DATASET, "val")
x_test, y_test = data.load_dataset(DATASET, "test")
IMAGE_SHAPE = tuple(x_train.shape[1:])
PIXELS = math.prod(IMAGE_SHAPE)
LEVELS = data.DIGITS_LEVELS if DATASET == "digits" else 256
print(f"device: {device}")
print(f"{DATASET}: {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test images of shape {IMAGE_SHAPE}, "
      f"{LEVELS} grey levels")

# %% [markdown]
# ## 1. Why discrete latents
#
# Three reasons to encode an image as symbols rather than real numbers.
#
# - **Compression you can count.** A grid of $L$ tokens from a codebook of $K$ codes is exactly
#   $L \log_2 K$ bits. A continuous code has no such number: sixteen floats hold as many bits as you
#   care to store, and a VAE's KL term is the only honest measure of what it really uses.
# - **A prior that is a sequence model.** The distribution of token grids is a distribution over
#   sequences of symbols, the thing autoregressive models (PixelCNN, transformers) are best at. A VAE's
#   prior is a fixed Gaussian that the encoder must match; here the prior is learned afterwards, as large
#   as we like, on a sequence 4 times shorter than the image (16 tokens for 64 pixels; $8 \times 8 = 64$
#   for a 256 × 256 image in DALL-E).
# - **No posterior collapse.** A VQ-VAE's encoder is deterministic and its bottleneck is fixed at
#   $L \log_2 K$ bits; the decoder cannot ignore it, as strong decoders of VAEs learn to.
#
# The price: a nearest-neighbour lookup has no gradient, and a codebook can die. Most of this lesson is
# about those two problems.
#
# ## 2. Vector quantisation
#
# The VQ-VAE (van den Oord et al. 2017) puts a **codebook** $e_1, \dots, e_K \in \mathbb R^D$ between
# encoder and decoder. The encoder maps an image to a grid of vectors $z_e \in \mathbb R^{D \times h \times w}$,
# here $h = w = 4$, each cell describing its 2 × 2 patch of pixels in the context of an 8 × 8 window. Each vector is replaced by its nearest
# code,
#
# $$k = \arg\min_j \lVert z_e - e_j \rVert^2, \qquad z_q = e_k,$$
#
# and the decoder sees only $z_q$. The squared distance expands as
# $\lVert z \rVert^2 - 2\, z \cdot e_j + \lVert e_j \rVert^2$: the first term is the same for every $j$,
# but the last is not, so the largest dot product $z \cdot e_j$ is *not* the nearest code unless every
# code has the same norm.
#
# **Exercise 1.** Write the nearest-code assignment for rows of vectors.

# %%
def nearest_code(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """argmin_j ||z_i - e_j||^2 for each row: z (N, D), codebook (K, D) -> (N,) int64 indices."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise nearest_code: replace this line with your code")


# %%
nearest_code = checks.check("03.nearest_code", nearest_code)

# %% [markdown]
# ## 3. The straight-through estimator
#
# $z_q = e_{k(z_e)}$ is piecewise constant in $z_e$: its derivative is zero almost everywhere, so the
# encoder would get no gradient at all. The VQ-VAE copies the decoder's gradient across the quantiser as
# if it were the identity:
#
# $$\tilde z = z_e + \operatorname{sg}[z_q - z_e] \qquad\Rightarrow\qquad \tilde z = z_q \text{ (forward)}, \qquad
# \frac{\partial \mathcal L}{\partial z_e} = \frac{\partial \mathcal L}{\partial z_q} \text{ (backward)},$$
#
# with sg the stop-gradient (`.detach()`). It is a biased estimator, the gradient at $z_q$ applied at
# $z_e$, and good exactly when the two are close: which is what the commitment term below keeps them.
#
# **Exercise 2.** Write it.

# %%
def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """Equal to z_q in the forward pass; the identity's gradient to z_e (and none to z_q) in the backward."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise straight_through: replace this line with your code")


# %%
straight_through = checks.check("03.straight_through", straight_through)

# %% [markdown]
# What the encoder receives: a decoder that wants its input larger by $(1, -2)$ sends exactly that back
# to $z_e$, whatever code was chosen.

# %%
z_e = torch.tensor([[0.3, 0.9]], requires_grad=True)
codes = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
z_q = codes[nearest_code(z_e.detach(), codes)]
out = straight_through(z_e, z_q)
(out * torch.tensor([[1.0, -2.0]])).sum().backward()
print(f"z_e = {z_e.detach().numpy().round(2)}, quantised to {out.detach().numpy().round(2)}; "
      f"gradient at z_e = {z_e.grad.numpy().round(2)}")

# %% [markdown]
# ## 4. The VQ-VAE loss: each term moves one side
#
# The decoder and encoder learn from the reconstruction term through the straight-through path. Two more
# terms move the codebook and the encoder towards each other, each with a stop-gradient on the other side:
#
# $$\mathcal L = \underbrace{-\log p(x \mid z_q)}_{\text{decoder, encoder}}
# + \underbrace{\lVert \operatorname{sg}[z_e] - e_k \rVert^2}_{\text{codebook: move } e_k \text{ to } z_e}
# + \beta\, \underbrace{\lVert z_e - \operatorname{sg}[e_k] \rVert^2}_{\text{commitment: keep } z_e \text{ near } e_k}.$$
#
# Without the commitment term the encoder's outputs can drift and grow faster than the codes follow;
# with $\beta$ too large the encoder is pinned to codes that have not learned yet. $\beta = 0.25$ (the
# paper's value; it is robust from 0.1 to 2). The codebook term is a k-means step taken by gradient
# descent: each code moves to the mean of the vectors assigned to it. In our decoder, $p(x \mid z_q)$ is
# a categorical over the 17 grey levels of each pixel, so $-\log p(x \mid z_q)$ is a code length in nats
# and the likelihood figures below are on lesson 02's scale.
#
# **Exercise 3.** Return the two terms, each a mean over all entries (unweighted: $\beta$ lives in the
# configuration).

# %%
def vq_losses(z_e: torch.Tensor, z_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codebook loss mean (sg[z_e] - z_q)^2, commitment loss mean (z_e - sg[z_q])^2), for tensors of one shape."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise vq_losses: replace this line with your code")


# %%
vq_losses = checks.check("03.vq_losses", vq_losses)

# %% [markdown]
# ## 5. A VQ-VAE on the digits
#
# The model (`Q.VQVAE`): a convolutional encoder (3 × 3, then 2 × 2 with stride 2, then 3 × 3) maps each
# 8 × 8 digit to a 4 × 4 grid of 16-dimensional vectors; the quantiser replaces each by one of $K = 512$
# codes; a decoder (1 × 1, a transposed 2 × 2 convolution, 3 × 3) maps the grid back to a categorical over
# the 17 grey levels of every pixel. The quantiser below is the library's, with **your three functions**
# in its forward pass (or the references, where a check has not passed). Its codebook is trained by
# exponential moving averages and restarted where codes die; section 6 explains both. Training uses Adam
# with a cosine learning rate and keeps the epoch whose validation reconstructions are best.

# %%
class YourQuantizer(Q.VectorQuantizer):
    """The library's vector quantiser with the exercises' functions in its forward pass."""

    def forward(self, z_e: torch.Tensor) -> Q.Quantized:
        B, D, h, w = z_e.shape
        rows = z_e.permute(0, 2, 3, 1).reshape(-1, D)  # (B*h*w, D)
        indices = nearest_code(rows.detach(), self.codebook.detach())  # 1. the nearest code of each vector
        if self.training and self.config.update == "ema":
            self._ema_update(rows.detach(), indices)  # 2. EMA codebook update and restarts (section 6)
        z_q = self.codebook[indices]
        codebook_loss, commitment_loss = vq_losses(rows, z_q)  # 3. the two terms
        loss = self.config.beta * commitment_loss + (codebook_loss if self.config.update == "loss" else 0.0)
        out = straight_through(rows, z_q)  # 4. z_q forward, the decoder's gradient to z_e
        return Q.Quantized(out.view(B, h, w, D).permute(0, 3, 1, 2), indices.view(B, h, w), loss,
                           Q.perplexity(indices, self.config.num_codes))


config = Q.VQVAEConfig(image_shape=IMAGE_SHAPE, levels=LEVELS,
                       vq=Q.VQConfig(num_codes=NUM_CODES, code_dim=CODE_DIM, beta=BETA, update="ema", decay=EMA_DECAY,
                                     restart=True))
seed_everything(SEED)
model = Q.VQVAE(config)
model.quantizer = YourQuantizer(config.vq)
print(f"VQ-VAE: {sum(p.numel() for p in model.parameters()):,} parameters; "
      f"{NUM_CODES} codes of dimension {CODE_DIM}; tokens per digit: {4 * 4}")

# %% tags=["nbval-ignore-output"]
history = Q.train_vqvae(model, x_train, x_val, epochs=EPOCHS, batch_size=BATCH_SIZE, lr=LR, seed=SEED)
model.eval()
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
viz.plot_history(history, ax=axes[0], title="training loss (nats per image)")
axes[1].plot(range(1, len(history.val_psnr) + 1), history.val_psnr)
axes[1].axvline(history.best_epoch, color="0.6", ls="--", label=f"kept: epoch {history.best_epoch}")
axes[1].set(xlabel="epoch", ylabel="dB", title="validation PSNR")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% tags=["nbval-ignore-output"]
x_test_d = x_test.to(device)
recon_test = Q.reconstruct(model, x_test_d).cpu()
codes_train = Q.encode_indices(model, x_train.to(device)).cpu()
codes_val = Q.encode_indices(model, x_val.to(device)).cpu()
codes_test = Q.encode_indices(model, x_test_d).cpu()
main_figures = dict(
    psnr=psnr(recon_test, x_test), usage_train=Q.usage(codes_train, NUM_CODES),
    perplexity_test=Q.perplexity(codes_test, NUM_CODES),
    recon_nats=model.reconstruction_nll(model(x_test_d)[0], x_test_d).mean().item(),
)
print(f"test PSNR {main_figures['psnr']:.2f} dB; codes used on the training split: {main_figures['usage_train']:.1%}; "
      f"test perplexity {main_figures['perplexity_test']:.0f} of {NUM_CODES}; "
      f"-log p(x | z_q) = {main_figures['recon_nats']:.1f} nats per test digit")
viz.show_image_rows({"test digits": x_test[:16], "reconstructed": recon_test[:16]})
plt.show()

# %% [markdown]
# Sixteen tokens are enough for a faithful copy of each digit. The reconstructions are means of the
# decoder's categorical, so a pixel the model is unsure of comes out grey.
#
# ## 6. Codebook health
#
# A codebook can fail silently: the loss goes down while most codes are never chosen, and the model is a
# much smaller codebook in disguise. Three measures, each **over a whole split** (the training or test
# images), not a batch:
#
# - **usage**: the fraction of the $K$ codes chosen at least once;
# - **dead codes**: those never chosen (usage $= 1 - $ dead $/ K$);
# - **perplexity** $= \exp H(\hat p)$ with $\hat p_k$ the fraction of tokens that are code $k$ and
#   $H(\hat p) = -\sum_k \hat p_k \log \hat p_k$: the number of equally used codes that would have the same
#   entropy, between 1 (one code for everything) and $K$ (all used equally).
#
# A batch of 64 digits holds 1024 tokens: its perplexity cannot show how 512 codes are shared, and it is
# biased low (an entropy estimated from few draws is). Measure over the split.
#
# **Exercise 4.** Perplexity of a tensor of code indices of any shape.

# %%
def perplexity(indices: torch.Tensor, num_codes: int) -> float:
    """exp(-sum_k p_k log p_k), p_k the frequency of code k over all of `indices` (any shape); a float."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise perplexity: replace this line with your code")


# %%
perplexity = checks.check("03.perplexity", perplexity)

# %% tags=["nbval-ignore-output"]
batch_ppl = [perplexity(codes_test[i:i + BATCH_SIZE], NUM_CODES) for i in range(0, len(codes_test), BATCH_SIZE)]
print(f"test perplexity over the split: {perplexity(codes_test, NUM_CODES):.0f}; "
      f"over batches of {BATCH_SIZE} digits: {np.mean(batch_ppl):.0f} on average (min {min(batch_ppl):.0f})")

# %% [markdown]
# ### Why codes die, and three fixes
#
# A code that starts far from every encoder output is never the nearest one. It is never chosen, so its
# codebook term is zero and it never moves: **dead for good**. With random initialisation and $K = 512$
# most codes start that way, and the few that win early win ever more. Three fixes, all in
# `Q.VectorQuantizer`:
#
# 1. **k-means initialisation**: start the codes on the encoder's first outputs and run a few Lloyd steps
#    (`init_from_data`), so every code starts where data are.
# 2. **EMA updates** (van den Oord et al. 2017, appendix; Razavi et al. 2019): no codebook loss; each code
#    is the running mean of the vectors assigned to it,
#    $N_k \leftarrow \gamma N_k + (1 - \gamma) n_k$, $m_k \leftarrow \gamma m_k + (1 - \gamma) \sum_{i: k_i = k} z_{e,i}$,
#    $e_k = m_k / N_k$, with decay $\gamma = 0.95$ here. It is k-means run online: faster and steadier than
#    a gradient on the codebook term. It is **state that changes in every forward pass in training mode**,
#    so evaluation must run in eval mode (`model.eval()`), or looking at the test set moves the codebook.
# 3. **Dead-code restarts**: a code whose running share $N_k$ falls below a threshold (30 % of the uniform
#    share $1/K$ here) is replaced by a random encoder output of the current batch. It cannot stay dead.
#
# Six runs from the same **random** initialisation (no k-means), for two codebook sizes and three update
# rules, each trained for a shorter time than the main model:

# %% tags=["nbval-ignore-output"]
RULES = {"loss": dict(update="loss", restart=False), "ema": dict(update="ema", restart=False),
         "ema+restart": dict(update="ema", restart=True)}
health = {}
health_figures = {}
for size in HEALTH_SIZES:
    for rule, settings in RULES.items():
        seed_everything(SEED)
        run = Q.VQVAE(Q.with_codebook(config, num_codes=size, **settings))
        start = time.perf_counter()
        Q.train_vqvae(run, x_train, x_val, epochs=HEALTH_EPOCHS, batch_size=BATCH_SIZE, lr=LR, kmeans_init=False,
                      seed=SEED, progress=False)
        seconds = time.perf_counter() - start
        idx_train = Q.encode_indices(run, x_train.to(device)).cpu()
        idx_test = Q.encode_indices(run, x_test_d).cpu()
        rec = Q.reconstruct(run, x_test_d).cpu()
        health[size, rule] = Q.codebook_health(size, rule, idx_train, x_test, rec, held_out=idx_test)  # usage: train
        health_figures[size, rule] = seconds
        h = health[size, rule]
        print(f"K = {size:3d}, {rule:11s}: {h.usage:6.1%} of codes used (train), test perplexity {h.perplexity:5.1f}, "
              f"test PSNR {h.psnr:5.2f} dB  ({seconds:.0f} s)")

# %% [markdown]
# The loss-trained codebook collapses: a few percent of 512 codes carry every digit, and its
# reconstructions are the worst. EMA alone keeps more codes alive, but at $K = 512$ it still loses most of
# them; restarts bring back every code. A collapsed codebook of 512 is not even as good as a healthy one
# of 64. The two runs side by side (the widget below has all six):

# %% tags=["nbval-ignore-output"]
fig = plt.figure(figsize=(12, 7))
top, bottom = fig.subfigures(2, 1)
widgets.render_codebook_health(health, HEALTH_SIZES[-1], "loss", fig=top)
widgets.render_codebook_health(health, HEALTH_SIZES[-1], "ema+restart", fig=bottom)
plt.show()

# %% [markdown]
# **Widget: codebook health.** Choose a codebook size and an update rule: the histogram of how often each
# code is used on the training split (sorted; dead codes at zero) and test reconstructions of that run.

# %% tags=["nbval-ignore-output"]
widgets.codebook_health_explorer(health)

# %% [markdown]
# ### An EMA codebook must not move in evaluation
#
# The EMA update runs inside `forward` whenever the module is in training mode. One pass over the test
# digits in the wrong mode, and the model you evaluate is no longer the model you trained:

# %%
before = model.quantizer.codebook.detach().clone()
with torch.no_grad():
    model.eval()
    model(x_test_d)
    moved_eval = (model.quantizer.codebook - before).abs().max().item()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    model(x_test_d)  # the mistake: a test pass in training mode
    moved_train = (model.quantizer.codebook - before).abs().max().item()
    model.load_state_dict(state)  # undo it
    model.eval()
print(f"largest change of a code after a test pass: in eval mode {moved_eval:.1e}; in training mode "
      f"{'> 0: the test set has moved the codebook' if moved_train > 0 else '0'}")

# %% [markdown]
# ### The codebook explorer: codes moving, dying and restarting
#
# The same three rules on a picture we can draw: a quantiser with 32 two-dimensional codes (no encoder)
# trained on points from eight Gaussians, every code starting in one tight cloud off the data's corner.
# Each panel shows the points, the Voronoi cell of each code (the region it is nearest to), live codes
# (sized by the points they win), dead ones (no point in their cell, red x) and codes just restarted
# (orange rings).

# %% tags=["nbval-ignore-output"]
toy_points = data.make_toy("eight_gaussians", 2000, seed=SEED)
toy_runs = {rule: Q.train_toy_codebook(toy_points, rule=rule, steps=TOY_STEPS, seed=SEED) for rule in RULES}
for rule, run in toy_runs.items():
    print(f"{rule:11s}: {run.final.usage:.0%} of 32 codes used after {run.final.step} steps, "
          f"{run.final.restarts} restarts")

# %%
for rule in ("loss", "ema+restart"):
    widgets.render_codebook(toy_runs[rule], len(toy_runs[rule].snapshots) - 1)
    plt.show()

# %% [markdown]
# **Widget: codebook explorer.** Choose a rule and step through training: with the loss rule, codes that
# never win a point never move; restarts drop dead codes onto data, where they take over part of a busy
# cell.

# %% tags=["nbval-ignore-output"]
widgets.codebook_explorer(toy_runs)

# %% [markdown]
# ## 7. The bit budget
#
# A grid of $L$ tokens from $K$ codes costs $L \log_2 K$ bits per image, and the decoder gets nothing
# else. Lesson 01's autoencoders and PCA store real numbers: at 32 bits per float32 coefficient, far more
# bits, yet they reconstruct worse, because their few coordinates are global (every pixel depends on every
# number) while each token describes its own 2 × 2 patch in context. (A float is not worth 32 bits of
# information; a VQ-VAE's budget, in contrast, is exact.) Distortion as PSNR on the test digits,
# $10 \log_{10}(1 / \text{MSE})$ with pixels in $[0, 1]$:

# %% tags=["nbval-ignore-output"]
flat_train, flat_test = x_train.flatten(1).double(), x_test.flatten(1).double()
mean = flat_train.mean(0)
_, _, Vt = torch.linalg.svd(flat_train - mean, full_matrices=False)
budget = []
for k in (2, 8, 16):
    V = Vt[:k].T  # (64, k): the top principal directions
    rec = ((flat_test - mean) @ V @ V.T + mean).clamp(0, 1).float().view_as(x_test)
    budget.append((f"PCA, {k} coefficients (lesson 01)", 32 * k, psnr(rec, x_test)))
AE16_ERROR = 0.715  # lesson 01's plain autoencoder, 16 latents: squared error per test digit (its table)
budget.append(("autoencoder, 16 floats (lesson 01)", 32 * 16, 10 * math.log10(PIXELS / AE16_ERROR)))
for size in HEALTH_SIZES:
    budget.append((f"VQ-VAE, 16 tokens of K = {size} ({HEALTH_EPOCHS} epochs, EMA + restart)", 16 * math.log2(size),
                   health[size, "ema+restart"].psnr))
budget.append((f"VQ-VAE, 16 tokens of K = {NUM_CODES} (section 5)", 16 * math.log2(NUM_CODES), main_figures["psnr"]))
print(f"{'code':62s} {'bits/image':>10s} {'test PSNR':>10s}")
for name, bits, db in budget:
    print(f"{name:62s} {bits:10.0f} {db:9.2f} dB")

# %% [markdown]
# ## 8. Tokens as an editable code
#
# Each token is a symbol you can change. The grid of a test digit and its decoding; the editor replaces
# one token by another code (the static figure below replaces token 5 by token 10's code):

# %%
edit_tokens = Q.encode_indices(model, x_test_d[:1])[0].cpu()  # (4, 4)


def decode_tokens(indices):
    with torch.no_grad():
        return model.mean_image(model.decode_indices(indices.to(device))).cpu()


widgets.render_token_edit(decode_tokens, edit_tokens, position=5, code=int(edit_tokens.flatten()[10]))
plt.show()

# %% [markdown]
# **Widget: token editor.** Pick a position and a new code: only the pixels that token's decoder window
# covers change (a 2 × 2 patch and its border).

# %% tags=["nbval-ignore-output"]
widgets.token_editor(decode_tokens, edit_tokens, NUM_CODES)

# %% [markdown]
# ## 9. The Gumbel-softmax: a categorical you can backpropagate through
#
# A second way to train discrete latents: let the encoder output **logits** $\ell \in \mathbb R^K$ of a
# categorical $q(k \mid x) = \operatorname{softmax}(\ell)_k$ and *sample* the code, as a VAE samples its
# Gaussian. Sampling a categorical has no reparameterisation, but it has a trick.
#
# **Gumbel-max.** With $g_1, \dots, g_K$ independent standard Gumbel variables, $g = -\log(-\log U)$,
# $U \sim \mathcal U(0, 1)$,
#
# $$\arg\max_k \,(\ell_k + g_k) \sim \operatorname{Categorical}(\operatorname{softmax}(\ell)) \quad\text{exactly.}$$
#
# (The maximum of $\ell_k + g_k$ is a Gumbel variable located at $\log \sum_j e^{\ell_j}$, and the
# probability that index $k$ attains it is $e^{\ell_k} / \sum_j e^{\ell_j}$.) In floating point $U$ can be
# 0 or 1, and $-\log(-\log U)$ is then infinite: clamp $U$ into $[\epsilon, 1 - \epsilon]$.
#
# **Gumbel-softmax** (Jang et al. 2017; Maddison et al. 2017, the "concrete" distribution). Replace the
# argmax by a softmax at temperature $\tau$:
#
# $$y = \operatorname{softmax}\big((\ell + g) / \tau\big),$$
#
# a point inside the simplex, differentiable in $\ell$. As $\tau \to 0$ it becomes the one-hot of the
# Gumbel-max sample; as $\tau$ grows it flattens towards uniform. Two facts students get wrong:
#
# - only the **hard** samples (the argmax) follow $\operatorname{softmax}(\ell)$ in frequency; the *mean* of
#   the soft samples does not (at $\tau = 1$ it is flatter);
# - the **straight-through** variant (`hard=True`) is exactly one-hot in the forward pass, so the decoder
#   sees real discrete codes, with the soft sample's gradient in the backward pass:
#   $y_{\text{hard}} + (y_{\text{soft}} - \operatorname{sg}[y_{\text{soft}}])$, bracketed so: in floating
#   point $(1 + s) - s$ is not always exactly 1.
#
# Training starts with $\tau$ around 1 (low-variance, biased gradients) and **anneals** it towards 0.5
# (less bias, more variance). The relaxed objective is not a bound on the likelihood of the discrete model:
# report the discrete model, evaluated with hard samples.
#
# **Exercise 5.** The Gumbel-softmax over the last dimension, with the `hard` option. Draw the noise with
# `torch.rand(logits.shape, generator=generator)` so a seeded generator makes it reproducible.

# %%
def gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """softmax((logits + g) / tau) over the last dimension, g = -log(-log U); hard: one-hot forward, soft gradient."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise gumbel_softmax: replace this line with your code")


# %%
gumbel_softmax = checks.check("03.gumbel_softmax", gumbel_softmax)

# %% [markdown]
# Five classes, relaxed samples at $\tau = 1$ (left), and over 4000 draws (right): the frequencies of the
# hard samples match $\operatorname{softmax}(\ell)$, the mean of the soft ones does not.

# %%
gumbel_logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])
widgets.render_gumbel(gumbel_logits, tau=1.0)
plt.show()

# %% [markdown]
# **Widget: temperature.** Slide $\tau$ from 0.01 to 10 with the noise held fixed: the same samples sharpen
# to one-hot vectors or melt to uniform ones, while the hard samples' frequencies never change.

# %% tags=["nbval-ignore-output"]
widgets.gumbel_explorer(gumbel_logits)

# %% [markdown]
# ### A categorical VAE (the dVAE of DALL-E, in miniature)
#
# Lesson 02's convolutional encoder and decoder, with the Gaussian latent replaced by 16 categorical
# variables of 8 classes each (48 bits), a uniform prior $p(z) = \prod_i 1/8$, and a `GumbelQuantizer`:
# the encoder's logits pass through the straight-through Gumbel-softmax, the one-hot choices select code
# vectors that the decoder reads. The ELBO is lesson 02's with a categorical KL,
#
# $$\log p(x) \ge \mathbb E_{q(z \mid x)}[\log p(x \mid z)] - \sum_{i=1}^{16} \mathrm{KL}\big(q(z_i \mid x) \,\Vert\, \mathcal U\{1..8\}\big),
# \qquad \mathrm{KL}(q \Vert \mathcal U) = \sum_k q_k \log q_k + \log 8.$$
#
# Two runs with $\tau$ annealed from 1 to 0.5: the straight-through (hard) estimator, and the fully relaxed
# one (the decoder sees soft mixtures of codes in training). Each is then measured three ways: the
# objective its training minimised (at the final $\tau$), the ELBO of the **discrete** model it defines
# (one exact sample of $q$ by Gumbel-max, averaged over 10 draws), and lesson 02's importance-weighted
# bound with 100 exact samples,
# $-\log p(x) \le -\log \frac1{100} \sum_s p(x \mid z_s)\, p(z_s) / q(z_s \mid x)$.

# %% tags=["nbval-ignore-output"]
gumbel_config = Q.VQVAEConfig(image_shape=IMAGE_SHAPE, levels=LEVELS, quantizer="gumbel", latent="global",
                              variables=GUMBEL_VARIABLES, tau=TAU_START,
                              vq=Q.VQConfig(num_codes=GUMBEL_CLASSES, code_dim=GUMBEL_CLASSES))
gumbel_models, gumbel_results = {}, {}
for name, hard in (("straight-through", True), ("relaxed", False)):
    seed_everything(SEED)
    gm = Q.VQVAE(gumbel_config)
    gm.quantizer.hard = hard
    Q.train_vqvae(gm, x_train, x_val, epochs=GUMBEL_EPOCHS, batch_size=BATCH_SIZE, lr=1e-3, tau_end=TAU_END,
                  seed=SEED, desc=f"Gumbel VAE, {name}")
    with torch.no_grad():
        gm.train()  # the training objective: training-mode samples at the final temperature
        objective = torch.stack([Q.vqvae_loss(gm, x_test_d) for _ in range(10)]).mean().item()
        gm.eval()
        elbo = torch.stack([Q.gumbel_iw_nll(gm, x_test_d, k=1, generator=torch.Generator().manual_seed(SEED + i)).mean()
                            for i in range(10)]).mean().item()  # K = 1: minus the ELBO of the discrete model
        iw = Q.gumbel_iw_nll(gm, x_test_d, k=100, generator=torch.Generator().manual_seed(SEED)).mean().item()
    gumbel_models[name] = gm
    gumbel_results[name] = dict(objective=objective, elbo=elbo, iw=iw)
VAE_NATS = 88.86  # lesson 02's conv VAE, K = 1000 importance-weighted bound (README's benchmarks)
print(f"nats per test digit    {'training objective':>19s} {'discrete -ELBO':>15s} {'discrete IW-100':>16s}")
for name, r in gumbel_results.items():
    print(f"{name:22s} {r['objective']:19.1f} {r['elbo']:15.1f} {r['iw']:16.1f}")
print(f"{'VAE (lesson 02)':22s} {'':19s} {'':15s} {VAE_NATS:16.1f}")

# %% [markdown]
# Read the rows. The straight-through run's objective *is* the ELBO of its discrete model: its forward
# pass uses exactly the one-hot samples it is evaluated with. The relaxed run's objective is lower than
# its discrete model's ELBO: it scores a different model, whose decoder reads soft mixtures of codes, and
# it flatters the discrete one by a few nats. That is why a relaxed model is reported through hard
# samples, as here. Importance sampling tightens both bounds by a few nats more. 48 bits of categorical
# latents come within about 5 nats of lesson 02's 16 Gaussian latents.

# %% [markdown]
# ## 10. Autoregressive models, and a prior over the tokens
#
# To *generate*, we need a distribution over token grids. Any joint distribution factors by the chain
# rule, in any fixed order of its variables:
#
# $$p(x) = \prod_{i=1}^{n} p(x_i \mid x_1, \dots, x_{i-1}),$$
#
# and an **autoregressive model** learns each conditional with one network whose output $i$ may depend on
# inputs $< i$ only. Training is plain maximum likelihood and all $n$ conditionals come from one pass (the
# inputs are all known); the log-likelihood is exact. Sampling cannot be parallel: $x_i$ must be drawn
# before the pass that predicts $x_{i+1}$, so it takes $n$ passes.
#
# **PixelCNN** (van den Oord et al. 2016) enforces "inputs $< i$ only" in a convolution over an image in
# raster order with **masked kernels**. The first layer's mask (type A) hides the centre pixel: output
# $i$ must not see $x_i$. Later layers use type B, which lets the centre through: by then position $i$'s
# features depend only on pixels before $i$, so reading them is allowed. The $5 \times 5$ masks (1: the
# kernel may look there; the centre is the pixel predicted):

# %%
fig, axes = plt.subplots(1, 2, figsize=(6, 3))
for ax, kind in zip(axes, "AB"):
    mask = Q.pixelcnn_mask(5, kind)
    ax.imshow(mask, cmap="Blues", vmin=0, vmax=1.4)
    for (r, c), v in np.ndenumerate(mask.numpy()):
        ax.text(c, r, "x" if (r, c) == (2, 2) else f"{v:.0f}", ha="center", va="center", fontsize=11)
    ax.set(title=f"mask type {kind}", xticks=[], yticks=[])
plt.tight_layout()
plt.show()

# %% [markdown]
# Stacked masked convolutions have a blind spot (pixels to the upper right that no path reaches); the
# gated PixelCNN fixes it with two stacks. On 16 tokens we can afford the simplest complete model: a tiny
# **causal transformer** (`Q.TokenPrior`), whose attention mask plays the role of PixelCNN's kernel mask,
# so position $i$ attends only to $[\text{BOS}, k_1, \dots, k_{i-1}]$. With 1000 training digits, a prior
# over 512 symbols has about two examples of each code per position: ours reads each token through its
# **code vector** and scores code $k$ as $u \cdot e_k + b_k$, so codes that decode alike are predicted
# alike. Data is what it lacks most. Trained on the 1000 training grids with the validation grids held
# out, its best validation epoch was among the last few of 150 on every run we tried (133-149), so early
# stopping had little to choose: here it trains on the training and validation grids together (1350) for
# a fixed number of epochs, with light dropout, and keeps the last one. In our calibration runs (150
# epochs, seed 0), adding the validation grids lowered the test grids' loss from 64.1 to 61.6 nats and
# the samples' Fréchet distance from 2.3-2.4 to 1.4-2.0 × the floor; 250 epochs in batches of 128 gave
# 1.5-1.7 × on two runs at about the same test loss. The nearest-neighbour check below watches that the
# longer-trained prior does not copy; the test split stays unseen. Sampling is prior → tokens → decoder.

# %% tags=["nbval-ignore-output"]
seed_everything(SEED)
prior = Q.TokenPrior(NUM_CODES, 16, width=PRIOR_WIDTH, dropout=PRIOR_DROPOUT, codebook=model.quantizer.codebook)
codes_prior = torch.cat([codes_train, codes_val])  # every grid outside the test split
prior_history = Q.train_prior(prior, codes_prior, epochs=PRIOR_EPOCHS, batch_size=PRIOR_BATCH, lr=PRIOR_LR, seed=SEED)
with torch.no_grad():
    prior_test_nats = -prior.log_prob(codes_test.to(device)).mean().item()
ax = viz.plot_history(prior_history, title=f"prior: -log p(tokens) on its {len(codes_prior)} grids, nats per grid")
ax.axhline(prior_test_nats, color="C1", ls="--", label=f"test grids, last epoch: {prior_test_nats:.1f}")
ax.set_ylim(0.9 * min(prior_history.train_loss), 1.5 * max(prior_test_nats, prior_history.train_loss[-1]))
ax.legend()
plt.show()

# %% tags=["nbval-ignore-output"]
prior.to(device).eval()
start = time.perf_counter()
tokens = prior.sample(N_SAMPLES, torch.Generator().manual_seed(SEED + 1))  # (N, 16), 16 passes
with torch.no_grad():
    vq_samples = model.mean_image(model.decode_indices(tokens.view(-1, 4, 4))).cpu()
sample_seconds = time.perf_counter() - start
viz.show_image_rows({"prior samples": vq_samples[:16], "more": vq_samples[16:32], "training digits": x_train[:16]})
plt.show()
print(f"{N_SAMPLES} samples in {sample_seconds:.2f} s (16 passes of the prior, one of the decoder)")

# %% [markdown]
# Scored as in lessons 04 to 06: the digits classifier's Fréchet distance next to its floor (real
# training digits against the test digits, at the same sample size), precision and recall, and each
# sample's distance to its nearest training digit beside the test digits' own (a model that copies would
# sit at 0).

# %% tags=["nbval-ignore-output"]
if DATASET == "digits":
    quality = sample_quality(vq_samples, seed=SEED)
    recon_quality = sample_quality(recon_test[:N_SAMPLES], seed=SEED)
    print(quality)
    print(f"for comparison, {N_SAMPLES} reconstructed test digits (tokens chosen by real digits): "
          f"FD {recon_quality.fd:.3f} = {recon_quality.ratio:.2f} x the floor")
else:
    quality = recon_quality = None
    print(f"the sample-quality classifier is trained on the digits; no figures for {DATASET}")
sample_nn, _ = metrics.nearest_neighbours(vq_samples, x_train)
test_nn, _ = metrics.nearest_neighbours(x_test, x_train)
viz.plot_nearest_distances(sample_nn, test_nn, label="VQ-VAE + prior samples")
plt.show()
print(f"median distance to the nearest training digit: samples {sample_nn.median():.2f}, "
      f"test digits {test_nn.median():.2f}")

# %% [markdown]
# Read the figures together. Most samples are digits; the failures have broken strokes and stray grey
# blocks where neighbouring tokens disagree. Their Fréchet distance is about one and a half times the
# floor (lesson 05's flows: 1.9 to 2.5 ×; lesson 06's DDPM: 1.3 ×). Precision is the low figure: many
# samples fall outside the real digits' neighbourhoods, while recall is at least that of real digits. The
# weak link is the prior, not the tokens: the same decoder turns the token grids of real test digits into
# images *below* the floor, but a prior over 512 symbols learned from 1350 grids makes local choices that
# do not always agree. VQ priors need data (DALL-E's transformer saw 250 million images): a third more
# grids, the validation split's, lowered the distance by about a quarter; going further 4 and 5 try two
# cheaper levers. The samples are not copies: their distances to the nearest training digit are larger
# than the test digits' own.
#
# ### A likelihood on lesson 02's scale
#
# The VQ-VAE with its prior is a latent-variable model $p(x) = \sum_z p(x \mid z)\, p_{\text{prior}}(z)$.
# Its encoder is a deterministic $q(z \mid x) = \delta(z = z_q(x))$, with zero entropy, so the ELBO is
#
# $$-\log p(x) \le -\log p(x \mid z_q) - \log p_{\text{prior}}(z_q),$$
#
# the reconstruction's code length plus the tokens' code length under the prior: a two-part code, in nats
# per image.

# %% tags=["nbval-ignore-output"]
with torch.no_grad():
    rec_nats = model.reconstruction_nll(model(x_test_d)[0], x_test_d).mean().item()
    prior_nats = -prior.log_prob(codes_test.to(device)).mean().item()
vq_bound = Q.vq_nll(model, prior, x_test_d).mean().item()
print(f"-log p(x | z_q) = {rec_nats:.1f} nats, -log p_prior(z_q) = {prior_nats:.1f} nats "
      f"(of at most 16 ln {NUM_CODES} = {16 * math.log(NUM_CODES):.1f}): bound {vq_bound:.1f} nats per test digit")
print(f"Gumbel VAE (straight-through, IW-100) {gumbel_results['straight-through']['iw']:.1f}; VAE (lesson 02) {VAE_NATS:.1f}; "
      f"uniform over the grey levels {PIXELS * math.log(LEVELS):.1f}")

# %% [markdown]
# The bound is honest and loose. A deterministic encoder pays for the exact tokens of each digit, while
# many other token grids decode to nearly the same image: $p(x)$ sums over all of them, the bound counts
# one. The tokens also carry details (which of two similar codes) that the decoder hardly needs but the
# prior must pay for, and the prior learns 512 symbols from 1350 grids. The VAE and the Gumbel VAE, whose
# encoders are distributions trained with their KL terms, spend their bits where the likelihood wants them.
# VQ-VAEs are built for reconstructions and samples, not for likelihoods.
#
# The lesson's figures, read by `benchmarks/vq_quality.py`:

# %% tags=["nbval-ignore-output"]
values = dict(seed=SEED, epochs=EPOCHS, num_codes=NUM_CODES, best_epoch=history.best_epoch,
              vq_seconds=history.seconds, test_psnr=main_figures["psnr"], usage_train=main_figures["usage_train"],
              perplexity_test=main_figures["perplexity_test"], recon_nats=rec_nats, prior_nats=prior_nats,
              vq_bound_nats=vq_bound, prior_best_epoch=prior_history.best_epoch, prior_seconds=prior_history.seconds,
              sample_seconds=sample_seconds, n_samples=N_SAMPLES,
              nn_median_samples=sample_nn.median().item(), nn_median_test=test_nn.median().item(),
              nn_min_samples=sample_nn.min().item(), nn_min_test=test_nn.min().item(),
              **{f"gumbel_{name.replace('-', '_')}_{what}": value for name, r in gumbel_results.items()
                 for what, value in r.items()})
for (size, rule), h in health.items():
    key = f"health_{size}_{rule.replace('+', '_')}"
    values.update({f"{key}_usage": h.usage, f"{key}_perplexity": h.perplexity, f"{key}_psnr": h.psnr})
if quality is not None:
    values.update(quality.report("03", prefix="prior_").values)
    values.update(recon_fd_ratio=recon_quality.ratio)
report = Report("03", **values)
report

# %% [markdown]
# ## 11. Where this leads: VQ-GAN and DALL-E
#
# **VQ-VAE-2** (Razavi et al. 2019) stacks two token grids (a coarse one for shape, a fine one for
# texture) with EMA codebooks, and fits PixelCNN priors over both; its samples of ImageNet rivalled the
# GANs of its time. **VQ-GAN** (Esser et al. 2021) keeps the VQ bottleneck and trains the decoder with a
# perceptual loss and a patch discriminator (lesson 04), so each token can stand for a larger patch
# ($16 \times 16$ tokens for a $256 \times 256$ image) without blur; a transformer prior then generates
# the tokens. This is the first stage of most image and audio generators since: latent diffusion (lesson
# 07) uses VQ-GAN's autoencoder (with a KL or VQ regulariser), and audio codecs (SoundStream, EnCodec)
# quantise with residual VQ.
#
# **DALL-E** (Ramesh et al. 2021) encodes a 256 × 256 image as 32 × 32 tokens from 8192 codes with a
# discrete VAE trained by the Gumbel-softmax relaxation (section 9, with $\tau$ annealed to 1/16), then
# trains one transformer on text tokens followed by image tokens: text-to-image generation is the prior
# over tokens, conditioned on a caption.
#
# ## 12. Going further
#
# 1. **How many tokens?** Replace the 4 × 4 grid by a 2 × 2 grid (one more stride-2 convolution in the
#    encoder, one more transposed one in the decoder) with the same $K$. How many bits per image now,
#    and what PSNR? Keeping 144 bits on 4 tokens would need $K = 2^{36}$ codes: why is that hopeless?
# 2. **The commitment weight.** Train with $\beta \in \{0, 0.25, 2\}$ and plot $\lVert z_e \rVert$ during
#    training. What does $\beta = 0$ do to the encoder's outputs?
# 3. **Restarts without EMA.** Add restarts to the loss-trained codebook. Is it as healthy as EMA +
#    restart?
# 4. **Temperature of the prior.** Sample the prior at $T \in \{0.7, 0.8, 0.9, 1\}$ and plot the
#    Fréchet distance and the nearest-neighbour distances. Where do samples start to copy?
# 5. **An untied prior.** Train `Q.TokenPrior(NUM_CODES, 16)` without the codebook (its own embeddings)
#    on the same grids and compare its test loss and samples.
# 6. **Gumbel on the grid.** Train `Q.VQVAEConfig(quantizer="gumbel")` (a categorical per cell of the
#    4 × 4 grid) and compare its IW bound with the global one.
#
# **The scoreboard.** Every model of the course side by side (likelihood, sample quality against the real floor, training and sampling time), read from the lessons' own figures: [the README's scoreboard](https://github.com/dgm-course/deep-generative-models#scoreboard).
#
# ## Summary
#
# - A VQ-VAE replaces each encoder vector by its nearest code ($\lVert z\rVert^2 - 2 z \cdot e + \lVert e \rVert^2$,
#   not the dot product); the straight-through estimator $z_e + \operatorname{sg}[z_q - z_e]$ gives the
#   encoder the decoder's gradient.
# - The codebook term moves only the codes, the commitment term only the encoder.
# - Codebooks collapse: measure usage and perplexity over a split; fix with k-means initialisation, EMA
#   updates (only in training mode) and dead-code restarts.
# - A token grid costs exactly $L \log_2 K$ bits.
# - Gumbel-max samples a categorical exactly; the Gumbel-softmax relaxes it with a temperature; only hard
#   samples follow the categorical; evaluate the discrete model, not the relaxation.
# - Autoregressive models factor $p(x) = \prod_i p(x_i \mid x_{<i})$ with masks (PixelCNN's A and B, a
#   transformer's causal attention): exact likelihoods, sequential sampling. A prior over tokens makes the
#   VQ-VAE generative.
#
# ## References
#
# - A. van den Oord, O. Vinyals, K. Kavukcuoglu. *Neural discrete representation learning.* NeurIPS 2017.
# - A. Razavi, A. van den Oord, O. Vinyals. *Generating diverse high-fidelity images with VQ-VAE-2.* NeurIPS 2019.
# - E. Jang, S. Gu, B. Poole. *Categorical reparameterization with Gumbel-softmax.* ICLR 2017.
# - C. J. Maddison, A. Mnih, Y. W. Teh. *The concrete distribution.* ICLR 2017.
# - A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu. *Pixel recurrent neural networks.* ICML 2016.
# - A. van den Oord et al. *Conditional image generation with PixelCNN decoders.* NeurIPS 2016.
# - Y. Bengio, N. Léonard, A. Courville. *Estimating or propagating gradients through stochastic neurons.* 2013.
# - P. Esser, R. Rombach, B. Ommer. *Taming transformers for high-resolution image synthesis.* CVPR 2021.
# - A. Ramesh et al. *Zero-shot text-to-image generation.* ICML 2021.
# - L. Theis, A. van den Oord, M. Bethge. *A note on the evaluation of generative models.* ICLR 2016.
