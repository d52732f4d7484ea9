"""Lesson 07's widgets (classifier-free guidance, the latents' scale factor), driven without a kernel."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.patches import Rectangle

from course_lib import widgets
from course_lib.viz import image_grid

NAMES = ["render_guidance", "guidance_explorer", "render_guidance_sweep", "render_latent_scaling",
         "latent_scaling_explorer"]
D = 4  # latent dimensions of the fake codec
W = torch.randn(D, 64, generator=torch.Generator().manual_seed(0))


def decode(z: torch.Tensor) -> torch.Tensor:
    """A tiny fake decoder: a fixed linear map and a sigmoid, (M, D) -> (M, 1, 8, 8)."""
    return torch.sigmoid(z @ W).view(-1, 1, 8, 8)


def classify(images: torch.Tensor) -> torch.Tensor:
    """Softmax of random logits, seeded by the images (so other images get other probabilities)."""
    seed = int(images.sum().item() * 1000) % 2**31
    return torch.softmax(3 * torch.randn(len(images), 10, generator=torch.Generator().manual_seed(seed)), 1)


class FakeSampler:
    """sample(label, scale, steps, seed, n): images that depend on every argument; records its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, label, scale, steps, seed, n):
        self.calls.append((label, scale, steps, seed, n))
        g = torch.Generator().manual_seed(1000 * seed + 100 * label + steps)
        return (torch.rand(n, 1, 8, 8, generator=g) * (1 + scale) / 6).clamp(0, 1)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _axis(fig, label):
    return next(ax for ax in fig.axes if ax.get_label() == label)


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def _probs(top: list[int], confidence: float = 0.9, K: int = 10) -> torch.Tensor:
    """Probabilities whose argmax is top[i], with p(top[i]) = confidence, the rest spread evenly."""
    p = torch.full((len(top), K), (1 - confidence) / (K - 1))
    p[torch.arange(len(top)), torch.tensor(top)] = confidence
    return p


def test_the_package_exports_the_lesson_07_widgets():
    for name in NAMES:
        assert callable(getattr(widgets, name)) and name in widgets.__all__, name
    assert "guidance" in widgets.__doc__


# ----------------------------------------------------------------------------- render_guidance
def _tiles(fig):
    """The guidance figure's samples as [(pixels (H, W), title Text, frame Rectangle)], read from its mosaic."""
    ax = _axis(fig, "samples")
    mosaic = ax.images[0].get_array()
    assert len(ax.patches) == len(ax.texts)
    tiles = []
    for k, (text, frame) in enumerate(zip(ax.texts, ax.patches)):
        assert text.get_gid() == f"sample {k}"
        x0, y0 = (round(v + 0.5) for v in frame.get_xy())
        tiles.append((mosaic[y0:y0 + round(frame.get_height()), x0:x0 + round(frame.get_width())], text, frame))
    return tiles


def test_render_guidance_titles_each_sample_with_its_confidence_and_marks_the_wrong_ones():
    images = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    top = [3] * 14 + [5, 8]
    probs = _probs(top, 0.9)
    probs[14:, 3] = 0.05  # the two others: little confidence in class 3
    probs[14:] /= probs[14:].sum(1, keepdim=True)
    fig = widgets.render_guidance(images, probs, label=3, scale=2.0, steps=20)
    assert [ax.get_label() for ax in fig.axes] == ["samples"]  # one mosaic: one axes, not sixteen
    tiles = _tiles(fig)
    assert len(tiles) == 16
    for k, (pixels, title, frame) in enumerate(tiles):
        np.testing.assert_allclose(pixels, images[k, 0].numpy())
        assert title.get_text().startswith(f"{probs[k, 3].item():.2f}")
        wrong = to_rgba(title.get_color()) == to_rgba("tab:red")
        assert wrong == (k >= 14), k
        assert (to_rgba(frame.get_edgecolor()) == to_rgba("tab:red")) == wrong, k  # every image framed, red if wrong
        assert frame.get_linewidth() == (2.0 if wrong else 0.8)
    rows = sorted({round(frame.get_xy()[1]) for _, _, frame in tiles})
    assert len(rows) == 2 and all(sum(round(f.get_xy()[1]) == r for _, _, f in tiles) == 8 for r in rows)  # 8 per row
    assert tiles[14][1].get_text().endswith("→5")
    mean = probs[:, 3].mean().item()
    assert fig._suptitle.get_text() == f"class 3, s = 2.0, 20 DDIM steps: mean confidence {mean:.2f}, 14/16 classified as 3"


def test_render_guidance_takes_n_h_w_images_a_short_row_and_no_step_count():
    images = torch.rand(5, 8, 8)
    fig = widgets.render_guidance(images, _probs([1, 1, 1, 1, 1]), 1, 0.5)
    tiles = _tiles(fig)
    assert len(tiles) == 5 and _axis(fig, "samples").images[0].get_array().shape[1] < 8 * 8 + 7 * 2  # one short row
    for k, (pixels, _, _) in enumerate(tiles):
        np.testing.assert_allclose(pixels, images[k].numpy())
    title = fig._suptitle.get_text()
    assert title.startswith("class 1, s = 0.5: mean confidence 0.90") and "DDIM" not in title and "5/5" in title


def test_render_guidance_lays_out_larger_images_too():
    images = torch.rand(3, 1, 28, 20)
    fig = widgets.render_guidance(images, _probs([2, 2, 4]), 2, 1.0)
    for k, (pixels, _, _) in enumerate(_tiles(fig)):
        np.testing.assert_allclose(pixels, images[k, 0].numpy())
    assert _tiles(fig)[2][1].get_text().endswith("→4")


@pytest.mark.parametrize("images, probs, label, message", [
    (torch.rand(4, 3, 8, 8), _probs([0] * 4), 0, r"images must be grayscale images of shape \(n, 1, H, W\)"),
    (torch.rand(8, 8), _probs([0]), 0, r"images must be grayscale images of shape \(n, 1, H, W\)"),
    (torch.rand(4, 1, 8, 8), _probs([0] * 3), 0, r"probs must be class probabilities of shape \(4, K\)"),
    (torch.rand(4, 1, 8, 8), torch.randn(4, 10), 0, "pass softmax"),
    (torch.rand(4, 1, 8, 8), _probs([0] * 4), 10, r"label must be an integer class in 0 \.\. 9"),
    (torch.rand(40, 1, 8, 8), _probs([0] * 40), 0, "images must be at most 32 samples"),
])
def test_render_guidance_rejects_bad_inputs(images, probs, label, message):
    with pytest.raises(ValueError, match=message):
        widgets.render_guidance(images, probs, label, 1.0)


# ----------------------------------------------------------------------------- guidance_explorer
def test_guidance_explorer_samples_afresh_for_every_control():
    sample = FakeSampler()
    explorer = widgets.guidance_explorer(sample, classify, label=2, scale=1.5, step=10, n=16)
    assert list(explorer.controls) == ["label", "scale", "steps", "seed"]
    assert [c.description for c in explorer.controls.values()] == ["class", "guidance scale", "DDIM steps", "noise seed"]
    assert sample.calls == [(2, 1.5, 10, 0, 16)] and explorer.renders == 1
    assert explorer.controls["label"].options == tuple(range(10))
    assert [v for _, v in explorer.controls["scale"].options] == [0, 1, 1.5, 2, 3, 5]
    expected = [(7, 1.5, 10, 0, 16), (7, 3.0, 10, 0, 16), (7, 3.0, 50, 0, 16), (7, 3.0, 50, 4, 16)]
    for (name, value), call in zip((("label", 7), ("scale", 3.0), ("steps", 50), ("seed", 4)), expected):
        before, renders = _pixels(explorer.figure), explorer.renders
        explorer.controls[name].value = value
        assert explorer.renders == renders + 1, name
        assert sample.calls[-1] == call, name
        assert not np.array_equal(_pixels(explorer.figure), before), name
    shown = np.stack([pixels for pixels, _, _ in _tiles(explorer.figure)])
    np.testing.assert_allclose(shown, FakeSampler()(7, 3.0, 50, 4, 16)[:, 0].numpy(), rtol=1e-6)
    assert explorer.figure._suptitle.get_text().startswith("class 7, s = 3.0, 50 DDIM steps: mean confidence")
    assert plt.get_fignums() == [explorer.figure.number]  # the old figures were closed
    calls, renders = len(sample.calls), explorer.renders
    explorer.controls["seed"].value = 0  # back to settings seen before: redrawn from the cache
    explorer.controls["steps"].value = 20  # a new one: sampled
    assert explorer.renders == renders + 2 and len(sample.calls) == calls + 1 and sample.calls[-1] == (7, 3.0, 20, 0, 16)


def test_guidance_explorer_samples_on_one_torch_thread_and_restores_the_count():
    threads = torch.get_num_threads()
    seen = []

    def sample(label, scale, steps, seed, n):
        seen.append((torch.get_num_threads(), torch.is_grad_enabled()))
        if seed == 3:
            raise RuntimeError("the sampler failed")
        return torch.rand(n, 1, 8, 8)

    explorer = widgets.guidance_explorer(sample, classify)
    assert seen == [(1, False)] and torch.get_num_threads() == threads and explorer.figure is not None
    assert len(_tiles(explorer.figure)) == 8  # the default: one row of 8
    with pytest.raises(RuntimeError, match="the sampler failed"):
        explorer.controls["seed"].value = 3
    assert torch.get_num_threads() == threads  # restored after an error too


@pytest.mark.parametrize("kwargs, message", [
    (dict(scale=4.0), r"scale must be one of \(0\.0, 1\.0, 1\.5, 2\.0, 3\.0, 5\.0\), got 4\.0"),
    (dict(step=30), r"step must be one of \(5, 10, 20, 50\), got 30"),
    (dict(label=10), r"label must be an integer class in 0 \.\. 9, got 10"),
    (dict(classes=1), "classes must be an integer"),
    (dict(n=0), "n must be an integer in 1 .. 32"),
    (dict(scales=()), "scales and steps must be non-empty sequences"),
    (dict(scales=(0, -1), scale=0), "each scale must be a number >= 0"),
])
def test_guidance_explorer_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        widgets.guidance_explorer(FakeSampler(), classify, **kwargs)


def test_guidance_explorer_checks_what_sample_and_classify_return():
    with pytest.raises(ValueError, match="sample must be a callable"):
        widgets.guidance_explorer(None, classify)
    with pytest.raises(ValueError, match=r"sample\(label, scale, steps, seed, n\) must be 8 images, got 3"):
        widgets.guidance_explorer(lambda *args: torch.rand(3, 1, 8, 8), classify)
    with pytest.raises(ValueError, match=r"classify\(images\) must be class probabilities of shape \(8, K\)"):
        widgets.guidance_explorer(FakeSampler(), lambda x: torch.rand(16))


# ----------------------------------------------------------------------------- render_guidance_sweep
def _sweep(n=30, scales=(2.0, 0.0, 1.5)):
    g = torch.Generator().manual_seed(3)
    labels = torch.arange(n) % 10
    samples = {s: torch.rand(n, 1, 8, 8, generator=g) for s in scales}
    probs = {}
    for k, s in enumerate(scales):
        top = labels.clone()
        top[: 3 * k] = (top[: 3 * k] + 1) % 10  # scale number k gets 3k samples wrong
        probs[s] = _probs(top.tolist())
    return samples, labels, probs


def test_render_guidance_sweep_draws_a_row_per_scale_with_its_accuracy():
    samples, labels, probs = _sweep()
    fig = widgets.render_guidance_sweep(samples, labels, probs, per_row=20)
    assert [ax.get_label() for ax in fig.axes] == ["s = 0.0", "s = 1.5", "s = 2.0"]  # ascending
    accuracy = {0.0: 1 - 3 / 30, 1.5: 1 - 6 / 30, 2.0: 1.0}  # from _sweep's order 2.0, 0.0, 1.5
    for ax, s in zip(fig.axes, (0.0, 1.5, 2.0)):
        assert ax.get_ylabel() == f"s = {s:.1f}"
        assert [t.get_text() for t in ax.texts] == [f"acc {accuracy[s]:.2f}"]
        np.testing.assert_allclose(ax.images[0].get_array(), image_grid(samples[s][:20], nrow=20))
        frames = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert len(frames) == round((1 - accuracy[s]) * 30)  # all the wrong ones are among the first 20 shown
    assert "accuracy over 30 samples" in fig._suptitle.get_text()


@pytest.mark.parametrize("draw", [
    lambda: widgets.render_guidance_sweep(*_sweep(), per_row=12),
    lambda: widgets.render_guidance(torch.rand(16, 1, 8, 8), _probs([1] * 15 + [2]), 1, 2.0, 20),
    lambda: widgets.render_latent_scaling(_latents(), 0.3, decode, divide=False),
])
def test_titles_and_labels_keep_clear_of_the_images(draw):
    fig = draw()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    images = [ax.images[0].get_window_extent(renderer) for ax in fig.axes if ax.images and ax.get_label() != "samples"]
    # the guidance figure's mosaic holds its titles between the tiles: there, each tile's frame is its image
    images += [p.get_window_extent(renderer) for ax in fig.axes if ax.get_label() == "samples" for p in ax.patches]
    texts = [fig._suptitle] + [t for ax in fig.axes for t in (*ax.texts, ax.yaxis.label, ax.title) if t.get_text()]
    for text in texts:
        box = text.get_window_extent(renderer)
        assert not any(box.overlaps(im) for im in images), text.get_text()


@pytest.mark.parametrize("change, message", [
    (lambda s, y, p: (s, y, {0.0: p[0.0]}), "probs must be a dict with the scales of samples"),
    (lambda s, y, p: (s, y[:5], p), r"labels must be of shape \(30,\)"),
    (lambda s, y, p: ({k: v.expand(-1, 3, -1, -1) for k, v in s.items()}, y, p), r"must be grayscale images of shape"),
    (lambda s, y, p: (s, y + 10, p), r"labels must be integer classes in 0 \.\. 9"),
    (lambda s, y, p: ({}, y, p), "samples must be a non-empty dict"),
])
def test_render_guidance_sweep_rejects_bad_inputs(change, message):
    with pytest.raises(ValueError, match=message):
        widgets.render_guidance_sweep(*change(*_sweep()))


# ----------------------------------------------------------------------------- latent scaling
def _latents(n=2000):
    return 3.0 * torch.randn(n, D, generator=torch.Generator().manual_seed(5)) + 0.5


def test_render_latent_scaling_shows_both_spreads_on_one_range_and_the_decoded_noise():
    z = _latents()
    scale = 1 / z.std().item()
    fig = widgets.render_latent_scaling(z, scale, decode, seed=2)
    unscaled, scaled, noise = (_axis(fig, name) for name in ("unscaled", "scaled", "noise"))
    assert unscaled.get_xlim() == scaled.get_xlim() and unscaled.get_xlim()[1] > 2.5 * 3.0  # well beyond 2 std of z
    assert f"std {z.std().item():.3g}" in unscaled.get_title() and "std 1.00" in scaled.get_title()
    for ax in (unscaled, scaled):  # the histogram and the N(0, 1) density over it
        assert ax.patches and ax.get_lines()[0].get_ydata().max() == pytest.approx(1 / np.sqrt(2 * np.pi), rel=1e-3)
    eps = torch.randn(16, D, generator=torch.Generator().manual_seed(2))
    np.testing.assert_allclose(noise.images[0].get_array(), image_grid(decode(eps / scale), nrow=8), rtol=1e-5)
    assert "right" in noise.get_title()

    forgot = widgets.render_latent_scaling(z, scale, decode, divide=False, seed=2)
    noise = _axis(forgot, "noise")
    np.testing.assert_allclose(noise.images[0].get_array(), image_grid(decode(eps), nrow=8), rtol=1e-5)
    assert "forgot" in noise.get_title()


def test_render_latent_scaling_histograms_one_dimension():
    z = _latents()
    z[:, 1] *= 0.1
    fig = widgets.render_latent_scaling(z, 2.0, decode, dim=1, n_noise=4)
    assert "dimension 1" in _axis(fig, "unscaled").get_title()
    assert f"std {2 * z[:, 1].std(unbiased=False).item():.2f}" in _axis(fig, "scaled").get_title()
    assert _axis(fig, "noise").images[0].get_array().shape == (10, 37)  # 4 images of 8 x 8 in one row, pad 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(latents=torch.randn(100)), r"latents must be the unscaled encodings of the training set, of shape \(N, d\)"),
    (dict(latents=torch.randn(10, 2, 2)), "flatten spatial latents first"),
    (dict(scale=0.0), r"scale must be a number > 0, got 0\.0"),
    (dict(scale=-1), "scale must be a number > 0"),
    (dict(dim=D), r"dim must be a latent dimension \(or None for all\) in 0 \.\. 3"),
    (dict(decode=lambda z: torch.rand(3, 1, 8, 8)), "decode.z. must return one image per code"),
])
def test_render_latent_scaling_rejects_bad_inputs(kwargs, message):
    args = dict(latents=_latents(100), scale=0.3, decode=decode) | kwargs
    with pytest.raises(ValueError, match=message):
        widgets.render_latent_scaling(**args)


def test_latent_scaling_explorer_redraws_for_every_control():
    z = _latents()
    scale = 1 / z.std().item()
    explorer = widgets.latent_scaling_explorer(z, scale, decode)
    assert list(explorer.controls) == ["dim", "divide", "seed"]
    assert [c.description for c in explorer.controls.values()] == ["dimension", "decode noise", "noise seed"]
    assert [label for label, _ in explorer.controls["dim"].options] == ["all", "0", "1", "2", "3"]
    assert [label for label, _ in explorer.controls["divide"].options] == ["z / scale (right)", "z (forgot the scale)"]
    for name, value in (("dim", 2), ("divide", False), ("seed", 7)):
        before, renders = _pixels(explorer.figure), explorer.renders
        explorer.controls[name].value = value
        assert explorer.renders == renders + 1, name
        assert not np.array_equal(_pixels(explorer.figure), before), name
    fig = explorer.figure
    assert "dimension 2" in _axis(fig, "unscaled").get_title() and "forgot" in _axis(fig, "noise").get_title()
    eps = torch.randn(16, D, generator=torch.Generator().manual_seed(7))
    np.testing.assert_allclose(_axis(fig, "noise").images[0].get_array(), image_grid(decode(eps), nrow=8), rtol=1e-5)
    explorer.controls["dim"].value = "all"
    assert "every entry" in _axis(explorer.figure, "unscaled").get_title()


def test_latent_scaling_explorer_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"latents must be the unscaled encodings"):
        widgets.latent_scaling_explorer(torch.randn(5), 1.0, decode)
    with pytest.raises(ValueError, match="scale must be a number > 0"):
        widgets.latent_scaling_explorer(_latents(100), -2.0, decode)
    with pytest.raises(ValueError, match="decode must be a callable"):
        widgets.latent_scaling_explorer(_latents(100), 1.0, "decoder")
