"""Interactive widgets (latent spaces, diffusion), each built on a pure render function.

`render_*` functions draw a whole figure for given values and return it: notebooks call them
directly for a static figure (shown without a kernel), tests check their pixels. The `*_explorer`
widgets wire controls to a render function (`explorer.Explorer`, on `ipywidgets.interactive_output`)
and redraw on every `.value` change, with or without a kernel.

One module per topic, behind this package that re-exports every name (`from course_lib import
widgets; widgets.latent_explorer(...)`):
    explorer   the Explorer and the helpers every widget shares
    latent     lessons 01-02 (and 04's generator): latent explorer, interpolation, conditions and attributes
    gan        lesson 04: the 2-D training scrubber
    flows      lesson 05: a 2-D flow layer by layer, the learned density beside its samples
    quantize   lesson 03: the Gumbel-softmax at a temperature, a VQ-VAE's token editor, a 2-D codebook's
               training (dead codes, restarts), trained VQ-VAEs' codebook health
    diffusion  lesson 06: noise schedules, the reverse-process stepper, the forward process on 2-D data
    guidance   lesson 07: classifier-free guidance at a scale (live and as a static sweep), the latents' scale factor
The maths lives in the families: `autoencoder.interpolate`, `diffusion.schedule_alphabars`,
`diffusion.GaussianDiffusion.q_chain` (re-exported here as `interpolate`, `schedule_alphabars`, and
wrapped by `forward_chain`).
"""

from ..autoencoder import interpolate
from ..diffusion import schedule_alphabars
from .diffusion import (
    DATA_RANGE,
    HIGHLIGHTS,
    SCHEDULE_COLOURS,
    SCHEDULE_KINDS,
    forward_chain,
    forward_explorer,
    render_forward_toy,
    render_reverse,
    render_schedules,
    reverse_explorer,
    schedule_explorer,
)
from .explorer import Explorer
from .flows import density_explorer, flow_layer_explorer, render_density, render_flow_layers
from .gan import render_gan_training, training_scrubber
from .guidance import (
    guidance_explorer,
    latent_scaling_explorer,
    render_guidance,
    render_guidance_sweep,
    render_latent_scaling,
)
from .latent import (
    HIGHLIGHT,
    MARKER,
    MODES,
    Decode,
    DecodeCond,
    Encode,
    attribute_explorer,
    condition_explorer,
    interpolation_explorer,
    latent_explorer,
    render_attribute,
    render_condition,
    render_interpolation,
    render_latent_explorer,
    seed_interpolation_explorer,
)
from .quantize import (
    codebook_explorer,
    codebook_health_explorer,
    gumbel_explorer,
    render_codebook,
    render_codebook_health,
    render_gumbel,
    render_token_edit,
    token_editor,
)

__all__ = [
    # shared plumbing
    "Explorer",
    # lessons 01-02: latent spaces
    "Decode", "Encode", "DecodeCond", "MODES", "MARKER", "HIGHLIGHT", "interpolate",
    "render_latent_explorer", "latent_explorer", "render_interpolation", "interpolation_explorer",
    "seed_interpolation_explorer",
    "render_condition", "condition_explorer", "render_attribute", "attribute_explorer",
    # lesson 03: discrete latents
    "render_gumbel", "gumbel_explorer", "render_token_edit", "token_editor",
    "render_codebook", "codebook_explorer", "render_codebook_health", "codebook_health_explorer",
    # lesson 04: GANs
    "render_gan_training", "training_scrubber",
    # lesson 05: normalizing flows
    "render_flow_layers", "flow_layer_explorer", "render_density", "density_explorer",
    # lesson 06: diffusion
    "SCHEDULE_KINDS", "HIGHLIGHTS", "SCHEDULE_COLOURS", "DATA_RANGE", "schedule_alphabars",
    "render_schedules", "schedule_explorer", "render_reverse", "reverse_explorer",
    "forward_chain", "render_forward_toy", "forward_explorer",
    # lesson 07: latent diffusion and classifier-free guidance
    "render_guidance", "guidance_explorer", "render_guidance_sweep", "render_latent_scaling", "latent_scaling_explorer",
]
