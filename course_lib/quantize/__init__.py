"""Discrete latents: vector quantisation (VQ-VAE) and the Gumbel-softmax, with one quantiser interface.

Reads top-down: the functions the lesson's exercises are about (nearest code, the straight-through
estimator, the two VQ loss terms, Gumbel noise and the Gumbel-softmax, perplexity and usage) -> the
quantisers, `VectorQuantizer` (a codebook trained by its loss or by exponential moving averages, with
k-means initialisation and dead-code restarts) and `GumbelQuantizer` (a relaxed categorical choice
of code, as in DALL-E's dVAE), both returning a `Quantized` -> the VQ-VAE on the digits, whose decoder
is a categorical over the 17 grey levels so its likelihood is on lesson 02's scale.

One package, one concept per file: `codes` (the exercises' functions and the quantisers), `model`
(the VQ-VAE, its training and its codebook health), `prior` (the prior over tokens and the
likelihoods), `toy` (a codebook trained on 2-D points, recorded for the codebook explorer). Every public name is
re-exported here: `from course_lib import quantize; quantize.VQVAE(...)`.

Shapes: codes live on the channel axis. A quantiser takes z_e (B, D, H, W) (or (N, D)) and returns
z_q of the same shape, indices (B, H, W) (or (N,)).
"""

from .codes import (
    GumbelQuantizer,
    Quantized,
    VectorQuantizer,
    VQConfig,
    code_counts,
    gumbel_noise,
    gumbel_softmax,
    nearest_code,
    perplexity,
    straight_through,
    usage,
    vq_losses,
)
from .model import (
    VQVAE,
    CodebookHealth,
    VQVAEConfig,
    codebook_health,
    encode_indices,
    reconstruct,
    train_vqvae,
    vqvae_loss,
    with_codebook,
)
from .prior import TokenPrior, gumbel_iw_nll, pixelcnn_mask, prior_loss, train_prior, vq_nll
from .toy import CodebookRun, CodebookSnapshot, train_toy_codebook, voronoi_labels

__all__ = [
    "GumbelQuantizer", "Quantized", "VectorQuantizer", "VQConfig", "code_counts", "gumbel_noise", "gumbel_softmax",
    "nearest_code", "perplexity", "straight_through", "usage", "vq_losses", "VQVAE", "VQVAEConfig", "vqvae_loss",
    "encode_indices", "reconstruct", "train_vqvae", "with_codebook",
    "TokenPrior", "gumbel_iw_nll", "pixelcnn_mask", "prior_loss", "train_prior", "vq_nll",
    "CodebookHealth", "CodebookRun", "CodebookSnapshot", "codebook_health", "train_toy_codebook", "voronoi_labels",
]
