"""Normalizing flows: invertible layers with tractable log-determinants, composed into RealNVP, MAF and IAF.

One convention throughout (the density direction of the papers): a layer's `forward(x)` maps data
towards the base and returns `(z, log_det)` with log_det = log |det dz/dx| per example, shape (B,);
`inverse(z)` maps back and returns `(x, log_det)` with the inverse map's log |det dx/dz|, which is
minus the forward's at the same point. A flow composes layers (the log-determinants add) over a
standard normal base:

    log p(x) = log N(f(x); 0, I) + sum_k log |det J_fk|        sampling: x = f^-1(z), z ~ N(0, I)

In reading order: masks -> the affine coupling (RealNVP) -> MADE and the two autoregressive directions
(MAF: density in one pass, sampling in D; IAF: the reverse) -> permutations, ActNorm, batch norm and
the logit preprocessing -> `Flow` and the three named flows -> discrete data (dequantisation, the
bound in nats per image, importance weighting) -> a trainer that keeps the best validation epoch.

One package, one concept per file: `layers` (the invertible layers), `model` (Flow, RealNVP, MAF, IAF),
`likelihood` (discrete data and training), `views` (pictures of 2-D flows for the widgets). Every public
name is re-exported here: `from course_lib import flows; flows.RealNVP(...)`.
"""

from .layers import (
    LOG_2PI,
    MADE,
    ActNorm,
    AffineCoupling,
    BatchNormFlow,
    FlowLayer,
    InverseAutoregressive,
    Logit,
    MaskedAutoregressive,
    MaskedLinear,
    Permutation,
    Reverse,
    checkerboard_mask,
    half_mask,
    made_degrees,
    made_masks,
    standard_normal_log_prob,
)
from .likelihood import (
    FlowConfig,
    LogProb,
    dequantize,
    dequantized_nll,
    evaluate_nll,
    flow_loss,
    importance_weighted_nll,
    samples_to_levels,
    train_flow,
)
from .model import IAF, MAF, Flow, RealNVP, copy_autoregressive
from .views import DensityView, LayerViews, density_view, layer_views

__all__ = [
    "LOG_2PI", "standard_normal_log_prob", "checkerboard_mask", "half_mask",
    "FlowLayer", "AffineCoupling", "made_degrees", "made_masks", "MaskedLinear", "MADE",
    "MaskedAutoregressive", "InverseAutoregressive", "Permutation", "Reverse", "ActNorm", "BatchNormFlow", "Logit",
    "Flow", "RealNVP", "MAF", "IAF", "copy_autoregressive",
    "dequantize", "dequantized_nll", "importance_weighted_nll", "evaluate_nll", "samples_to_levels",
    "FlowConfig", "LogProb", "flow_loss", "train_flow",
    "LayerViews", "DensityView", "layer_views", "density_view",
]
