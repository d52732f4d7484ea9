"""Lesson 07's checks against the classic mistakes: every wrong answer listed here must fail, with a message
that points at the mistake; and the references agree with the library's own paths (LatentCodec, ddim_sample)."""

import pytest
import torch
from mistakes import lesson_tests
from torch import nn

from course_lib import checks, guidance, latent
from course_lib import diffusion as D
from course_lib.checks import FAILED
from course_lib.exercises import lesson07


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- wrong answers: the scale factor
def _sf_std(z):
    return z.double().std().item()


def _sf_variance(z):
    return 1 / z.double().var().item()


def _sf_per_dimension(z):
    return 1 / z.std(0)


def _sf_rms(z):  # not centred
    return 1 / z.double().square().mean().sqrt().item()


def _sf_example_means(z):
    return 1 / z.flatten(1).mean(1).std().item()


def _sf_max(z):
    return 1 / z.abs().max().item()


# ----------------------------------------------------------------------------- wrong answers: decoding
def _dl_times(decode, z, scale):
    return decode(z * scale)


def _dl_unscaled(decode, z, scale):
    return decode(z)


def _dl_divide_after(decode, z, scale):
    return decode(z) / scale


def _dl_multiply_after(decode, z, scale):
    return decode(z) * scale


def _dl_not_decoded(decode, z, scale):
    return z / scale


def _dl_in_place(decode, z, scale):
    z /= scale
    return decode(z)


# ----------------------------------------------------------------------------- wrong answers: label dropout
def _drop(y, p, null_label, generator=None, coin="example", to=None, keep=False):
    u = torch.rand(y.shape if coin == "example" else (1,), generator=generator).expand(y.shape)
    drop = (u >= p) if keep else (u < p)
    return torch.where(drop, torch.full_like(y, null_label if to is None else to), y)


def _drop_in_place(y, p, null_label, generator=None):
    y[torch.rand(y.shape, generator=generator) < p] = null_label
    return y


def _drop_prefix(y, p, null_label, generator=None):
    out = y.clone()
    out[: round(p * len(y))] = null_label
    return out


def _drop_float(y, p, null_label, generator=None):
    return _drop(y, p, null_label, generator).float()


# ----------------------------------------------------------------------------- wrong answers: guidance
def _ge_w_read_as_s(c, u, s):
    return c + s * (c - u)


def _ge_one_plus_s(c, u, s):
    return (1 + s) * c - s * u


def _ge_swapped(c, u, s):
    return c + s * (u - c)


def _ge_cond_only(c, u, s):
    return s * c


def _ge_channel_0(c, u, s):
    out = c.clone()
    out[:, 0] = u[:, 0] + s * (c[:, 0] - u[:, 0])
    return out


def _ge_channel_mean(c, u, s):
    return (u + s * (c - u)).mean(1)


# ----------------------------------------------------------------------------- wrong answers: the guided sampler
def _sampler(mode="right", calls="one", last=True, clip_used=True, every_step=False):
    @torch.no_grad()
    def sample(diffusion, model, x_T, y, scale, null_label, steps, clip):
        ts = list(range(diffusion.T - 1, -1, -1)) if every_step else diffusion.ddim_timesteps(steps).tolist()
        pairs = list(zip(ts, [*ts[1:], -1]))
        if not last:
            pairs = pairs[:-1]
        null, B, x = torch.full_like(y, null_label), len(y), x_T
        for t, t_prev in pairs:
            tt = torch.full((B,), t)
            if mode == "conditional":
                eps = model(x, tt, y)
            elif calls == "two":
                eps = guidance.guided_eps(model(x, tt, y), model(x, tt, null), scale)
            else:
                labels = torch.cat([y, y if mode == "labels twice" else null])
                out = model(torch.cat([x, x]), torch.cat([tt, tt]), labels)
                c, u = (out[B:], out[:B]) if mode == "swapped" else (out[:B], out[B:])
                eps = guidance.guided_eps(c, u, scale)
            x = diffusion.ddim_step(eps, x, t, t_prev, eta=0.0, clip=clip if clip_used else None)[0]
        return x

    return sample


MISTAKES = [
    ("07.scale_factor", "the std, not 1 / std", _sf_std, "the standard deviation itself"),
    ("07.scale_factor", "1 / variance", _sf_variance, "1 / variance"),
    ("07.scale_factor", "one scale per dimension, 1 / z.std(0)", _sf_per_dimension, "every entry of z (z.std(), not z.std(0))"),
    ("07.scale_factor", "1 / RMS, not centred", _sf_rms, "not centred"),
    ("07.scale_factor", "1 / std of the per-example means", _sf_example_means, "each example's mean"),
    ("07.scale_factor", "1 / max |z|", _sf_max, "1 / max |z|"),
    ("07.decode_latents", "decode(z * scale)", _dl_times, "You decoded z * scale: divide the latents by the scale before"),
    ("07.decode_latents", "decode(z): the scale forgotten", _dl_unscaled, "You decoded z as it is: divide the latents"),
    ("07.decode_latents", "decode(z) / scale", _dl_divide_after, "You divided after decoding"),
    ("07.decode_latents", "decode(z) * scale", _dl_multiply_after, "You multiplied the decoded images"),
    ("07.decode_latents", "z / scale, not decoded", _dl_not_decoded, "you returned z / scale without decoding it"),
    ("07.decode_latents", "z /= scale: the caller's latents changed", _dl_in_place, "changed in place"),
    ("07.drop_labels", "one coin for the whole batch", lambda y, p, n, generator=None: _drop(y, p, n, generator, coin="batch"),
     "one coin per example"),
    ("07.drop_labels", "dropped to label 0", lambda y, p, n, generator=None: _drop(y, p, n, generator, to=0),
     "they became 0, a real class"),
    ("07.drop_labels", "dropped to -1", lambda y, p, n, generator=None: _drop(y, p, n, generator, to=-1),
     "they became -1"),
    ("07.drop_labels", "kept with probability p", lambda y, p, n, generator=None: _drop(y, p, n, generator, keep=True),
     "keep each label with probability p"),
    ("07.drop_labels", "y modified in place and returned", _drop_in_place, "y was changed in place"),
    ("07.drop_labels", "the first round(p B) examples dropped", _drop_prefix, "the first"),
    ("07.drop_labels", "float labels", _drop_float, "keep them integers"),
    ("07.guided_eps", "eps_c + s (eps_c - eps_u): the w convention read with s", _ge_w_read_as_s, "(1 + w) eps_c - w eps_u"),
    ("07.guided_eps", "(1 + s) eps_c - s eps_u", _ge_one_plus_s, "convention read with w = s"),
    ("07.guided_eps", "eps_c + s (eps_u - eps_c): the roles swapped", _ge_swapped, "swapped"),
    ("07.guided_eps", "s * eps_c", _ge_cond_only, "s * eps_cond alone"),
    ("07.guided_eps", "guidance on channel 0 only", _ge_channel_0, "Only channel 0 was guided"),
    ("07.guided_eps", "averaged over the channels", _ge_channel_mean, "on every channel"),
    ("07.guided_sample", "no guidance: the conditional predictions only", _sampler(mode="conditional"), "no guidance"),
    ("07.guided_sample", "the halves swapped: guided away from the class", _sampler(mode="swapped"), "halves are swapped"),
    ("07.guided_sample", "two calls of the network per step", _sampler(calls="two"), "two calls per step"),
    ("07.guided_sample", "clip ignored", _sampler(clip_used=False), "without clipping"),
    ("07.guided_sample", "the last step, to t_prev = -1, skipped", _sampler(last=False), "t_prev = -1"),
    ("07.guided_sample", "the labels y in both halves: the null label never used", _sampler(mode="labels twice"),
     "the null label 3 never reached the network"),
    ("07.guided_sample", "every one of the T steps", _sampler(every_step=True), "diffusion.ddim_timesteps(steps)"),
]


(
    test_each_classic_mistake_fails_with_a_message_that_names_it,
    test_every_exercise_has_mistakes_listed,
    test_a_copy_of_the_reference_passes_and_a_stub_is_not_attempted,
) = lesson_tests("07", MISTAKES)


def test_lesson_07_registers_its_exercises_in_order():
    assert [ex.key for ex in checks.exercises("07")] == [
        "07.scale_factor", "07.decode_latents", "07.drop_labels", "07.guided_eps", "07.guided_sample"]


# ----------------------------------------------------------------------------- the references against the library
class _Tiny(nn.Module):
    """A tiny linear autoencoder whose latents have a non-zero mean and unequal spreads."""

    def __init__(self):
        super().__init__()
        self.enc, self.dec = nn.Linear(6, 3), nn.Linear(3, 6)
        with torch.no_grad():
            self.enc.weight.copy_(torch.randn(3, 6, generator=_gen(0)) * torch.tensor([[0.2], [1.0], [3.0]]))
            self.enc.bias.copy_(torch.tensor([1.0, -2.0, 0.5]))

    def encode(self, x):
        return self.enc(x)

    def decode(self, z):
        return torch.tanh(self.dec(z))


def test_the_scale_factor_reference_is_latent_codecs():
    ae, x = _Tiny(), torch.randn(3000, 6, generator=_gen(1))
    codec = latent.LatentCodec(ae)
    fitted = codec.fit_scale(x, batch_size=512)
    with torch.no_grad():
        z = ae.encode(x)
    assert abs(lesson07.scale_factor(z) - fitted) <= 1e-6 * fitted
    assert abs(lesson07.scale_factor(z) * z.double().std().item() - 1) <= 1e-6  # the codec keeps it in float32
    z_scaled = codec.encode(x)
    assert torch.allclose(lesson07.decode_latents(ae.decode, z_scaled, fitted), codec.decode(z_scaled), atol=1e-6)


def test_the_decode_reference_leaves_a_decoder_module_as_it_was():
    decoder = nn.Sequential(nn.Linear(3, 6), nn.Tanh()).train()
    z = torch.randn(4, 3, generator=_gen(2))
    assert torch.allclose(lesson07.decode_latents(decoder, z, 0.5), decoder(z / 0.5))
    assert decoder.training and all(p.requires_grad for p in decoder.parameters())


def test_the_guided_sample_reference_is_ddim_sample_with_the_guided_model():
    net, y = lesson07._network(0), torch.tensor([0, 1, 2, 2, 1])
    for diff, steps, scale, clip in ((D.GaussianDiffusion(D.linear_beta_schedule(100, 1e-4, 0.05)), 10, 3.0, None),
                                     (D.GaussianDiffusion(D.cosine_beta_schedule(50)), 7, 2.0, 1.0)):
        x_T = torch.randn((5, 4), generator=_gen(3))  # what ddim_sample draws first from the same generator
        mine = lesson07.guided_sample(diff, net, x_T, y, scale, 3, steps, clip)
        theirs = diff.ddim_sample(guidance.GuidedModel(net, scale, 3), (5, 4), steps=steps, eta=0.0, generator=_gen(3),
                                  clip=clip, model_kwargs={"y": y})
        assert torch.equal(mine, theirs)


def test_the_sampler_cases_tell_the_guidance_scales_and_the_clip_apart():
    """The check's network separates s = 0, 1, 3 clearly, and its clip bites."""
    net, y, null = lesson07._network(0), torch.tensor([0, 1, 2, 0, 1, 2]), 3
    x_T = torch.randn(6, 4, generator=_gen(20))
    diff = D.GaussianDiffusion(D.linear_beta_schedule(100, 1e-4, 0.05))
    s0, s1, s3 = (lesson07.guided_sample(diff, net, x_T, y, s, null, 10, None) for s in (0.0, 1.0, 3.0))
    assert (s0 - s1).abs().max() > 1 and (s3 - s1).abs().max() > 1
    cos = D.GaussianDiffusion(D.cosine_beta_schedule(50))
    clipped, free = (lesson07.guided_sample(cos, net, x_T, y, 3.0, null, 7, c) for c in (1.0, None))
    assert (clipped - free).abs().max() > 1


def test_a_student_who_skips_the_generator_still_passes_label_dropout_and_the_global_rng_is_untouched():
    def mine(y, p, null_label, generator=None):  # draws from the global RNG
        return torch.where(torch.rand(y.shape) < p, torch.full_like(y, null_label), y)

    torch.manual_seed(123)
    state = torch.get_rng_state()
    assert checks.run_check("07.drop_labels", mine).passed
    assert torch.equal(torch.get_rng_state(), state)


def test_a_scalar_tensor_or_a_1_element_tensor_is_a_valid_scale_and_a_string_is_not():
    assert checks.run_check("07.scale_factor", lambda z: 1 / z.std()).passed
    result = checks.run_check("07.scale_factor", lambda z: "0.18")
    assert result.status == FAILED and "expected the scale factor to be a float" in result.message


# ----------------------------------------------------------------------------- other right answers
def _drop_bernoulli(y, p, null_label, generator=None):
    out = y.clone()
    out[torch.bernoulli(torch.full(y.shape, float(p)), generator=generator).bool()] = null_label
    return out


@torch.no_grad()
def _sample_null_first(diffusion, model, x_T, y, scale, null_label, steps, clip):  # the null half first, t as int32
    ts = diffusion.ddim_timesteps(steps).tolist()
    x, B = x_T, len(y)
    for i, t in enumerate(ts):
        out = model(torch.cat([x, x]), torch.full((2 * B,), t, dtype=torch.int32), torch.cat([torch.full_like(y, null_label), y]))
        eps = (1 - scale) * out[:B] + scale * out[B:]
        x = diffusion.ddim_step(eps, x, t, ts[i + 1] if i + 1 < len(ts) else -1, 0.0, clip=clip)[0]
    return x


@pytest.mark.parametrize("key, answer", [
    ("07.scale_factor", lambda z: 1 / z.std(unbiased=False)),
    ("07.scale_factor", lambda z: float(1 / z.float().flatten().std())),
    ("07.decode_latents", lambda decode, z, scale: decode(z * (1 / scale))),
    ("07.drop_labels", _drop_bernoulli),
    ("07.drop_labels", lambda y, p, n, generator=None: y.masked_fill(torch.rand(len(y), generator=generator) < p, n)),
    ("07.guided_eps", lambda c, u, s: (1 - s) * u + s * c),
    ("07.guided_sample", _sample_null_first),
], ids=lambda v: v if isinstance(v, str) else "")
def test_other_right_answers_pass(key, answer):
    result = checks.run_check(key, answer)
    assert result.passed, result.message


# ----------------------------------------------------------------------------- exercise 4 is not counted twice
SAMPLER_SOURCE = '''
import torch

@torch.no_grad()
def guided_sample(diffusion, model, x_T, y, scale, null_label, steps, clip):
    B = len(y)
    ts = diffusion.ddim_timesteps(steps).tolist()
    x = x_T
    for t, t_prev in zip(ts, [*ts[1:], -1]):
        eps = model(torch.cat([x, x]), torch.full((2 * B,), t, dtype=torch.long), torch.cat([y, torch.full_like(y, null_label)]))
        x = diffusion.ddim_step(guided_eps(eps[:B], eps[B:], scale), x, t, t_prev, eta=0.0, clip=clip)[0]
    return x
'''


def _notebook_with(guided_eps):
    """A notebook's namespace, as the grader re-creates it: the student's own guided_eps beside their sampler."""
    names = {"guided_eps": guided_eps}
    exec(compile(SAMPLER_SOURCE, "<code cell 30>", "exec"), names)
    return names


@pytest.mark.parametrize("theirs", [
    lambda c, u, s: c + s * (c - u),  # the (1 + w) convention read with s
    lambda c, u, s: (_ for _ in ()).throw(NotImplementedError("exercise 4")),  # exercise 4 not attempted
], ids=["wrong guided_eps", "guided_eps not attempted"])
def test_a_right_sampler_passes_beside_a_wrong_guided_eps_which_is_put_back(theirs):
    names = _notebook_with(theirs)
    result = checks.run_check("07.guided_sample", names["guided_sample"])
    assert result.passed, result.message
    assert names["guided_eps"] is theirs  # the student's namespace is left as it was

