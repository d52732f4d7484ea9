# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 02 — Variational autoencoders and the ELBO
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/{{ repository }}/blob/main/{{ folder }}/{{ stem }}.ipynb)
#
# Lesson 01 ended with a problem: an autoencoder's latent space has holes and no distribution we
# can sample from, so it cannot generate. A **variational autoencoder** (Kingma & Welling, 2014)
# fixes this by making the latent code a random variable with a known prior, and training encoder
# and decoder together on a lower bound of the data's log-likelihood: the **ELBO**. In this lesson
# you derive the bound, implement it, train a VAE whose test log-likelihood beats a textbook
# reference, and look inside its latent space.
#
# **You will learn to**
# - state the latent-variable model $p(x, z) = p(x \mid z)\, p(z)$ and why $p(x)$ is intractable;
# - derive the ELBO and compute its KL term in closed form;
# - use the reparameterization trick to train through sampling;
# - choose a decoder likelihood (Gaussian, Bernoulli, categorical) and know what each implies;
# - read a VAE's latent space, and use beta-VAEs, conditional VAEs and latent attribute directions;
# - spot posterior collapse;
# - evaluate a likelihood model with the importance-weighted bound, in nats and bits per dimension.
#
# **Prerequisites:** lesson 01 (autoencoders); probability (Gaussians, expectations, KL divergence,
# Jensen's inequality).
#
# **How to work through it:** fill in each exercise (replace `raise NotImplementedError(...)`) and run
# the check cell below it. If your function does not pass yet, the lesson goes on with the reference
# implementation from `course_lib`, so every later cell still runs.
#
# Runtime at default settings: a few minutes on a laptop CPU.

# %%
# Colab only: install course_lib (a no-op anywhere else).
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "course-lib @ git+https://github.com/{{ repository }}"],
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
from course_lib import vae as V
from course_lib.metrics import Report, nats_to_bits_per_dim, sample_quality
from course_lib.training import fast, fit, resolve_device, seed_everything
from course_lib.vae import VAE, VAEConfig

# %% [markdown]
# ## 0. Parameters and data
#
# Tagged `parameters` for papermill and `course run 02 -p NAME VALUE`; `COURSE_FAST=1` shrinks
# every training run to a few steps.

# %% tags=["parameters"]
SEED = 0
DEVICE = "auto"  # "auto": a CUDA GPU if there is one, else Apple's MPS, else the CPU
DATASET = "digits"  # the likelihood figures below are for the bundled digits
LATENT_DIM = 16  # latent dimensions of the main VAE
ARCH = "conv"  # "conv" (two conv layers + a dense layer) or "mlp"
HIDDEN = (256,)  # conv: width of the dense layer; mlp: hidden layer sizes (the decoder mirrors them)
EPOCHS = 100  # training epochs of the main VAE (the weights of the best validation epoch are kept)
BATCH_SIZE = 64
LR = 1e-3
TRAIN_K = 1  # importance samples in the training objective (1: the ELBO)
SMALL_EPOCHS = 60  # the small demonstration VAEs (2-D latents, beta-VAEs, conditional VAE)
IW_K = 1000  # importance samples for the test log-likelihood

# %%
EPOCHS = fast(EPOCHS, 2)
SMALL_EPOCHS = fast(SMALL_EPOCHS, 2)
IW_K = fast(IW_K, 10)
device = resolve_device(DEVICE)
seed_everything(SEED)

x_train, y_train = data.load_dataset(DATASET, "train")
x_val, y_val = data.load_dataset(DATASET, "val")
x_test, y_test = data.load_dataset(DATASET, "test")
IMAGE_SHAPE = tuple(x_train.shape[1:])
D = int(np.prod(IMAGE_SHAPE))
print(f"device: {device}")
print(f"{DATASET}: {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test images of shape {IMAGE_SHAPE}, D = {D}")

# %% [markdown]
# ## 1. A latent-variable model
#
# We assume each image $x$ is generated from an unobserved **latent** variable $z \in \mathbb{R}^d$:
# first $z$ is drawn from a fixed **prior** $p(z) = \mathcal N(0, I)$, then $x$ from a **decoder**
# $p_\theta(x \mid z)$, a neural network that outputs the parameters of a distribution over images.
# The joint and the marginal likelihood are
#
# $$p_\theta(x, z) = p_\theta(x \mid z)\, p(z), \qquad p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz .$$
#
# Sampling is easy: $z \sim p(z)$, then $x \sim p_\theta(x \mid z)$. **Training** by maximum likelihood
# needs $\log p_\theta(x)$, and that integral over $d$ dimensions has no closed form when the decoder
# is a neural network. Estimating it by Monte Carlo from the prior,
# $p_\theta(x) \approx \frac1K \sum_k p_\theta(x \mid z_k)$ with $z_k \sim p(z)$, is wasteful: almost
# every $z_k$ decodes to an image unlike $x$ and contributes next to nothing. On these small digits
# with 16 latents, 1000 prior samples still come within about 5 nats of the importance-weighted
# estimate of section 8, but the fraction of useful $z_k$ shrinks exponentially with the number of
# latent dimensions the data really uses, so on larger images the shortfall grows to tens or hundreds
# of nats and no affordable $K$ closes it; inside a training loop it is useless. The posterior
# $p_\theta(z \mid x) = p_\theta(x \mid z) p(z) / p_\theta(x)$, which says which $z$ explain $x$, is
# intractable for the same reason.
#
# ## 2. The evidence lower bound (ELBO)
#
# Introduce an **encoder** $q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag} \sigma^2_\phi(x))$,
# a network that guesses the posterior. For any $q$,
#
# $$\log p_\theta(x) = \mathbb E_{q_\phi(z \mid x)}\!\left[\log \frac{p_\theta(x, z)}{q_\phi(z \mid x)}\right] + \mathrm{KL}\big(q_\phi(z \mid x)\,\|\,p_\theta(z \mid x)\big)$$
#
# (expand $p_\theta(x, z) = p_\theta(z \mid x)\, p_\theta(x)$ inside the log). The KL is $\ge 0$, so the
# first term is a lower bound, the **ELBO**, and it is tight exactly when $q$ is the true posterior.
# Splitting $p_\theta(x, z) = p_\theta(x \mid z)\, p(z)$ gives the form we train:
#
# $$\log p_\theta(x) \;\ge\; \mathrm{ELBO}(x) = \underbrace{\mathbb E_{q_\phi(z \mid x)}\big[\log p_\theta(x \mid z)\big]}_{\text{reconstruction}} \;-\; \underbrace{\mathrm{KL}\big(q_\phi(z \mid x)\,\|\,p(z)\big)}_{\text{to the prior}} .$$
#
# Maximising the ELBO over $\theta$ and $\phi$ raises the likelihood *and* pulls $q$ towards the true
# posterior. Note the KL in the loss is to the **prior** $p(z)$, not to some aggregate $q(z)$; slides
# sometimes get this wrong.
#
# ### Exercise 1 — the KL to the prior in closed form
# For $q = \mathcal N(\mu, \operatorname{diag}\sigma^2)$ and $p = \mathcal N(0, I)$,
#
# $$\mathrm{KL}(q \,\|\, p) = \frac12 \sum_{j=1}^{d} \left(\sigma_j^2 + \mu_j^2 - 1 - \log \sigma_j^2\right).$$
#
# Watch the two classic typos: the factor $\frac12$, and $\log \sigma_j^2$ (not $\log \sigma_j$). The
# encoder outputs `logvar` $= \log \sigma^2$ (unconstrained, so the network can output any real).
# Write `gaussian_kl(mu, logvar)`: inputs `(B, d)`, output `(B,)`.

# %%
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)), summed over the last dimension: (B, d) -> (B,)."""
    ### BEGIN SOLUTION
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=-1)
    ### END SOLUTION


# %%
gaussian_kl = checks.check("02.gaussian_kl", gaussian_kl)

# %% [markdown]
# ## 3. The reparameterization trick
#
# The reconstruction term is an expectation over $z \sim q_\phi(z \mid x)$, estimated with a sample. But
# "draw a sample" is not differentiable in $\phi$: the gradient cannot pass through a random number
# generator. The trick is to move the randomness into an input that does not depend on $\phi$:
#
# $$z = \mu_\phi(x) + \sigma_\phi(x) \odot \varepsilon, \qquad \varepsilon \sim \mathcal N(0, I),$$
#
# which has exactly the distribution $q_\phi(z \mid x)$, and is a differentiable function of $\mu$ and
# $\sigma$: $\partial z / \partial \mu = 1$ and $\partial z / \partial \log\sigma^2 = \tfrac12 \sigma \varepsilon$.
#
# ### Exercise 2 — reparameterize
# Write `reparameterize(mu, logvar)`. Remember $\sigma = \exp(\tfrac12 \log \sigma^2)$; draw
# $\varepsilon$ with `torch.randn_like(mu)`.

# %%
def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """A sample z ~ N(mu, diag(exp(logvar))) written as mu + sigma * eps, differentiable in mu and logvar."""
    ### BEGIN SOLUTION
    eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps
    ### END SOLUTION


# %%
reparameterize = checks.check("02.reparameterize", reparameterize)

# %% [markdown]
# Without the trick, the only general gradient of $\mathbb E_q[f(z)]$ is the score-function (REINFORCE)
# estimator $\mathbb E_q[f(z) \nabla_\phi \log q_\phi(z)]$: unbiased, but far noisier. A one-dimensional
# check, $f(z) = z^2$ with $q = \mathcal N(\mu, 1)$, whose exact gradient is $2\mu$:

# %%
mu0, n = torch.tensor(1.5), 1000
eps = torch.randn(200, n, generator=torch.Generator().manual_seed(SEED))
z = mu0 + eps
pathwise = (2 * z).mean(dim=1)  # d/dmu f(mu + eps), averaged over n samples
score = (z**2 * (z - mu0)).mean(dim=1)  # f(z) * d/dmu log N(z; mu, 1)
print(f"exact gradient 2*mu = {2 * mu0:.2f}")
print(f"reparameterized estimate: mean {pathwise.mean():.3f}, standard deviation {pathwise.std():.3f} (200 estimates of {n} samples)")
print(f"score-function estimate:  mean {score.mean():.3f}, standard deviation {score.std():.3f}")

# %% [markdown]
# ## 4. Decoder likelihoods: what $\log p_\theta(x \mid z)$ means
#
# The decoder outputs the parameters of a distribution over the 64 pixels; the reconstruction term
# is its log-density at the real image. Three common choices, all in `course_lib.vae`:
#
# | likelihood | decoder outputs | $-\log p(x \mid z)$ is | implies |
# |---|---|---|---|
# | Gaussian, fixed $\sigma$ | a mean per pixel | $\frac{1}{2\sigma^2}\lVert x - \hat x \rVert^2 + \text{const}$ | the MSE of lesson 01; $\sigma$ sets the weight of reconstruction against the KL; a *density*, so its "NLL" can be negative and is not comparable with a discrete one |
# | Bernoulli | a probability per pixel | binary cross-entropy | right for black/white images; for grey levels it is not a normalised likelihood of $x$ |
# | Categorical over 17 levels | 17 logits per pixel | $-\sum_{\text{pixels}} \log \pi_{\text{level}(x)}$ | a proper discrete distribution over the digits' grey levels 0..16: $-\log p(x) \ge 0$ is a code length in nats, comparable across models |
#
# We use the **categorical** decoder: it is the honest likelihood for this data, and it is what the
# reference figure below is measured with. What each says about a decoder that predicts this very
# image **perfectly** (its mean is the image itself, or all its mass is on the right grey level):

# %%
x_demo = x_test[:1]  # (1, 1, 8, 8)
logits = torch.logit(x_demo.clamp(1e-4, 1 - 1e-4))[..., None]  # sigmoid(logits) = x
one_hot = 50.0 * torch.nn.functional.one_hot(V.CategoricalLikelihood(17).to_levels(x_demo), 17).float()
perfect = {
    "Gaussian, sigma = 0.1": V.GaussianLikelihood(0.1).log_prob(logits, x_demo),
    "Bernoulli": V.BernoulliLikelihood().log_prob(logits, x_demo),
    "categorical, 17 levels": V.CategoricalLikelihood(17).log_prob(one_hot, x_demo),
}
for name, logp in perfect.items():
    print(f"{name:<24} log p(x|z) = {logp.item():8.2f} nats")

# %% [markdown]
# The Gaussian *density* exceeds 1 per pixel, so a "log-likelihood" of +88 nats: no code length,
# and not comparable with discrete models. The Bernoulli cannot reach 0 on grey pixels even when its
# prediction is exactly right. Only the categorical gives a perfect prediction $\log p = 0$, the
# maximum, as a probability over the data's actual values should.
#
# %% [markdown]
# ### Exercise 3 — the negative ELBO
# Write `negative_elbo(model, x)` returning three per-example tensors `(loss, reconstruction, kl)`,
# each `(B,)`:
# - `mu, logvar = model.encode(x)`, then one sample `z` with your `reparameterize`;
# - `reconstruction` $= -\log p_\theta(x \mid z)$: `-model.log_px_given_z(x, z)`;
# - `kl` $= \mathrm{KL}(q(z \mid x) \,\|\, p(z))$ with your `gaussian_kl`;
# - `loss` $=$ `reconstruction + kl` $= -\mathrm{ELBO}$ (one-sample estimate).

# %%
def negative_elbo(model, x: torch.Tensor):
    """Per-example (-ELBO, -log p(x|z), KL(q(z|x) || p(z))), each of shape (B,)."""
    ### BEGIN SOLUTION
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar)
    reconstruction = -model.log_px_given_z(x, z)
    kl = gaussian_kl(mu, logvar)
    return reconstruction + kl, reconstruction, kl
    ### END SOLUTION


# %%
negative_elbo = checks.check("02.negative_elbo", negative_elbo)

# %% [markdown]
# ## 5. Training the VAE
#
# A small convolutional encoder and decoder (`ARCH = "conv"`: two 3x3 convolutions and a dense layer
# each way; `"mlp"` gives plain MLPs), `LATENT_DIM` latents, the categorical decoder; we minimise the mean
# negative ELBO over minibatches (when `TRAIN_K > 1`, the tighter importance-weighted bound of
# section 8 instead, as in Burda et al.'s IWAE). We keep the weights of the epoch with the best
# validation ELBO (early stopping without stopping).

# %% tags=["nbval-ignore-output"]
def elbo_loss(model, x):
    return negative_elbo(model, x)[0].mean()


def iwae_loss(model, x):
    return -V.iwae_bound(model, x, TRAIN_K).mean()


torch.manual_seed(SEED)
vae = VAE(VAEConfig(image_shape=IMAGE_SHAPE, latent_dim=LATENT_DIM, arch=ARCH, hidden=HIDDEN))
best = {"val": float("inf"), "state": None}


def keep_best(model, epoch, val_loss):
    if val_loss < best["val"]:
        best["val"], best["state"] = val_loss, {k: v.detach().clone() for k, v in model.state_dict().items()}


history = fit(vae, elbo_loss if TRAIN_K == 1 else iwae_loss, x_train, val_data=x_val, epochs=EPOCHS,
              batch_size=BATCH_SIZE, lr=LR, seed=SEED, device=device, desc="VAE", on_epoch=keep_best)
vae.load_state_dict(best["state"])
print(f"trained in {history.seconds:.0f} s; best validation loss {best['val']:.2f} nats")

# %%
with torch.no_grad():
    terms = V.negative_elbo(vae, x_test.to(device))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
viz.plot_history(history, ax=axes[0], title="training objective (nats)")
axes[1].bar(["reconstruction\n-E[log p(x|z)]", "KL(q || p)"], [terms.reconstruction.mean().item(), terms.kl.mean().item()])
axes[1].set(title="the two terms of -ELBO on the test set", ylabel="nats per image")
plt.tight_layout()
plt.show()

# %% [markdown]
# Now the VAE **is** a generative model: sample $z \sim \mathcal N(0, I)$ and decode. Compare with the
# garbage that decoding random codes gave in lesson 01.

# %%
with torch.no_grad():
    samples = vae.sample(40, generator=torch.Generator(device=device).manual_seed(SEED)).cpu()
    recon = vae(x_test[:20].to(device)).cpu()
viz.show_images(samples, nrow=20, title="samples: z ~ N(0, I), decoded (mean of p(x|z))")
plt.show()
viz.show_image_rows({"test image": x_test[:20], "reconstruction": recon})
plt.show()

# %% [markdown]
# ## 6. What the latent space looks like
#
# Three VAEs with 2-D latents, so we can draw the codes $\mu_\phi(x)$ of the test set, trained with
# **only the reconstruction term**, **only the KL term**, and **both** (the ELBO):

# %% tags=["nbval-ignore-output"]
def train_small(beta_rec: float, beta_kl: float, latent_dim: int = 2, epochs: int = SMALL_EPOCHS, desc: str = ""):
    torch.manual_seed(SEED)
    model = VAE(VAEConfig(image_shape=IMAGE_SHAPE, latent_dim=latent_dim, hidden=(128, 128)))

    def loss(m, x):
        _, rec, kl = negative_elbo(m, x)
        return (beta_rec * rec + beta_kl * kl).mean()

    fit(model, loss, x_train, epochs=epochs, batch_size=BATCH_SIZE, lr=LR, seed=SEED, device=device, desc=desc, progress=False)
    return model


variants = {"reconstruction only": (1.0, 0.0), "KL only": (0.0, 1.0), "both (ELBO)": (1.0, 1.0)}
small = {name: train_small(*w, desc=name) for name, w in variants.items()}

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
for ax, (name, model) in zip(axes, small.items()):
    with torch.no_grad():
        mu, _ = model.encode(x_test.to(device))
    viz.plot_prior_contours(ax)
    viz.plot_latent(mu.cpu(), y_test, ax=ax, title=name)
plt.tight_layout()
plt.show()

# %% [markdown]
# - **Reconstruction only** is an autoencoder with noise: classes separate, but the codes spread
#   wherever is convenient, far outside the prior, with holes — decoding $z \sim \mathcal N(0, I)$ would not work.
# - **KL only** makes every $q(z \mid x)$ equal to the prior: all codes collapse to the origin and carry
#   no information about $x$.
# - **Both** balances the two: classes are still separated, and the codes fill the prior's region
#   without holes, so prior samples decode to digits.
#
# ### Explore the 2-D latent space
# The dashed circles are the prior's 1, 2 and 3 $\sigma$ contours. Move the point; every location
# inside the circles decodes to something digit-like.

# %%
vae2 = small["both (ELBO)"]
decode2 = lambda z: vae2.decode_mean(z.to(device)).cpu()
with torch.no_grad():
    z2_test = vae2.encode(x_test.to(device))[0].cpu()
widgets.render_latent_explorer(decode2, torch.tensor([0.5, -0.5]), z2_test, y_test, background=viz.plot_prior_contours, lim=(-3.5, 3.5, -3.5, 3.5))
plt.show()

# %% tags=["nbval-ignore-output"]
widgets.latent_explorer(decode2, z2_test, y_test, lim=(-3.5, 3.5, -3.5, 3.5), background=viz.plot_prior_contours)

# %% [markdown]
# **Interpolation** between two test digits in the main VAE's latent space, linear or spherical
# (slerp). High-dimensional Gaussian samples concentrate near a sphere of radius $\sqrt d$; the
# midpoint of a straight line between two of them is closer to the origin, where the prior puts
# codes of unusually "average" images. Slerp stays at the same radius.

# %%
encode_main = lambda x: vae.encode(x.to(device))[0].cpu()
decode_main = lambda z: vae.decode_mean(z.to(device)).cpu()
with torch.no_grad():
    z_a, z_b = encode_main(x_test[[0, 3]])
widgets.render_interpolation(decode_main, z_a, z_b, alpha=0.5, mode="slerp", image_a=x_test[0], image_b=x_test[3])
plt.show()

# %% tags=["nbval-ignore-output"]
widgets.interpolation_explorer(encode_main, decode_main, x_test, y_test, mode="slerp")

# %% [markdown]
# ## 7. Variants: beta-VAE, conditional VAE, resynthesis
#
# **beta-VAE** (Higgins et al., 2017) weights the KL: loss $= \text{reconstruction} + \beta\,\mathrm{KL}$.
# $\beta > 1$ buys a smoother, more prior-like latent space with worse reconstructions; $\beta < 1$ the
# reverse. With $\beta > 1$ the negative objective is still a lower bound on $\log p(x)$, only a looser
# one (a nonnegative KL is subtracted with more weight); with $\beta < 1$ it can exceed $\log p(x)$, so
# it is no longer a bound.

# %% tags=["nbval-ignore-output"]
betas = (0.25, 1.0, 4.0)
beta_models = {b: train_small(1.0, b, latent_dim=LATENT_DIM, desc=f"beta={b}") for b in betas}
print(f"{'beta':>6}  {'reconstruction':>15}  {'KL':>8}  {'-ELBO (beta=1)':>15}")
for b, model in beta_models.items():
    with torch.no_grad():
        t = V.negative_elbo(model, x_test.to(device))
    print(f"{b:>6}  {t.reconstruction.mean():>15.2f}  {t.kl.mean():>8.2f}  {t.loss.mean():>15.2f}")

# %% [markdown]
# **Conditional VAE**: feed the label $y$ (one-hot) to both encoder and decoder,
# $q_\phi(z \mid x, y)$ and $p_\theta(x \mid z, y)$. The label then no longer needs to be stored in $z$,
# which is free to hold the *style*; decoding one $z$ with each label writes the same style as every digit.

# %% tags=["nbval-ignore-output"]
torch.manual_seed(SEED)
cvae = VAE(VAEConfig(image_shape=IMAGE_SHAPE, latent_dim=8, hidden=(256, 256), num_classes=10))
cvae_history = fit(cvae, lambda m, b: V.negative_elbo(m, b[0], b[1]).loss.mean(), (x_train, y_train),
                   epochs=SMALL_EPOCHS, batch_size=BATCH_SIZE, lr=LR, seed=SEED, device=device, desc="conditional VAE")

# %%
z_style = torch.randn(8, 8, generator=torch.Generator().manual_seed(SEED)).to(device)
with torch.no_grad():
    grid = torch.cat([cvae.decode_mean(z_style, torch.full((8,), c, device=device)).cpu() for c in range(10)])
viz.show_images(grid, nrow=8, title="conditional VAE: row = label y, column = the same z")
plt.show()

# %% tags=["nbval-ignore-output"]
decode_cond = lambda z, y: cvae.decode_mean(z.to(device), y.to(device)).cpu()
widgets.condition_explorer(decode_cond, latent_dim=8)

# %% [markdown]
# **Resynthesis**: encode, move along an attribute direction, decode. A direction is the difference
# between the mean codes of images with and without the attribute; here "ink" (images with the most
# ink minus those with the least) and "slant" (most right-leaning minus most left-leaning, from the
# images' second moments).

# %%
def slant(x):
    """Shear of each image's ink: cov(col, row) / var(row) (positive leans right)."""
    H, W = x.shape[-2:]
    rows, cols = torch.meshgrid(torch.arange(H, dtype=x.dtype), torch.arange(W, dtype=x.dtype), indexing="ij")
    w = x[:, 0] / x[:, 0].sum(dim=(1, 2), keepdim=True)
    r_mean, c_mean = (w * rows).sum((1, 2), keepdim=True), (w * cols).sum((1, 2), keepdim=True)
    return -(w * (rows - r_mean) * (cols - c_mean)).sum((1, 2)) / (w * (rows - r_mean) ** 2).sum((1, 2))


with torch.no_grad():
    z_train = encode_main(x_train)
attributes = {"ink": x_train.mean(dim=(1, 2, 3)), "slant": slant(x_train)}
directions = {}
for name, value in attributes.items():
    low, high = value.quantile(0.25), value.quantile(0.75)
    directions[name] = z_train[value >= high].mean(0) - z_train[value <= low].mean(0)

with torch.no_grad():
    z_edit = encode_main(x_test[:10])
fig = plt.figure(figsize=(10, 5))
rows = {"original": x_test[:10]}
for name, direction in directions.items():
    for s in (-1.0, 1.0):
        rows[f"{name} {s:+.1f}"] = decode_main(z_edit + s * direction)
viz.show_image_rows(rows, fig=fig)
plt.show()

# %% [markdown]
# "Ink" mostly does what it says. "Slant" also changes *which* digit you get: in this latent space
# style and class are **entangled**, since nothing in the ELBO asks for one direction per factor.
# Disentangling them is what the beta-VAE literature and the conditional VAE above are after.

# %% tags=["nbval-ignore-output"]
widgets.attribute_explorer(decode_main, z_edit, directions, originals=x_test[:10])

# %% [markdown]
# ### Posterior collapse
# A latent dimension $j$ whose $q(z_j \mid x)$ equals the prior for every $x$ carries no information:
# its KL is zero and the decoder ignores it. When *all* dimensions do this (for instance with a
# decoder strong enough to model $x$ without $z$) the VAE has **collapsed** to an unconditional model.
# Look at the KL per dimension, averaged over the test set, and count two things: the **active
# units** (dimensions whose posterior mean varies across images, $\operatorname{Cov}_x(\mathbb E_q[z_j]) > 0.01$,
# Burda et al., 2016), and how few dimensions carry 90% of the KL, the information the code holds:

# %% tags=["nbval-ignore-output"]
def kl_per_dim(model):
    with torch.no_grad():
        mu, logvar = model.encode(x_test.to(device))
    kl = 0.5 * (logvar.exp() + mu**2 - 1 - logvar).mean(0).cpu()  # (d,) nats
    active = int((mu.var(0) > 0.01).sum())  # the posterior mean moves with the image
    share = kl.sort(descending=True).values.cumsum(0) / kl.sum()  # the largest dimensions' share of the KL
    carrying = int((share < 0.9).sum()) + 1 if kl.sum() > 0.1 else 0  # the fewest holding 90% of it (none if no KL)
    return kl, active, carrying


fig, axes = plt.subplots(1, 2, figsize=(12, 3.2), sharey=True)
for ax, (name, model) in zip(axes, (("main VAE (beta=1)", vae), ("beta=4", beta_models[4.0]))):
    kl, active, carrying = kl_per_dim(model)
    ax.bar(range(len(kl)), kl.sort(descending=True).values)
    ax.set(title=f"{name}: {active} of {len(kl)} units active, {carrying} carry 90% of the KL",
           xlabel="latent dimension (sorted)", ylabel="KL (nats)")
    print(f"{name}: KL {kl.sum():.1f} nats in all; largest dimensions {np.round(kl.sort(descending=True).values[:4].numpy(), 1)}; "
          f"{active} active units; {carrying} dimensions carry 90% of the KL")
plt.tight_layout()
plt.show()
z_prior = torch.randn(12, LATENT_DIM, generator=torch.Generator().manual_seed(SEED)).to(device)
with torch.no_grad():
    viz.show_image_rows({name: model.decode_mean(z_prior).cpu() for name, model in
                         (("main VAE: prior samples", vae), ("beta=4: prior samples", beta_models[4.0]))})
plt.show()

# %% [markdown]
# The two counts disagree, and both are right. "Active" only asks whether a unit's posterior mean moves
# with the image at all (a variance above 0.01, a low bar): 14 of the main VAE's 16 units pass. The KL
# says how much each one carries: about 9 nats in all, 90% of it in 6 dimensions; the other active units
# move a little and carry next to nothing. So the main VAE uses about 6 of its 16 dimensions in earnest.
# With a stronger pull to the prior ($\beta = 4$) this small model collapses completely: every KL is ~0,
# no unit is active, the decoder ignores $z$, and every prior sample decodes to the same average digit
# (the second row). Remedies: KL annealing (start with $\beta = 0$ and raise it), "free bits", a weaker
# decoder.
#
# ## 8. Evaluating a likelihood model
#
# The ELBO is a bound; to report $\log p(x)$ itself we estimate it by **importance sampling** with $q$
# as the proposal:
#
# $$p(x) = \mathbb E_{z \sim q(z \mid x)}\!\left[\frac{p(x \mid z)\, p(z)}{q(z \mid x)}\right] \approx \frac1K \sum_{k=1}^K w_k, \qquad w_k = \frac{p(x \mid z_k)\, p(z_k)}{q(z_k \mid x)} .$$
#
# Its logarithm $\mathcal L_K = \log \frac1K \sum_k w_k$ is again a lower bound in expectation (Jensen), but a
# tighter one: $\mathbb E[\mathcal L_1] = $ ELBO $\le \mathbb E[\mathcal L_K] \le \mathbb E[\mathcal L_{K+1}] \le \log p(x)$,
# and $\mathcal L_K \to \log p(x)$ as $K \to \infty$ (Burda et al., 2016). The chain holds for the
# expectations: a single draw of $\mathcal L_K$ is random and can land above $\log p(x)$. The sum is computed in log space
# with `torch.logsumexp` (the $w_k$ themselves under- or overflow).
#
# ### Exercise 4 — the importance-weighted bound
# Write `iwae_bound(model, x, k)` returning $\mathcal L_k$ per example, shape `(B,)`:
# 1. `mu, logvar = model.encode(x)`; repeat each row $k$ times (`repeat_interleave(k, dim=0)`) for
#    `mu`, `logvar` and `x`;
# 2. `z = reparameterize(mu_k, logvar_k)`;
# 3. `log_w = model.log_px_given_z(x_k, z) + V.log_standard_normal(z) - V.log_normal(z, mu_k, logvar_k)`;
# 4. reshape to `(B, k)`, then `logsumexp` over $k$, minus $\log k$.

# %%
def iwae_bound(model, x: torch.Tensor, k: int) -> torch.Tensor:
    """The importance-weighted bound log (1/k) sum_k w_k on log p(x), per example: (B,)."""
    ### BEGIN SOLUTION
    B = x.shape[0]
    mu, logvar = model.encode(x)
    mu_k, logvar_k = mu.repeat_interleave(k, dim=0), logvar.repeat_interleave(k, dim=0)  # (B*k, d)
    z = reparameterize(mu_k, logvar_k)
    x_k = x.repeat_interleave(k, dim=0)
    log_w = model.log_px_given_z(x_k, z) + V.log_standard_normal(z) - V.log_normal(z, mu_k, logvar_k)  # (B*k,)
    return torch.logsumexp(log_w.view(B, k), dim=1) - math.log(k)
    ### END SOLUTION


# %%
iwae_bound = checks.check("02.iwae_bound", iwae_bound)

# %% [markdown]
# The bound on the test set rises with $K$ (the ELBO is $K = 1$), and naive Monte Carlo from the prior
# (section 1) falls about 5 nats short of it with 1000 samples:

# %% tags=["nbval-ignore-output"]
@torch.no_grad()
def mean_bound(k: int, x: torch.Tensor = x_test, batch: int = 64) -> float:
    return float(torch.cat([iwae_bound(vae, x[i : i + batch].to(device), k).cpu() for i in range(0, len(x), batch)]).mean())


@torch.no_grad()
def naive_prior_estimate(x: torch.Tensor, k: int) -> torch.Tensor:
    """log (1/k) sum_k p(x | z_k) with z_k ~ p(z): importance sampling with the prior as proposal."""
    z = torch.randn(k, LATENT_DIM, generator=torch.Generator().manual_seed(SEED)).to(device)
    out = [torch.logsumexp(vae.log_px_given_z(xi.expand(k, *IMAGE_SHAPE).to(device), z), 0) - math.log(k) for xi in x]
    return torch.stack(out).cpu()


ks = [1, 10, 100] if IW_K >= 100 else [1, IW_K]
bounds = {k: mean_bound(k) for k in ks}
for k, b in bounds.items():
    print(f"K = {k:>4}: mean log-likelihood bound {b:8.2f} nats")
print(f"naive estimate from the prior with {IW_K} samples (first 100 test images): "
      f"{naive_prior_estimate(x_test[:100], IW_K).mean():.2f} nats; the IW bound on the same images: {mean_bound(ks[-1], x_test[:100]):.2f}")

# %% [markdown]
# ### Its samples, on the course's common scale
#
# A likelihood says how well the model explains test digits; it does not say how its samples look. The
# course scores every generative model's samples the same way (lesson 06 explains the figures): 256
# digits drawn from the prior, decoded to their means, against the test digits, through a digits
# classifier's features: the Fréchet distance next to its real floor, KID, precision and recall, and
# each sample's distance to its nearest training digit. The scoreboard in the README puts them beside
# every other model's.

# %% tags=["nbval-ignore-output"]
start = time.perf_counter()
with torch.no_grad():
    vae_samples = vae.eval().sample(256, generator=torch.Generator(device=device).manual_seed(SEED + 5)).cpu()
sample_seconds = time.perf_counter() - start
if DATASET == "digits":
    vae_quality = sample_quality(vae_samples, seed=SEED)
    print(vae_quality)
    sample_nn, _ = metrics.nearest_neighbours(vae_samples, x_train)
    test_nn, _ = metrics.nearest_neighbours(x_test, x_train)
    print(f"median distance to the nearest training digit: samples {sample_nn.median():.2f}, test digits {test_nn.median():.2f}")
    sample_figures = dict(**vae_quality.report("02", prefix="vae_").values, nn_median_samples=sample_nn.median().item(),
                          nn_median_test=test_nn.median().item())
else:
    sample_figures = {}
    print(f"the sample-quality classifier is trained on the digits; no figures for {DATASET}")
print(f"256 samples in {sample_seconds:.3f} s")

# %% [markdown]
# The decoded means land among real digits (precision at its floor) but cover less of their variety
# (recall well below its floor), and the Fréchet distance sits several times above the floor: the mean of
# the decoder is an average over the digits a code could stand for, smoother than any one of them. The
# samples are no copies (their nearest training
# digits are as far as the test digits'). Lessons 04 to 07 show models whose samples come much closer
# to the floor.
#
# The reported figure: the **test negative log-likelihood** with $K$ = `IW_K` importance samples, in
# nats per image and in **bits per dimension** $= \text{nats} / (D \ln 2)$, next to the reference: a
# 2-hidden-layer MLP VAE with 16 latents trained with Adamax and early stopping, as in a widely used
# textbook's code, measures **92.9 nats** (its ELBO 96.3) on this test split with this decoder.

# %% tags=["nbval-ignore-output"]
start = time.perf_counter()
nll = V.iw_nll(vae, x_test, k=IW_K)
elbo = -V.negative_elbo(vae, x_test.to(device)).loss.mean().item()
reference_nll = 92.9
report = Report(
    "02",
    test_iw_nll_nats=nll.mean().item(),
    test_iw_nll_bits_per_dim=nats_to_bits_per_dim(nll.mean().item(), D),
    importance_samples=IW_K,
    test_elbo_nats=elbo,
    reference_nll_nats=reference_nll,
    train_seconds=history.seconds,
    eval_seconds=time.perf_counter() - start,
    sample_seconds=sample_seconds,
    n_samples=256,
    **sample_figures,
)
report

# %% [markdown]
# ## 9. Going further
#
# 1. **Posterior collapse on purpose.** Give the decoder a lot more capacity (e.g. `HIDDEN = (1024, 1024)`)
#    and count active units. Then try KL annealing: weight the KL by `min(1, epoch / 50)`.
# 2. **The gap.** $\log p(x) - \mathrm{ELBO} = \mathrm{KL}(q \,\|\, p(z \mid x))$: estimate it per test image
#    from the numbers above. Which digits does the encoder explain worst?
# 3. **Likelihoods.** Train with the Gaussian decoder for several $\sigma$: how do samples and
#    reconstructions change? Why can't its NLL be compared with the categorical one?
# 4. **IWAE training.** Set `TRAIN_K = 10`. The bound tightens; what happens to the active units?
# 5. **More nats.** Our plain recipe already beats the reference; two cheap levers measured here gave
#    about 2 more nats together: a KL warm-up (beta from 0 to 1 over the first 10 epochs) and an
#    exponential moving average of the weights (decay 0.995) used for validation and evaluation.
#    Try them. And with `ARCH = "mlp"`: how much of the gain comes from the convolutions?
#
# **The scoreboard.** Every model of the course side by side (likelihood, sample quality against the real floor, training and sampling time), read from the lessons' own figures: [the README's scoreboard](https://github.com/{{ repository }}#scoreboard).
#
# ## Summary
#
# - A VAE is a latent-variable model $p_\theta(x \mid z)\,p(z)$ with an encoder $q_\phi(z \mid x)$ trained
#   on the ELBO $= \mathbb E_q[\log p_\theta(x \mid z)] - \mathrm{KL}(q_\phi(z \mid x) \,\|\, p(z)) \le \log p_\theta(x)$.
# - For diagonal Gaussians the KL is $\frac12 \sum (\sigma^2 + \mu^2 - 1 - \log \sigma^2)$; the
#   reparameterization $z = \mu + \sigma \varepsilon$ makes the sampled term differentiable.
# - The KL fills the prior's region with codes, so prior samples decode to digits; beta trades
#   reconstruction for regularity; a label input gives a conditional generator.
# - Evaluate with the importance-weighted bound: tighter than the ELBO, reported in nats and bits/dim.
#
# ## References
#
# - D. P. Kingma, M. Welling. *Auto-encoding variational Bayes.* ICLR 2014.
# - D. J. Rezende, S. Mohamed, D. Wierstra. *Stochastic backpropagation and approximate inference in
#   deep generative models.* ICML 2014.
# - Y. Burda, R. Grosse, R. Salakhutdinov. *Importance weighted autoencoders.* ICLR 2016.
# - I. Higgins et al. *beta-VAE: learning basic visual concepts with a constrained variational
#   framework.* ICLR 2017.
# - K. Sohn, H. Lee, X. Yan. *Learning structured output representation using deep conditional
#   generative models.* NeurIPS 2015.
# - J. M. Tomczak. *Deep Generative Modeling.* Springer, 2022 (chapter 4; the reference figure's setup).
