"""Widgets are driven without a kernel: set a control's value, see the figure redrawn."""

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
    with pytest.raises(ValueError, match=r"labels must have shape \(40,\)"):
        widgets.render_latent_explorer(decode, z, emb, labels[:5])


def test_render_interpolation_shows_the_path_and_the_image_at_alpha():
    z_a, z_b = torch.tensor([-1.0, 0.5]), torch.tensor([2.0, 1.0])
    fig = widgets.render_interpolation(decode, z_a, z_b, alpha=0.3, steps=5, image_a=torch.zeros(8, 8), image_b=torch.ones(8, 8))
    assert [ax.get_label() for ax in fig.axes] == ["original a", *[f"step {k}" for k in range(5)], "original b", "decoded"]
    expected = decode((z_a + 0.3 * (z_b - z_a))[None])[0, 0].numpy()
    np.testing.assert_allclose(_axis(fig, "decoded").images[0].get_array(), expected, rtol=1e-5)
    np.testing.assert_allclose(_axis(fig, "step 4").images[0].get_array(), decode(z_b[None])[0, 0].numpy(), rtol=1e-5)
    assert _axis(fig, "step 1").spines["top"].get_visible()  # alpha 0.3 is closest to frame 0.25
    assert not _axis(fig, "step 2").spines["top"].get_visible()
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
    with pytest.raises(ValueError, match=r"embedding must have shape \(N, 2\)"):
        widgets.latent_explorer(decode, torch.randn(10, 5))
    with pytest.raises(ValueError, match="at least 2 images"):
        widgets.interpolation_explorer(encode, decode, torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"a must be an integer index in \[0, 5\]"):
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
