"""course_lib.gan against independent computations: the losses against their formulas in probabilities,
the optimal discriminator and the Jensen-Shannon divergence against closed forms, the gradient penalty
against hand-made critics whose gradients are known, and mode coverage against counted samples."""

import math

import pytest
import torch
from torch import nn

from course_lib import data, gan


# ----------------------------------------------------------------------------- the losses
def test_losses_match_their_formulas_in_probabilities():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(50, generator=g) * 3, torch.randn(70, generator=g) * 3
    Dr, Df = torch.sigmoid(real).double(), torch.sigmoid(fake).double()
    assert gan.discriminator_loss(real, fake).item() == pytest.approx(-(Dr.log().mean() + (1 - Df).log().mean()).item(), rel=1e-5)
    assert gan.generator_loss(fake).item() == pytest.approx(-Df.log().mean().item(), rel=1e-5)
    assert gan.generator_loss(fake, saturating=True).item() == pytest.approx((1 - Df).log().mean().item(), rel=1e-5)
    assert gan.critic_loss(real, fake).item() == pytest.approx((fake.mean() - real.mean()).item(), rel=1e-5)
    assert gan.wgan_generator_loss(fake).item() == pytest.approx(-fake.mean().item(), rel=1e-5)


def test_losses_are_finite_at_extreme_logits():
    big = torch.tensor([-200.0, 200.0])
    for loss in (gan.discriminator_loss(big, big), gan.generator_loss(big), gan.generator_loss(big, saturating=True)):
        assert torch.isfinite(loss)
    assert gan.discriminator_loss(torch.tensor([200.0]), torch.tensor([-200.0])).item() == pytest.approx(0, abs=1e-6)


def test_saturating_gradient_vanishes_where_the_discriminator_wins():
    """d/dl log(1 - sigmoid(l)) = -sigmoid(l) -> 0 as l -> -inf; d/dl -log sigmoid(l) = -(1 - sigmoid(l)) -> -1."""
    logits = torch.tensor([-8.0], requires_grad=True)
    (g_sat,) = torch.autograd.grad(gan.generator_loss(logits, saturating=True), logits)
    (g_ns,) = torch.autograd.grad(gan.generator_loss(logits), logits)
    assert abs(g_sat.item()) == pytest.approx(torch.sigmoid(torch.tensor(-8.0)).item(), rel=1e-4)
    assert abs(g_sat.item()) < 1e-3
    assert g_ns.item() == pytest.approx(-(1 - torch.sigmoid(torch.tensor(-8.0))).item(), rel=1e-4)


def test_optimal_discriminator_leaves_minus_log4_plus_twice_the_jsd():
    """V(D*, G) = -log 4 + 2 JSD(p_data || p_g) for D* = p / (p + q), computed on a fine grid."""
    x = torch.linspace(-8, 8, 16001, dtype=torch.float64)
    dx = float(x[1] - x[0])
    p = torch.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    q = torch.exp(-0.5 * ((x - 1.5) / 0.7) ** 2) / (0.7 * math.sqrt(2 * math.pi))
    log_d, log_1md = (p / (p + q)).log(), (q / (p + q)).log()  # log D*, log(1 - D*) without 1 - 1 underflowing
    value = float(((p * log_d + q * log_1md) * dx).sum())
    assert value == pytest.approx(-math.log(4) + 2 * gan.jensen_shannon(p, q, dx), abs=1e-6)
    assert gan.jensen_shannon(p, p, dx) == pytest.approx(0, abs=1e-12)
    far = torch.exp(-0.5 * (x - 7.9) ** 2 / 0.01)
    assert gan.jensen_shannon(p, far, dx) == pytest.approx(math.log(2), abs=1e-6)  # disjoint supports: log 2


# ----------------------------------------------------------------------------- the gradient penalty
class _Linear(nn.Module):
    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x.reshape(len(x), -1) * self.w.reshape(1, -1)).sum(1)


def test_gradient_penalty_known_gradients():
    real, fake = torch.randn(8, 1, 2, 2), torch.randn(8, 1, 2, 2)
    assert gan.gradient_penalty(lambda x: torch.zeros(len(x)) + 0 * x.sum(), real, fake).item() == pytest.approx(1.0)
    unit = torch.full((4,), 0.5)  # norm 1 over all four entries of an example
    assert gan.gradient_penalty(_Linear(unit), real, fake).item() == pytest.approx(0.0, abs=1e-12)
    assert gan.gradient_penalty(_Linear(3 * unit), real, fake).item() == pytest.approx(4.0)  # (3 - 1)^2


def test_gradient_penalty_points_norms_and_gradient():
    """One eps per example on the segment real_i - fake_i; the norm per example; the critic gets a gradient."""
    seen = []

    class Quadratic(nn.Module):  # f(x) = a * sum(x^2): grad 2 a x, norm 2 |a| ||x||
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.tensor(0.7))

        def forward(self, x):
            seen.append(x.detach().clone())
            return self.a * x.pow(2).reshape(len(x), -1).sum(1)

    g = torch.Generator().manual_seed(3)
    real, fake = torch.randn(500, 3, 2, generator=g), torch.randn(500, 3, 2, generator=g)
    critic = Quadratic()
    penalty = gan.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    x_hat = seen[0]
    eps = (x_hat - fake) / (real - fake)  # (B, 3, 2): the same value across an example's entries
    assert torch.allclose(eps, eps[:, :1, :1].expand_as(eps), atol=1e-4)
    e = eps[:, 0, 0]
    assert 0 <= e.min() and e.max() <= 1 and abs(e.mean().item() - 0.5) < 0.05 and e.std().item() > 0.25
    norms = 2 * 0.7 * x_hat.reshape(500, -1).norm(dim=1)
    assert penalty.item() == pytest.approx(((norms - 1) ** 2).mean().item(), rel=1e-5)
    (grad,) = torch.autograd.grad(penalty, critic.a)
    assert grad.abs().item() > 0  # create_graph: the penalty trains the critic
    again = gan.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert again.item() == pytest.approx(penalty.item())


def test_gradient_penalty_rejects_unpaired_batches():
    with pytest.raises(ValueError, match="real and fake must be tensors of one shape"):
        gan.gradient_penalty(_Linear(torch.ones(2)), torch.zeros(3, 2), torch.zeros(4, 2))


# ----------------------------------------------------------------------------- networks
def test_networks_shapes_conditioning_and_errors():
    G, Dm = gan.MLPGenerator(2, 2, (16,)), gan.MLPDiscriminator(2, (16,))
    assert G(torch.randn(5, 2)).shape == (5, 2) and Dm(torch.randn(5, 2)).shape == (5,)
    Gc, Dc = gan.ConvGenerator(8, 4, num_classes=10), gan.ConvDiscriminator(4, num_classes=10)
    y = torch.arange(5) % 10
    x = Gc(torch.randn(5, 8), y)
    assert x.shape == (5, 1, 8, 8) and x.abs().max() <= 1 and Dc(x, y).shape == (5,)
    assert not torch.allclose(Dc(x, y), Dc(x, (y + 1) % 10))  # the label matters
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in Dc.modules())
    with pytest.raises(ValueError, match=r"z must be of shape \(B, 2\), got \(5, 3\)"):
        G(torch.randn(5, 3))
    with pytest.raises(ValueError, match="labels y must be of shape"):
        Gc(torch.randn(5, 8))
    with pytest.raises(ValueError, match="not conditional"):
        gan.ConvDiscriminator(4)(x, y)


def test_config_validates():
    with pytest.raises(ValueError, match="loss must be one of"):
        gan.GANConfig(loss="hinge")
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        gan.GANConfig(lr_schedule="linear")
    with pytest.raises(ValueError, match="n_critic must be"):
        gan.GANConfig(n_critic=0)


# ----------------------------------------------------------------------------- training
def test_train_gan_learns_a_one_dimensional_gaussian_with_every_loss():
    real = 3 + 0.5 * torch.randn(2048, 1, generator=torch.Generator().manual_seed(1))
    for loss, betas, n_critic, gp in (("non-saturating", (0.5, 0.999), 1, 0.0), ("wgan-gp", (0.0, 0.9), 5, 1.0)):
        torch.manual_seed(0)
        G, Dm = gan.MLPGenerator(1, 1, (32,)), gan.MLPDiscriminator(1, (32,))
        cfg = gan.GANConfig(loss=loss, latent_dim=1, n_critic=n_critic, gp_weight=gp, lr=2e-3, betas=betas,
                            epochs=60 if loss == "wgan-gp" else 40, batch_size=128, lr_schedule="cosine", snapshot_every=20)
        history, snaps = gan.train_gan(G, Dm, real, cfg, device="cpu", progress=False)
        x = gan.sample(G, 4000, 1, generator_rng=torch.Generator().manual_seed(0))
        assert x.mean().item() == pytest.approx(3.0, abs=0.25), loss
        assert 0.25 < x.std().item() < 1.2, loss  # the spread converges slowly in so few steps; the mean does not
        assert set(history.step) == {"critic_loss", "generator_loss"}
        assert snaps.samples.shape[1:] == (500, 1) and snaps.grid is None and snaps.steps[0] == 1


def test_train_gan_uses_the_given_losses_and_records_2d_snapshots():
    calls = {"d": 0, "g": 0}

    def my_discriminator_loss(r, f):
        calls["d"] += 1
        return gan.discriminator_loss(r, f)

    def my_generator_loss(f):
        calls["g"] += 1
        return gan.generator_loss(f)

    x = data.eight_gaussians(512, std=0.02)
    G, Dm = gan.MLPGenerator(2, 2, (16,)), gan.MLPDiscriminator(2, (16,))
    cfg = gan.GANConfig(epochs=2, batch_size=128, snapshot_every=4, lr_schedule="cosine")
    _, snaps = gan.train_gan(G, Dm, x, cfg, device="cpu", progress=False, grid_size=10,
                             losses=gan.Losses(discriminator=my_discriminator_loss, generator=my_generator_loss))
    assert calls == {"d": 8, "g": 8}
    assert snaps.steps.tolist() == [1, 4, 8] and snaps.grid.shape == (3, 10, 10) and len(snaps.lim) == 4


def test_train_gan_conditional_on_digits_runs():
    x = torch.rand(64, 1, 8, 8) * 2 - 1
    y = torch.arange(64) % 10
    G, Dc = gan.ConvGenerator(4, 4, num_classes=10), gan.ConvDiscriminator(4, num_classes=10)
    cfg = gan.GANConfig(loss="wgan-gp", latent_dim=4, n_critic=2, epochs=1, batch_size=16, snapshot_every=1)
    history, snaps = gan.train_gan(G, Dc, (x, y), cfg, device="cpu", progress=False)
    assert len(history.step["critic_loss"]) == 4 and snaps.samples.shape[1:] == (500, 1, 8, 8)


# ----------------------------------------------------------------------------- mode coverage
def test_mode_coverage_counts_reached_modes():
    centres = data.eight_gaussian_centres()
    all_modes = data.eight_gaussians(8000, std=0.02, seed=1)
    cov = gan.mode_coverage(all_modes, centres, 0.02)
    assert cov.covered == 8 and cov.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.005)  # P(chi2_2 < 9)
    assert sum(cov.counts) == round(cov.high_quality * 8000)
    three = all_modes[torch.cdist(all_modes, centres).argmin(1) < 3]  # a collapsed generator: modes 0, 1, 2
    assert gan.mode_coverage(three, centres, 0.02).covered == 3
    blur = data.eight_gaussians(8000, std=0.5, seed=1)  # every mode visited, few samples near any
    cov = gan.mode_coverage(blur, centres, 0.02)
    assert cov.high_quality < 0.05 and cov.covered == 0
    assert str(gan.mode_coverage(three, centres, 0.02)).startswith("3/8 modes")
    grid = data.gaussian_grid(20000, std=0.05)
    assert gan.mode_coverage(grid, data.gaussian_grid_centres(), 0.05).covered == 25
    with pytest.raises(ValueError, match="centres must be of shape"):
        gan.mode_coverage(grid, torch.zeros(3, 3), 0.05)
