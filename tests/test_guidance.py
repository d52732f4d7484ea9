"""Classifier-free guidance: label dropout per example, the guided prediction and its two conventions, one batched call."""

import math

import pytest
import torch
from torch import nn

from course_lib import diffusion, guidance


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_drop_labels_drops_each_example_independently_to_the_null_index():
    y = torch.arange(10).repeat(2000)  # (20000,)
    out = guidance.drop_labels(y, 0.1, null_label=10, generator=_gen(0))
    dropped = out == 10
    assert torch.equal(out[~dropped], y[~dropped]) and set(out.unique().tolist()) <= set(range(11))
    n, k = len(y), int(dropped.sum())
    assert abs(k - 0.1 * n) < 4 * math.sqrt(n * 0.1 * 0.9)  # binomial, within 4 standard deviations
    per_class = torch.stack([dropped[y == c].float().mean() for c in range(10)])
    assert per_class.min() > 0.07 and per_class.max() < 0.13  # not whole classes, not one coin per batch
    assert y.tolist()[:10] == list(range(10))  # the input is untouched
    assert torch.equal(guidance.drop_labels(y, 0.0, 10), y)
    assert (guidance.drop_labels(y, 1.0, 10) == 10).all()
    again = guidance.drop_labels(y, 0.1, 10, generator=_gen(0))
    assert torch.equal(out, again)


@pytest.mark.parametrize("call, message", [
    (lambda: guidance.drop_labels(torch.tensor([0, 3, 9]), 0.1, null_label=5), "an index above every real class"),
    (lambda: guidance.drop_labels(torch.tensor([0.0, 1.0]), 0.1, 10), "integer class labels"),
    (lambda: guidance.drop_labels(torch.tensor([0, 1]), 1.5, 10), "p must be"),
    (lambda: guidance.guided_eps(torch.zeros(2, 3), torch.zeros(2, 4), 2.0), "tensors of one shape"),
])
def test_bad_input_gets_an_error_naming_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_guided_eps_interpolates_and_extrapolates_on_every_channel_and_the_conventions_agree():
    g = _gen(1)
    c, u = torch.randn(4, 3, 8, 8, generator=g), torch.randn(4, 3, 8, 8, generator=g)
    assert torch.allclose(guidance.guided_eps(c, u, 1.0), c, atol=1e-6)
    assert torch.allclose(guidance.guided_eps(c, u, 0.0), u)
    w = 2.5
    s = guidance.guidance_weight_to_scale(w)
    assert torch.allclose(guidance.guided_eps(c, u, s), (1 + w) * c - w * u, atol=1e-6)
    out = guidance.guided_eps(c, u, 3.0)
    assert torch.allclose(out - u, 3.0 * (c - u), atol=1e-5)  # every channel moved, none left behind


class _Counting(nn.Module):
    """A conditional 'network' with a known answer: eps = x * (1 + y) + t, counting its calls."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x, t, y):
        self.calls += 1
        return x * (1 + y.float().view(-1, *([1] * (x.ndim - 1)))) + t.float().view(-1, *([1] * (x.ndim - 1)))


def test_guided_model_is_one_batched_call_matching_two_separate_ones():
    net = _Counting()
    x, t, y = torch.randn(5, 1, 4, 4, generator=_gen(2)), torch.arange(5), torch.tensor([0, 1, 2, 3, 4])
    null = torch.full((5,), 10)
    expected = guidance.guided_eps(net(x, t, y), net(x, t, null), 2.0)
    net.calls = 0
    guided = guidance.GuidedModel(net, scale=2.0, null_label=10)
    assert torch.allclose(guided(x, t, y), expected)
    assert net.calls == 1
    assert torch.allclose(guided(x, t), net(x, t, null))  # no labels: unconditional


def test_guided_model_at_scales_zero_and_one_runs_only_the_half_it_needs():
    net = _Counting()
    x, t, y = torch.randn(5, 1, 4, 4, generator=_gen(4)), torch.arange(5), torch.tensor([0, 1, 2, 3, 4])
    null = torch.full((5,), 10)
    sizes = []
    net.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    for scale, expected in ((0.0, net(x, t, null)), (1.0, net(x, t, y))):
        sizes.clear()
        guided = guidance.GuidedModel(net, scale=scale, null_label=10)(x, t, y)
        assert sizes == [5]  # one pass of the plain batch, not of the doubled one
        assert torch.equal(guided, expected)
        assert torch.allclose(guided, guidance.guided_eps(net(x, t, y), net(x, t, null), scale), atol=1e-6)


def test_guided_model_drives_lesson_06s_sampler_and_scale_one_is_the_conditional_model():
    proc = diffusion.GaussianDiffusion(diffusion.linear_beta_schedule(50))
    net = _Counting()
    y = torch.tensor([1, 2, 3])
    plain = proc.ddim_sample(lambda x, t, y: net(x, t, y), (3, 1, 4, 4), steps=5, generator=_gen(3),
                             model_kwargs={"y": y})
    guided = proc.ddim_sample(guidance.GuidedModel(net, 1.0, null_label=10), (3, 1, 4, 4), steps=5, generator=_gen(3),
                              model_kwargs={"y": y})
    assert torch.allclose(plain, guided, atol=1e-5)


def test_conditional_loss_trains_on_dropped_labels():
    seen = []

    class Recorder(nn.Module):
        def forward(self, x, t, y):
            seen.append(y.clone())
            return torch.zeros_like(x)

    proc = diffusion.GaussianDiffusion(diffusion.linear_beta_schedule(20))
    y = torch.arange(10).repeat(100)
    loss = guidance.conditional_loss(proc, Recorder(), torch.zeros(1000, 1, 2, 2), y, 0.5, null_label=10, generator=_gen(4))
    assert loss.ndim == 0
    frac = (seen[0] == 10).float().mean().item()
    assert 0.4 < frac < 0.6
