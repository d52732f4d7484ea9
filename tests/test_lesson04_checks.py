"""Lesson 04's checks against the classic mistakes: every wrong answer listed here must fail, with a message
that points at the mistake."""

import torch
import torch.nn.functional as F
from mistakes import lesson_tests

from course_lib import gan


# ----------------------------------------------------------------------------- wrong answers: the losses
def _d_flipped(r, f):  # the value function itself, maximised by D: minimising it trains D backwards
    return -gan.discriminator_loss(r, f)


def _d_log_sigmoid(r, f):  # right in exact arithmetic, -inf in float32 at logit -100
    return -(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean())


def _d_swapped(r, f):  # real labelled 0, fake labelled 1
    return F.softplus(r).mean() + F.softplus(-f).mean()


def _d_sum(r, f):
    return F.softplus(-r).sum() + F.softplus(f).sum()


def _d_one_mean(r, f):  # one mean over the concatenation: wrong weights when the batches differ in size
    return torch.cat([F.softplus(-r), F.softplus(f)]).mean()


def _d_probabilities(r, f):  # treats the logits as probabilities
    return -(torch.log(r.clamp(1e-6, 1)).mean() + torch.log((1 - f).clamp(1e-6, 1)).mean())


def _g_saturating(f):
    return gan.generator_loss(f, saturating=True)


def _g_saturating_positive(f):  # log(1 - D) with the sign "fixed"
    return F.softplus(f).mean()


def _g_log_sigmoid(f):
    return -torch.log(torch.sigmoid(f)).mean()


def _g_detached(f):
    return F.softplus(-f).mean().detach()


def _g_per_example(f):
    return F.softplus(-f)


def _c_flipped(r, f):
    return r.mean() - f.mean()


def _c_sigmoid(r, f):  # a critic is not a classifier
    return torch.sigmoid(f).mean() - torch.sigmoid(r).mean()


def _c_bce(r, f):
    return gan.discriminator_loss(r, f)


def _c_sum(r, f):
    return f.sum() - r.sum()


# ----------------------------------------------------------------------------- wrong answers: the penalty
def _interpolates(real, fake, eps_shape):
    eps = torch.rand(eps_shape)
    return (eps * real + (1 - eps) * fake).requires_grad_(True)


def _penalty_from(critic, x_hat, squared=False, one_sided=False, per_row=False, create_graph=True, reduce="mean"):
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
    B = x_hat.shape[0]
    norms = grad.norm(dim=-1) if per_row else grad.reshape(B, -1).norm(dim=1)
    if squared:
        norms = norms**2
    gap = (norms - 1).clamp(min=0) if one_sided else norms - 1
    out = gap**2
    return out.mean() if reduce == "mean" else out.sum()


def _gp_real_only(critic, real, fake, generator=None):
    return _penalty_from(critic, real.clone().requires_grad_(True))


def _gp_per_pixel_eps(critic, real, fake, generator=None):
    return _penalty_from(critic, _interpolates(real, fake, real.shape))


def _gp_one_eps(critic, real, fake, generator=None):  # one eps for the whole batch
    return _penalty_from(critic, _interpolates(real, fake, ()))


def _gp_normal_eps(critic, real, fake, generator=None):
    eps = torch.randn(real.shape[0], *([1] * (real.ndim - 1)))
    return _penalty_from(critic, (eps * real + (1 - eps) * fake).requires_grad_(True))


def _gp_shuffled_pairs(critic, real, fake, generator=None):  # real_i paired with fake_j
    eps = torch.rand(real.shape[0], *([1] * (real.ndim - 1)))
    return _penalty_from(critic, (eps * real + (1 - eps) * fake.flip(0)).requires_grad_(True))


def _gp_squared_norm(critic, real, fake, generator=None):
    return _penalty_from(critic, _interpolates(real, fake, (real.shape[0], *([1] * (real.ndim - 1)))), squared=True)


def _gp_one_sided(critic, real, fake, generator=None):
    return _penalty_from(critic, _interpolates(real, fake, (real.shape[0], *([1] * (real.ndim - 1)))), one_sided=True)


def _gp_last_axis_norm(critic, real, fake, generator=None):  # the norm over the last axis only, not all non-batch entries
    out = _penalty_from(critic, _interpolates(real, fake, (real.shape[0], *([1] * (real.ndim - 1)))), per_row=True)
    return out


def _gp_no_create_graph(critic, real, fake, generator=None):
    return _penalty_from(critic, _interpolates(real, fake, (real.shape[0], *([1] * (real.ndim - 1)))), create_graph=False)


def _gp_sum(critic, real, fake, generator=None):
    return _penalty_from(critic, _interpolates(real, fake, (real.shape[0], *([1] * (real.ndim - 1)))), reduce="sum")


# ----------------------------------------------------------------------------- wrong answers: the steps
def _critic_step(no_detach=False, no_zero=False, no_step=False, flipped=False, no_penalty=False, returns_tensor=False,
                 batch_noise=False):
    def step(generator, critic, optimizer, real, gp_weight):
        n = 1 if batch_noise else len(real)
        z = torch.randn(n, generator.latent_dim).expand(len(real), -1)
        fake = generator(z) if no_detach else generator(z).detach()
        loss = gan.critic_loss(critic(real), critic(fake))
        if flipped:
            loss = -loss
        if not no_penalty:
            loss = loss + gp_weight * gan.gradient_penalty(critic, real, fake.detach())
        if not no_zero:
            optimizer.zero_grad()
        loss.backward()
        if not no_step:
            optimizer.step()
        return loss if returns_tensor else loss.item()

    return step


def _critic_step_after(generator, critic, optimizer, real, gp_weight):  # returns the loss after the update
    z = torch.randn(len(real), generator.latent_dim)
    fake = generator(z).detach()
    loss = gan.critic_loss(critic(real), critic(fake)) + gp_weight * gan.gradient_penalty(critic, real, fake)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return (gan.critic_loss(critic(real), critic(fake)) + gp_weight * gan.gradient_penalty(critic, real, fake)).item()


def _generator_step(no_zero=False, no_step=False, flipped=False, saturating=False, uniform=False, fixed_batch=False):
    def step(generator, critic, optimizer, batch_size):
        n = 64 if fixed_batch else batch_size
        z = torch.rand(n, generator.latent_dim) if uniform else torch.randn(n, generator.latent_dim)
        scores = critic(generator(z))
        loss = scores.mean() if flipped else (gan.generator_loss(scores, saturating=True) if saturating else -scores.mean())
        if not no_zero:
            optimizer.zero_grad()
        loss.backward()
        if not no_step:
            optimizer.step()
        return loss.item()

    return step


MISTAKES = [
    ("04.discriminator_loss", "the sign flipped (the value, not its negative)", _d_flipped, "the sign is flipped"),
    ("04.discriminator_loss", "log(sigmoid(.)): -inf at extreme logits", _d_log_sigmoid, "softplus"),
    ("04.discriminator_loss", "real and fake swapped", _d_swapped, "expected the loss"),
    ("04.discriminator_loss", "sums instead of means", _d_sum, "expected the loss"),
    ("04.discriminator_loss", "one mean over both batches", _d_one_mean, "expected the loss"),
    ("04.discriminator_loss", "logits taken for probabilities", _d_probabilities, "expected the loss"),
    ("04.generator_loss", "the saturating loss log(1 - D)", _g_saturating, "saturating loss"),
    ("04.generator_loss", "the saturating loss with its sign flipped", _g_saturating_positive, "saturating loss"),
    ("04.generator_loss", "log(sigmoid(.)): -inf at extreme logits", _g_log_sigmoid, "softplus"),
    ("04.generator_loss", "detached: no gradient", _g_detached, "autograd"),
    ("04.generator_loss", "one loss per example, not the mean", _g_per_example, "scalar"),
    ("04.critic_loss", "the sign flipped", _c_flipped, "the sign is flipped"),
    ("04.critic_loss", "scores squashed by a sigmoid", _c_sigmoid, "expected the loss"),
    ("04.critic_loss", "the GAN's cross-entropy", _c_bce, "expected the loss"),
    ("04.critic_loss", "sums instead of means", _c_sum, "expected the loss"),
    ("04.gradient_penalty", "taken at the real points only", _gp_real_only, "real points"),
    ("04.gradient_penalty", "one eps per pixel", _gp_per_pixel_eps, "one eps per example"),
    ("04.gradient_penalty", "one eps for the whole batch", _gp_one_eps, "uniform on [0, 1]"),
    ("04.gradient_penalty", "eps ~ N(0, 1)", _gp_normal_eps, "between real and fake"),
    ("04.gradient_penalty", "real_i paired with another example's fake", _gp_shuffled_pairs, "x_hat is not eps real"),
    ("04.gradient_penalty", "the squared norm", _gp_squared_norm, "expected the penalty = 4"),
    ("04.gradient_penalty", "one-sided max(0, ||g|| - 1)^2", _gp_one_sided, "expected the penalty = 1"),
    ("04.gradient_penalty", "the norm over the last axis only", _gp_last_axis_norm, "expected the penalty"),
    ("04.gradient_penalty", "no create_graph: the penalty trains nothing", _gp_no_create_graph, "create_graph=True"),
    ("04.gradient_penalty", "a sum over the batch", _gp_sum, "expected the penalty"),
    ("04.critic_step", "fakes not detached", _critic_step(no_detach=True), "detach"),
    ("04.critic_step", "no zero_grad", _critic_step(no_zero=True), "zero_grad"),
    ("04.critic_step", "no optimizer.step", _critic_step(no_step=True), "optimizer.step()"),
    ("04.critic_step", "the critic's loss with its sign flipped", _critic_step(flipped=True), "wrong way"),
    ("04.critic_step", "no gradient penalty", _critic_step(no_penalty=True), "the critic's w after the step"),
    ("04.critic_step", "the loss returned as a tensor with its graph", _critic_step(returns_tensor=True), "loss.item()"),
    ("04.critic_step", "one z for the whole batch", _critic_step(batch_noise=True), "N(0, I)"),
    ("04.critic_step", "the loss after the update returned", _critic_step_after, "expected the loss"),
    ("04.generator_step", "no zero_grad", _generator_step(no_zero=True), "zero_grad"),
    ("04.generator_step", "no optimizer.step", _generator_step(no_step=True), "optimizer.step()"),
    ("04.generator_step", "+E f(G(z)): the wrong sign", _generator_step(flipped=True), "wrong way"),
    ("04.generator_step", "the GAN's saturating loss on critic scores", _generator_step(saturating=True), "expected"),
    ("04.generator_step", "z ~ U[0, 1]", _generator_step(uniform=True), "N(0, I)"),
    ("04.generator_step", "a fixed batch size", _generator_step(fixed_batch=True), "shape (4000, 4)"),
]

test_each_mistake_fails, test_every_exercise_is_listed, test_reference_passes_and_stub_is_not_attempted = lesson_tests(
    "04", MISTAKES)
