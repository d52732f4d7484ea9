"""Classifier-free guidance (Ho & Salimans 2022): label dropout in training, a guided noise prediction in sampling.

Reads top-down: `drop_labels` (replace each label by the null label with probability p, per example)
-> `guided_eps` (eps_u + s (eps_c - eps_u), and the (1 + w) convention beside it) -> `GuidedModel`, a
wrapper that turns a class-conditional noise predictor model(x, t, y) into the guided one, with one
batched call of the network per step -> `conditional_loss`, lesson 06's noise-prediction loss with the
labels dropped.

The null label is its own index, `num_classes` (never a real class), as `unet.TimeEmbedding` reserves it.
"""

from __future__ import annotations

import torch
from torch import nn

from .core.validation import check_shape, integer, invalid, number
from .diffusion import GaussianDiffusion, NoiseModel


def drop_labels(y: torch.Tensor, p: float, null_label: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Labels y (B,) with each one replaced by `null_label` independently with probability p (a new tensor).

    The null label must not be a real class: labels already equal to it stay as they are.
    """
    check_shape(y, "y", "(B,) integer class labels",
                isinstance(y, torch.Tensor) and y.ndim == 1 and not y.is_floating_point())
    p = number(p, "p", 0.0, 1.0)
    null_label = integer(null_label, "null_label", lo=0)
    if len(y) and bool((y > null_label).any()):
        raise invalid("null_label", "an index above every real class (num_classes)",
                      f"{null_label} with labels up to {int(y.max())}")
    drop = torch.rand(y.shape, generator=generator).to(y.device) < p  # one coin per example
    return torch.where(drop, torch.full_like(y, null_label), y)


def guided_eps(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """eps_u + s (eps_c - eps_u): s = 1 is the conditional model, s = 0 the unconditional one, s > 1 guides.

    The other convention, (1 + w) eps_c - w eps_u (Ho & Salimans), is the same with s = 1 + w; GLIDE, Imagen
    (which calls s "w") and Stable Diffusion's guidance_scale use s.
    """
    if eps_cond.shape != eps_uncond.shape:
        raise invalid("eps_cond and eps_uncond", "tensors of one shape",
                      f"{tuple(eps_cond.shape)} and {tuple(eps_uncond.shape)}")
    scale = number(scale, "scale")
    return eps_uncond + scale * (eps_cond - eps_uncond)  # on every channel


def guidance_weight_to_scale(w: float) -> float:
    """The (1 + w) eps_c - w eps_u convention's w as this module's scale s = 1 + w."""
    return 1.0 + number(w, "w")


class GuidedModel(nn.Module):
    """model(x, t, y) -> the guided noise prediction, for lesson 06's samplers (`model_kwargs={"y": labels}`).

    Each call runs the network once on a doubled batch: (x, t, y) and (x, t, null), then combines the two
    halves with `guided_eps`. With y = None every example is unconditional (the null label). At s = 0 and
    s = 1 one half has weight zero, so only the other is computed: the unconditional or the conditional
    model in one pass of the plain batch, half the work.
    """

    def __init__(self, model: nn.Module, scale: float, null_label: int):
        super().__init__()
        self.model = model
        self.scale = number(scale, "scale")
        self.null_label = integer(null_label, "null_label", lo=0)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        B = x.shape[0]
        null = torch.full((B,), self.null_label, dtype=torch.long, device=x.device)
        if y is None or self.scale == 0:
            return self.model(x, t, null)
        check_shape(y, "y", f"({B},) labels", isinstance(y, torch.Tensor) and tuple(y.shape) == (B,))
        if self.scale == 1:
            return self.model(x, t, y.to(x.device).long())
        eps = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y.to(x.device).long(), null]))  # one call
        eps_cond, eps_uncond = eps[:B], eps[B:]
        return guided_eps(eps_cond, eps_uncond, self.scale)


def conditional_loss(diffusion: GaussianDiffusion, model: NoiseModel, x0: torch.Tensor, y: torch.Tensor,
                     p_uncond: float, null_label: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Lesson 06's noise-prediction loss with labels dropped to the null label with probability p_uncond.

    One network learns both eps(x, t, y) and eps(x, t, null): the two predictions guidance combines.
    """
    return diffusion.training_loss(model, x0, model_kwargs={"y": drop_labels(y, p_uncond, null_label, generator)})
