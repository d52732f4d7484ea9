"""The time-conditioned networks: shapes, the time embedding's formula, conditioning, clear errors."""

import math

import pytest
import torch

from course_lib.training import EMA, fit
from course_lib.unet import ResBlock, SinusoidalEmbedding, TimeEmbedding, TimeMLP, UNet, UNetConfig, count_parameters


def test_sinusoidal_embedding_matches_its_formula():
    dim, t = 8, torch.tensor([0, 1, 7, 999])
    emb = SinusoidalEmbedding(dim)(t)
    assert emb.shape == (4, dim)
    for row, step in zip(emb, t.tolist()):
        for i in range(dim // 2):
            w = 10_000 ** (-i / (dim // 2))
            assert row[i].item() == pytest.approx(math.sin(step * w), abs=1e-5)
            assert row[dim // 2 + i].item() == pytest.approx(math.cos(step * w), abs=1e-5)


def test_sinusoidal_embedding_has_unit_pairs_and_near_steps_are_similar():
    emb = SinusoidalEmbedding(64)(torch.arange(1000))
    half = emb[:, :32] ** 2 + emb[:, 32:] ** 2
    assert torch.allclose(half, torch.ones_like(half), atol=1e-5)  # sin^2 + cos^2 = 1 per frequency
    sim = torch.nn.functional.cosine_similarity(emb[500:501], emb, dim=1)
    assert sim[501] > sim[520] > sim[700]


@pytest.mark.parametrize("dim", [0, 3])
def test_sinusoidal_embedding_needs_an_even_dimension(dim):
    with pytest.raises(ValueError, match="even number"):
        SinusoidalEmbedding(dim)


@pytest.mark.parametrize(
    "config, shape",
    [
        (UNetConfig(), (3, 1, 8, 8)),
        (UNetConfig(channels=16, channel_mult=(1, 2, 2), attention=(1,)), (2, 1, 8, 8)),
        (UNetConfig(in_channels=4, channels=16, channel_mult=(1, 2), blocks=2), (2, 4, 4, 4)),
        (UNetConfig(channels=16, channel_mult=(1,)), (2, 1, 5, 7)),
        (UNetConfig(channels=16, attention=(1,), num_classes=10, scale_shift=True), (2, 1, 8, 8)),
    ],
)
def test_unet_predicts_noise_of_the_input_shape(config, shape):
    net = UNet(config)
    out = net(torch.randn(shape), torch.randint(0, 1000, shape[:1]))
    assert out.shape == shape
    assert torch.equal(out, torch.zeros(shape))  # zero-initialised output layer: starts predicting no noise


def test_unet_depends_on_t_and_trains():
    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=16))
    x = torch.randn(16, 1, 8, 8)
    target = torch.randn(16, 1, 8, 8)
    t = torch.randint(0, 1000, (16,))
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    first = None
    for _ in range(30):
        loss = ((net(x, t) - target) ** 2).mean()
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first
    with torch.no_grad():
        assert not torch.allclose(net(x, torch.zeros(16, dtype=torch.long)), net(x, torch.full((16,), 999)))


def test_class_conditioning_and_the_null_label():
    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=16, num_classes=10))
    torch.nn.init.normal_(net.out[-1].weight)
    x, t = torch.randn(4, 1, 8, 8), torch.full((4,), 50)
    with torch.no_grad():
        uncond, null = net(x, t), net(x, t, torch.full((4,), 10))
        three = net(x, t, torch.full((4,), 3))
    assert torch.allclose(uncond, null)  # no label = the null label (index num_classes)
    assert not torch.allclose(uncond, three)
    with pytest.raises(ValueError, match="one per example"):
        net(x, t, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="no class conditioning"):
        UNet(UNetConfig(channels=16))(x, t, torch.zeros(4, dtype=torch.long))


def test_scale_shift_block_matches_its_formula_and_the_shift_only_block():
    """FiLM: h = GroupNorm(h) (1 + scale) + shift, checked against the formula written out; with the embedding's
    projection at zero (scale 0, shift 0) it is the shift-only block with the same weights."""
    torch.manual_seed(0)
    film, plain = ResBlock(8, 16, 32, scale_shift=True), ResBlock(8, 16, 32)
    x, emb = torch.randn(3, 8, 4, 4), torch.randn(3, 32)
    F = torch.nn.functional
    with torch.no_grad():
        h = film.conv1(F.silu(film.norm1(x)))
        scale, shift = film.emb(F.silu(emb)).chunk(2, dim=1)
        h = film.norm2(h) * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
        expected = film.skip(x) + film.conv2(F.silu(h))
        assert torch.allclose(film(x, emb), expected, atol=1e-6)
        assert film.emb.out_features == 32 and plain.emb.out_features == 16
        for name in ("norm1", "conv1", "norm2", "conv2", "skip"):
            getattr(plain, name).load_state_dict(getattr(film, name).state_dict())
        film.emb.weight.zero_()  # scale 0 (a factor 1 + 0) and shift 0
        film.emb.bias.zero_()
        plain.emb.weight.zero_()
        plain.emb.bias.zero_()
        assert torch.allclose(film(x, emb), plain(x, emb), atol=1e-6)


def test_scale_shift_unet_conditions_on_the_label():
    """A FiLM U-Net tells labels apart, the gradient reaches only the label used, a non-boolean flag is refused."""
    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=16, num_classes=10, scale_shift=True))
    torch.nn.init.normal_(net.out[-1].weight)
    x, t = torch.randn(4, 1, 8, 8), torch.full((4,), 50)
    with torch.no_grad():
        assert not torch.allclose(net(x, t, torch.full((4,), 3)), net(x, t, torch.full((4,), 5)))
    loss = net(x, t, torch.full((4,), 3)).pow(2).mean()
    loss.backward()
    assert net.time.label.weight.grad[3].abs().sum() > 0 and net.time.label.weight.grad[5].abs().sum() == 0
    with pytest.raises(ValueError, match="scale_shift"):
        UNetConfig(scale_shift="yes")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: UNet()(torch.randn(2, 3, 8, 8), torch.zeros(2, dtype=torch.long)), r"\(B, 1, H, W\)"),
        (lambda: UNet()(torch.randn(2, 1, 7, 8), torch.zeros(2, dtype=torch.long)), "divisible by 2"),
        (lambda: UNet()(torch.randn(2, 1, 8, 8), torch.zeros(3, dtype=torch.long)), r"steps t must be of shape \(2,\)"),
        (lambda: UNet(UNetConfig(attention=(2,))), "must be an index of channel_mult"),
        (lambda: UNet(UNetConfig(channel_mult=())), "channel_mult"),
        (lambda: TimeMLP(2)(torch.randn(5, 3), torch.zeros(5, dtype=torch.long)), r"\(B, 2\)"),
        (lambda: TimeMLP(0), "dim must be a positive integer"),
    ],
)
def test_bad_inputs_say_what_was_expected(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_time_mlp_shapes_and_time_dependence():
    torch.manual_seed(0)
    net = TimeMLP(dim=2, hidden=32, layers=2)
    x = torch.randn(7, 2)
    out0, out1 = net(x, torch.zeros(7, dtype=torch.long)), net(x, torch.full((7,), 900))
    assert out0.shape == (7, 2) and not torch.allclose(out0, out1)
    assert count_parameters(net) == sum(p.numel() for p in net.parameters())
    assert TimeEmbedding(8, 16)(torch.arange(3)).shape == (3, 16)


def test_ema_averages_the_weights_and_follows_fit():
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    ema = EMA(net, decay=0.9, warmup=False)
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema(net, 1)
    assert torch.allclose(ema.model.weight, 0.9 * start + 0.1 * (start + 1))  # ema = d * ema + (1 - d) * w
    assert not ema.model.weight.requires_grad and not ema.model.training

    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    ema2 = EMA(net, decay=0.95)
    expected, steps = ema2.model.weight.detach().clone(), []

    def on_step(model, step):  # the recursion computed by hand from the recorded weights, with the warm-up
        nonlocal expected
        d = min(0.95, (1 + step) / (10 + step))
        expected = d * expected + (1 - d) * model.weight.detach()
        steps.append(step)
        ema2(model, step)

    fit(net, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), (x, y), epochs=5, batch_size=16, lr=0.05,
        progress=False, on_step=on_step, device="cpu")
    assert steps == list(range(1, 21))
    assert torch.allclose(ema2.model.weight, expected, atol=1e-6)
    with pytest.raises(ValueError, match="decay"):
        EMA(net, decay=1.0)
