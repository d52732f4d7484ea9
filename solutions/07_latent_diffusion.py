# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 07 — Latent diffusion and classifier-free guidance
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/{{ repository }}/blob/main/{{ folder }}/{{ stem }}.ipynb)
#
# Lesson 06's diffusion model works on pixels: every one of its network calls looks at the whole image,
# and it needs dozens of calls per sample. The systems you have heard of (Stable Diffusion, DALL-E 2,
# Imagen) add two ideas to it. **Latent diffusion** (Rombach et al., 2022) first compresses the images
# with an autoencoder and runs the diffusion in its small latent space; the decoder turns the sampled
# latent into an image once, at the end. **Classifier-free guidance** (Ho & Salimans, 2022) conditions
# the model on a label (a class here, a text prompt there) and then turns a dial at sampling time that
# trades diversity for fidelity to the label. You build both on the digits, with the pieces of lessons
# 01 and 06, and measure what each buys and costs.
#
# **You will learn to**
# - compress the digits with an autoencoder and scale its latents to unit variance (and undo the scale
#   before decoding), and see what goes wrong without it;
# - condition a noise predictor on class labels, and train one network that is conditional and
#   unconditional at once by dropping labels to a null label;
# - derive classifier guidance and classifier-free guidance from Bayes' rule, in both of the
#   conventions papers use, and write the guided noise prediction and a guided DDIM sampler;
# - clip the estimate of $x_0$ in latent space, and see why a cosine schedule makes it necessary;
# - measure a guidance sweep (class accuracy, Fréchet distance, precision and recall against the scale),
#   see what the sampler's own noise (DDIM's $\eta$) changes, and compare latent with pixel diffusion at
#   the same training budget;
# - place Stable Diffusion, DALL-E 2 and Imagen in this picture.
#
# **Prerequisites:** lesson 01 (autoencoders), lesson 06 (DDPM, DDIM, sample quality against the floor).
#
# **How to work through it:** fill in each exercise (replace `raise NotImplementedError(...)`) and run
# the check cell below it. If your function does not pass yet, the lesson goes on with the reference
# implementation from `course_lib`, so every later cell still runs.
#
# Runtime at default settings: about 4 minutes on a 2-core laptop CPU (measured: see the README's
# benchmarks), most of it training the pixel-space U-Net and sampling the guidance sweep.

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
import torch

from course_lib import autoencoder as ae
from course_lib import checks, data, metrics, viz, widgets
from course_lib import diffusion as D
from course_lib.autoencoder import AEConfig, Autoencoder
from course_lib.guidance import GuidedModel
from course_lib.latent import LatentCodec
from course_lib.metrics import Report, sample_quality
from course_lib.training import EMA, fast, fit, resolve_device, seed_everything
from course_lib.unet import TimeMLP, UNet, UNetConfig, count_parameters

# %% [markdown]
# ## 0. Parameters and data
#
# Tagged `parameters` for papermill and `course run 07 -p NAME VALUE`; `COURSE_FAST=1` shrinks every
# training run to a few steps and the number of diffusion steps to 100. The two noise predictors (one
# on latents, one on pixels) get the same training budget: `EPOCHS` epochs of `BATCH_SIZE` digits.

# %% tags=["parameters"]
SEED = 0
DEVICE = "auto"  # "auto": a CUDA GPU if there is one, else Apple's MPS, else the CPU
DATASET = "digits"  # the lesson scores its samples with the digits classifier: digits only
T = 1000  # diffusion steps (cosine schedule)
LATENT_DIM = 16  # the autoencoder's bottleneck: 64 pixels -> 16 numbers
AE_EPOCHS = 150  # epochs of the first stage (lesson 01's MLP autoencoder)
EPOCHS = 100  # epochs of each noise predictor (latent and pixel: the same budget)
BATCH_SIZE = 128
LR = 2e-3
EMA_DECAY = 0.999  # samples come from an exponential moving average of the weights (lesson 06)
P_UNCOND = 0.1  # probability of dropping a label to the null label in training
HIDDEN = 256  # width of the latent noise predictor (an MLP)
CHANNELS = 24  # width of the pixel noise predictor's first level (lesson 06's U-Net)
DDIM_STEPS = 50
DDIM_ETA = 1.0  # the sweep's and the explorer's sampler: 0 is deterministic DDIM, 1 draws fresh noise at each step (section 7)
SCALES = [0.0, 1.0, 1.5, 2.0, 3.0, 5.0]  # guidance scales of the sweep (1 is the conditional model, 0 the unconditional)
N_SAMPLES = 500  # samples per guidance scale for the figures (50 per class)

# %%
if DATASET != "digits":
    raise ValueError(f"lesson 07 measures guidance with the digits classifier, so DATASET must be 'digits'; got {DATASET!r}")
T = fast(T, 100)
AE_EPOCHS = fast(AE_EPOCHS, 2)
EPOCHS = fast(EPOCHS, 2)
N_SAMPLES = fast(N_SAMPLES, 100)
SCALES = sorted(float(s) for s in SCALES)
if 1.0 not in SCALES or SCALES[0] < 0:
    raise ValueError(f"SCALES must include 1.0 (the conditional model, compared in section 8) and no negative scale; got {SCALES}")
DDIM_STEPS = min(DDIM_STEPS, T)
if not 0.0 <= DDIM_ETA <= 1.0:
    raise ValueError(f"DDIM_ETA must be between 0 (deterministic DDIM) and 1 (DDPM-like noise); got {DDIM_ETA!r}")
device = resolve_device(DEVICE)
seed_everything(SEED)

x_train, y_train = data.load_dataset(DATASET, "train")  # images in [0, 1]: the autoencoder's range
x_val, y_val = data.load_dataset(DATASET, "val")
x_test, y_test = data.load_dataset(DATASET, "test")
IMAGE_SHAPE = tuple(x_train.shape[1:])
NUM_CLASSES = 10
NULL_LABEL = NUM_CLASSES  # the null label: its own index, never a real class
classifier = metrics.digits_classifier(SEED).eval()  # scores the samples' classes (lesson 06's feature network)
print(f"{DATASET}: {len(x_train)} training images of shape {IMAGE_SHAPE}, {NUM_CLASSES} classes; null label {NULL_LABEL}")

# %% [markdown]
# ## 1. Why latent diffusion
#
# A diffusion model spends its effort evenly over everything in an image, including detail no one
# perceives. Rombach et al. (2022) split the work in two stages:
#
# 1. **Perceptual compression.** An autoencoder $x \mapsto z = E(x) \mapsto \hat x = D(z)$ is trained once,
#    with reconstruction, perceptual and adversarial losses, to keep what matters to the eye. Stable
#    Diffusion's maps a $512 \times 512 \times 3$ image to a $64 \times 64 \times 4$ latent: 48 times fewer numbers.
# 2. **Semantic generation.** A diffusion model learns the distribution of the latents $z$, exactly as in
#    lesson 06 with $z$ in place of $x_0$. Sampling runs the reverse process in latent space and decodes
#    once: $z_T \sim \mathcal N(0, I) \to \dots \to z_0$, then $x = D(z_0)$.
#
# Every network call of the sampler now costs what a call on the small latent costs, and the
# autoencoder is shared by every model trained on top of it. The price: a sample can be no better than
# the decoder's reconstructions.
#
# The first stage is **regularised** so that its latent space is well behaved: either a KL term towards
# $\mathcal N(0, I)$ with a tiny weight (about $10^{-6}$: a VAE in name, an autoencoder in practice) or a
# vector quantiser (lesson 03) whose codebook lives in the decoder. With a weight that small, nothing fixes
# the latents' *scale*, which matters to the diffusion (section 3).
#
# On the digits, the first stage is lesson 01's MLP autoencoder with a 16-dimensional bottleneck (64
# pixels to 16 numbers), and the latent noise predictor a small MLP (lesson 06's `TimeMLP`).

# %% [markdown]
# ## 2. The first stage: an autoencoder
#
# Trained exactly as in lesson 01 (squared error, Adam), on the training digits in $[0, 1]$. Its
# reconstructions of test digits, scored with lesson 06's sample-quality figures, are the ceiling of
# any model that samples in its latent space.

# %% tags=["nbval-ignore-output"]
seed_everything(SEED)
autoencoder = Autoencoder(AEConfig(image_shape=IMAGE_SHAPE, latent_dim=LATENT_DIM))
ae_history = fit(autoencoder, ae.autoencoder_loss, x_train, val_data=x_val, epochs=AE_EPOCHS, batch_size=64, lr=1e-3,
                 seed=SEED, device=device, desc="autoencoder")
autoencoder = autoencoder.cpu().eval()
with torch.no_grad():
    reconstructions = autoencoder(x_test)
reconstruction_quality = sample_quality(reconstructions, seed=SEED)
print(f"autoencoder: {count_parameters(autoencoder):,} parameters, {ae_history.seconds:.1f} s; "
      f"test PSNR {metrics.psnr(reconstructions, x_test):.1f} dB")
print(f"reconstructions of the test digits: FD / floor {reconstruction_quality.ratio:.2f}, "
      f"classified correctly {(classifier(reconstructions).argmax(1) == y_test).double().mean():.3f} "
      f"(the test digits themselves: {(classifier(x_test).argmax(1) == y_test).double().mean():.3f})")
viz.show_image_rows({"test digit": x_test[:16], "reconstruction": reconstructions[:16]})
plt.show()

# %% [markdown]
# ## 3. The latent scale factor
#
# Lesson 06's forward process $z_t = \sqrt{\bar\alpha_t}\, z_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon$ assumes data of
# about unit variance, like the noise: its schedule was designed by the signal-to-noise ratio
# $\bar\alpha_t / (1 - \bar\alpha_t)$ of such data. Latents with standard deviation $\sigma$ multiply that ratio by
# $\sigma^2$ at every step: with $\sigma = 3$ the whole schedule shifts by $\log 9 \approx 2.2$ in log-SNR, and the
# network sees nearly clean latents at steps that should be noisy. And decoding pure noise
# $\mathcal N(0, I)$, the start of sampling, means nothing when the latents live at another scale.
#
# The fix is one number: the **scale factor** $c = 1 / \operatorname{std}(z)$, with the standard deviation taken
# over every entry of the training set's latents. The diffusion model sees $c\, E(x)$, of unit variance, and
# a sampled latent is decoded as $D(z / c)$: **divide before decoding**. Stable Diffusion's famous
# constant 0.18215 is this number for its autoencoder: its latents had a standard deviation of about 5.49
# on a batch of training images, and $1 / 5.49 = 0.18215$.
#
# ### Exercise 1 — the scale factor
# Write `scale_factor(z)`: one number, $1 / \operatorname{std}$ over every entry of the latents `z` (N, d).

# %%
def scale_factor(z: torch.Tensor) -> float:
    """1 / std over every entry of the training latents z (N, d): the latent scale factor."""
    ### BEGIN SOLUTION
    return 1.0 / z.double().std().item()
    ### END SOLUTION


# %%
scale_factor = checks.check("07.scale_factor", scale_factor)

# %% [markdown]
# ### Exercise 2 — decoding a scaled latent
# Write `decode_latents(decode, z, scale)`: the images of the scaled latents `z` (B, d), where `decode` is
# the autoencoder's decoder, which expects *unscaled* latents.

# %%
def decode_latents(decode, z: torch.Tensor, scale: float) -> torch.Tensor:
    """Images of scaled latents z (B, d): undo the scale, then decode."""
    ### BEGIN SOLUTION
    return decode(z / scale)
    ### END SOLUTION


# %%
decode_latents = checks.check("07.decode_latents", decode_latents)

# %% [markdown]
# `course_lib.latent.LatentCodec` wraps the autoencoder with the same two operations (`encode`
# multiplies by the scale, `decode` divides by it first) and exposes the factor, fitted on the training
# digits. Your functions against it:

# %% tags=["nbval-ignore-output"]
codec = LatentCodec(autoencoder)
codec.fit_scale(x_train)
with torch.no_grad():
    z_raw = autoencoder.encode(x_train)  # (N, d) unscaled
z_train = codec.encode(x_train)  # (N, d) = scale * E(x): unit variance
scale = scale_factor(z_raw)
print(f"scale factor: yours {scale:.5f}, the codec's {codec.scale_factor:.5f}; "
      f"std of the latents before {z_raw.std():.3f}, after {z_train.std():.3f}")
with torch.no_grad():
    mine = decode_latents(autoencoder.decode, z_train[:8], scale)
print(f"largest difference between your decoding and the codec's: {(mine - codec.decode(z_train[:8])).abs().max():.2e}")

# %% [markdown]
# The latents before and after scaling, with the standard normal the diffusion assumes drawn over them,
# and the decoded pure noise: $\varepsilon \sim \mathcal N(0, I)$ decoded as $D(\varepsilon / c)$, as the sampler's
# starting point is, against $D(\varepsilon)$, which forgets the division. One scale factor fixes the overall
# spread; the dimensions still differ from each other (pick one in the widget), which the diffusion
# model learns.

# %% tags=["nbval-ignore-output"]
widgets.render_latent_scaling(z_raw, codec.scale_factor, autoencoder.decode, seed=SEED)
plt.show()

# %% tags=["nbval-ignore-output"]
widgets.latent_scaling_explorer(z_raw, codec.scale_factor, autoencoder.decode)

# %% [markdown]
# ## 4. Conditioning on a label, and dropping it
#
# To sample a chosen digit the noise predictor gets the label: $\varepsilon_\theta(z_t, t, y)$. In
# `course_lib.unet` (the U-Net and the MLP alike) the label has a learnt embedding, **added to the time
# embedding**, so every block that hears the step also hears the class.
#
# Guidance (section 5) needs the *unconditional* prediction $\varepsilon_\theta(z_t, t, \varnothing)$ too. One network learns
# both: during training, each example's label is replaced by a **null label** $\varnothing$ with probability
# $p_\text{uncond}$ (0.1 here, as in Ho & Salimans), independently per example. The null label is its own
# index, `NUM_CLASSES` = 10, with its own embedding row. It must not be a real class: dropping to 0 would
# teach the network that "0" also means "any digit".
#
# ### Exercise 3 — label dropout
# Write `drop_labels(y, p, null_label, generator=None)`: a new tensor of labels in which each entry of
# `y` (B,) is replaced by `null_label` with probability `p`, independently (draw with `generator`).
# Leave `y` itself unchanged.

# %%
def drop_labels(y: torch.Tensor, p: float, null_label: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each label replaced by null_label with probability p, independently per example (a new tensor)."""
    ### BEGIN SOLUTION
    drop = torch.rand(y.shape, generator=generator).to(y.device) < p  # one coin per example
    return torch.where(drop, torch.full_like(y, null_label), y)
    ### END SOLUTION


# %%
drop_labels = checks.check("07.drop_labels", drop_labels)

# %% [markdown]
# ### Training the latent noise predictor
#
# Lesson 06's training loss on the scaled latents, with your label dropout in it:
# $\mathbb E\, \|\varepsilon - \varepsilon_\theta(\sqrt{\bar\alpha_t}\, z_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon,\ t,\ \tilde y)\|^2$ with
# $\tilde y$ the label or, one time in ten, $\varnothing$. The same recipe as lesson 06 (cosine schedule,
# one-cycle learning rate, an exponential moving average of the weights); `train_denoiser` below trains
# all three noise predictors of the lesson.

# %%
def train_denoiser(net, inputs, labels, desc):
    """Lesson 06's recipe with label dropout: Adam, one-cycle lr, EMA; returns (the EMA model, History)."""
    ema = EMA(net, decay=EMA_DECAY)
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    total = EPOCHS * math.ceil(len(inputs) / BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LR, total_steps=total, pct_start=0.05)

    def loss(model, batch):
        x0, y = batch
        return diffusion.training_loss(model, x0, model_kwargs={"y": drop_labels(y, P_UNCOND, NULL_LABEL)})

    def after_step(model, step):
        schedule.step()
        ema(model, step)

    history = fit(net, loss, (inputs, labels), epochs=EPOCHS, batch_size=BATCH_SIZE, optimizer=optimizer,
                  on_step=after_step, seed=SEED, device=device, desc=desc)
    return ema.model.eval(), history


diffusion = D.GaussianDiffusion(D.cosine_beta_schedule(T))

# %% tags=["nbval-ignore-output"]
seed_everything(SEED)
latent_net = TimeMLP(dim=LATENT_DIM, hidden=HIDDEN, layers=4, num_classes=NUM_CLASSES)
latent_model, latent_history = train_denoiser(latent_net, z_train, y_train, "latent MLP")
print(f"latent noise predictor: {count_parameters(latent_net):,} parameters, {latent_history.seconds:.1f} s")
viz.plot_history(latent_history, title="latent noise predictor: training loss", logy=True)
plt.show()

# %% [markdown]
# ## 5. Guidance
#
# ### Classifier guidance
# Bayes' rule for the noised data, $p_t(z \mid y) \propto p_t(z)\, p_t(y \mid z)$, splits the conditional score in two:
# $\nabla_z \log p_t(z \mid y) = \nabla_z \log p_t(z) + \nabla_z \log p_t(y \mid z)$. Dhariwal & Nichol (2021) train a
# classifier $p_\phi(y \mid z_t, t)$ *on noisy inputs* and add its gradient, scaled by $s$, to an unconditional
# model's score. Since $\varepsilon_\theta = -\sqrt{1 - \bar\alpha_t}\, \nabla \log p_t$ (lesson 06), that is
# $\hat\varepsilon = \varepsilon_\theta(z_t, t) - s \sqrt{1 - \bar\alpha_t}\, \nabla_{z_t} \log p_\phi(y \mid z_t, t)$. It works, but needs a
# second network trained on every noise level, and its gradients can fool the classifier rather than
# improve the image.
#
# ### Classifier-free guidance
# Ho & Salimans (2022) read the classifier's gradient off the diffusion model itself:
# $\nabla \log p_t(y \mid z) = \nabla \log p_t(z \mid y) - \nabla \log p_t(z)$, and both scores are the same network with
# and without the label. Replacing the classifier's gradient by this difference, in the noise's units:
#
# $$\hat\varepsilon = \varepsilon_\theta(z_t, t, \varnothing) + s\, \big(\varepsilon_\theta(z_t, t, y) - \varepsilon_\theta(z_t, t, \varnothing)\big).$$
#
# - $s = 0$ is the unconditional model, $s = 1$ the conditional one, $s > 1$ extrapolates past it.
# - The score it follows is that of $p_t(z)\, p_t(y \mid z)^s \propto p_t(z \mid y)^s\, p_t(z)^{1 - s}$: for $s > 1$ the
#   images where the class is *unmistakable* gain weight. (Only approximately: the guided scores of the
#   noised distributions are not the scores of one noised distribution, so the sampler does not hit that
#   distribution exactly.)
# - **Fidelity against diversity.** As $s$ grows, samples look more like their class (precision and class
#   accuracy up) and less like each other's variety (recall down); the Fréchet distance, which wants both,
#   is best at a moderate $s$.
# - **Two conventions.** Ho & Salimans write $(1 + w)\, \varepsilon_c - w\, \varepsilon_u$ with $w \ge 0$: the same formula with
#   $s = 1 + w$, so their $w = 0$ is the conditional model (no guidance), not the unconditional one. GLIDE,
#   Imagen (which calls the scale $w$) and Stable Diffusion's `guidance_scale` (7.5 by default) use $s$. Read which
#   one a paper uses before comparing numbers.
# - Each step calls the network twice (with $y$ and with $\varnothing$): in one batched call on a doubled batch,
#   the cost per step is one call on twice the batch.
#
# ### Exercise 4 — the guided noise prediction
# Write `guided_eps(eps_cond, eps_uncond, scale)` for tensors of any shape (every channel guided).

# %%
def guided_eps(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: eps_u + s (eps_c - eps_u)."""
    ### BEGIN SOLUTION
    return eps_uncond + scale * (eps_cond - eps_uncond)
    ### END SOLUTION


# %%
guided_eps = checks.check("07.guided_eps", guided_eps)

# %% [markdown]
# ## 6. Sampling in latent space
#
# ### Exercise 5 — a guided DDIM sampler
# Write `guided_sample(diffusion, model, x_T, y, scale, null_label, steps, clip)`: lesson 06's
# deterministic DDIM ($\eta = 0$) from the given start `x_T` (B, ...) over the `steps` steps of
# `diffusion.ddim_timesteps(steps)`, where each step
# 1. calls the network **once**, on the doubled batch: inputs `x` twice, the step twice, the labels `y`
#    followed by `null_label` repeated B times;
# 2. combines the two halves with your `guided_eps`;
# 3. steps with `diffusion.ddim_step(eps, x, t, t_prev, eta=0.0, clip=clip)`, which returns
#    `(x_prev, x0_estimate)`; `t_prev` is the next step of the sequence, -1 after the last.
#
# Return $x_0$. The network takes `model(x, t, y)` with `t` a (2B,) tensor of steps (dtype `long`).

# %%
@torch.no_grad()
def guided_sample(diffusion, model, x_T: torch.Tensor, y: torch.Tensor, scale: float, null_label: int, steps: int,
                  clip: float | None) -> torch.Tensor:
    """Deterministic DDIM from x_T with classifier-free guidance, one batched network call per step."""
    ### BEGIN SOLUTION
    B = x_T.shape[0]
    null = torch.full_like(y, null_label)
    ts = diffusion.ddim_timesteps(steps).tolist()
    x = x_T
    for t, t_prev in zip(ts, [*ts[1:], -1]):
        steps_2b = torch.full((2 * B,), t, dtype=torch.long, device=x.device)
        eps = model(torch.cat([x, x]), steps_2b, torch.cat([y, null]))  # one call: (2B, ...)
        eps = guided_eps(eps[:B], eps[B:], scale)  # conditional half, unconditional half
        x, _ = diffusion.ddim_step(eps, x, t, t_prev, eta=0.0, clip=clip)
    return x
    ### END SOLUTION


# %%
guided_sample = checks.check("07.guided_sample", guided_sample)

# %% [markdown]
# ### Clip the estimate of $z_0$ (and why the cosine schedule makes it necessary)
#
# Each DDIM step estimates $\hat z_0 = (z_t - \sqrt{1 - \bar\alpha_t}\, \hat\varepsilon) / \sqrt{\bar\alpha_t}$. The cosine schedule ends at
# $\bar\alpha_T \approx 2.4 \cdot 10^{-9}$, so the very first step divides the network's error by
# $\sqrt{\bar\alpha_T} \approx 5 \cdot 10^{-5}$: an error of 0.01 in $\hat\varepsilon$ becomes 200 in $\hat z_0$, about 20,000 times
# larger, and DDIM carries that estimate into the next state. In pixel space lesson 06 hid this behind
# `clip=1.0`: pixels live in $[-1, 1]$. Scaled latents have no such range by design, so we **clip to the
# range they really occupy** on the training set: $\pm \max |c\, E(x)|$. (The step then uses the noise
# consistent with the clipped estimate.)
#
# **Dynamic thresholding** (Imagen, Saharia et al. 2022) replaces the fixed bound by one per sample and
# step: $b$ = a high percentile (99.5 %) of $|\hat x_0|$, kept at least 1; clip to $[-b, b]$ and divide by $b$. It
# matters most for large guidance scales, which push $\hat x_0$ past the data range and saturate pixel
# images; a fixed clip of the latents' range is enough at the scales used here.
#
# Your sampler against the library's (`GuidedModel` wrapping the network, lesson 06's `ddim_sample`),
# from the same noise, and what happens without the clip:

# %% tags=["nbval-ignore-output"]
latent_clip = z_train.abs().max().item()  # the range the scaled training latents occupy
labels = torch.arange(N_SAMPLES) % NUM_CLASSES  # N_SAMPLES / 10 of each class
x_T = torch.randn((16, LATENT_DIM), generator=torch.Generator().manual_seed(SEED))
yours = guided_sample(diffusion, latent_model, x_T.to(device), labels[:16].to(device), 1.5, NULL_LABEL, DDIM_STEPS,
                      latent_clip).cpu()
library = diffusion.ddim_sample(GuidedModel(latent_model, 1.5, NULL_LABEL), (16, LATENT_DIM), steps=DDIM_STEPS,
                                generator=torch.Generator().manual_seed(SEED), clip=latent_clip,
                                model_kwargs={"y": labels[:16].to(device)}).cpu()
unclipped = diffusion.ddim_sample(GuidedModel(latent_model, 1.5, NULL_LABEL), (16, LATENT_DIM), steps=DDIM_STEPS,
                                  generator=torch.Generator().manual_seed(SEED), model_kwargs={"y": labels[:16].to(device)}).cpu()
print(f"clip at +-{latent_clip:.2f}; largest difference between your sampler and the library's: {(yours - library).abs().max():.2e}")
print(f"std of the sampled latents: clipped {library.std():.2f}, without clipping {unclipped.std():.3g} "
      f"(the training latents: {z_train.std():.2f})")
viz.show_image_rows({"your sampler, s = 1.5": codec.decode(yours), "library": codec.decode(library),
                     "without clipping": codec.decode(unclipped)}, title="labels 0 1 2 ... 9 0 1 ...")
plt.show()

# %% [markdown]
# ### Walking in the latent space
#
# The diffusion model's space is the autoencoder's, scaled. Pick two test digits and slide between their
# latents (lesson 01's interpolation, through the codec): the path decodes to plausible digits only
# partly, because an autoencoder's latent space has holes between the training codes. The diffusion
# model, not the path, knows where the digits are.

# %%
widgets.render_interpolation(codec.decode, codec.encode(x_test[:1])[0], codec.encode(x_test[1:2])[0], alpha=0.5,
                             image_a=x_test[0], image_b=x_test[1],
                             names=(f"test digit {int(y_test[0])}", f"test digit {int(y_test[1])}"))
plt.show()

# %% tags=["nbval-ignore-output"]
widgets.interpolation_explorer(codec.encode, codec.decode, x_test[:100], y_test[:100], modes=("linear",))

# %% [markdown]
# ## 7. A pixel-space model at the same budget, and the guidance sweep
#
# For the comparison and for the sweep, lesson 06's U-Net with class labels, trained on the pixels
# (in $[-1, 1]$) with the same recipe, label dropout and number of steps as the latent MLP. One change to
# its blocks: the embedding (step + label) **scales and shifts** each block's normalised features,
# $h \mapsto \mathrm{GroupNorm}(h)\,(1 + \gamma) + \beta$ with $(\gamma, \beta)$ a linear map of the embedding
# (`scale_shift=True`: FiLM, the "adaptive group norm" of Dhariwal & Nichol 2021), where lesson 06's
# blocks only add it. The label can then switch features on and off, not only move them; measured on
# two seeds, the conditional model's digits ($s = 1$) were classified right 0.5-1 point more often.

# %% tags=["nbval-ignore-output"]
seed_everything(SEED)
pixel_net = UNet(UNetConfig(in_channels=IMAGE_SHAPE[0], channels=CHANNELS, channel_mult=(1, 2), attention=(1,),
                            num_classes=NUM_CLASSES, scale_shift=True))
pixel_model, pixel_history = train_denoiser(pixel_net, x_train * 2 - 1, y_train, "pixel U-Net")
print(f"pixel U-Net: {count_parameters(pixel_net):,} parameters, {pixel_history.seconds:.1f} s "
      f"(latent MLP: {latent_history.seconds:.1f} s, plus the autoencoder's {ae_history.seconds:.1f} s)")

# %% [markdown]
# Both models sampled at every scale of `SCALES`, `N_SAMPLES` digits each (the same number of every
# class), with `DDIM_STEPS` = 50 steps, and scored: the share the digits classifier assigns to the
# intended class, and the Fréchet distance, precision and recall against the test digits (lesson 06's
# figures, next to the real floor). Each model's sampling is timed, decoding included.
#
# **The sampler's noise.** Your sampler of exercise 5 is deterministic DDIM ($\eta = 0$): each step re-noises
# the estimate $\hat x_0$ with the *predicted* noise, so an error of the network is carried to the end. The
# sweep samples with $\eta$ = `DDIM_ETA` = 1: part of each step's noise is *fresh* (lesson 06's
# $\sigma = \eta \sqrt{(1 - \bar\alpha_s) / (1 - \bar\alpha_t)}\,\sqrt{1 - \bar\alpha_t / \bar\alpha_s}$; on the full chain $\eta = 1$ is DDPM), and later
# steps can correct what earlier ones got wrong (Karras et al. 2022 analyse this). The cell after the
# sweep measures both at $s = 1$.

# %% tags=["nbval-ignore-output"]
def sample_latent(scale, n, generator, clip=latent_clip, model=latent_model, codec=codec):
    z = diffusion.ddim_sample(GuidedModel(model, scale, NULL_LABEL), (n, LATENT_DIM), steps=DDIM_STEPS, eta=DDIM_ETA,
                              generator=generator, clip=clip, model_kwargs={"y": labels[:n].to(device)})
    return codec.decode(z.cpu()).clamp(0, 1)


def sample_pixels(scale, n, generator, eta=DDIM_ETA):
    x = diffusion.ddim_sample(GuidedModel(pixel_model, scale, NULL_LABEL), (n, *IMAGE_SHAPE), steps=DDIM_STEPS, eta=eta,
                              generator=generator, clip=1.0, model_kwargs={"y": labels[:n].to(device)})
    return (x.cpu().clamp(-1, 1) + 1) / 2


def accuracy(images):
    with torch.no_grad():
        return (classifier(images).argmax(1) == labels[:len(images)]).double().mean().item()


timed = [s for s in SCALES if s not in (0.0, 1.0)] or SCALES  # guided: two halves per step (s = 0 or 1 needs one)
sweep, samples, seconds = [], {"latent": {}, "pixel": {}}, {"latent": 0.0, "pixel": 0.0}
for s in SCALES:
    for space, sampler in (("latent", sample_latent), ("pixel", sample_pixels)):
        start = time.perf_counter()
        images = sampler(s, N_SAMPLES, torch.Generator().manual_seed(SEED))
        seconds[space] += (time.perf_counter() - start) * (s in timed)
        samples[space][s] = images
        q = sample_quality(images, seed=SEED)
        sweep.append(dict(space=space, scale=s, accuracy=accuracy(images), fd_ratio=q.ratio, precision=q.precision,
                          recall=q.recall, quality=q))
per_sample = {space: seconds[space] / (len(timed) * N_SAMPLES) for space in seconds}
best = {space: min((r for r in sweep if r["space"] == space), key=lambda r: r["fd_ratio"]) for space in ("latent", "pixel")}
print(f"{'model':<8}{'s':>5}{'class acc':>11}{'FD / floor':>12}{'precision':>11}{'recall':>8}")
for row in sweep:
    print(f"{row['space']:<8}{row['scale']:>5g}{row['accuracy']:>11.3f}{row['fd_ratio']:>12.2f}{row['precision']:>11.2f}"
          f"{row['recall']:>8.2f}")
print(f"real floor: precision {row['quality'].precision_floor:.2f}, recall {row['quality'].recall_floor:.2f}")

# %% [markdown]
# The conditional model ($s = 1$) of pixels, sampled from the same noise with the two samplers:

# %% tags=["nbval-ignore-output"]
eta_rows = {}
for eta in sorted({0.0, 1.0, DDIM_ETA}):
    images = samples["pixel"][1.0] if eta == DDIM_ETA else sample_pixels(1.0, N_SAMPLES, torch.Generator().manual_seed(SEED), eta)
    q = sample_quality(images, seed=SEED)
    eta_rows[eta] = dict(accuracy=accuracy(images), fd_ratio=q.ratio, precision=q.precision, recall=q.recall)
    print(f"pixel, s = 1, eta = {eta:g}: class accuracy {eta_rows[eta]['accuracy']:.3f}, FD / floor {q.ratio:.2f}, "
          f"precision {q.precision:.2f}, recall {q.recall:.2f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
for space, style in (("pixel", "-o"), ("latent", "--s")):
    rows = [r for r in sweep if r["space"] == space]
    scales = [r["scale"] for r in rows]
    axes[0].plot(scales, [r["accuracy"] for r in rows], style, label=space)
    axes[1].plot(scales, [r["fd_ratio"] for r in rows], style, label=space)
    axes[2].plot(scales, [r["precision"] for r in rows], style, label=f"{space}: precision")
    axes[2].plot(scales, [r["recall"] for r in rows], style, alpha=0.5, label=f"{space}: recall")
axes[1].axhline(1.0, color="0.6", lw=1, ls=":", label="real floor")
axes[0].set(title="class accuracy (digits classifier)", xlabel="guidance scale s", ylim=(0, 1.02))
axes[1].set(title="Fréchet distance / real floor", xlabel="guidance scale s", yscale="log")
axes[2].set(title="precision and recall", xlabel="guidance scale s", ylim=(0, 1.02))
for ax in axes:
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# The pixel model's samples at each scale, the first 20 (labels 0 to 9, twice), with the share of all
# `N_SAMPLES` the classifier assigns to their class:

# %% tags=["nbval-ignore-output"]
with torch.no_grad():
    probs = {s: classifier(images).softmax(1) for s, images in samples["pixel"].items()}
widgets.render_guidance_sweep(samples["pixel"], labels[:N_SAMPLES], probs)
plt.show()

# %% [markdown]
# **Reading the sweep.** At $s = 0$ the model ignores the label: class accuracy is chance (0.1) and the
# samples are the unconditional model's, which trained on only a tenth of the examples and is the
# weakest. At $s = 1$, the conditional model, nearly every sample is of the asked class and the Fréchet
# distance is close to the floor. Guidance past 1 makes the class unmistakable: accuracy reaches 1.00
# and precision rises, while recall falls, as the samples crowd towards each class's most typical
# digits; the Fréchet distance, which wants both, is lowest at $s$ = 1 or 1.5 and climbs steeply at 3
# and 5, where every "3" looks alike. Between 1 and 1.5 the curve is flat within the figure's noise
# (about 0.1 x the floor with 500 samples).
#
# **The sampler is part of the model.** With deterministic DDIM ($\eta = 0$, the cell above) the same
# conditional model's digits are classified right less often (0.96-0.97 over three seeds, where real
# test digits score 0.98): each step keeps the noise the network predicted, errors included, and some
# digits end up ambiguous. Fresh noise at every step ($\eta = 1$) lets later steps repair them: accuracy
# about 0.98-0.99 at about the same Fréchet distance. It is not free: precision rises and recall falls, a
# little of what guidance does. The latent model's samples are classified better than the decoder's
# reconstructions of the test digits (section 2): they are smooth, typical digits; the decoder's blur
# shows in their Fréchet distance instead, above the pixel model's.
#
# ### The guidance explorer
#
# Choose a class, a scale and a number of DDIM steps; the pixel model samples 8 digits from the same
# noise seed (a new seed gives 8 others), and each is titled with the classifier's confidence in the
# intended class (red when the classifier picks another). Each change samples afresh, in about a second
# at 50 steps on a laptop CPU.

# %% tags=["nbval-ignore-output"]
def sample_for_widget(label, scale, steps, seed, n):
    x = diffusion.ddim_sample(GuidedModel(pixel_model, scale, NULL_LABEL), (n, *IMAGE_SHAPE), steps=min(steps, T),
                              eta=DDIM_ETA, generator=torch.Generator().manual_seed(seed), clip=1.0,
                              model_kwargs={"y": torch.full((n,), label, device=device)})
    return (x.cpu().clamp(-1, 1) + 1) / 2


def classify(images):
    with torch.no_grad():
        return classifier(images).softmax(1)


widgets.guidance_explorer(sample_for_widget, classify, scales=SCALES, label=3, scale=best["pixel"]["scale"])

# %% [markdown]
# ## 8. Latent against pixel diffusion, and what the scale factor and the clip do
#
# Same training budget, same sampler, same guidance scale. The sampling times are of the guided scales
# of the sweep (two halves per step; at $s$ = 0 or 1 one half has weight zero and is skipped), and the latent
# model's includes decoding. Two more latent models show the scale factor's and the clip's parts: one trained on the
# *unscaled* latents (clipped to their own range), and the scaled one sampled without the clip.

# %% tags=["nbval-ignore-output"]
seed_everything(SEED)
raw_model, raw_history = train_denoiser(TimeMLP(dim=LATENT_DIM, hidden=HIDDEN, layers=4, num_classes=NUM_CLASSES),
                                        z_raw, y_train, "latent MLP, unscaled")
raw_codec = LatentCodec(autoencoder, scale=1.0)  # the identity scale: latents as the encoder gives them
variants = {
    "latent, scaled + clipped": samples["latent"][1.0],
    "latent, unscaled latents": sample_latent(1.0, N_SAMPLES, torch.Generator().manual_seed(SEED),
                                              clip=z_raw.abs().max().item(), model=raw_model, codec=raw_codec),
    "latent, no clip": sample_latent(1.0, N_SAMPLES, torch.Generator().manual_seed(SEED), clip=None),
    "latent, neither": sample_latent(1.0, N_SAMPLES, torch.Generator().manual_seed(SEED), clip=None, model=raw_model,
                                     codec=raw_codec),
    "pixel": samples["pixel"][1.0],
}
variant_quality = {name: sample_quality(images, seed=SEED) for name, images in variants.items()}
print(f"training: autoencoder {ae_history.seconds:.1f} s, latent MLP {latent_history.seconds:.1f} s, "
      f"pixel U-Net {pixel_history.seconds:.1f} s ({EPOCHS} epochs each)")
print(f"sampling ({DDIM_STEPS} guided DDIM steps): latent {1000 * per_sample['latent']:.2f} ms per digit, "
      f"pixel {1000 * per_sample['pixel']:.2f} ms: latent {per_sample['pixel'] / per_sample['latent']:.1f}x faster")
print(f"{'at s = 1':<28}{'FD / floor':>11}{'class acc':>11}")
for name, images in variants.items():
    print(f"{name:<28}{variant_quality[name].ratio:>11.2f}{accuracy(images):>11.3f}")
for space, row in best.items():
    print(f"best scale, {space}: s = {row['scale']:g}, FD / floor {row['fd_ratio']:.2f}, class accuracy {row['accuracy']:.3f}")
viz.show_image_rows({name: images[:20] for name, images in variants.items()})
plt.show()

# %% [markdown]
# The latent model samples several times faster (an MLP on 16 numbers against a U-Net on 64 pixels) and
# trains several times faster, at a Fréchet distance a little above the pixel model's: the autoencoder's
# training time is paid once, its blur is paid by every sample.
#
# The two fixes do not weigh the same here. Trained on the *unscaled* latents (standard deviation above
# 3, clipped to their own range) the model still makes digits, at about the same figures on this small
# problem: the schedule spends its early steps on latents that are still mostly signal, which costs
# little when 16 numbers are all there is to learn (Stable Diffusion's latents have 16,384, and a factor
# of about 5.5 in their scale). Without the clip, the first step's estimate of $z_0$ is thousands of times too
# large; the decoder's sigmoid saturates, and the samples are black-and-white blocks whatever the scale
# factor.
#
# ### Are the best samples copies?
#
# Guidance pulls samples towards the most typical digits of each class. Are they training digits? Each
# sample's distance to its nearest training digit (64 pixels in $[0, 1]$), next to the test digits' own
# (lesson 06), at each model's best scale:

# %% tags=["nbval-ignore-output"]
test_nn, _ = metrics.nearest_neighbours(x_test, x_train)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
nn_median = {}
for ax, (space, row) in zip(axes, best.items()):
    images = samples[space][row["scale"]]
    sample_nn, sample_idx = metrics.nearest_neighbours(images, x_train)
    nn_median[space] = sample_nn.median().item()
    viz.plot_nearest_distances(sample_nn, test_nn, label=f"{space}, s = {row['scale']:g}", ax=ax)
    close = test_nn.quantile(0.05).item()
    print(f"{space} at s = {row['scale']:g}: median distance {sample_nn.median():.2f} (test digits {test_nn.median():.2f}); "
          f"closest {sample_nn.min():.2f} (test {test_nn.min():.2f}); "
          f"{(sample_nn < close).double().mean():.0%} closer than the closest 5% of test digits")
plt.tight_layout()
plt.show()
with torch.no_grad():
    recon_nn, _ = metrics.nearest_neighbours(reconstructions, x_train)
print(f"the autoencoder's reconstructions of the test digits: median distance {recon_nn.median():.2f}")
best_pixels = samples["pixel"][best["pixel"]["scale"]]
sample_nn, sample_idx = metrics.nearest_neighbours(best_pixels, x_train)
nearest = sample_nn.argsort()[:10]  # the pixel model's 10 samples closest to a training digit, above that digit
viz.show_image_rows({"closest samples (pixel)": best_pixels[nearest], "nearest training digit": x_train[sample_idx[nearest]]})
plt.show()

# %% [markdown]
# Guided samples sit a little closer to the training digits than new test digits do, and more of them
# than of the test digits fall below the test digits' closest 5 %: guidance asks for typical digits, and
# typical digits have close neighbours. The bulk is new handwriting (the pixel model's median sample is
# at 0.8-0.9 times the test digits' median distance, far from the 0 of a copy), but look at the tail
# above: the closest samples are near-copies of a training digit, the same strokes with small changes.
# With 1000 training digits, 100 epochs and a sampler pulled towards the typical (by guidance, and a
# little by $\eta = 1$), a tail of the samples lands next to a training digit (the printed share counts
# those nearer than the test digits' closest 5 %); a larger data set, or less guidance, thins that tail.
# The latent model's samples are decoder outputs, smoother than handwriting and so nearer to everything:
# the autoencoder's reconstructions of the *test* digits, which it never saw, sit as close to the
# training set (the last printed line), and are their yardstick.
#
# The lesson's figures, read by `benchmarks/guidance_quality.py`:

# %% tags=["nbval-ignore-output"]
values = dict(ae_train_seconds=ae_history.seconds, latent_train_seconds=latent_history.seconds,
              pixel_train_seconds=pixel_history.seconds, latent_ms_per_sample=1000 * per_sample["latent"],
              pixel_ms_per_sample=1000 * per_sample["pixel"], sampling_speedup=per_sample["pixel"] / per_sample["latent"],
              latent_seconds_per_100=100 * per_sample["latent"], pixel_seconds_per_100=100 * per_sample["pixel"],
              scale_factor=codec.scale_factor, latent_clip=latent_clip, n_samples=N_SAMPLES, ddim_steps=DDIM_STEPS,
              ddim_eta=DDIM_ETA,
              reconstruction_fd_ratio=reconstruction_quality.ratio, nn_median_test=test_nn.median().item(),
              nn_median_reconstructions=recon_nn.median().item())
for space, row in best.items():
    values.update({f"{space}_best_scale": row["scale"], f"{space}_best_fd_ratio": row["fd_ratio"], f"{space}_best_kid": row["quality"].kid,
                   f"{space}_best_accuracy": row["accuracy"], f"{space}_best_nn_median": nn_median[space]})
for row in sweep:
    key = f"{row['space']}_s{row['scale']:g}".replace(".", "_")
    values.update({f"{key}_accuracy": row["accuracy"], f"{key}_fd_ratio": row["fd_ratio"],
                   f"{key}_precision": row["precision"], f"{key}_recall": row["recall"]})
for eta, row in eta_rows.items():
    values.update({f"pixel_s1_eta{eta:g}_{k}".replace(".", "_"): v for k, v in row.items()})
for name, q in variant_quality.items():
    values[name.replace(", ", "_").replace(" + ", "_").replace(" ", "_") + "_fd_ratio"] = q.ratio
report = Report("07", **values)
report

# %% [markdown]
# ## 9. Where this leads
#
# - **Stable Diffusion** (Rombach et al., 2022) is this lesson at scale: a KL-regularised convolutional
#   autoencoder (8 times smaller in each direction, 4 channels, scale factor 0.18215), a U-Net noise
#   predictor in its latent space, and conditioning on text through cross-attention to a frozen text
#   encoder's token embeddings; classifier-free guidance with `guidance_scale` 7.5.
# - **DALL-E 2** (Ramesh et al., 2022) generates in CLIP's joint image-text embedding space: a *prior*
#   maps a caption's CLIP text embedding to a CLIP image embedding (itself a diffusion model), and a
#   diffusion *decoder* turns that image embedding into pixels, followed by upsamplers. Guidance is used
#   in both.
# - **Imagen** (Saharia et al., 2022) stays in pixel space but generates at $64 \times 64$ and then
#   upsamples twice with two more diffusion models (a **cascade**), conditioned on a large frozen text
#   encoder (T5-XXL); its finding was that a bigger text encoder helps more than a bigger U-Net. Its
#   large guidance scales are why it introduced dynamic thresholding.
#
# Text-to-image needs a text encoder and image-text pairs by the million, which cannot be downloaded
# in this course's offline setting: class labels play the prompt's part here, and every mechanism
# (conditioning, dropout to a null condition, guidance) is the same.
#
# ## 10. Going further
#
# 1. **The unconditional model.** Train with `P_UNCOND = 0.2` or `0.5`. Does the unconditional model ($s = 0$)
#    improve? What happens to the best guided scale?
# 2. **A VAE as the first stage.** Replace the autoencoder by lesson 02's VAE (its mean encoder), whose KL
#    term regularises the latents. How does the scale factor change, and the latent model's samples?
# 3. **Guidance in the (1 + w) convention.** Rerun the sweep with `course_lib.guidance.guidance_weight_to_scale`
#    over $w \in \{0, 0.5, 1, 2\}$ and check you land on the same figures.
# 4. **Dynamic thresholding.** Write it for the pixel model (percentile 99.5 % per sample) and compare with
#    `clip=1.0` at $s = 5$.
# 5. **Fewer steps.** Repeat the sweep with 10 DDIM steps. Which model suffers more, and does the best
#    scale move? Then with `DDIM_ETA = 0`: does the deterministic sampler suffer more from fewer steps?
# 6. **Guidance interval.** Apply guidance only in the middle of the sampling steps (Kynkäänniemi et al.,
#    2024) and compare recall at $s = 3$.
#
# **The scoreboard.** Every model of the course side by side (likelihood, sample quality against the real floor, training and sampling time), read from the lessons' own figures: [the README's scoreboard](https://github.com/{{ repository }}#scoreboard).
#
# ## Summary
#
# - Latent diffusion = an autoencoder for perceptual compression + lesson 06's diffusion on its latents;
#   sampling decodes once at the end. It is cheaper per step, and no better than the decoder.
# - Scale the latents to unit variance with one factor $c = 1 / \operatorname{std}(z)$ from the training data;
#   decode $D(z / c)$. Stable Diffusion's 0.18215 is that factor.
# - Condition by adding a label embedding to the time embedding; drop labels per example, with
#   probability $p_\text{uncond}$, to a null label that is not a class: one network, both models.
# - Classifier-free guidance: $\hat\varepsilon = \varepsilon_u + s (\varepsilon_c - \varepsilon_u)$; $s = 0$ unconditional, $s = 1$
#   conditional; the $(1 + w)$ convention has $w = s - 1$. It samples towards $p(x)\, p(y \mid x)^s$: class
#   fidelity and precision up, recall down, the Fréchet distance best in between.
# - With the cosine schedule ($\bar\alpha_T \approx 2.4 \cdot 10^{-9}$), clip the estimate of $z_0$ to the latents' range.
#
# ## References
#
# - R. Rombach, A. Blattmann, D. Lorenz, P. Esser, B. Ommer. *High-resolution image synthesis with latent
#   diffusion models.* CVPR 2022.
# - J. Ho, T. Salimans. *Classifier-free diffusion guidance.* NeurIPS 2021 workshop; arXiv 2207.12598 (2022).
# - P. Dhariwal, A. Nichol. *Diffusion models beat GANs on image synthesis.* NeurIPS 2021 (classifier guidance).
# - A. Nichol et al. *GLIDE: towards photorealistic image generation and editing with text-guided
#   diffusion models.* ICML 2022.
# - A. Ramesh, P. Dhariwal, A. Nichol, C. Chu, M. Chen. *Hierarchical text-conditional image generation
#   with CLIP latents.* arXiv 2204.06125 (2022) (DALL-E 2).
# - C. Saharia et al. *Photorealistic text-to-image diffusion models with deep language understanding.*
#   NeurIPS 2022 (Imagen, dynamic thresholding).
# - T. Karras, M. Aittala, T. Aila, S. Laine. *Elucidating the design space of diffusion-based generative
#   models.* NeurIPS 2022 (stochastic sampling corrects the network's errors).
# - T. Kynkäänniemi et al. *Applying guidance in a limited interval improves sample and distribution
#   quality in diffusion models.* NeurIPS 2024.
