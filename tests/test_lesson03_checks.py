"""Lesson 03's checks against the classic mistakes: every wrong answer listed here must fail, with a message
that points at the mistake."""

import math

import torch
import torch.nn.functional as F
from mistakes import lesson_tests

from course_lib import quantize


# ----------------------------------------------------------------------------- wrong answers: nearest codes
def _nc_dot(z, codebook):  # "similarity" instead of distance
    return (z @ codebook.T).argmax(1)


def _nc_farthest(z, codebook):
    return torch.cdist(z, codebook).argmax(1)


def _nc_l1(z, codebook):
    return torch.cdist(z, codebook, p=1).argmin(1)


def _nc_distances(z, codebook):  # returns the distances, not the indices
    return torch.cdist(z, codebook).min(1).values


def _nc_int32(z, codebook):
    return torch.cdist(z, codebook).argmin(1).int()


def _nc_no_code_norm(z, codebook):  # drops ||e||^2 as if it were constant
    return (-2 * z @ codebook.T).argmin(1)


# ----------------------------------------------------------------------------- wrong answers: straight-through
def _st_z_q(z_e, z_q):
    return z_q


def _st_detached(z_e, z_q):
    return z_q.detach()


def _st_no_detach(z_e, z_q):  # z_e + z_q - z_e: the gradient goes to z_q, none to z_e
    return z_e + (z_q - z_e)


def _st_z_e(z_e, z_q):
    return z_e


def _st_wrong_side(z_e, z_q):  # z_q + sg(z_e - z_q) = z_e forward
    return z_q + (z_e - z_q).detach()


def _st_partial(z_e, z_q):  # z_q forward, identity to z_e, but z_q still gets a gradient
    return z_e - z_e.detach() + z_q


# ----------------------------------------------------------------------------- wrong answers: the two VQ terms
def _vq_no_sg(z_e, z_q):
    return F.mse_loss(z_q, z_e), F.mse_loss(z_e, z_q)


def _vq_swapped(z_e, z_q):
    return F.mse_loss(z_e, z_q.detach()), F.mse_loss(z_q, z_e.detach())


def _vq_sum(z_e, z_q):
    return F.mse_loss(z_q, z_e.detach(), reduction="sum"), F.mse_loss(z_e, z_q.detach(), reduction="sum")


def _vq_l1(z_e, z_q):
    return F.l1_loss(z_q, z_e.detach()), F.l1_loss(z_e, z_q.detach())


def _vq_beta_inside(z_e, z_q):
    return F.mse_loss(z_q, z_e.detach()), 0.25 * F.mse_loss(z_e, z_q.detach())


def _vq_both_detached(z_e, z_q):
    return F.mse_loss(z_q.detach(), z_e.detach()), F.mse_loss(z_e, z_q.detach())


# ----------------------------------------------------------------------------- wrong answers: Gumbel-softmax
def _gs(noise="gumbel", tau_on_noise=True, hard_mode="st", dim=-1):
    def f(logits, tau, hard=False, generator=None):
        u = torch.rand(logits.shape, generator=generator).clamp(1e-10, 1 - 1e-10)
        g = {"gumbel": -torch.log(-torch.log(u)), "none": torch.zeros_like(u), "exponential": -torch.log(u),
             "sign": torch.log(-torch.log(u)), "normal": torch.randn(logits.shape, generator=generator)}[noise]
        soft = F.softmax((logits + g) / tau if tau_on_noise else logits / tau + g, dim=dim)
        if not hard:
            return soft
        if hard_mode == "no_grad":
            return F.one_hot(soft.argmax(-1), logits.shape[-1]).float()
        if hard_mode == "argmax_logits":
            return F.one_hot(logits.argmax(-1), logits.shape[-1]).float() + (soft - soft.detach())
        if hard_mode == "rounded":  # (one_hot + soft) - soft: not exactly one-hot
            return (F.one_hot(soft.argmax(-1), logits.shape[-1]).float() + soft) - soft.detach()
        return F.one_hot(soft.argmax(-1), logits.shape[-1]).float() + (soft - soft.detach())

    return f


def _gs_soft_mean(logits, tau, hard=False, generator=None):  # "hard" = soft, no one-hot
    u = torch.rand(logits.shape, generator=generator).clamp(1e-10, 1 - 1e-10)
    return F.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)


# ----------------------------------------------------------------------------- wrong answers: perplexity
def _pp_entropy(indices, num_codes):
    p = torch.bincount(indices.reshape(-1), minlength=num_codes).double()
    p = p[p > 0] / p.sum()
    return -(p * p.log()).sum().item()


def _pp_nan(indices, num_codes):  # 0 log 0 -> nan
    p = torch.bincount(indices.reshape(-1), minlength=num_codes).double() / indices.numel()
    return math.exp(-(p * p.log()).sum().item())


def _pp_per_grid(indices, num_codes):  # the mean of each grid's (batch's) perplexity
    return sum(quantize.perplexity(g, num_codes) for g in indices) / len(indices)


def _pp_divided_by_k(indices, num_codes):
    c = torch.bincount(indices.reshape(-1), minlength=num_codes).double()
    q = c / num_codes
    p = c / c.sum()
    return math.exp(-(q * torch.log(p).nan_to_num(0, neginf=0)).sum().item())


def _pp_usage(indices, num_codes):  # the number of codes used, not the effective number
    return float((torch.bincount(indices.reshape(-1), minlength=num_codes) > 0).sum())


def _pp_tensor(indices, num_codes):
    return torch.tensor([quantize.perplexity(indices, num_codes)] * 2)


MISTAKES = [
    ("03.nearest_code", "largest dot product", _nc_dot, "dot product"),
    ("03.nearest_code", "argmax of the distances", _nc_farthest, "farthest"),
    ("03.nearest_code", "L1 distance", _nc_l1, "L1"),
    ("03.nearest_code", "returns the distances", _nc_distances, "integer indices"),
    ("03.nearest_code", "int32 indices", _nc_int32, "int64"),
    ("03.nearest_code", "||e||^2 dropped as a constant", _nc_no_code_norm, "dot product"),
    ("03.straight_through", "returns z_q (no gradient to the encoder)", _st_z_q, "no gradient reaches z_e"),
    ("03.straight_through", "returns z_q detached", _st_detached, "no gradient at all"),
    ("03.straight_through", "z_e + (z_q - z_e) without detach", _st_no_detach, "no gradient reaches z_e"),
    ("03.straight_through", "returns z_e", _st_z_e, "equals z_e"),
    ("03.straight_through", "z_q + sg(z_e - z_q)", _st_wrong_side, "equals z_e"),
    ("03.straight_through", "z_q still receives a gradient", _st_partial, "gradient reaches z_q"),
    ("03.vq_losses", "no stop-gradients", _vq_no_sg, "sends a gradient to the encoder"),
    ("03.vq_losses", "the two terms swapped", _vq_swapped, "sends a gradient to the encoder"),
    ("03.vq_losses", "sums instead of means", _vq_sum, "is a sum"),
    ("03.vq_losses", "L1 instead of squared", _vq_l1, "expected codebook_loss"),
    ("03.vq_losses", "beta inside the commitment term", _vq_beta_inside, "expected commitment_loss"),
    ("03.vq_losses", "the codebook loss detaches both sides", _vq_both_detached, "gives the codes no gradient"),
    ("03.gumbel_softmax", "no noise", _gs(noise="none"), "every sample is the same"),
    ("03.gumbel_softmax", "exponential noise -log U", _gs(noise="exponential"), "chi-square"),
    ("03.gumbel_softmax", "log(-log U): the sign flipped", _gs(noise="sign"), "chi-square"),
    ("03.gumbel_softmax", "Gaussian noise", _gs(noise="normal"), "chi-square"),
    ("03.gumbel_softmax", "tau divides the logits only", _gs(tau_on_noise=False), "noise inside the division"),
    ("03.gumbel_softmax", "hard without straight-through", _gs(hard_mode="no_grad"), "carry no gradient"),
    ("03.gumbel_softmax", "hard = one-hot of argmax(logits)", _gs(hard_mode="argmax_logits"), "chi-square"),
    ("03.gumbel_softmax", "(one_hot + soft) - soft: not exactly one-hot", _gs(hard_mode="rounded"), "exactly one-hot"),
    ("03.gumbel_softmax", "hard returns the soft sample", _gs_soft_mean, "exactly one-hot"),
    ("03.gumbel_softmax", "softmax over the batch dimension", _gs(dim=0), "simplex"),
    ("03.perplexity", "the entropy, not its exponential", _pp_entropy, "exp(entropy)"),
    ("03.perplexity", "0 log 0 gives nan", _pp_nan, "0 log 0"),
    ("03.perplexity", "the mean of each grid's perplexity", _pp_per_grid, "mean of each grid"),
    ("03.perplexity", "frequencies divided by num_codes", _pp_divided_by_k, "divided by num_codes"),
    ("03.perplexity", "the count of codes used", _pp_usage, "expected the perplexity"),
    ("03.perplexity", "a tensor of several numbers", _pp_tensor, "one number"),
]

test_each_mistake_fails, test_every_exercise_is_listed, test_reference_passes_and_stub_is_not_attempted = lesson_tests(
    "03", MISTAKES)
