# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 01 — Autoencoders
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/dgm-course/deep-generative-models/blob/main/lessons/01_autoencoders.ipynb)
#
# An autoencoder learns to copy its input through a narrow **bottleneck**. Copying is trivial;
# copying through a bottleneck forces the network to find the few directions along which the data
# really varies. This lesson builds autoencoders from scratch on handwritten digits, shows that a
# linear one is PCA in disguise, makes one robust by training it to remove noise, uses it to
# denoise and inpaint, and ends by showing why an autoencoder alone is **not** a generative model —
# the problem that lesson 02 (variational autoencoders) solves.
#
# **You will learn to**
# - write the encoder $g_\phi$, the decoder $f_\theta$ and the reconstruction loss, and train them;
# - prove to yourself, numerically, that a linear autoencoder finds the PCA subspace but not the PCA basis;
# - write the corruption process $M(\tilde x \mid x)$ of a denoising autoencoder (Gaussian and masking noise) and see why it makes the model more robust;
# - use a trained autoencoder for denoising and inpainting;
# - explain why decoding random latent codes gives garbage: the latent space has holes.
#
# **Prerequisites:** PyTorch basics (tensors, `nn.Module`, autograd), linear algebra (SVD/PCA).
#
# **How to work through it:** read each section, fill in the exercise (replace the line
# `raise NotImplementedError(...)`), run the check cell below it. A check says *passed*,
# *not attempted* or *failed* with what it expected and what it got. If your function does not pass
# yet, the lesson goes on with the reference implementation from `course_lib`, so every later cell
# still runs.
#
# Runtime at default settings: about a minute on a laptop CPU.

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
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.decomposition import PCA
from torch import nn

from course_lib import autoencoder as ae
from course_lib import checks, data, viz, widgets
from course_lib.autoencoder import AEConfig
from course_lib.layers import MLP
from course_lib.metrics import principal_angles
from course_lib.training import fast, fit, resolve_device, seed_everything

# %% [markdown]
# ## 0. Parameters and data
#
# The cell below is tagged `parameters`: papermill (and `course run 01 -p NAME VALUE`) can override
# it. With `COURSE_FAST=1` in the environment the training runs shrink to a few steps, so the whole
# notebook runs in seconds under test; the values here are the real lesson.

# %% tags=["parameters"]
SEED = 0
DEVICE = "auto"  # "auto": a CUDA GPU if there is one, else Apple's MPS, else the CPU
DATASET = "digits"  # "digits" (bundled, offline), "mnist" or "fashion-mnist" (files under data/)
EPOCHS = 150  # epochs for each MLP autoencoder
BATCH_SIZE = 64
LR = 1e-3
LATENT_DIM = 2  # bottleneck of the autoencoder we can draw
WIDE_LATENT_DIM = 16  # bottleneck of the autoencoders used for denoising
PCA_DIM = 8  # dimension of the linear autoencoder compared with PCA
LINEAR_STEPS = 1000  # full-batch steps for the linear autoencoder
NOISE_SIGMA = 0.3  # Gaussian corruption used to train the denoising autoencoder
MASK_P = 0.3  # masking corruption used to train the denoising autoencoder

# %%
EPOCHS = fast(EPOCHS, 2)
LINEAR_STEPS = fast(LINEAR_STEPS, 20)
device = resolve_device(DEVICE)
seed_everything(SEED)

x_train, y_train = data.load_dataset(DATASET, "train")
x_val, y_val = data.load_dataset(DATASET, "val")
x_test, y_test = data.load_dataset(DATASET, "test")
IMAGE_SHAPE = tuple(x_train.shape[1:])
D = int(np.prod(IMAGE_SHAPE))
print(f"device: {device}")
print(f"{DATASET}: {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test images of shape {IMAGE_SHAPE}")

# %%
viz.show_images(x_train[:40], nrow=20, title=f"the first 40 training images ({DATASET})")
plt.show()

# %% [markdown]
# ## 1. The autoencoder
#
# An autoencoder is two maps trained together:
#
# - the **encoder** $g_\phi : \mathbb{R}^D \to \mathbb{R}^k$ compresses an image $x$ into a code $z = g_\phi(x)$;
# - the **decoder** $f_\theta : \mathbb{R}^k \to \mathbb{R}^D$ maps the code back to a reconstruction $\hat x = f_\theta(z)$.
#
# Both are trained to make the reconstruction close to the input, by minimising the
# **reconstruction loss** over the $n$ training images
#
# $$\mathcal{L}(\phi, \theta) = \frac{1}{n} \sum_{i=1}^{n} \big\lVert x_i - f_\theta(g_\phi(x_i)) \big\rVert^2 .$$
#
# The squared norm sums over the $D$ pixels of one image; the $1/n$ averages over images. (Note
# this is $D$ times `F.mse_loss`, which averages over pixels too: the scale matters when we compare
# with PCA, whose error is also a sum over pixels.)
#
# ### Exercise 1 — the reconstruction loss
# Write `reconstruction_loss(x, x_hat)` for a batch: tensors of any shape `(B, ...)`; the result is a
# scalar tensor (keep it differentiable: no `.item()`, no NumPy).

# %%
def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """(1/n) sum_i ||x_i - x_hat_i||^2 over a batch of n examples of any shape (n, ...)."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise reconstruction_loss: replace this line with your code")


# %%
reconstruction_loss = checks.check("01.reconstruction_loss", reconstruction_loss)

# %% [markdown]
# ### Exercise 2 — encoder and decoder
# Our encoder and decoder are small MLPs. The constructor is given: `self.encoder` maps $D$ pixels
# to $k$ numbers and `self.decoder` maps $k$ numbers to $D$ pixels. Write the two forward passes:
#
# - `encode(x)`: images `(B, C, H, W)` → flatten to `(B, C*H*W)` → `self.encoder` → codes `(B, k)`;
# - `decode(z)`: codes `(B, k)` → `self.decoder` → a **sigmoid**, because pixels live in $[0, 1]$
#   (except for a linear autoencoder, `config.linear`, which must stay linear) → reshape to `(B, C, H, W)`.

# %%
class Autoencoder(nn.Module):
    """MLP autoencoder x -> z = g_phi(x) -> x_hat = f_theta(z)."""

    def __init__(self, config: AEConfig | None = None):
        super().__init__()
        self.config = cfg = config if config is not None else AEConfig()
        D = int(np.prod(cfg.image_shape))
        hidden = () if cfg.linear else cfg.hidden
        self.encoder = MLP(D, hidden, cfg.latent_dim, cfg.activation)  # g_phi
        self.decoder = MLP(cfg.latent_dim, hidden[::-1], D, cfg.activation)  # f_theta

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes z = g_phi(x): (B, C, H, W) -> (B, latent_dim)."""
        # YOUR CODE HERE
        raise NotImplementedError("exercise Autoencoder.encode: replace this line with your code")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructions x_hat = f_theta(z): (B, latent_dim) -> (B, C, H, W)."""
        # YOUR CODE HERE
        raise NotImplementedError("exercise Autoencoder.decode: replace this line with your code")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


# %%
Autoencoder = checks.check("01.Autoencoder", Autoencoder)

# %% [markdown]
# ## 2. A linear autoencoder is a learnable PCA
#
# Take the simplest autoencoder: linear maps $g(x) = W_e x + b_e$ and $f(z) = W_d z + b_d$, with
# $W_d \in \mathbb{R}^{D \times k}$. With the squared error, its best reconstruction
# $\hat x = W_d W_e x + \dots$ is the orthogonal projection onto the best $k$-dimensional affine
# subspace — the one spanned by the top $k$ principal components (Baldi & Hornik, 1989). So at the
# optimum the columns of $W_d$ **span the same subspace as PCA**.
#
# But not in the same **basis**: for any invertible $k \times k$ matrix $A$, the pair
# $(A W_e,\; W_d A^{-1})$ gives exactly the same reconstructions. The loss cannot tell these apart,
# so the learned columns are some mixture of the principal directions — not orthonormal, not
# ordered by variance.
#
# We check both claims on the digits: train a linear autoencoder with $k$ = `PCA_DIM` by full-batch
# gradient descent (on centred data, which conditions the problem better; the biases could learn the
# mean, only more slowly), then measure the **principal angles** between its decoder's column space
# and the PCA subspace. Zero angles mean the same subspace.

# %% tags=["nbval-ignore-output"]
x_mean = x_train.mean(dim=0, keepdim=True)
linear_ae = Autoencoder(AEConfig(image_shape=IMAGE_SHAPE, latent_dim=PCA_DIM, linear=True))
linear_history = fit(
    linear_ae, ae.autoencoder_loss, x_train - x_mean, epochs=LINEAR_STEPS, batch_size=len(x_train),
    lr=1e-2, seed=SEED, device=device, desc="linear AE",
)
pca = PCA(n_components=PCA_DIM).fit(x_train.reshape(len(x_train), -1).numpy())

W_d = linear_ae.decoder[0].weight.detach().cpu()  # (D, k): the decoder's columns
U_pca = torch.tensor(pca.components_.T)  # (D, k): orthonormal principal directions
angles = principal_angles(W_d, U_pca).rad2deg()
print("principal angles between the linear AE and PCA (degrees):", np.round(angles.numpy(), 2))
print(f"largest angle: {angles.max():.3f} degrees")

# %% tags=["nbval-ignore-output"]
def pca_error(pca: PCA, x: torch.Tensor) -> float:
    """Mean over images of ||x - PCA reconstruction||^2 (summed over pixels)."""
    flat = x.reshape(len(x), -1).numpy()
    return float(((flat - pca.inverse_transform(pca.transform(flat))) ** 2).sum(axis=1).mean())


linear_error = ae.reconstruction_error(linear_ae, x_test - x_mean)
norms = W_d.norm(dim=0)  # (k,): the length of each decoder column
cosines = (W_d.T @ W_d) / (norms[:, None] * norms[None, :])  # (k, k): cosine between each pair of columns
off_diagonal = cosines[~torch.eye(PCA_DIM, dtype=torch.bool)].abs()
print(f"test reconstruction error, linear AE: {linear_error:.4f}   PCA: {pca_error(pca, x_test):.4f}")
print(f"decoder column norms: {np.round(norms.numpy(), 2)} (an orthonormal basis has all 1)")
print(f"|cos| between pairs of columns: largest {off_diagonal.max():.2f}, median {off_diagonal.median():.2f} "
      "(orthogonal: 0)")

# %%
fig, axes = plt.subplots(2, 1, figsize=(8, 2.6))
viz.show_images(U_pca.T.reshape(-1, *IMAGE_SHAPE) * 2 + 0.5, nrow=PCA_DIM, ax=axes[0], title="PCA basis (orthonormal, ordered by variance)")
columns = W_d.T / W_d.norm(dim=0)[:, None]
viz.show_images(columns.reshape(-1, *IMAGE_SHAPE) * 2 + 0.5, nrow=PCA_DIM, ax=axes[1], title="linear AE decoder columns (same span, another basis)")
plt.tight_layout()
plt.show()

# %% [markdown]
# Same span, same error, another basis. If you want the PCA basis back from the autoencoder,
# orthonormalise its columns and diagonalise the data covariance inside that subspace: the
# autoencoder has found the subspace, the ordering is extra information it never needed.
#
# ## 3. The bottleneck: a nonlinear autoencoder with a 2-D code
#
# A nonlinear encoder and decoder can bend the subspace into a curved **manifold**. With a
# 2-dimensional bottleneck we can draw the whole latent space. Training uses `course_lib.training.fit`:
# one generic loop with a live progress bar that returns the loss history.

# %% tags=["nbval-ignore-output"]
ae2 = Autoencoder(AEConfig(image_shape=IMAGE_SHAPE, latent_dim=LATENT_DIM))
history2 = fit(
    ae2, ae.autoencoder_loss, x_train, val_data=x_val, epochs=EPOCHS, batch_size=BATCH_SIZE, lr=LR,
    seed=SEED, device=device, desc=f"AE, k={LATENT_DIM}",
)
print(f"trained in {history2.seconds:.1f} s; final train loss {history2.train_loss[-1]:.3f}, validation {history2.val_loss[-1]:.3f}")

# %%
encode2 = lambda x: ae2.encode(x.to(device)).cpu()
decode2 = lambda z: ae2.decode(z.to(device)).cpu()
with torch.no_grad():
    z_test = encode2(x_test)
    x_test_hat2 = decode2(z_test)

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
viz.plot_history(history2, ax=axes[0], title="reconstruction loss")
viz.plot_latent(z_test, y_test, ax=axes[1], title=f"test set in the {LATENT_DIM}-D latent space")
plt.tight_layout()
plt.show()
viz.show_image_rows({"test image": x_test[:16], f"AE k={LATENT_DIM}": x_test_hat2[:16]})
plt.show()

# %% [markdown]
# Digits of the same class cluster together even though the autoencoder never saw a label. Note the
# gap between the training and validation losses: with only 1000 training images the network starts
# to memorise them, and the validation loss stops improving long before the training loss does. Two
# numbers are very few for an 8×8 image, though: reconstructions are recognisable but blurry. A
# wider bottleneck reconstructs better; we use `WIDE_LATENT_DIM` below.
#
# ## 4. Denoising autoencoders
#
# A plain autoencoder only ever sees clean digits; fed a noisy digit, it has no reason to do anything
# sensible. A **denoising autoencoder** (Vincent et al., 2008) is trained on corrupted inputs to
# reconstruct the clean ones:
#
# $$\mathcal{L}_{\text{DAE}} = \frac{1}{n} \sum_i \mathbb{E}_{\tilde x_i \sim M(\tilde x \mid x_i)} \big\lVert x_i - f_\theta(g_\phi(\tilde x_i)) \big\rVert^2 .$$
#
# The **corruption process** $M(\tilde x \mid x)$ is ours to choose. Two classics:
#
# - **Gaussian noise**: $\tilde x = x + \sigma \varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$, so $\tilde x$ has mean $x$ and variance $\sigma^2$ per pixel;
# - **masking noise**: each pixel is set to 0 independently with probability $p$, otherwise kept, so $\mathbb E[\tilde x] = (1 - p)\, x$.
#
# Why is this more robust? To undo the corruption the network has to learn where clean digits live
# — the data manifold — and map every corrupted point back onto it. It cannot just copy its input.
# (For small Gaussian noise, the optimal denoiser moves $\tilde x$ along $\sigma^2 \nabla_{\tilde x} \log p(\tilde x)$,
# the *score* of the data: this is the seed of the diffusion models of lesson 06.)
#
# ### Exercise 3 — Gaussian corruption
# Write `gaussian_corruption(x, sigma, generator=None)`. Draw the noise with
# `torch.randn(x.shape, generator=generator, ...)` on `x`'s device and dtype, so a seeded generator
# gives reproducible noise; return a new tensor, never modify `x`.

# %%
def gaussian_corruption(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x_tilde = x + sigma * eps with eps ~ N(0, I), same shape as x."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise gaussian_corruption: replace this line with your code")


# %%
gaussian_corruption = checks.check("01.gaussian_corruption", gaussian_corruption)

# %% [markdown]
# ### Exercise 4 — masking corruption
# Write `masking_corruption(x, p, generator=None)`: every entry is set to 0 with probability `p`
# and kept unchanged otherwise, independently. (Do not rescale the kept entries: that is dropout's
# convention, not masking noise.)

# %%
def masking_corruption(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each entry of x set to 0 independently with probability p."""
    # YOUR CODE HERE
    raise NotImplementedError("exercise masking_corruption: replace this line with your code")


# %%
masking_corruption = checks.check("01.masking_corruption", masking_corruption)

# %%
g = torch.Generator().manual_seed(SEED)
viz.show_image_rows({
    "clean x": x_test[:12],
    f"Gaussian, sigma={NOISE_SIGMA}": gaussian_corruption(x_test[:12], NOISE_SIGMA, generator=g).clamp(0, 1),
    f"masking, p={MASK_P}": masking_corruption(x_test[:12], MASK_P, generator=g),
})
plt.show()

# %% [markdown]
# We now train two autoencoders with the same wider bottleneck: a plain one, and a denoising one
# whose corruption mixes both kinds (half of each batch gets Gaussian noise, the other half masking
# noise).

# %% tags=["nbval-ignore-output"]
def mixed_corruption(x: torch.Tensor) -> torch.Tensor:
    """Gaussian noise on the first half of the batch, masking noise on the second half."""
    half = x.shape[0] // 2
    return torch.cat([gaussian_corruption(x[:half], NOISE_SIGMA), masking_corruption(x[half:], MASK_P)])


wide = AEConfig(image_shape=IMAGE_SHAPE, latent_dim=WIDE_LATENT_DIM)
plain_ae = Autoencoder(wide)
plain_history = fit(plain_ae, ae.autoencoder_loss, x_train, val_data=x_val, epochs=EPOCHS,
                    batch_size=BATCH_SIZE, lr=LR, seed=SEED, device=device, desc="plain AE")
dae = Autoencoder(wide)
dae_history = fit(dae, ae.denoising_loss(mixed_corruption), x_train, epochs=EPOCHS,
                  batch_size=BATCH_SIZE, lr=LR, seed=SEED, device=device, desc="denoising AE")
print(f"plain AE: {plain_history.seconds:.1f} s, denoising AE: {dae_history.seconds:.1f} s")

# %% [markdown]
# How robust is each? Corrupt the **test** images more and more, and measure the error of the
# reconstruction against the *clean* image.

# %% tags=["nbval-ignore-output"]
sigmas = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
ps = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
robustness = {"plain AE": ([], []), "denoising AE": ([], [])}
for name, model in (("plain AE", plain_ae), ("denoising AE", dae)):
    for s in sigmas:
        noisy = gaussian_corruption(x_test, s, generator=torch.Generator().manual_seed(1))
        robustness[name][0].append(ae.reconstruction_error(model, x_test, noisy))
    for p in ps:
        masked = masking_corruption(x_test, p, generator=torch.Generator().manual_seed(2))
        robustness[name][1].append(ae.reconstruction_error(model, x_test, masked))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for name, (by_sigma, by_p) in robustness.items():
    axes[0].plot(sigmas, by_sigma, "o-", label=name)
    axes[1].plot(ps, by_p, "o-", label=name)
axes[0].set(xlabel="Gaussian noise sigma on the test inputs", ylabel="error to the clean image", title="Gaussian noise")
axes[1].set(xlabel="masking probability p on the test inputs", title="masking noise")
for ax in axes:
    ax.legend()
plt.tight_layout()
plt.show()
print(f"clean test inputs:     plain {robustness['plain AE'][0][0]:.2f}   denoising {robustness['denoising AE'][0][0]:.2f}")
print(f"sigma = {sigmas[-1]}:           plain {robustness['plain AE'][0][-1]:.2f}   denoising {robustness['denoising AE'][0][-1]:.2f}")
print(f"p = {ps[-1]}:               plain {robustness['plain AE'][1][-1]:.2f}   denoising {robustness['denoising AE'][1][-1]:.2f}")

# %% [markdown]
# The plain autoencoder is better on clean inputs (that is all it was trained for), but its
# error grows fast with the noise; the denoising autoencoder degrades gracefully, even at noise
# levels it never saw in training.
#
# ## 5. Applications: denoising and inpainting
#
# **Denoising** is the model itself: feed the noisy image, read the reconstruction.

# %%
with torch.no_grad():
    noisy = gaussian_corruption(x_test[:12], 0.4, generator=torch.Generator().manual_seed(3))
    viz.show_image_rows({
        "clean": x_test[:12],
        "noisy (sigma=0.4)": noisy.clamp(0, 1),
        "plain AE": plain_ae(noisy.to(device)).cpu(),
        "denoising AE": dae(noisy.to(device)).cpu(),
    })
plt.show()

# %% [markdown]
# **Inpainting** fills a hidden region. We hide a band of rows, then iterate: reconstruct the image,
# keep the known pixels, take the model's guess for the hidden ones, repeat
# (`ae.inpaint`: $x \leftarrow m \odot x_{\text{obs}} + (1 - m) \odot f(g(x))$ with the mask $m$).
# The denoising autoencoder was trained to fill masked pixels, so it is the better painter. (In the
# figure the hidden band is drawn light grey: hidden pixels are zeros, which would pass for background.)

# %% tags=["nbval-ignore-output"]
H = IMAGE_SHAPE[1]
band = dict(top=H // 2, left=0, height=max(1, H // 4), width=IMAGE_SHAPE[2])
x_masked, known = ae.block_mask(x_test, **band)
filled = {
    name: ae.inpaint(model, x_masked.to(device), known.to(device)).cpu()
    for name, model in (("plain AE", plain_ae), ("denoising AE", dae))
}
hidden = 1 - known
for name, x_filled in filled.items():
    err = ((x_filled - x_test) ** 2 * hidden).reshape(len(x_test), -1).sum(1).mean()
    print(f"{name}: squared error in the hidden band {err:.3f} (filling it with zeros: {((x_test * hidden) ** 2).reshape(len(x_test), -1).sum(1).mean():.3f})")
shaded = x_masked + 0.3 * hidden  # the hidden band drawn light grey, so it does not pass for white background
viz.show_image_rows({"clean": x_test[:12], "band hidden (grey)": shaded[:12], **{k: v[:12] for k, v in filled.items()}})
plt.show()

# %% [markdown]
# ## 6. An autoencoder is not a generative model
#
# A generative model lets us **sample new data**. An autoencoder has a decoder that turns codes into
# images, so why not pick random codes and decode them? Because nothing in its training says which
# codes are valid. The loss only involves codes of training images; the rest of the latent space is
# never visited, and decodes to whatever the decoder happens to do there.
#
# Look at the 2-D autoencoder: decode a regular grid over the box that holds 98% of the test codes,
# and compare with where the codes actually are.

# %%
low, high = torch.quantile(z_test, 0.01, dim=0), torch.quantile(z_test, 0.99, dim=0)  # the box holding 98% of the codes
lim = (float(low[0]), float(high[0]), float(low[1]), float(high[1]))
fig, axes = plt.subplots(1, 2, figsize=(11, 5))
viz.plot_latent(z_test, y_test, ax=axes[0], title="where the test codes are")
axes[0].set(xlim=lim[:2], ylim=lim[2:])
viz.plot_decoded_grid(decode2, lim, n=12, ax=axes[1], pad=1)  # a grey border, so neighbouring tiles stay apart
axes[1].set_aspect("auto")
axes[1].set_title("decoding a grid over the same box")
plt.tight_layout()
plt.show()

# %% [markdown]
# Between and around the clusters lie **holes**: regions no training image maps to, which decode to
# blends that are no digit. How much of the box is hole? Draw codes uniformly in the box and measure
# how far each is from the nearest training code, compared with how far training codes are from
# their own nearest neighbours.

# %% tags=["nbval-ignore-output"]
with torch.no_grad():
    z_train = encode2(x_train)
gen = torch.Generator().manual_seed(SEED)
z_random = low + (high - low) * torch.rand(1000, 2, generator=gen)
nn_train = torch.cdist(z_train, z_train).fill_diagonal_(float("inf")).min(dim=1).values
nn_random = torch.cdist(z_random, z_train).min(dim=1).values
threshold = torch.quantile(nn_train, 0.99)
print(f"99% of training codes have a neighbour within {threshold:.3f}")
print(f"{(nn_random > threshold).float().mean():.0%} of uniform random codes in the box are farther than that from every training code")

# %% [markdown]
# In more dimensions it gets worse, not better: the codes of the 16-D autoencoder fill a vanishing
# fraction of their bounding box. Decoding standard normal codes, as we will do with a VAE, gives
# no digits at all, since nothing tied the codes to $\mathcal N(0, I)$.

# %% tags=["nbval-ignore-output"]
with torch.no_grad():
    z_prior = torch.randn(24, WIDE_LATENT_DIM, generator=torch.Generator().manual_seed(SEED))
    decoded_random = plain_ae.decode(z_prior.to(device)).cpu()
    z_wide = plain_ae.encode(x_train.to(device)).cpu()
viz.show_images(decoded_random, nrow=12, title=f"plain AE (k={WIDE_LATENT_DIM}): decoding z ~ N(0, I)")
plt.show()
print(f"the training codes have per-dimension standard deviations from {z_wide.std(0).min():.2f} to {z_wide.std(0).max():.2f}, "
      f"and means from {z_wide.mean(0).min():.2f} to {z_wide.mean(0).max():.2f}: nothing like N(0, I)")

# %% [markdown]
# To sample, we need a latent space **with no holes**, whose codes follow a distribution we know
# how to sample from. That is exactly what the variational autoencoder of lesson 02 adds: a prior
# $p(z) = \mathcal N(0, I)$ and a loss term that pulls the codes of the data towards it.
#
# ## 7. Explore the latent space
#
# Two interactive widgets (they need a running kernel; the static figures below show one setting
# each, so the executed notebook on GitHub shows them too).
#
# **Latent-space explorer**: move the point with the sliders and see the decoded image next to the
# embedded test set. Try the holes between clusters.

# %%
widgets.render_latent_explorer(decode2, z_test.mean(0), z_test, y_test)
plt.show()

# %% tags=["nbval-ignore-output"]
widgets.latent_explorer(decode2, z_test, y_test)

# %% [markdown]
# **Interpolation**: choose two test digits by index and slide between their codes; the strip shows
# the decoded path. A straight line between two codes often crosses a hole.

# %%
widgets.render_interpolation(decode2, z_test[0], z_test[3], alpha=0.5, image_a=x_test[0], image_b=x_test[3])
plt.show()

# %% tags=["nbval-ignore-output"]
widgets.interpolation_explorer(encode2, decode2, x_test, y_test, modes=("linear",))

# %% [markdown]
# ## 8. Evaluation
#
# Test reconstruction error (squared error summed over pixels, mean over the 447 test images) of
# each model at this notebook's settings, next to PCA with the same number of components. The last
# column is the reference: the same models trained at the default settings (`SEED = 0`,
# `EPOCHS = 150`) on a 2-core CPU. PCA is exact, so its rows must match the reference to the digit.

# %% tags=["nbval-ignore-output"]
REFERENCE = {  # this notebook at default settings on digits (2-core CPU, torch 2.15); PCA rows are exact
    "PCA, k=2": 3.396, "AE, k=2": 2.425, "PCA, k=16": 0.789, "plain AE, k=16": 0.715, "denoising AE, k=16": 1.045,
}
results = {
    f"PCA, k={LATENT_DIM}": pca_error(PCA(LATENT_DIM).fit(x_train.reshape(len(x_train), -1).numpy()), x_test),
    f"AE, k={LATENT_DIM}": ae.reconstruction_error(ae2, x_test),
    f"PCA, k={WIDE_LATENT_DIM}": pca_error(PCA(WIDE_LATENT_DIM).fit(x_train.reshape(len(x_train), -1).numpy()), x_test),
    f"plain AE, k={WIDE_LATENT_DIM}": ae.reconstruction_error(plain_ae, x_test),
    f"denoising AE, k={WIDE_LATENT_DIM}": ae.reconstruction_error(dae, x_test),
}
print(f"{'model':<22}{'test error':>12}{'reference':>12}")
for name, value in results.items():
    ref = REFERENCE.get(name) if DATASET == "digits" and (LATENT_DIM, WIDE_LATENT_DIM) == (2, 16) else None
    print(f"{name:<22}{value:>12.3f}{(f'{ref:.3f}' if ref is not None else '-'):>12}")

# %% [markdown]
# A nonlinear autoencoder with 2 numbers per image beats PCA with 2 components clearly (about 30%
# lower error at the default settings): a curved 2-D manifold fits the digits better than a plane.
# With 16 dimensions the gap narrows, since PCA with 16 components already keeps most of the
# variance of 64-pixel images. The denoising autoencoder pays for its robustness with a higher
# error on clean images: it was never asked to copy a clean image exactly.
#
# ## 9. Going further
#
# 1. **Bottleneck sweep.** Train autoencoders with $k = 1, 2, 4, 8, 16, 32$ and plot the test error
#    against $k$ next to PCA's. Where does the nonlinear advantage vanish? What happens when $k \ge D$?
# 2. **Overcomplete codes.** With $k > D$ a plain autoencoder can learn the identity. Does a
#    denoising one? (It cannot: the identity does not remove noise.)
# 3. **Which corruption?** Train one DAE per corruption (Gaussian only, masking only, mixed) and
#    compare them on the robustness curves and on inpainting.
# 4. **Tied weights.** Make the linear decoder use $W_e^\top$. Does it now find an orthonormal basis?
# 5. **Sampling attempt.** Fit a Gaussian to the 16-D training codes and decode samples from it.
#    Better than $\mathcal N(0, I)$? Why is it still not a proper generative model?
#
# ## Summary
#
# - An autoencoder trains an encoder $g_\phi$ and a decoder $f_\theta$ to minimise
#   $\frac1n \sum_i \lVert x_i - f_\theta(g_\phi(x_i)) \rVert^2$ through a bottleneck.
# - A linear autoencoder recovers the PCA subspace (principal angles ≈ 0) but not the PCA basis.
# - A denoising autoencoder learns from corrupted inputs $\tilde x \sim M(\tilde x \mid x)$ and is far
#   more robust to noise; it denoises and inpaints.
# - Its latent space has holes and no known distribution, so decoding random codes gives garbage:
#   an autoencoder is not a generative model. Lesson 02 fixes this with a prior and the ELBO.
#
# ## References
#
# - P. Baldi, K. Hornik. *Neural networks and principal component analysis: learning from examples
#   without local minima.* Neural Networks 2(1), 1989.
# - G. E. Hinton, R. R. Salakhutdinov. *Reducing the dimensionality of data with neural networks.*
#   Science 313, 2006.
# - P. Vincent, H. Larochelle, Y. Bengio, P.-A. Manzagol. *Extracting and composing robust features
#   with denoising autoencoders.* ICML 2008.
# - G. Alain, Y. Bengio. *What regularized auto-encoders learn from the data-generating
#   distribution.* JMLR 15, 2014 (the denoiser and the score).
# - I. Goodfellow, Y. Bengio, A. Courville. *Deep Learning*, chapter 14 (Autoencoders). MIT Press, 2016.
