"""course_lib.flows against independent computations: every inverse against the forward map, every
log-determinant against autograd's Jacobian, MADE's masks against the Jacobian's sparsity, densities
against numerical integration and Gaussian closed forms, and the dequantisation bound against a model
whose discrete likelihood is known exactly."""

import math

import pytest
import torch
from torch import nn

from course_lib import data, flows

torch.set_default_dtype(torch.float32)


def _perturb(module: nn.Module, seed: int = 0, std: float = 0.3) -> nn.Module:
    """Random weights everywhere (flows start at the identity, which would make every test trivial)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "log_gamma" in name or "log_scale" in name or "beta" in name or "loc" in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.2)
            else:
                p.add_(torch.randn(p.shape, generator=g) * std)
    return module.eval()


def _jacobian_logdets(f, x: torch.Tensor) -> torch.Tensor:
    """log|det J| of f at each row of x, from autograd's full Jacobian (float64)."""
    out = []
    for row in x:
        J = torch.autograd.functional.jacobian(lambda v: f(v[None])[0][0], row)
        out.append(torch.linalg.slogdet(J)[1])
    return torch.stack(out)


def _layers(dim: int = 6):
    yield flows.AffineCoupling(flows.checkerboard_mask(dim, 0), hidden=16)
    yield flows.AffineCoupling(flows.half_mask(dim, first=False), hidden=16, num_hidden=3, activation="tanh")
    yield flows.MaskedAutoregressive(dim, hidden=24)
    yield flows.InverseAutoregressive(dim, hidden=24, order=torch.tensor([3, 1, 6, 2, 5, 4]))
    yield flows.Permutation(torch.tensor([2, 0, 5, 1, 4, 3]))
    yield flows.Reverse(dim)
    yield flows.ActNorm(dim)
    yield flows.BatchNormFlow(dim)


LAYERS = [type(m).__name__ + str(i) for i, m in enumerate(_layers())]


@pytest.mark.parametrize("i", range(len(LAYERS)), ids=LAYERS)
def test_every_layer_inverts_and_its_log_det_is_autograds(i):
    torch.manual_seed(i)
    layer = _perturb(list(_layers())[i].double(), seed=i)
    with torch.no_grad():
        layer.running_var.mul_(2.5) if isinstance(layer, flows.BatchNormFlow) else None
    x = torch.randn(5, 6, dtype=torch.float64)
    z, ld = layer(x)
    x_back, ld_inv = layer.inverse(z)
    assert ld.shape == (5,) and ld_inv.shape == (5,)
    assert torch.allclose(x_back, x, atol=1e-10)
    assert torch.allclose(ld, _jacobian_logdets(layer, x), atol=1e-8)
    assert torch.allclose(ld_inv, _jacobian_logdets(layer.inverse, z), atol=1e-8)
    assert torch.allclose(ld_inv, -ld, atol=1e-10)
    assert ld.abs().max() > 1e-3 or isinstance(layer, flows.Permutation)  # a real test, not the identity


def test_logit_preprocessing_inverts_counts_its_jacobian_and_refuses_data_outside_0_1():
    layer = flows.Logit(4, alpha=0.05).double()
    y = torch.rand(3, 4, dtype=torch.float64)
    x, ld = layer(y)
    assert torch.allclose(layer.inverse(x)[0], y, atol=1e-12)
    assert torch.allclose(ld, _jacobian_logdets(layer, y), atol=1e-9)
    assert torch.allclose(layer.inverse(x)[1], _jacobian_logdets(layer.inverse, x), atol=1e-9)
    with pytest.raises(ValueError, match=r"data in \[0, 1\]"):
        layer(torch.full((2, 4), 1.5))


def test_made_jacobian_is_strictly_triangular_in_its_order_and_misses_no_allowed_connection():
    order = torch.tensor([4, 2, 5, 1, 3])
    made = _perturb(flows.MADE(5, hidden=20, num_hidden=2, num_outputs=2, order=order).double())
    x = torch.randn(5, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda v: made(v[None])[0], x)  # (2, 5, 5): output group, d, input j
    allowed = order[:, None] > order[None, :]  # output d may depend on input j iff j comes earlier
    assert (J[:, ~allowed] == 0).all()
    assert (J[:, allowed].abs() > 0).all()


def test_made_masks_connect_hidden_units_non_strictly_and_outputs_strictly():
    order, hidden = flows.made_degrees(3, hidden=4, num_hidden=1)
    (m1, m2) = flows.made_masks(order, hidden)
    assert hidden[0].tolist() == [1, 2, 1, 2]
    assert m1.tolist() == [[1, 0, 0], [1, 1, 0], [1, 0, 0], [1, 1, 0]]  # unit of degree m sees inputs <= m
    assert m2.tolist() == [[0, 0, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1]]  # output d sees units < d


def test_maf_density_takes_one_pass_and_sampling_d_passes_iaf_the_reverse():
    calls = {"n": 0}

    def count(*_):
        calls["n"] += 1

    for kind, density_passes, sample_passes in ((flows.MaskedAutoregressive, 1, 7), (flows.InverseAutoregressive, 7, 1)):
        layer = _perturb(kind(7, hidden=16))
        handle = layer.made.register_forward_hook(count)
        x = torch.randn(3, 7)
        calls["n"] = 0
        z, _ = layer(x)
        assert calls["n"] == density_passes
        calls["n"] = 0
        layer.inverse(z)
        assert calls["n"] == sample_passes
        handle.remove()


@pytest.mark.parametrize("make", [
    lambda: flows.RealNVP(2, 6, 32),
    lambda: flows.MAF(2, 4, 32),
    lambda: flows.IAF(2, 4, 32),
    lambda: flows.RealNVP(2, 4, 32, actnorm=True, mask="half"),
], ids=["realnvp", "maf", "iaf", "realnvp-actnorm"])
def test_a_flows_density_integrates_to_one(make):
    """Change of variables done right gives a density: its integral over a wide box is 1 (Riemann sum)."""
    flow = _perturb(make().double(), std=0.15)
    with torch.no_grad():
        for m in flow.modules():
            if isinstance(m, flows.ActNorm):
                m.initialized.fill_(True)
    t = torch.linspace(-9, 9, 361, dtype=torch.float64)
    grid = torch.cartesian_prod(t, t)
    with torch.no_grad():
        mass = flow.log_prob(grid).exp().sum().item() * float(t[1] - t[0]) ** 2
        x = flow.sample(200, torch.Generator().manual_seed(0))
    assert mass == pytest.approx(1.0, abs=0.02)
    assert x.dtype == torch.float64 and x.shape == (200, 2)


def test_a_one_layer_flow_matches_the_gaussian_it_defines():
    """ActNorm alone: x = z e^-s + loc with z ~ N(0, I) is N(loc, e^-2s): log_prob against the closed form."""
    layer = flows.ActNorm(3)
    with torch.no_grad():
        layer.loc.copy_(torch.tensor([1.0, -2.0, 0.5]))
        layer.log_scale.copy_(torch.tensor([0.3, -0.7, 1.1]))
        layer.initialized.fill_(True)
    flow = flows.Flow([layer]).eval()
    x = torch.randn(10, 3)
    std = torch.exp(-layer.log_scale.detach())
    expected = torch.distributions.Normal(layer.loc.detach(), std).log_prob(x).sum(1)
    assert torch.allclose(flow.log_prob(x), expected, atol=1e-5)
    s = flow.sample(20000, torch.Generator().manual_seed(1))
    assert torch.allclose(s.mean(0), layer.loc.detach(), atol=0.05)
    assert torch.allclose(s.std(0), std, rtol=0.03)


def test_flow_layers_compose_and_trajectory_ends_at_the_base():
    flow = _perturb(flows.RealNVP(4, 3, 16, logit_alpha=0.05))
    y = torch.rand(6, 4)
    z, ld = flow(y)
    traj = flow.trajectory(y)
    assert len(traj) == 5 and torch.allclose(traj[-1], z)
    total = sum(layer(h)[1] for layer, h in zip(flow.layers, traj[:-1]))
    assert torch.allclose(ld, total)
    assert torch.allclose(flow.log_prob(y), flows.standard_normal_log_prob(z) + ld)
    assert torch.allclose(flow.inverse(z)[0], y, atol=1e-5)


def test_actnorm_initialises_from_its_first_training_batch():
    layer = flows.ActNorm(3).train()
    x = torch.randn(500, 3) * torch.tensor([2.0, 0.5, 4.0]) + torch.tensor([1.0, -1.0, 3.0])
    z, _ = layer(x)
    assert torch.allclose(z.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std(0), torch.ones(3), atol=1e-4)
    z2, _ = layer(x * 3)  # the second batch does not re-initialise
    assert not torch.allclose(z2.std(0), torch.ones(3), atol=0.1)


def test_batch_norm_flow_uses_batch_statistics_in_training_and_running_ones_in_eval():
    layer = flows.BatchNormFlow(2, momentum=1.0).train()
    x = torch.randn(400, 2) * 3 + 5
    z, ld = layer(x)
    assert torch.allclose(z.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(ld, -0.5 * torch.log(x.var(0, unbiased=False) + layer.eps).sum().expand(400))
    layer.eval()
    z_eval, _ = layer(x[:3])  # one example's output no longer depends on its batch
    assert torch.allclose(z_eval, z[:3], atol=1e-5)
    assert torch.allclose(layer(x[:1])[0], z_eval[:1], atol=1e-6)


# ----------------------------------------------------------------------------- discrete data
def test_a_uniform_density_scores_exactly_d_log_l_nats():
    """The uniform density on [0, 1)^D gives each of the L^D level images probability L^-D: D ln L nats."""
    levels = torch.randint(0, 17, (8, 64))
    nll = flows.dequantized_nll(lambda y: torch.zeros(y.shape[0]), levels, 17)
    assert torch.allclose(nll, torch.full((8,), 64 * math.log(17)))
    assert 64 * math.log(17) == pytest.approx(181.3, abs=0.05)


def test_the_dequantisation_bound_holds_and_importance_weighting_tightens_it():
    """p(y) = 2y on [0, 1) gives level k probability (2k + 1) / L^2 exactly (the integral over its bin)."""
    L = 5
    levels = torch.arange(L).repeat(2000)[:, None]  # (B, 1)
    exact = -torch.log((2 * levels[:, 0].double() + 1) / L**2)
    log_prob = lambda y: torch.log(2 * y[:, 0])
    g = torch.Generator().manual_seed(0)
    one = flows.dequantized_nll(log_prob, levels, L, g).double()
    iw = flows.importance_weighted_nll(log_prob, levels, L, k=200, generator=g).double()
    for k in range(1, L):  # level 0 has a singular log-density at y = 0, skip its Monte Carlo noise
        sel = levels[:, 0] == k
        assert one[sel].mean() > exact[sel][0] + 1e-4  # Jensen: the one-draw bound is strictly above
        assert one[sel].mean() - exact[sel][0] < 0.2
        assert iw[sel].mean() == pytest.approx(exact[sel][0].item(), abs=2e-3)
        assert (iw[sel].mean() < one[sel].mean())


def test_dequantize_draws_u_per_pixel_in_0_1_and_refuses_bad_levels():
    levels = torch.randint(0, 17, (50, 64))
    y, ld = flows.dequantize(levels, 17, torch.Generator().manual_seed(0))
    u = y * 17 - levels
    assert u.min() >= 0 and u.max() < 1 and u.std() > 0.25 and u[0].std() > 0.2
    assert torch.allclose(ld, torch.full((50,), -64 * math.log(17)))
    with pytest.raises(ValueError, match=r"grey levels in 0..16"):
        flows.dequantize(torch.full((2, 3), 17), 17)
    with pytest.raises(ValueError, match="integer grey levels"):
        flows.dequantize(torch.rand(2, 3), 17)
    with pytest.raises(ValueError, match=r"of shape \(B, D\)"):
        flows.dequantize(torch.zeros(2, 1, 8, 8, dtype=torch.long), 17)
    assert flows.samples_to_levels(torch.tensor([[0.0, 0.999, 0.5, 1.2]]), 17).tolist() == [[0, 16, 8, 16]]


# ----------------------------------------------------------------------------- training and errors
def test_train_flow_fits_moons_and_keeps_the_best_validation_epoch():
    x, v = data.make_toy("moons", 2000, seed=0), data.make_toy("moons", 500, seed=1)
    flow = flows.RealNVP(2, 6, 64)
    before = -flow.log_prob(v).mean().item()
    h = flows.train_flow(flow, x, v, flows.FlowConfig(epochs=6, batch_size=128, lr=2e-3), device="cpu", progress=False)
    after = -flow.log_prob(v).mean().item()
    assert after < before - 0.8 and not flow.training
    assert h.best_epoch == 1 + min(range(6), key=lambda i: h.val_loss[i])
    assert after == pytest.approx(min(h.val_loss), abs=1e-4)


def test_evaluate_nll_restores_the_mode_and_matches_a_hand_computation():
    flow = _perturb(flows.RealNVP(4, 2, 8, logit_alpha=0.05), std=0.05).train()
    levels = torch.randint(0, 17, (30, 4))
    got = flows.evaluate_nll(flow, levels, 17, draws=3, seed=5)
    assert flow.training
    g = torch.Generator().manual_seed(5)
    flow.eval()
    with torch.no_grad():
        hand = torch.stack([flows.dequantized_nll(flow.log_prob, levels, 17, g) for _ in range(3)]).mean().item()
    assert got == pytest.approx(hand, rel=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda: flows.AffineCoupling(torch.tensor([0.0, 0.5])), "tensor of 0s and 1s"),
    (lambda: flows.RealNVP(64, 2, 8, image_shape=(7, 7)), "a shape with 64 pixels"),
    (lambda: flows.RealNVP(4, 2, 8, mask="stripes"), "mask must be one of"),
    (lambda: flows.RealNVP(4, 2, 8)(torch.zeros(3, 5)), r"x must be of shape \(B, 4\)"),
    (lambda: flows.MAF(4, 2, 8).inverse(torch.zeros(4)), r"z must be of shape \(B, 4\)"),
    (lambda: flows.MADE(1), "MADE needs D >= 2"),
    (lambda: flows.MADE(3, order=torch.tensor([1, 1, 2])), "a permutation of 1..3"),
    (lambda: flows.Permutation(torch.tensor([0, 2])), "a permutation of 0..dim-1"),
    (lambda: flows.Flow([]), "a non-empty sequence of FlowLayer"),
    (lambda: flows.Flow([flows.Reverse(2), flows.Reverse(3)]), "layers of one dimension"),
    (lambda: flows.FlowConfig(epochs=0), "epochs must be a positive integer"),
    (lambda: flows.RealNVP(2, 2, 8).sample(0), "n must be a positive integer"),
])
def test_bad_input_gets_an_error_naming_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
