"""Widgets are driven without a kernel: set a control's value, see the figure redrawn."""

import ast
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib import widgets
from course_lib.viz import image_grid

W = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))


def decode(z: torch.Tensor) -> torch.Tensor:
    """A tiny fake decoder: a fixed linear map and a sigmoid, (M, 2) -> (M, 1, 8, 8)."""
    return torch.sigmoid(z @ W).view(-1, 1, 8, 8)


def encode(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1)[:, :2] * 4 - 2


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _axis(fig, label):
    return next(ax for ax in fig.axes if ax.get_label() == label)


# ----------------------------------------------------------------------------- the package
NOTEBOOK_NAMES = [  # what lessons and submitted notebooks call as `widgets.NAME`
    "attribute_explorer", "condition_explorer", "forward_chain", "forward_explorer", "interpolation_explorer",
    "latent_explorer", "render_interpolation", "render_latent_explorer", "render_reverse", "render_schedules",
    "reverse_explorer", "schedule_explorer", "render_gan_training", "training_scrubber", "seed_interpolation_explorer",
    "render_flow_layers", "flow_layer_explorer", "render_density", "density_explorer",
    "render_gumbel", "gumbel_explorer", "render_token_edit", "token_editor",
    "render_codebook", "codebook_explorer", "render_codebook_health", "codebook_health_explorer",
]
FORMER_NAMES = [  # every other public name of the single-file widgets.py the package replaced
    "Decode", "DecodeCond", "Encode", "Explorer", "MARKER", "MODES", "HIGHLIGHT", "HIGHLIGHTS", "DATA_RANGE",
    "SCHEDULE_COLOURS", "SCHEDULE_KINDS", "interpolate", "render_attribute", "render_condition",
    "render_forward_toy", "schedule_alphabars",
]


def test_the_package_exposes_every_name_notebooks_and_tests_use():
    for name in NOTEBOOK_NAMES + FORMER_NAMES:
        assert hasattr(widgets, name), name
        assert name in widgets.__all__, name
    assert all(hasattr(widgets, name) for name in widgets.__all__)
    from course_lib import autoencoder, diffusion
    assert widgets.interpolate is autoencoder.interpolate and widgets.MODES == autoencoder.INTERPOLATIONS
    assert widgets.schedule_alphabars is diffusion.schedule_alphabars


def test_widget_topic_modules_do_not_import_each_other():
    package = Path(widgets.__file__).parent
    topics = {path.stem for path in package.glob("*.py")} - {"__init__", "explorer"}
    assert {"latent", "diffusion"} <= topics
    for topic in sorted(topics):
        imported = set()
        for node in ast.walk(ast.parse((package / f"{topic}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:  # from .x import ..., from . import x
                imported |= {node.module} if node.module else {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_lib.widgets"):
                imported.add(node.module.split(".")[2] if node.module.count(".") >= 2 else "")
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name.split(".")[2] for a in node.names if a.name.startswith("course_lib.widgets.")}
        assert not imported & (topics - {topic}), f"widgets/{topic}.py imports {sorted(imported & topics)}"


def test_interpolate_lerp_and_slerp():
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    lerp = widgets.interpolate(a, b, [0.0, 0.5, 1.0])
    torch.testing.assert_close(lerp[1], (a + b) / 2)
    slerp = widgets.interpolate(a, b, torch.linspace(0, 1, 7), mode="slerp")
    torch.testing.assert_close(slerp[0], a)
    torch.testing.assert_close(slerp[-1], b)
    torch.testing.assert_close(slerp.norm(dim=1), torch.ones(7))  # equal norms stay on the sphere
    torch.testing.assert_close(slerp[3], torch.tensor([0.5**0.5, 0.5**0.5, 0.0]))  # half the angle
    same = widgets.interpolate(a, 2 * a, [0.5], mode="slerp")  # parallel: falls back to lerp
    torch.testing.assert_close(same[0], 1.5 * a)
    with pytest.raises(ValueError, match="mode must be one of"):
        widgets.interpolate(a, b, [0.5], mode="cubic")


def test_render_latent_explorer_marks_z_and_shows_decode_z():
    emb, labels = torch.randn(40, 2), torch.arange(40) % 10
    z = torch.tensor([0.3, -0.7])
    fig = widgets.render_latent_explorer(decode, z, emb, labels)
    latent, decoded = _axis(fig, "latent"), _axis(fig, "decoded")
    marker = latent.get_lines()[-1]
    np.testing.assert_allclose(marker.get_xydata(), [[0.3, -0.7]])
    np.testing.assert_allclose(decoded.images[0].get_array(), decode(z[None])[0, 0].numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"z must be one latent vector of shape \(2,\)"):
        widgets.render_latent_explorer(decode, torch.zeros(3), emb, labels)
    with pytest.raises(ValueError, match=r"labels must be of shape \(40,\)"):
        widgets.render_latent_explorer(decode, z, emb, labels[:5])


def test_render_interpolation_shows_the_path_and_the_image_at_alpha():
    z_a, z_b = torch.tensor([-1.0, 0.5]), torch.tensor([2.0, 1.0])
    fig = widgets.render_interpolation(decode, z_a, z_b, alpha=0.3, steps=5, image_a=torch.zeros(8, 8), image_b=torch.ones(8, 8))
    assert [ax.get_label() for ax in fig.axes] == ["original a", *[f"step {k}" for k in range(5)], "original b", "decoded"]
    expected = decode((z_a + 0.3 * (z_b - z_a))[None])[0, 0].numpy()
    np.testing.assert_allclose(_axis(fig, "decoded").images[0].get_array(), expected, rtol=1e-5)
    np.testing.assert_allclose(_axis(fig, "step 4").images[0].get_array(), decode(z_b[None])[0, 0].numpy(), rtol=1e-5)
    highlighted = matplotlib.colors.to_rgba(widgets.HIGHLIGHT)
    assert _axis(fig, "step 1").spines["top"].get_edgecolor() == highlighted  # alpha 0.3 is closest to frame 0.25
    assert _axis(fig, "step 2").spines["top"].get_edgecolor() != highlighted
    for ax in fig.axes:  # every decoded image in a visible frame: white edge columns do not vanish
        assert all(spine.get_visible() for spine in ax.spines.values()), ax.get_label()
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        widgets.render_interpolation(decode, z_a, z_b, 0.5, steps=1)


def test_latent_explorer_redraws_when_a_slider_moves():
    emb, labels = torch.randn(40, 2), torch.arange(40) % 10
    explorer = widgets.latent_explorer(decode, emb, labels)
    assert set(explorer.controls) == {"z1", "z2"} and explorer.renders == 1
    first = explorer.figure
    explorer.controls["z1"].value = 0.25
    explorer.controls["z2"].value = -0.5
    assert explorer.renders == 3 and explorer.figure is not first
    shown = _axis(explorer.figure, "decoded").images[0].get_array()
    np.testing.assert_allclose(shown, decode(torch.tensor([[0.25, -0.5]]))[0, 0].numpy(), rtol=1e-5)
    assert plt.get_fignums() == [explorer.figure.number]  # the old figures were closed, not leaked


def test_interpolation_explorer_redraws_for_every_control():
    g = torch.Generator().manual_seed(1)
    images, labels = torch.rand(6, 1, 8, 8, generator=g), torch.tensor([3, 3, 5, 1, 0, 2])
    explorer = widgets.interpolation_explorer(encode, decode, images, labels)
    assert explorer.controls["a"].value == 0 and explorer.controls["b"].value == 2  # first other digit
    for name, value in (("a", 4), ("b", 5), ("alpha", 0.8), ("mode", "slerp")):
        before = explorer.renders
        explorer.controls[name].value = value
        assert explorer.renders == before + 1, name
    z = encode(images[[4, 5]])
    expected = decode(widgets.interpolate(z[0], z[1], [0.8], mode="slerp"))[0, 0].numpy()
    np.testing.assert_allclose(_axis(explorer.figure, "decoded").images[0].get_array(), expected, rtol=1e-5)
    np.testing.assert_allclose(_axis(explorer.figure, "original a").images[0].get_array(), images[4, 0].numpy())


def test_explorers_reject_bad_inputs():
    with pytest.raises(ValueError, match=r"embedding must be of shape \(N, 2\)"):
        widgets.latent_explorer(decode, torch.randn(10, 5))
    with pytest.raises(ValueError, match="at least 2 images"):
        widgets.interpolation_explorer(encode, decode, torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"a must be an integer index in 0 \.\. 5, got 9"):
        widgets.interpolation_explorer(encode, decode, torch.rand(6, 1, 8, 8), a=9)
    with pytest.raises(ValueError, match="encode must return a tensor"):
        widgets.interpolation_explorer(lambda x: x.numpy(), decode, torch.rand(6, 1, 8, 8))


def test_explorer_text_says_what_it_is_where_no_kernel_runs():
    explorer = widgets.latent_explorer(decode, torch.randn(10, 2))
    assert repr(explorer) == "<interactive figure with controls z1, z2: run the notebook in Jupyter or Colab to use it>"


def test_condition_explorer_draws_the_chosen_class():
    seen = []

    def decode_cond(z, y):
        seen.append(y.clone())
        return decode(z[:, :2]) * 0 + y.float().view(-1, 1, 1, 1) / 10  # images whose grey level is the label

    explorer = widgets.condition_explorer(decode_cond, latent_dim=3, n=4)
    explorer.controls["label"].value = 7
    assert explorer.renders == 2 and torch.equal(seen[-1], torch.full((4,), 7))
    shown = _axis(explorer.figure, "samples").images[0].get_array()
    np.testing.assert_allclose(shown, image_grid(torch.full((4, 1, 8, 8), 0.7), nrow=4), rtol=1e-6)
    explorer.controls["seed"].value = 5
    assert explorer.renders == 3


def test_attribute_explorer_moves_codes_along_the_direction():
    z = torch.randn(3, 2, generator=torch.Generator().manual_seed(2))
    directions = {"right": torch.tensor([1.0, 0.0]), "up": torch.tensor([0.0, 1.0])}
    explorer = widgets.attribute_explorer(decode, z, directions, originals=torch.zeros(3, 1, 8, 8))
    explorer.controls["direction"].value = "up"
    explorer.controls["strength"].value = 2.0
    moved = _axis(explorer.figure, "moved").images[0].get_array()
    expected = image_grid(decode(z + torch.tensor([0.0, 2.0])), nrow=3)
    np.testing.assert_allclose(moved, expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"direction must be one latent vector of shape \(2,\)"):
        widgets.render_attribute(decode, z, torch.ones(3), 1.0)


# ----------------------------------------------------------------------------- diffusion widgets
from course_lib import diffusion as D


def _alphabar_linear(T, beta_start=1e-4, beta_end=0.02):
    return np.cumprod(1 - np.linspace(beta_start, beta_end, T))


def _alphabar_cosine(T, s=0.008):
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2
    betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    return np.cumprod(1 - betas)


def _lines(ax, label):
    return next(line for line in ax.get_lines() if line.get_label() == label)


def test_render_schedules_draws_both_schedules_and_the_image_noised_at_t():
    g = torch.Generator().manual_seed(0)
    image, noise = torch.rand(8, 8, generator=g) * 2 - 1, torch.randn(8, 8, generator=g)
    T, t = 200, 60
    fig = widgets.render_schedules(image[None, None], t, T=T, noise=noise)
    assert {ax.get_label() for ax in fig.axes} == {"alphabar", "log snr", "image", "linear", "cosine"}
    expected = {"linear": _alphabar_linear(T), "cosine": _alphabar_cosine(T)}
    for kind, ab in expected.items():
        np.testing.assert_allclose(_lines(_axis(fig, "alphabar"), kind).get_ydata(), ab, rtol=1e-5)
        np.testing.assert_allclose(_lines(_axis(fig, "log snr"), kind).get_ydata(), np.log(ab / (1 - ab)), rtol=1e-4)
        noised = np.sqrt(ab[t]) * image.numpy() + np.sqrt(1 - ab[t]) * noise.numpy()
        np.testing.assert_allclose(_axis(fig, kind).images[0].get_array(), noised, rtol=1e-4, atol=1e-5)
    markers = [line.get_xydata()[0] for line in _axis(fig, "alphabar").get_lines() if line.get_marker() == "o"]
    np.testing.assert_allclose(sorted(m[1] for m in markers), sorted([expected["linear"][t], expected["cosine"][t]]), rtol=1e-5)
    assert all(m[0] == t for m in markers)
    np.testing.assert_allclose(_axis(fig, "image").images[0].get_array(), image.numpy())
    assert "t = 60" in fig._suptitle.get_text()


def test_render_schedules_keeps_one_noise_realisation_and_highlights():
    image = torch.zeros(8, 8)  # a blank image: what is drawn is sqrt(1 - alphabar_t) eps
    a = widgets.render_schedules(image, 10, T=100, seed=3)
    b = widgets.render_schedules(image, 80, T=100, seed=3, highlight="cosine")
    ab = _alphabar_linear(100)
    eps_a = _axis(a, "linear").images[0].get_array() / np.sqrt(1 - ab[10])
    eps_b = _axis(b, "linear").images[0].get_array() / np.sqrt(1 - ab[80])
    np.testing.assert_allclose(eps_a, eps_b, rtol=1e-4, atol=1e-5)  # the same eps at every t
    assert _lines(_axis(b, "alphabar"), "linear").get_alpha() < _lines(_axis(b, "alphabar"), "cosine").get_alpha()
    c = widgets.render_schedules(image, 10, T=100, seed=4)
    assert not np.allclose(_axis(c, "linear").images[0].get_array(), _axis(a, "linear").images[0].get_array())


def test_render_schedules_rejects_bad_inputs():
    image = torch.zeros(8, 8)
    with pytest.raises(ValueError, match=r"t must be an integer step in 0 \.\. 99, got 100 \(T = 100\)"):
        widgets.render_schedules(image, 100, T=100)
    with pytest.raises(ValueError, match="image must be one image"):
        widgets.render_schedules(torch.zeros(2, 1, 8, 8), 5)
    with pytest.raises(ValueError, match="highlight must be one of"):
        widgets.render_schedules(image, 5, highlight="sigmoid")
    with pytest.raises(ValueError, match=r"noise must be of the image's shape \(8, 8\)"):
        widgets.render_schedules(image, 5, noise=torch.zeros(7, 7))
    with pytest.raises(ValueError, match="beta_start <= beta_end"):
        widgets.render_schedules(image, 5, beta_start=0.05, beta_end=0.01)


def test_schedule_explorer_redraws_and_t_follows_T():
    image = torch.rand(8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    explorer = widgets.schedule_explorer(image, T=200, t=150)
    assert list(explorer.controls) == ["t", "T", "beta_start", "beta_end", "highlight"] and explorer.renders == 1
    for name, value in (("t", 20), ("highlight", "linear"), ("beta_start", 1e-3), ("beta_end", 0.05)):
        before = explorer.renders
        explorer.controls[name].value = value
        assert explorer.renders == before + 1, name
    shown = _axis(explorer.figure, "linear").images[0].get_array()
    ab = _alphabar_linear(200, explorer.controls["beta_start"].value, explorer.controls["beta_end"].value)[20]
    eps = (shown - np.sqrt(ab) * image.numpy()) / np.sqrt(1 - ab)
    explorer.controls["t"].value = 100  # the same noise, further along
    ab100 = _alphabar_linear(200, explorer.controls["beta_start"].value, explorer.controls["beta_end"].value)[100]
    np.testing.assert_allclose(_axis(explorer.figure, "linear").images[0].get_array(),
                               np.sqrt(ab100) * image.numpy() + np.sqrt(1 - ab100) * eps, rtol=1e-3, atol=1e-4)
    explorer.controls["T"].value = 50  # t = 100 no longer exists: the slider's range shrinks and t with it
    assert explorer.controls["t"].max == 49 and explorer.controls["t"].value == 49
    assert "t = 49 (T = 50)" in explorer.figure._suptitle.get_text()
    assert plt.get_fignums() == [explorer.figure.number]
    with pytest.raises(ValueError, match=r"beta_start must be a number in \[1e-05, 0\.001\], got 0\.01 \(the slider's range\)"):
        widgets.schedule_explorer(image, beta_start=0.01, beta_end=0.02)


def _image_trajectory(S=4, B=3, H=5, W=6):
    """A hand-made trajectory whose frame i holds the value -1 + 0.4 i (x_t) and its negative (x0s)."""
    ts = torch.arange(S - 1, -1, -1) * 10 + 9  # 39, 29, 19, 9 for S = 4
    levels = (-1 + 0.4 * torch.arange(S + 1).float()).view(-1, 1, 1, 1, 1)
    xs = levels.expand(S + 1, B, 1, H, W) + torch.linspace(0, 0.1, W)  # (S+1, B, 1, H, W)
    return D.Trajectory(ts, xs.clone(), -xs[:S].clone())


def test_render_reverse_shows_x_t_and_the_x0_estimate_of_a_frame():
    traj = _image_trajectory()
    fig = widgets.render_reverse(traj, 2, n=2)
    unit = lambda a: np.clip((a.numpy() + 1) / 2, 0, 1)  # [-1, 1] -> [0, 1]
    np.testing.assert_allclose(_axis(fig, "x_t").images[0].get_array(), image_grid(unit(traj.xs[2, :2]), nrow=2), rtol=1e-6)
    np.testing.assert_allclose(_axis(fig, "x0_hat").images[0].get_array(), image_grid(unit(traj.x0s[2, :2]), nrow=2), rtol=1e-6)
    assert "t = 19" in fig._suptitle.get_text()
    last = widgets.render_reverse(traj, 4)  # the final sample (next to the last estimate)
    np.testing.assert_allclose(_axis(last, "x_t").images[0].get_array(), image_grid(unit(traj.xs[4]), nrow=3), rtol=1e-6)
    np.testing.assert_allclose(_axis(last, "x0_hat").images[0].get_array(), image_grid(unit(traj.x0s[3]), nrow=3), rtol=1e-6)
    assert "final sample" in last._suptitle.get_text()


def test_render_reverse_draws_a_real_sampler_trajectory():
    d = D.GaussianDiffusion(D.linear_beta_schedule(40))
    x, traj = d.sample(lambda x, t: 0.1 * x, (4, 1, 6, 6), return_trajectory=True, every=8)
    fig = widgets.render_reverse(traj, 1)
    assert "t = 31" in fig._suptitle.get_text()
    x, traj = d.ddim_sample(lambda x, t: 0.1 * x, (4, 6, 6), steps=5, return_trajectory=True)  # (S+1, B, H, W)
    widgets.render_reverse(traj, len(traj))


def test_render_reverse_for_points_keeps_one_view():
    g = torch.Generator().manual_seed(0)
    S, B = 3, 50
    xs = torch.randn(S + 1, B, 2, generator=g) * torch.linspace(3, 0.5, S + 1).view(-1, 1, 1)
    traj = D.Trajectory(torch.tensor([20, 10, 0]), xs, 0.5 * xs[:S])
    reference = torch.randn(30, 2, generator=g)
    first = widgets.render_reverse(traj, 0, reference=reference)
    np.testing.assert_allclose(_axis(first, "x_t").collections[-1].get_offsets(), xs[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(_axis(first, "x0_hat").collections[-1].get_offsets(), 0.5 * xs[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(_axis(first, "x_t").collections[0].get_offsets(), reference.numpy(), rtol=1e-6)
    later = widgets.render_reverse(traj, 2, reference=reference)
    assert _axis(first, "x_t").get_xlim() == _axis(later, "x_t").get_xlim()  # the same view for every frame
    assert _axis(first, "x_t").get_ylim() == _axis(later, "x_t").get_ylim()
    fixed = widgets.render_reverse(traj, 1, lim=(-1, 1, -2, 2))
    assert _axis(fixed, "x0_hat").get_xlim() == (-1, 1) and _axis(fixed, "x0_hat").get_ylim() == (-2, 2)


def test_render_reverse_rejects_bad_inputs():
    traj = _image_trajectory()
    with pytest.raises(ValueError, match=r"index must be an integer frame in 0 \.\. 4"):
        widgets.render_reverse(traj, 5)
    with pytest.raises(ValueError, match=r"index must be an integer frame"):
        widgets.render_reverse(traj, -1)
    with pytest.raises(ValueError, match="trajectory must be a diffusion.Trajectory"):
        widgets.render_reverse(traj.xs, 0)
    with pytest.raises(ValueError, match=r"xs \(S\+1, B, \.\.\.\)"):
        widgets.render_reverse(D.Trajectory(traj.ts, traj.xs[:3], traj.x0s), 0)
    with pytest.raises(ValueError, match=r"2-D points \(S\+1, B, 2\) or grayscale images"):
        widgets.render_reverse(D.Trajectory(torch.tensor([1, 0]), torch.zeros(3, 4, 3), torch.zeros(2, 4, 3)), 0)
    with pytest.raises(ValueError, match=r"2-D points \(S\+1, B, 2\) or grayscale images"):
        widgets.render_reverse(D.Trajectory(torch.tensor([0]), torch.zeros(2, 4, 3, 5, 5), torch.zeros(1, 4, 3, 5, 5)), 0)


def test_reverse_explorer_slides_from_noise_to_the_sample_labelled_by_t():
    traj = _image_trajectory()
    explorer = widgets.reverse_explorer(traj, n=3)
    slider = explorer.controls["index"]
    assert [label for label, _ in slider.options] == ["t = 39", "t = 29", "t = 19", "t = 9", "final sample"]
    assert slider.value == 0 and explorer.renders == 1
    slider.value = 3
    assert explorer.renders == 2 and "t = 9" in explorer.figure._suptitle.get_text()
    slider.value = 4
    assert explorer.renders == 3 and "final sample" in explorer.figure._suptitle.get_text()
    points = D.Trajectory(torch.tensor([1, 0]), torch.randn(3, 20, 2), torch.randn(2, 20, 2))
    explorer = widgets.reverse_explorer(points, reference=torch.randn(10, 2))
    lim = _axis(explorer.figure, "x_t").get_xlim()
    explorer.controls["index"].value = 2
    assert _axis(explorer.figure, "x_t").get_xlim() == lim
    np.testing.assert_allclose(_axis(explorer.figure, "x_t").collections[-1].get_offsets(), points.xs[2].numpy())


def test_forward_chain_runs_q_step_step_by_step():
    d = D.GaussianDiffusion(D.linear_beta_schedule(30, 1e-3, 0.5))
    points = torch.randn(40, 2, generator=torch.Generator().manual_seed(0))
    ts, xs = widgets.forward_chain(points, d, [29, 0, 10, 10], seed=5)
    assert ts.tolist() == [0, 10, 29] and xs.shape == (3, 40, 2)
    g, x, kept = torch.Generator().manual_seed(5), points.clone(), []
    for t in range(30):
        eps = torch.randn(40, 2, generator=g)
        x = (1 - d.betas[t].item()) ** 0.5 * x + d.betas[t].item() ** 0.5 * eps  # sqrt(1 - beta) x + sqrt(beta) eps
        kept.append(x)
    torch.testing.assert_close(xs, torch.stack([kept[0], kept[10], kept[29]]))
    # by the last step the cloud is N(0, I)
    big = torch.randn(4000, 2) * 0.3 + 2
    _, last = widgets.forward_chain(big, d, [29])
    assert last[0].mean(0).abs().max() < 0.1 and (torch.cov(last[0].T) - torch.eye(2)).abs().max() < 0.1
    with pytest.raises(ValueError, match=r"t must be an integer step in 0 \.\. 29"):
        widgets.forward_chain(points, d, [30])


def _forward_chain_before_q_chain(points, diffusion, ts, seed=0):
    """A literal copy of widgets.forward_chain's loop before it moved to GaussianDiffusion.q_chain."""
    x = torch.as_tensor(points, dtype=torch.float32).clone()  # (N, 2)
    keep = sorted({int(t) for t in ts})
    g = torch.Generator().manual_seed(int(seed))
    kept = []
    for t in range(keep[-1] + 1):
        x = diffusion.q_step(x, t, torch.randn(x.shape, generator=g))
        if t == keep[len(kept)]:
            kept.append(x.clone())
    return torch.tensor(keep), torch.stack(kept)


@pytest.mark.parametrize("schedule, ts, seed", [
    (lambda: D.linear_beta_schedule(30, 1e-3, 0.5), [29, 0, 10, 10], 5),
    (lambda: D.linear_beta_schedule(100), [0], 0),
    (lambda: D.cosine_beta_schedule(50), [3, 49, 17, 3], 123),
])
def test_forward_chain_returns_exactly_what_the_former_loop_did(schedule, ts, seed):
    d = D.GaussianDiffusion(schedule())
    points = torch.randn(25, 2, generator=torch.Generator().manual_seed(seed))
    ts_now, xs_now = widgets.forward_chain(points, d, ts, seed=seed)
    ts_before, xs_before = _forward_chain_before_q_chain(points, d, ts, seed=seed)
    assert torch.equal(ts_now, ts_before) and ts_now.dtype == torch.int64
    assert xs_now.dtype == xs_before.dtype == torch.float32
    assert torch.equal(xs_now, xs_before)  # bit for bit: the same noise in the same order
    with pytest.raises(ValueError, match="ts must be a list of at least one step to keep"):
        widgets.forward_chain(points, d, [])


def test_render_forward_toy_draws_the_chain_state_over_the_prior():
    d = D.GaussianDiffusion(D.linear_beta_schedule(100))
    points = torch.randn(60, 2, generator=torch.Generator().manual_seed(1)) * 0.2 + torch.tensor([1.0, -1.0])
    chain = widgets.forward_chain(points, d, [0, 40, 99], seed=2)
    fig = widgets.render_forward_toy(points, d, 40, chain=chain)
    ax = _axis(fig, "forward")
    np.testing.assert_allclose(ax.collections[-1].get_offsets(), chain[1][1].numpy(), rtol=1e-6)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), points.numpy(), rtol=1e-6)
    circles = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(circles) == 3  # N(0, I) at 1, 2, 3 sigma
    np.testing.assert_allclose(np.hypot(*circles[0].get_xydata().T), 1.0, rtol=1e-6)
    np.testing.assert_allclose(_axis(fig, "alphabar").get_lines()[0].get_ydata(), _alphabar_linear(100), rtol=1e-5)
    # without a chain: the same seed runs the same chain
    alone = widgets.render_forward_toy(points, d, 40, seed=2)
    np.testing.assert_allclose(_axis(alone, "forward").collections[-1].get_offsets(), chain[1][1].numpy(), rtol=1e-6)
    assert _axis(alone, "forward").get_xlim() == ax.get_xlim()
    with pytest.raises(ValueError, match=r"t must be a step kept in the chain \(3 steps, 0 \.\. 99\), got 41"):
        widgets.render_forward_toy(points, d, 41, chain=chain)
    with pytest.raises(ValueError, match=r"t must be an integer step in 0 \.\. 99"):
        widgets.render_forward_toy(points, d, 100)
    with pytest.raises(ValueError, match=r"points must be of shape \(N, 2\)"):
        widgets.render_forward_toy(torch.zeros(10, 3), d, 5)


def test_forward_explorer_slides_along_one_cached_chain():
    d = D.GaussianDiffusion(D.linear_beta_schedule(100))
    points = torch.randn(60, 2, generator=torch.Generator().manual_seed(1))
    explorer = widgets.forward_explorer(points, d, steps=12, seed=2)
    slider = explorer.controls["t"]
    keep = [t for _, t in slider.options]
    assert len(keep) == 12 and keep[0] == 0 and keep[-1] == 99 and slider.options[1] == ("9", 9)
    assert explorer.renders == 1
    slider.value = 18
    assert explorer.renders == 2
    ts, xs = widgets.forward_chain(points, d, [18], seed=2)
    np.testing.assert_allclose(_axis(explorer.figure, "forward").collections[-1].get_offsets(), xs[0].numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"steps must be an integer in 2 \.\. 100"):
        widgets.forward_explorer(points, d, steps=1)


# ----------------------------------------------------------------------------- lesson 04: GANs
def _toy_run(loss="non-saturating", snapshots=4):
    """A tiny 2-D run recorded by gan.train_gan: real snapshots of a real (short) training."""
    from course_lib import data, gan

    x = data.eight_gaussians(512, std=0.02)
    G, D = gan.MLPGenerator(2, 2, (16,)), gan.MLPDiscriminator(2, (16,))
    cfg = gan.GANConfig(loss=loss, epochs=snapshots - 1, batch_size=128, snapshot_every=4, gp_weight=0.1)
    _, snaps = gan.train_gan(G, D, x, cfg, device="cpu", progress=False, grid_size=12, snapshot_n=100)
    return x, snaps


def test_render_gan_training_draws_the_snapshot_and_the_mode_counts():
    from course_lib import data, gan

    x, run = _toy_run()
    centres = data.eight_gaussian_centres()
    fig = widgets.render_gan_training(run, 1, x, centres, 0.02, title="NS")
    ax = _axis(fig, "samples")
    offsets = ax.collections[1].get_offsets()  # data first, then the samples
    np.testing.assert_allclose(offsets, run.samples[1].numpy(), rtol=1e-6)
    np.testing.assert_allclose(ax.images[0].get_array(), torch.sigmoid(run.grid[1].double()).numpy(), rtol=1e-6)
    modes = _axis(fig, "modes")
    counts = [c.covered for c in gan.coverage_history(run, centres, 0.02)]
    np.testing.assert_array_equal(modes.get_lines()[0].get_ydata(), counts)
    assert f"step {int(run.steps[1])}" in ax.get_title()
    x, critic = _toy_run("wgan-gp")
    shown = widgets.render_gan_training(critic, 0, x).axes[0].images[0].get_array()
    assert abs(float(shown.mean())) < 1e-5  # critic scores are centred, not squashed by a sigmoid
    with pytest.raises(ValueError, match="index must be a snapshot index"):
        widgets.render_gan_training(run, len(run), x)
    with pytest.raises(ValueError, match="run must be gan.Snapshots"):
        widgets.render_gan_training(object(), 0, x)


def test_training_scrubber_switches_runs_and_scrubs():
    from course_lib import data

    x, ns = _toy_run(snapshots=4)
    _, short = _toy_run("saturating", snapshots=2)
    scrubber = widgets.training_scrubber({"NS": ns, "saturating": short}, x, data.eight_gaussian_centres(), 0.02)
    assert set(scrubber.controls) == {"run", "index"} and scrubber.controls["index"].max == len(ns) - 1
    scrubber.controls["index"].value = 0
    assert "NS: generator step 1" in _axis(scrubber.figure, "samples").get_title()
    scrubber.controls["run"].value = "saturating"
    scrubber.controls["index"].value = len(ns) - 1  # past the shorter run's end: its last snapshot
    assert f"step {int(short.steps[-1])}" in _axis(scrubber.figure, "samples").get_title()
    assert scrubber.renders == 4
    with pytest.raises(ValueError, match="runs must be a non-empty mapping"):
        widgets.training_scrubber({}, x)


def test_seed_interpolation_explorer_walks_between_seeded_codes():
    explorer = widgets.seed_interpolation_explorer(decode, 2, steps=5)
    assert set(explorer.controls) == {"seed_a", "seed_b", "alpha", "mode"} and explorer.controls["mode"].value == "slerp"
    explorer.controls["alpha"].value = 1.0
    z_b = torch.randn(2, generator=torch.Generator().manual_seed(1))
    shown = _axis(explorer.figure, "decoded").images[0].get_array()
    np.testing.assert_allclose(shown, decode(z_b[None])[0, 0].numpy(), rtol=1e-5)
    explorer.controls["seed_b"].value = 7
    assert explorer.renders == 3
    with pytest.raises(ValueError, match="latent_dim must be"):
        widgets.seed_interpolation_explorer(decode, 0)


# ----------------------------------------------------------------------------- lesson 05: flows
def _toy_flow(seed: int = 0):
    from course_lib import flows

    torch.manual_seed(seed)
    flow = flows.RealNVP(2, 3, 16)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)) * 0.3)
    return flow.eval(), torch.randn(300, 2, generator=torch.Generator().manual_seed(seed)) * 1.5


def test_layer_views_push_points_pull_the_grid_back_and_map_each_stages_density():
    from course_lib import flows

    flow, x = _toy_flow()
    views = flows.layer_views(flow, x, resolution=40, num_lines=5)
    assert len(views) == 4 and views.names[0] == "data"
    torch.testing.assert_close(views.points[-1], flow(x)[0].detach())
    torch.testing.assert_close(views.points[0], x)
    # the lines of stage k, pushed through the remaining layers, are the base's straight lines
    k = 1
    pushed = views.lines[k].reshape(-1, 2)
    for layer in flow.layers[k:]:
        pushed = layer(pushed)[0].detach()
    pushed = pushed.reshape(views.lines[k].shape)
    torch.testing.assert_close(pushed[0, :, 0], torch.full_like(pushed[0, :, 0], -3.0), atol=1e-4, rtol=0)
    # each stage's map is a density: it integrates to about 1 over its box where the points are
    xmin, xmax, ymin, ymax = views.lims[-1]
    cell = (xmax - xmin) / 39 * (ymax - ymin) / 39
    assert 0.9 < float(views.log_density[-1].exp().sum()) * cell < 1.01
    with pytest.raises(ValueError, match="a flow on 2-D points"):
        flows.layer_views(flows.RealNVP(4, 2, 8), torch.zeros(3, 2))


def test_render_flow_layers_shows_the_stage_and_the_explorer_slides_through_runs():
    from course_lib import flows

    flow, x = _toy_flow()
    views = flows.layer_views(flow, x, resolution=30)
    fig = widgets.render_flow_layers(views, 0, title="toy")
    ax = _axis(fig, "layer")
    np.testing.assert_allclose(ax.collections[0].get_offsets(), x.numpy(), rtol=1e-6)
    assert "the data space" in ax.get_title() and len(ax.get_lines()) == 22
    assert "the base" in _axis(widgets.render_flow_layers(views, 3), "layer").get_title()
    short = flows.layer_views(flows.RealNVP(2, 1, 8).eval(), x, resolution=20)
    explorer = widgets.flow_layer_explorer({"three": views, "one": short})
    assert set(explorer.controls) == {"run", "index"} and explorer.controls["index"].max == 3
    explorer.controls["index"].value = 2
    assert "2 of 3 layers" in _axis(explorer.figure, "layer").get_title()
    explorer.controls["run"].value = "one"  # past the shorter run's end: its base
    assert "1 of 1 layers" in _axis(explorer.figure, "layer").get_title()
    assert explorer.renders == 3
    with pytest.raises(ValueError, match="index must be a layer index"):
        widgets.render_flow_layers(views, 4)
    with pytest.raises(ValueError, match="runs must be a non-empty mapping"):
        widgets.flow_layer_explorer({})


def test_density_explorer_draws_the_chosen_runs_density_and_samples():
    from course_lib import flows

    views = {}
    for seed, (data_name, model) in enumerate([("a", "RealNVP"), ("a", "MAF"), ("b", "RealNVP"), ("b", "MAF")]):
        flow, x = _toy_flow(seed)
        views[data_name, model] = flows.density_view(flow, x, x[:50], (-4, 4, -4, 4), resolution=25, n_samples=100)
    fig = widgets.render_density(views, "b", "MAF", "log-density")
    img = _axis(fig, "density").images[0].get_array()
    np.testing.assert_allclose(img, views["b", "MAF"].log_density.numpy(), rtol=1e-6)
    np.testing.assert_allclose(_axis(fig, "samples").collections[1].get_offsets(), views["b", "MAF"].samples.numpy())
    assert f"{views['b', 'MAF'].nll:.2f}" in _axis(fig, "density").get_title()
    explorer = widgets.density_explorer(views)
    assert set(explorer.controls) == {"data", "model", "show"}
    explorer.controls["data"].value = "b"
    explorer.controls["model"].value = "MAF"
    np.testing.assert_allclose(_axis(explorer.figure, "density").images[0].get_array(),
                               views["b", "MAF"].log_density.exp().numpy(), rtol=1e-5)
    assert explorer.renders == 3
    with pytest.raises(ValueError, match="show must be one of"):
        widgets.render_density(views, "a", "MAF", "probability")
    with pytest.raises(ValueError, match="a run among"):
        widgets.render_density(views, "c", "MAF")


# ----------------------------------------------------------------------------- lesson 03: discrete latents
def test_render_gumbel_shows_hard_frequencies_following_softmax_and_relaxed_means_not():
    logits = torch.tensor([2.0, 0.0, -1.0, 0.5])
    fig = widgets.render_gumbel(logits, tau=1.0, n=6, draws=20000)
    shown = _axis(fig, "samples").images[0].get_array()
    assert shown.shape == (6, 4) and np.allclose(shown.sum(1), 1)
    probs, soft_mean, hard_freq = (np.array([b.get_height() for b in c]) for c in _axis(fig, "means").containers)
    np.testing.assert_allclose(probs, torch.softmax(logits.double(), 0).numpy(), rtol=1e-6)
    assert np.abs(hard_freq - probs).max() < 0.01 and np.abs(soft_mean - probs).max() > 0.03
    cold = _axis(widgets.render_gumbel(logits, tau=0.01, n=6), "samples").images[0].get_array()
    assert (cold.max(1) > 0.99).all()  # tau -> 0: one-hot rows, the same noise
    with pytest.raises(ValueError, match="one vector of at least 2 logits"):
        widgets.render_gumbel(torch.zeros(2, 3), 1.0)


def test_gumbel_explorer_redraws_for_a_new_temperature():
    explorer = widgets.gumbel_explorer([1.0, 0.0, -1.0])
    explorer.controls["tau"].value = 0.1
    assert "tau = 0.1" in _axis(explorer.figure, "samples").get_title() and explorer.renders == 2


def test_token_editor_decodes_the_grid_with_one_token_changed():
    table = torch.rand(5, 2, 2, generator=torch.Generator().manual_seed(0))  # code -> a 2 x 2 patch

    def decode_indices(idx):  # (1, 2, 2) codes -> (1, 1, 4, 4): each code paints its patch
        B, h, w = idx.shape
        patches = table[idx]  # (B, h, w, 2, 2)
        return patches.permute(0, 1, 3, 2, 4).reshape(B, 1, 2 * h, 2 * w)

    tokens = torch.tensor([[0, 1], [2, 3]])
    fig = widgets.render_token_edit(decode_indices, tokens, position=3, code=4)
    np.testing.assert_allclose(_axis(fig, "original").images[0].get_array(), decode_indices(tokens[None])[0, 0])
    edited = _axis(fig, "edited").images[0].get_array()
    np.testing.assert_allclose(edited[2:, 2:], table[4].numpy())
    np.testing.assert_allclose(edited[:2, :], decode_indices(tokens[None])[0, 0, :2].numpy())
    assert "token 3: 3 -> 4" in _axis(fig, "tokens").get_title()
    editor = widgets.token_editor(decode_indices, tokens, num_codes=5)
    editor.controls["position"].value = 1
    assert editor.controls["code"].value == 1  # a new position starts from its own code
    assert "token 1: 1 -> 1" in _axis(editor.figure, "tokens").get_title()
    editor.controls["code"].value = 0
    assert "token 1: 1 -> 0" in _axis(editor.figure, "tokens").get_title()
    with pytest.raises(ValueError, match="position must be a token position"):
        widgets.render_token_edit(decode_indices, tokens, 4, 0)


# ----------------------------------------------------------------------------- lesson 03: codebooks
from course_lib import quantize as Q


@pytest.fixture(scope="module")
def codebook_runs():
    points = torch.randn(300, 2, generator=torch.Generator().manual_seed(0)) + torch.tensor([3.0, 0.0])
    return {rule: Q.train_toy_codebook(points, num_codes=8, rule=rule, steps=60, every=20)
            for rule in ("loss", "ema+restart")}


def _collection(ax, prefix):
    return next((c for c in ax.collections if c.get_label().startswith(prefix)), None)


def test_render_codebook_draws_live_dead_and_restarted_codes_over_their_cells(codebook_runs):
    run = codebook_runs["loss"]
    snap = run.snapshots[0]  # the corner start: most codes win no point
    fig = widgets.render_codebook(run, 0)
    assert {ax.get_label() for ax in fig.axes} == {"codebook", "usage"}
    ax = _axis(fig, "codebook")
    dead = (snap.counts == 0).numpy()
    assert 0 < dead.sum() < 8
    np.testing.assert_allclose(_collection(ax, "live code").get_offsets(), snap.codebook[~dead].numpy())
    np.testing.assert_allclose(_collection(ax, "dead code").get_offsets(), snap.codebook[dead].numpy())
    assert _collection(ax, "dead code").get_facecolor()[0][:3] != pytest.approx(
        _collection(ax, "live code").get_facecolor()[0][:3])  # dead codes look different
    np.testing.assert_allclose(ax.collections[0].get_offsets(), run.points.numpy())
    labels, _ = Q.voronoi_labels(snap.codebook, ax.get_xlim(), ax.get_ylim())
    cells = ax.images[0].get_array()
    assert cells.shape == (*labels.shape, 4)
    lab = labels.numpy()
    edge = np.zeros(lab.shape, dtype=bool)
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    assert edge.any() and (cells[edge][:, :3] < 0.3).all()  # the cells' borders are dark
    np.testing.assert_allclose(cells[~edge][:, :3], plt.get_cmap("tab20")(lab[~edge] % 20)[:, :3])  # one colour a cell
    assert (cells[~edge][:, 3] < 0.3).all()  # light: the points and codes stay readable on top
    title = fig._suptitle.get_text()
    assert f"step 0: {snap.used}/8 codes used" in title and f"perplexity {snap.perplexity:.1f}" in title
    assert "0 restarts" in title and _collection(ax, "restarted") is None
    usage = _axis(fig, "usage").get_lines()[0]
    np.testing.assert_allclose(usage.get_xydata(), [[0, 100 * snap.usage]])


def test_render_codebook_rings_the_codes_restarted_since_the_last_snapshot(codebook_runs):
    run = codebook_runs["ema+restart"]
    k = next(i for i, s in enumerate(run.snapshots) if s.restarted.any())
    snap = run.snapshots[k]
    fig = widgets.render_codebook(run, k)
    ax = _axis(fig, "codebook")
    np.testing.assert_allclose(_collection(ax, "restarted").get_offsets(), snap.codebook[snap.restarted].numpy())
    assert f"{snap.restarts} restarts so far" in fig._suptitle.get_text()
    line = _axis(fig, "usage").get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), [100 * s.usage for s in run.snapshots[:k + 1]])
    assert _axis(fig, "usage").get_xlim() == (0, 60)  # the whole run's steps, whichever snapshot
    first = widgets.render_codebook(run, 0)
    assert _axis(first, "codebook").get_xlim() == ax.get_xlim()  # one view for every snapshot
    with pytest.raises(ValueError, match=r"index must be a snapshot index in 0 \.\. 3, got 4"):
        widgets.render_codebook(run, 4)
    with pytest.raises(ValueError, match="run must be a quantize.CodebookRun"):
        widgets.render_codebook(run.snapshots, 0)


def test_codebook_explorer_redraws_for_a_rule_and_a_step(codebook_runs):
    explorer = widgets.codebook_explorer(codebook_runs)
    assert list(explorer.controls) == ["rule", "step"] and explorer.renders == 1
    assert explorer.controls["rule"].description == "update rule" and explorer.controls["step"].description == "step"
    assert [label for label, _ in explorer.controls["step"].options] == ["0", "20", "40", "60"]
    assert explorer.figure._suptitle.get_text().startswith("loss, step 0:")
    explorer.controls["rule"].value = "ema+restart"
    assert explorer.renders == 2 and explorer.figure._suptitle.get_text().startswith("ema+restart, step 0:")
    explorer.controls["step"].value = 40
    assert explorer.renders == 3 and explorer.figure._suptitle.get_text().startswith("ema+restart, step 40:")
    assert plt.get_fignums() == [explorer.figure.number]
    short = Q.train_toy_codebook(codebook_runs["loss"].points, num_codes=8, steps=30, every=20)  # steps 0, 20, 30
    mixed = widgets.codebook_explorer({"short": short, "long": codebook_runs["loss"]})
    mixed.controls["step"].value = 60  # past the short run's end: its last snapshot
    assert mixed.figure._suptitle.get_text().startswith("loss, step 30:")  # the short run (rule "loss")
    with pytest.raises(ValueError, match="runs must be a non-empty mapping rule -> quantize.CodebookRun"):
        widgets.codebook_explorer({})
    with pytest.raises(ValueError, match=r"runs\['x'\] must be a quantize.CodebookRun"):
        widgets.codebook_explorer({"x": 1})


def _health(K, rule, used, seed=0):
    g = torch.Generator().manual_seed(seed)
    indices = torch.randint(used, (40, 2, 2), generator=g)  # only the first `used` codes
    x = torch.rand(40, 1, 8, 8, generator=g)
    return Q.codebook_health(K, rule, indices, x, (x + 0.05).clamp(0, 1), n=5)


def test_render_codebook_health_shows_sorted_use_dead_codes_and_reconstructions():
    runs = {(16, "loss"): _health(16, "loss", 6), (16, "ema"): _health(16, "ema", 16)}
    h = runs[16, "loss"]
    fig = widgets.render_codebook_health(runs, 16, "loss")
    ax = _axis(fig, "usage")
    heights = [b.get_height() for b in ax.containers[0]]
    np.testing.assert_allclose(heights, np.sort(h.counts.numpy())[::-1])
    assert h.dead == 10 and "6/16 used, 10 dead" in ax.get_title()
    assert any("10 dead codes" in t.get_text() for t in ax.get_legend().get_texts())
    strip = _axis(fig, "reconstructions").images[0].get_array()
    np.testing.assert_allclose(strip, image_grid(torch.cat([h.originals, h.reconstructions]), nrow=5), rtol=1e-6)
    title = fig._suptitle.get_text()
    assert all(part in title for part in ("K = 16, loss", "38% of codes used", f"perplexity {h.perplexity:.1f}",
                                           f"PSNR {h.psnr:.1f} dB"))
    healthy = widgets.render_codebook_health(runs, 16, "ema")
    assert "0 dead" in _axis(healthy, "usage").get_title()
    missing = widgets.render_codebook_health(runs, 64, "loss")  # not trained: said in the figure, no crash
    assert [ax.get_label() for ax in missing.axes] == ["missing"]
    assert "No model with K = 64 codes and rule 'loss'" in missing.axes[0].texts[0].get_text()
    with pytest.raises(ValueError, match=r"runs must be a non-empty mapping \(codebook size, rule\)"):
        widgets.render_codebook_health({16: h}, 16, "loss")


def test_codebook_health_explorer_redraws_for_size_and_rule():
    runs = {(k, r): _health(k, r, 5 if r == "loss" else k) for k in (8, 32) for r in ("loss", "ema")}
    del runs[32, "loss"]
    explorer = widgets.codebook_health_explorer(runs)
    assert list(explorer.controls) == ["size", "rule"] and explorer.renders == 1
    assert explorer.controls["size"].description == "codebook size"
    assert explorer.controls["rule"].description == "update rule"
    assert list(explorer.controls["size"].options) == [8, 32] and list(explorer.controls["rule"].options) == ["loss", "ema"]
    assert "K = 8, loss" in explorer.figure._suptitle.get_text()
    explorer.controls["rule"].value = "ema"
    assert explorer.renders == 2 and "K = 8, ema" in explorer.figure._suptitle.get_text()
    explorer.controls["size"].value = 32
    assert explorer.renders == 3 and "K = 32, ema" in explorer.figure._suptitle.get_text()
    explorer.controls["rule"].value = "loss"  # a pair the notebook did not train
    assert explorer.renders == 4 and [ax.get_label() for ax in explorer.figure.axes] == ["missing"]
    with pytest.raises(ValueError, match="runs must be a non-empty mapping"):
        widgets.codebook_health_explorer({})


# ----------------------------------------------------------------------------- what a browser run found (issue 15)
def test_the_latent_marker_is_drawn_whole_at_the_edge_of_the_view():
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    fig = widgets.render_latent_explorer(decode, [1.0, 1.0], z, lim=(0, 1, 0, 1))  # the point on the corner
    marker = [line for line in _axis(fig, "latent").lines if line.get_marker() == widgets.MARKER["marker"]]
    assert marker and not marker[0].get_clip_on()


def test_lesson_01s_interpolation_offers_one_mode_without_a_control():
    x = torch.rand(4, 1, 8, 8)
    encode = lambda images: images.reshape(len(images), -1)[:, :2]
    explorer = widgets.interpolation_explorer(encode, decode, x, modes=("linear",))
    assert list(explorer.controls) == ["a", "b", "alpha"] and explorer.renders == 1
    assert "mode" in widgets.interpolation_explorer(encode, decode, x).controls  # lesson 02: linear and slerp
    with pytest.raises(ValueError, match="mode"):
        widgets.interpolation_explorer(encode, decode, x, mode="slerp", modes=("linear",))


def test_the_stored_text_of_a_widget_names_its_controls_as_the_student_sees_them():
    explorer = widgets.condition_explorer(lambda z, y: torch.rand(len(z), 1, 8, 8), latent_dim=2, n=4)
    assert repr(explorer).startswith("<interactive figure with controls class, noise seed:")


def test_the_schedule_explorers_log_snr_axis_stays_readable_at_extreme_settings():
    fig = widgets.render_schedules(torch.rand(1, 8, 8) * 2 - 1, t=10, T=4000, beta_start=1e-3, beta_end=0.04)
    lo, hi = _axis(fig, "log snr").get_ylim()
    assert lo >= -widgets.diffusion.SNR_LIM and hi <= widgets.diffusion.SNR_LIM


def test_the_reverse_steppers_figure_fits_a_laptop_screen():
    S, B = 4, 16
    traj = D.Trajectory(torch.arange(S - 1, -1, -1) * 10 + 9, torch.rand(S + 1, B, 1, 8, 8), torch.rand(S, B, 1, 8, 8))
    fig = widgets.render_reverse(traj, 1, n=16)
    assert fig.get_size_inches()[0] <= 11.0


def test_the_attribute_figure_keeps_its_layout_when_the_direction_changes():
    z = torch.randn(3, 2, generator=torch.Generator().manual_seed(2))
    directions = {"right": torch.tensor([1.0, 0.0]), "a much longer direction name": torch.tensor([0.0, 1.0])}
    explorer = widgets.attribute_explorer(decode, z, directions, originals=torch.zeros(3, 1, 8, 8))
    before = [ax.get_position().bounds for ax in explorer.figure.axes]
    explorer.controls["direction"].value = "a much longer direction name"
    assert [ax.get_position().bounds for ax in explorer.figure.axes] == before
    assert explorer.figure.get_suptitle() == "a much longer direction name +0.0"  # the name moved to the title
