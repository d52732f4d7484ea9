"""Lesson 04 (GAN and WGAN-GP): the checks of its exercises.

The losses are compared with the reference on random and extreme logits (where a formula written with
log(sigmoid(.)) underflows), and through their gradients (the non-saturating loss keeps a gradient of
about -1 where the discriminator rejects the samples; the saturating one does not). The gradient
penalty is checked on critics whose gradients are known in closed form, with a critic that records
the points it is shown, so each requirement (one eps per example, the pairing, the norm over every
non-batch entry, a penalty that trains the critic) is tested on its own. The two training steps run
with plain SGD on a linear critic and a generator that outputs a learnable point, where the update
each must make is known exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import gan
from ..checks import CheckFailure, describe, expect_close, expect_tensor, register
from ..core.devices import model_device


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- references
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-[E log D(x) + E log(1 - D(G(z)))] from the discriminator's logits (D = sigmoid(logit))."""
    return gan.discriminator_loss(real_logits, fake_logits)


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -E log D(G(z)) from the discriminator's logits."""
    return gan.generator_loss(fake_logits)


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The Wasserstein critic's loss E f(G(z)) - E f(x)."""
    return gan.critic_loss(real_scores, fake_scores)


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """E[(||grad f(x_hat)||_2 - 1)^2] at x_hat = eps real + (1 - eps) fake, one eps ~ U[0, 1] per example."""
    return gan.gradient_penalty(critic, real, fake, generator=generator)


def critic_step(generator: nn.Module, critic: nn.Module, optimizer: torch.optim.Optimizer, real: torch.Tensor,
                gp_weight: float) -> float:
    """One WGAN-GP critic update on a real batch; returns the loss (before the update) as a float."""
    z = torch.randn(len(real), generator.latent_dim, device=real.device)  # 1. fresh noise, one z per real example
    with torch.no_grad():
        fake = generator(z)  # 2. samples; no gradient reaches the generator
    loss = gan.critic_loss(critic(real), critic(fake)) + gp_weight * gan.gradient_penalty(critic, real, fake)
    optimizer.zero_grad()  # 3. forget the previous step's gradients
    loss.backward()
    optimizer.step()  # 4. move the critic only
    return loss.item()


def generator_step(generator: nn.Module, critic: nn.Module, optimizer: torch.optim.Optimizer, batch_size: int) -> float:
    """One WGAN generator update (-E f(G(z)) on batch_size fresh samples); returns the loss before it as a float."""
    z = torch.randn(batch_size, generator.latent_dim, device=model_device(generator))
    loss = gan.wgan_generator_loss(critic(generator(z)))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()  # the generator's optimizer: the critic does not move
    return loss.item()


# ----------------------------------------------------------------------------- stand-ins with known answers
class LinearCritic(nn.Module):
    """f(x) = w . x + b over all of an example's entries: its gradient is w everywhere, of norm ||w||."""

    def __init__(self, w: torch.Tensor, b: float = 0.0):
        super().__init__()
        self.w = nn.Parameter(w.clone().float())
        self.b = nn.Parameter(torch.tensor(float(b)))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return (x.reshape(len(x), -1) * self.w.reshape(1, -1)).sum(1) + self.b  # (B,)


class QuadraticCritic(nn.Module):
    """f(x) = a * sum(x^2) over an example: gradient 2 a x, a different norm at every point."""

    def __init__(self, a: float = 0.7):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(float(a)))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.a * x.pow(2).reshape(len(x), -1).sum(1)


class PointGenerator(nn.Module):
    """G(z) = c for every z (c learnable, (D,)): its samples are known; it records the noise it is given."""

    def __init__(self, c: torch.Tensor, latent_dim: int = 3):
        super().__init__()
        self.latent_dim = latent_dim
        self.c = nn.Parameter(c.clone().float())
        self.seen: list[torch.Tensor] = []

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise CheckFailure(f"the generator expects noise z of shape (B, {self.latent_dim}) (generator.latent_dim), "
                               f"got {tuple(z.shape)}")
        self.seen.append(z.detach().clone())
        return self.c.expand(len(z), -1) + 0 * z.sum(1, keepdim=True)  # (B, D)


# ----------------------------------------------------------------------------- the losses
def _logits(seed: int, n: int, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(n, generator=_gen(seed)) * scale


def _expect_scalar(got, what: str) -> torch.Tensor:
    got = expect_tensor(got, None, what)
    if got.ndim != 0:
        raise CheckFailure(f"expected {what} to be a scalar (shape ()): average over the batch, got shape {tuple(got.shape)}")
    return got


def _extreme_case(student, reference, args, what: str) -> None:
    got = _expect_scalar(student(*args), what)
    if not torch.isfinite(got):
        raise CheckFailure(f"{what} is {got.item()} at logits of +-100: log(sigmoid(-100)) underflows to log(0) in float32. "
                           "Write it with F.softplus (-log sigmoid(l) = softplus(-l)), F.logsigmoid, or "
                           "F.binary_cross_entropy_with_logits")
    expect_close(reference(*args), got, what=what, rtol=1e-4, atol=1e-4)


def _expect_loss(want: torch.Tensor, got: torch.Tensor, maximised: str) -> None:
    """expect_close on a loss, naming the flipped sign (the player's objective, not its negative) when that is the mistake."""
    if torch.isclose(got, -want, rtol=1e-4):
        raise CheckFailure(f"expected {want.item():.6g}, got {got.item():.6g}: the sign is flipped. {maximised}")
    expect_close(want, got, what="the loss")


@register("04.discriminator_loss", "discriminator_loss(real_logits, fake_logits)", discriminator_loss)
def _check_discriminator_loss(student, reference, cases) -> None:
    real, fake = _logits(1, 64), _logits(2, 40)
    cases.add("random logits, 64 real and 40 fake: -[mean log D(x) + mean log(1 - D(G(z)))], D = sigmoid(logit)")
    _expect_loss(reference(real, fake), _expect_scalar(student(real, fake), "the loss"),
                 "The discriminator *maximises* E log D(x) + E log(1 - D(G(z))): its loss to minimise is minus that")
    cases.add("the real logits count as real (D -> 1) and the fake as fake (D -> 0): confident right answers cost ~0")
    expect_close(torch.tensor(0.0), _expect_scalar(student(torch.full((5,), 30.0), torch.full((5,), -30.0)), "the loss"),
                 what="the loss of a discriminator that is right with confidence", atol=1e-6)
    cases.add("extreme logits (+-100): finite and right")
    _extreme_case(student, reference, (torch.tensor([100.0, -100.0, 3.0]), torch.tensor([-100.0, 100.0])), "the loss")


@register("04.generator_loss", "generator_loss(fake_logits)  (non-saturating)", generator_loss)
def _check_generator_loss(student, reference, cases) -> None:
    fake = _logits(3, 50)
    cases.add("random logits: -mean log D(G(z)), the non-saturating loss")
    got = _expect_scalar(student(fake), "the loss")
    saturating = gan.generator_loss(fake, saturating=True)
    if torch.isclose(got, saturating, rtol=1e-4) or torch.isclose(got, -saturating, rtol=1e-4):
        raise CheckFailure(f"expected {reference(fake).item():.6g}, got {got.item():.6g}: that is the saturating loss "
                           "+-mean log(1 - D(G(z))). Write the non-saturating one, -mean log D(G(z))")
    expect_close(reference(fake), got, what="the loss")
    cases.add("where the discriminator rejects the samples (logit -8), the gradient stays near -1 per example (not ~0)")
    logits = torch.full((4,), -8.0, requires_grad=True)
    loss = _expect_scalar(student(logits), "the loss")
    if not loss.requires_grad:
        raise CheckFailure("the loss does not depend on the logits through autograd: nothing would train the generator")
    (grad,) = torch.autograd.grad(loss, logits)
    expect_close(torch.full((4,), -(1 - math.exp(-8) / (1 + math.exp(-8))) / 4), grad,
                 what="d loss / d logit (the mean over 4 examples)", rtol=1e-3, atol=1e-6)
    cases.add("extreme logits (+-100): finite and right")
    _extreme_case(student, reference, (torch.tensor([-100.0, 100.0, 0.5]),), "the loss")


@register("04.critic_loss", "critic_loss(real_scores, fake_scores)", critic_loss)
def _check_critic_loss(student, reference, cases) -> None:
    real, fake = _logits(4, 64, 5.0) + 2, _logits(5, 40, 5.0)
    cases.add("random scores, 64 real and 40 fake: mean f(G(z)) - mean f(x), raw scores (no sigmoid, no log)")
    _expect_loss(reference(real, fake), _expect_scalar(student(real, fake), "the loss"),
                 "The critic maximises E f(x) - E f(G(z)) (the dual's estimate of W1): minimise E f(G(z)) - E f(x)")
    cases.add("scores of any size (a critic is not a classifier): real scores 1000, fake -1000 give -2000")
    expect_close(torch.tensor(-2000.0), _expect_scalar(student(torch.full((3,), 1000.0), torch.full((7,), -1000.0)),
                 "the loss"), what="the loss", rtol=1e-6)


# ----------------------------------------------------------------------------- the gradient penalty
def _penalty(student, critic, real, fake, what="the penalty") -> torch.Tensor:
    try:
        out = student(critic, real, fake)
    except TypeError as err:
        if "generator" not in str(err):
            raise
        out = student(critic, real, fake, None)
    return _expect_scalar(out, what)


def _eps_of(points: torch.Tensor, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """eps with points = eps real + (1 - eps) fake, entry by entry (B, ...)."""
    return (points - fake) / (real - fake)


@register("04.gradient_penalty", "gradient_penalty(critic, real, fake)", gradient_penalty)
def _check_gradient_penalty(student, reference, cases) -> None:
    B = 8
    real, fake = torch.randn(B, 1, 2, 2, generator=_gen(6)), torch.randn(B, 1, 2, 2, generator=_gen(7))
    unit = torch.full((4,), 0.5)  # norm 1 over the four entries of an example

    cases.add("a critic with zero gradient (a constant): the penalty is (0 - 1)^2 = 1 (lambda once weighted)")
    expect_close(torch.tensor(1.0), _penalty(student, LinearCritic(torch.zeros(4), 2.0), real, fake), what="the penalty")
    cases.add("a linear critic with unit-norm gradient (0.5 on each of an example's 4 entries): the penalty is 0")
    expect_close(torch.tensor(0.0), _penalty(student, LinearCritic(unit), real, fake), what="the penalty", atol=1e-6)
    cases.add("gradient norm 3 everywhere: (3 - 1)^2 = 4, the mean over the batch (the norm, not its square)")
    expect_close(torch.tensor(4.0), _penalty(student, LinearCritic(3 * unit), real, fake), what="the penalty", rtol=1e-4)
    cases.add("gradient norm 0.5 everywhere: (0.5 - 1)^2 = 0.25 (two-sided: a too-flat critic is penalised too)")
    expect_close(torch.tensor(0.25), _penalty(student, LinearCritic(unit / 2), real, fake), what="the penalty", rtol=1e-4)

    B = 400
    real, fake = torch.randn(B, 3, 2, 2, generator=_gen(8)), torch.randn(B, 3, 2, 2, generator=_gen(9))
    critic = QuadraticCritic(0.7)
    cases.add(f"the critic is evaluated on one batch of {B} points x_hat = eps real + (1 - eps) fake")
    got = _penalty(student, critic, real, fake)
    shown = [x for x in critic.seen if x.shape == real.shape]
    if not shown:
        raise CheckFailure(f"the critic was never called on a batch of the inputs' shape {tuple(real.shape)}; "
                           f"it saw {[tuple(x.shape) for x in critic.seen]}")
    x_hat = shown[-1]
    if torch.allclose(x_hat, real):
        raise CheckFailure("the penalty was taken at the real points: take it at random interpolates "
                           "x_hat = eps real + (1 - eps) fake, where the optimal critic has unit gradient norm")
    if torch.allclose(x_hat, fake):
        raise CheckFailure("the penalty was taken at the fake points: take it at random interpolates "
                           "x_hat = eps real + (1 - eps) fake")
    cases.add("one eps per example, shared by all its entries (not one per pixel), pairing real_i with fake_i")
    diff = (real - fake).reshape(B, -1)  # (B, D)
    e = ((x_hat - fake).reshape(B, -1) * diff).sum(1) / diff.pow(2).sum(1)  # (B,) the eps that fits each example best
    on_segment = (x_hat - fake).reshape(B, -1) - e[:, None] * diff  # what a single eps per example leaves unexplained
    if on_segment.norm(dim=1).max() > 1e-3 * diff.norm(dim=1).min():
        per_entry = _eps_of(x_hat, real, fake)
        if torch.isfinite(per_entry).all() and per_entry.min() > -1e-4 and per_entry.max() < 1 + 1e-4:
            raise CheckFailure("eps differs between the entries of one example: draw one eps per example, of shape "
                               "(B, 1, 1, 1), so each x_hat lies on the segment between its real and its fake example")
        raise CheckFailure("x_hat is not eps real_i + (1 - eps) fake_i: interpolate each real example with its own fake "
                           "(the same index i), one eps per example")
    cases.add("the points lie between the paired real and fake (0 <= eps <= 1), eps ~ U[0, 1] over the batch")
    if e.min() < -1e-5 or e.max() > 1 + 1e-5:
        raise CheckFailure(f"eps ranges over {e.min():.3f} .. {e.max():.3f}: x_hat must lie between real and fake, eps in [0, 1]")
    if abs(e.mean().item() - 0.5) > 0.06 or abs(e.var().item() - 1 / 12) > 0.03:
        raise CheckFailure(f"eps should be uniform on [0, 1] (mean 0.5, variance 0.083), got mean {e.mean():.3f} and "
                           f"variance {e.var():.3f}: use torch.rand")
    cases.add("the norm is per example over all its non-batch entries (C, H, W): mean over the batch of (||grad||_2 - 1)^2")
    norms = 2 * 0.7 * x_hat.reshape(B, -1).norm(dim=1)  # ||grad f(x_hat_i)|| of f = a sum(x^2)
    expect_close(((norms - 1) ** 2).mean(), got, what="the penalty (from the x_hat your critic was shown)", rtol=1e-4)
    cases.add("the penalty has a gradient with respect to the critic's parameters (create_graph=True)")
    if not got.requires_grad:
        raise CheckFailure("the penalty has no gradient with respect to the critic: pass create_graph=True to "
                           "torch.autograd.grad, so that the penalty can train the critic")
    (grad,) = torch.autograd.grad(got, critic.a)
    want = (2 * (norms - 1) * norms / 0.7).mean()  # d/da of mean((2 a ||x|| - 1)^2)
    expect_close(want, grad, what="d penalty / d a of the critic a * sum(x^2)", rtol=1e-3)


# ----------------------------------------------------------------------------- the training steps
def _as_float(got, what: str) -> float:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        if got.requires_grad:
            raise CheckFailure(f"{what} is a tensor that still holds its graph: return loss.item(), a float (a list of "
                               "such tensors keeps every step's graph alive)")
        return float(got)
    if isinstance(got, (int, float)):
        return float(got)
    raise CheckFailure(f"expected {what} as a float (loss.item()), got {describe(got)}")


def _poison(module: nn.Module) -> None:
    """Leave stale gradients behind, as the previous step would: a step that forgets zero_grad adds to them."""
    for p in module.parameters():
        p.grad = torch.full_like(p, 100.0)


@register("04.critic_step", "critic_step(generator, critic, optimizer, real, gp_weight)", critic_step)
def _check_critic_step(student, reference, cases) -> None:
    real = torch.randn(16, 2, generator=_gen(10)) + torch.tensor([1.0, -2.0])
    lr = 0.1
    for gp_weight in (0.0, 10.0):
        torch.manual_seed(0)
        G = PointGenerator(torch.tensor([0.5, 0.5]))
        w0 = torch.tensor([0.6, -1.2])  # ||w|| = 1.34: the penalty pulls it towards 1
        critic = LinearCritic(w0, 0.3)
        opt = torch.optim.SGD(critic.parameters(), lr=lr)
        _poison(critic)
        cases.add(f"gp_weight = {gp_weight}: a linear critic f(x) = w.x + b against a generator whose samples are all "
                  "c; SGD moves w by -lr (c - mean(real) + gp_weight * 2 (||w|| - 1) w / ||w||)")
        loss = _as_float(student(G, critic, opt, real, gp_weight), "the returned loss")
        norm = w0.norm()
        grad_w = G.c.detach() - real.mean(0) + gp_weight * 2 * (norm - 1) * w0 / norm
        want_w = w0 - lr * grad_w
        if torch.allclose(critic.w.detach(), w0):
            raise CheckFailure("the critic did not move: call optimizer.step() after loss.backward()")
        if torch.allclose(critic.w.detach(), want_w - lr * 100.0, atol=1e-4):
            raise CheckFailure("the update added the previous step's gradients: call optimizer.zero_grad() before backward()")
        if torch.allclose(critic.w.detach(), w0 + lr * grad_w, atol=1e-4):
            raise CheckFailure("the critic moved the wrong way: its loss is E f(G(z)) - E f(x) (+ the penalty), minimised")
        expect_close(want_w, critic.w.detach(), what="the critic's w after the step", rtol=1e-4, atol=1e-5)
        want_loss = float(G.c.detach() @ w0 - real.mean(0) @ w0) + gp_weight * float((norm - 1) ** 2)
        cases.add(f"gp_weight = {gp_weight}: returns the loss before the step, E f(G(z)) - E f(x) + gp_weight * penalty")
        if abs(loss - want_loss) > 1e-4 * max(1.0, abs(want_loss)):
            raise CheckFailure(f"expected the loss {want_loss:.6g}, got {loss:.6g}")
        cases.add("the generator does not move and gets no gradient (the fakes are detached, or drawn under no_grad)")
        if not torch.equal(G.c.detach(), torch.tensor([0.5, 0.5])):
            raise CheckFailure("the critic's step moved the generator")
        if G.c.grad is not None and G.c.grad.abs().sum() > 0:
            raise CheckFailure("the generator received gradients from the critic's loss: detach the fake samples "
                               "(generator(z).detach(), or torch.no_grad()) so that the critic's step trains the critic only")
        cases.add("fresh noise z ~ N(0, I) of shape (len(real), generator.latent_dim)")
        if not G.seen or tuple(G.seen[-1].shape) != (len(real), G.latent_dim):
            raise CheckFailure(f"expected the generator to be called on z of shape ({len(real)}, {G.latent_dim}), "
                               f"got {[tuple(z.shape) for z in G.seen]}")
    G = PointGenerator(torch.zeros(2), latent_dim=4)
    critic = LinearCritic(torch.tensor([1.0, 0.0]))
    student(G, critic, torch.optim.SGD(critic.parameters(), lr=0.0), torch.randn(4000, 2, generator=_gen(11)), 1.0)
    z = G.seen[-1]
    if abs(z.mean().item()) > 0.05 or abs(z.var().item() - 1) > 0.05:
        raise CheckFailure(f"z should be N(0, I): mean {z.mean():.3f}, variance {z.var():.3f} (use torch.randn)")


@register("04.generator_step", "generator_step(generator, critic, optimizer, batch_size)", generator_step)
def _check_generator_step(student, reference, cases) -> None:
    lr = 0.1
    torch.manual_seed(0)
    c0, w0 = torch.tensor([0.5, -0.5]), torch.tensor([0.6, -1.2])
    G, critic = PointGenerator(c0), LinearCritic(w0, 0.3)
    opt = torch.optim.SGD(G.parameters(), lr=lr)
    _poison(G)
    cases.add("a generator whose samples are all c against f(x) = w.x + b: SGD on -E f(G(z)) moves c by +lr w")
    loss = _as_float(student(G, critic, opt, 32), "the returned loss")
    want = c0 + lr * w0
    if torch.allclose(G.c.detach(), c0):
        raise CheckFailure("the generator did not move: call optimizer.step() after loss.backward()")
    if torch.allclose(G.c.detach(), want - lr * 100.0, atol=1e-4):
        raise CheckFailure("the update added the previous step's gradients: call optimizer.zero_grad() before backward()")
    if torch.allclose(G.c.detach(), c0 - lr * w0, atol=1e-4):
        raise CheckFailure("the generator moved the wrong way: its loss is -E f(G(z)), minimised (it raises the critic's score)")
    expect_close(want, G.c.detach(), what="the generator's c after the step", rtol=1e-4, atol=1e-5)
    cases.add("returns the loss before the step, -E f(G(z)) = -(w.c + b)")
    want_loss = -float(c0 @ w0 + 0.3)
    if abs(loss - want_loss) > 1e-4:
        raise CheckFailure(f"expected the loss {want_loss:.6g}, got {loss:.6g}")
    cases.add("the critic does not move (the generator's optimizer holds only the generator's parameters)")
    if not torch.equal(critic.w.detach(), w0) or not torch.equal(critic.b.detach(), torch.tensor(0.3)):
        raise CheckFailure("the generator's step moved the critic")
    cases.add("fresh noise z ~ N(0, I) of shape (batch_size, generator.latent_dim)")
    G = PointGenerator(torch.zeros(2), latent_dim=4)
    student(G, critic, torch.optim.SGD(G.parameters(), lr=0.0), 4000)
    if not G.seen or tuple(G.seen[-1].shape) != (4000, 4):
        raise CheckFailure(f"expected z of shape (4000, 4), got {[tuple(z.shape) for z in G.seen]}")
    z = G.seen[-1]
    if abs(z.mean().item()) > 0.05 or abs(z.var().item() - 1) > 0.05:
        raise CheckFailure(f"z should be N(0, I): mean {z.mean():.3f}, variance {z.var():.3f} (use torch.randn)")
