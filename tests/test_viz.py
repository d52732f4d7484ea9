"""Tests for course_lib.viz: pixel placement, data drawn, and helpful errors."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage

from course_lib import viz
from course_lib.training import History


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def fake_decode(d: int = 2, H: int = 8, W: int = 8, seed: int = 0):
    """A fixed linear map + sigmoid, reshaped to images (M, 1, H, W)."""
    A = torch.randn(d, H * W, generator=torch.Generator().manual_seed(seed))
    return lambda z: torch.sigmoid(z @ A).reshape(-1, 1, H, W)


def numbered_images(N: int, H: int = 3, W: int = 2) -> torch.Tensor:
    """Images (N, 1, H, W) whose pixel (k, i, j) is k + (i * W + j) / 100: each pixel unique."""
    k = torch.arange(N).view(N, 1, 1, 1).float()
    ij = torch.arange(H * W).view(1, 1, H, W).float() / 100
    return k + ij


# ----------------------------------------------------------------------------- image_grid


def test_image_grid_places_each_pixel():
    N, H, W, nrow, pad = 5, 3, 2, 3, 1
    x = numbered_images(N, H, W)
    grid = viz.image_grid(x, nrow=nrow, pad=pad, pad_value=-1.0)
    rows = 2
    assert grid.shape == (rows * (H + pad) + pad, nrow * (W + pad) + pad)
    for k in range(N):
        r, c = divmod(k, nrow)
        top, left = pad + r * (H + pad), pad + c * (W + pad)
        np.testing.assert_array_equal(grid[top : top + H, left : left + W], x[k, 0].numpy())
    # borders and the one empty tile hold the pad value, and only they do
    mask = np.ones_like(grid, dtype=bool)
    for k in range(N):
        r, c = divmod(k, nrow)
        mask[pad + r * (H + pad) : pad + r * (H + pad) + H, pad + c * (W + pad) : pad + c * (W + pad) + W] = False
    assert np.all(grid[mask] == -1.0)
    assert np.all(grid[~mask] >= 0.0)


def test_image_grid_accepts_nhw_numpy_and_single_image():
    x = numbered_images(4, 2, 2)
    a = viz.image_grid(x)
    b = viz.image_grid(x[:, 0].numpy())
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2 * 3 + 1, 2 * 3 + 1)  # default nrow = ceil(sqrt(4)) = 2
    single = viz.image_grid(x[0, 0], pad=0)
    np.testing.assert_array_equal(single, x[0, 0].numpy())


def test_image_grid_default_pad_is_visible_border():
    grid = viz.image_grid(torch.zeros(2, 1, 4, 4), nrow=2)
    assert grid[0, 0] == viz.PAD_VALUE and 0 < viz.PAD_VALUE < 1
    assert grid.shape == (6, 11)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(images=torch.zeros(2, 3, 4, 4)), r"\(N, 1, H, W\).*got shape \(2, 3, 4, 4\)"),
        (dict(images=torch.zeros(0, 4, 4)), "empty"),
        (dict(images=torch.zeros(2, 4, 4), nrow=0), "nrow must be a positive integer"),
        (dict(images=torch.zeros(2, 4, 4), pad=-1), "pad must be a non-negative integer"),
    ],
)
def test_image_grid_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.image_grid(**kwargs)


# ----------------------------------------------------------------------------- show_images / rows


def test_show_images_draws_grid_with_fixed_range():
    x = numbered_images(6) / 10
    ax = viz.show_images(x, nrow=3, title="six")
    (im,) = ax.get_images()
    np.testing.assert_array_equal(im.get_array(), viz.image_grid(x, nrow=3))
    assert im.get_clim() == (0.0, 1.0)
    assert im.get_cmap().name == "gray_r"
    assert not ax.axison and ax.get_title() == "six"


def test_show_images_uses_given_axes():
    fig, ax = plt.subplots()
    assert viz.show_images(torch.rand(4, 8, 8), ax=ax) is ax


def test_show_image_rows_one_labelled_row_each():
    x = torch.rand(5, 1, 8, 8)
    rows = {"original": x, "noisy": (x + 0.3).clamp(0, 1), "reconstructed": x[:3]}
    fig = viz.show_image_rows(rows, title="denoising")
    assert len(fig.axes) == 3
    for ax, (label, images) in zip(fig.axes, rows.items()):
        assert ax.get_ylabel() == label
        (im,) = ax.get_images()
        np.testing.assert_array_equal(im.get_array(), viz.image_grid(images, nrow=images.shape[0]))
    assert fig._suptitle.get_text() == "denoising"


def test_show_image_row_maps_its_value_range_to_one_scale():
    x = torch.linspace(-1, 1, 2 * 3 * 4).view(2, 1, 3, 4)
    fig, ax = plt.subplots()
    assert viz.show_image_row(x, ax=ax, label="$x_t$", value_range=(-1.0, 1.0)) is ax
    (im,) = ax.get_images()
    np.testing.assert_allclose(im.get_array(), viz.image_grid((x + 1) / 2, nrow=2), rtol=1e-6)  # border stays grey
    assert im.get_clim() == (0.0, 1.0) and ax.get_ylabel() == "$x_t$" and ax.get_anchor() == "W"
    assert not any(spine.get_visible() for spine in ax.spines.values()) and len(ax.get_xticks()) == 0
    ax = viz.show_image_row(torch.tensor([[-0.5, 0.25], [1.0, 2.0]]), pad=0)  # one image filling its axes, clipped
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), [[0.0, 0.25], [1.0, 1.0]])
    assert ax.get_ylabel() == "" and ax.get_anchor() == "C"
    with pytest.raises(ValueError, match=r"value_range must be two numbers \(lo, hi\) with lo < hi, got \(1, 0\)"):
        viz.show_image_row(x, value_range=(1, 0))


def test_show_image_rows_n_limits_and_reuses_fig():
    fig = plt.figure()
    out = viz.show_image_rows({"a": torch.rand(6, 8, 8)}, n=2, fig=fig)
    assert out is fig
    (im,) = fig.axes[0].get_images()
    assert im.get_array().shape == (10, 19)  # two 8x8 tiles, pad 1


def test_show_image_rows_bad_input():
    with pytest.raises(ValueError, match="non-empty dict"):
        viz.show_image_rows({})
    with pytest.raises(ValueError, match=r"rows\['noisy'\].*got shape \(2, 3, 8, 8\)"):
        viz.show_image_rows({"x": torch.rand(2, 8, 8), "noisy": torch.rand(2, 3, 8, 8)})


# ----------------------------------------------------------------------------- plot_latent


def test_plot_latent_scatters_points_with_digit_colours_and_legend():
    z = torch.randn(50, 2)
    labels = torch.arange(50) % 10
    ax = viz.plot_latent(z, labels, title="codes")
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(points.get_offsets(), z.numpy())
    tab10 = plt.get_cmap("tab10")
    colours = points.to_rgba(labels.numpy())
    for k in range(10):
        np.testing.assert_allclose(colours[labels.numpy() == k][0], tab10(k))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [str(k) for k in range(10)]
    assert ax.get_title() == "codes"


def test_plot_latent_without_labels_and_continuous_labels():
    ax = viz.plot_latent(np.random.randn(20, 2))
    assert ax.get_legend() is None
    ax = viz.plot_latent(np.random.randn(20, 2), np.linspace(0, 1, 20))
    assert len(ax.figure.axes) == 2  # scatter + colorbar


def test_plot_latent_bad_input():
    with pytest.raises(ValueError, match=r"z must be of shape \(N, 2\), got shape \(5, 3\).*PCA"):
        viz.plot_latent(torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"labels must be of shape \(5,\).*got shape \(4,\)"):
        viz.plot_latent(torch.zeros(5, 2), torch.zeros(4))


# ----------------------------------------------------------------------------- plot_history


class FakeHistory:
    def __init__(self, train, val):
        self.train_loss, self.val_loss = train, val


def test_plot_history_plots_epochs_from_one():
    ax = viz.plot_history(FakeHistory([3.0, 2.0, 1.5], [3.5, 2.5, 2.0]), title="loss")
    train, val = ax.get_lines()
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(train.get_ydata(), [3.0, 2.0, 1.5])
    np.testing.assert_array_equal(val.get_ydata(), [3.5, 2.5, 2.0])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "validation"]


def test_plot_history_without_validation_and_log_scale():
    ax = viz.plot_history(FakeHistory([1.0, 0.5], []), logy=True)
    assert len(ax.get_lines()) == 1 and ax.get_yscale() == "log"


def test_plot_history_draws_each_series_of_a_two_player_history():
    from course_lib.training import History

    h = History(epoch={"critic_loss": [-1.0, -0.5, -0.2], "generator_loss": [0.3, 0.1, 0.0]})
    ax = viz.plot_history(h, title="GAN")
    critic, generator = ax.get_lines()
    np.testing.assert_array_equal(critic.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(generator.get_ydata(), [0.3, 0.1, 0.0])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["critic loss", "generator loss"]


def test_plot_history_bad_input():
    with pytest.raises(ValueError, match="one value per epoch \\(3\\), got 2"):
        viz.plot_history(FakeHistory([1.0, 2.0, 3.0], [1.0, 2.0]))
    with pytest.raises(ValueError, match="train_loss is empty"):
        viz.plot_history(FakeHistory([], []))
    with pytest.raises(ValueError, match="positive losses"):
        viz.plot_history(FakeHistory([1.0, -1.0], []), logy=True)
    with pytest.raises(ValueError, match="`train_loss`"):
        viz.plot_history(object())


# ----------------------------------------------------------------------------- decoded grid


def test_decoded_grid_tiles_decode_at_cell_centres():
    decode = fake_decode()
    lim, n = (-2.0, 2.0, -1.0, 3.0), 4
    grid = viz.decoded_grid(decode, lim, n=n)
    assert grid.shape == (n * 8, n * 8)
    # tile (row 0, col n-1) is the top-right cell: centre (xmax - dx/2, ymax - dy/2)
    dx, dy = 4.0 / n, 4.0 / n
    z = torch.tensor([[2.0 - dx / 2, 3.0 - dy / 2]])
    np.testing.assert_allclose(grid[0:8, (n - 1) * 8 :], decode(z)[0, 0].numpy(), atol=1e-6)
    # tile (row n-1, col 0) is the bottom-left cell
    z = torch.tensor([[-2.0 + dx / 2, -1.0 + dy / 2]])
    np.testing.assert_allclose(grid[(n - 1) * 8 :, 0:8], decode(z)[0, 0].numpy(), atol=1e-6)


def test_decoded_grid_calls_decode_without_grad_on_cpu_float():
    seen = {}

    def decode(z):
        seen.update(dtype=z.dtype, device=z.device, grad=torch.is_grad_enabled(), shape=tuple(z.shape))
        return torch.zeros(z.shape[0], 1, 4, 4)

    viz.decoded_grid(decode, (0, 1, 0, 1), n=3)
    assert seen == dict(dtype=torch.float32, device=torch.device("cpu"), grad=False, shape=(9, 2))


def test_plot_decoded_grid_lines_up_with_latent_coordinates():
    lim = (-3.0, 1.0, 0.0, 2.0)
    ax = viz.plot_decoded_grid(fake_decode(), lim, n=5)
    (im,) = ax.get_images()
    assert isinstance(im, AxesImage)
    assert tuple(im.get_extent()) == lim
    np.testing.assert_allclose(im.get_array(), viz.decoded_grid(fake_decode(), lim, n=5))


def test_a_padded_grid_keeps_each_tile_centred_on_its_latent_point():
    lim, n, pad = (-3.0, 1.0, 0.0, 2.0), 5, 1
    grid = viz.decoded_grid(fake_decode(), lim, n=n, pad=pad)
    assert grid.shape == (n * 9 + 1, n * 9 + 1)
    assert np.all(grid[0, :] == viz.PAD_VALUE) and np.all(grid[:, 9] == viz.PAD_VALUE)  # grey borders
    ax = viz.plot_decoded_grid(fake_decode(), lim, n=n, pad=pad)
    (im,) = ax.get_images()
    x0, x1, y0, y1 = im.get_extent()
    cols, rows = grid.shape[1], grid.shape[0]
    for j in range(n):  # tile j's centre pixel column lands on the centre of latent cell j
        centre_px = pad + j * (8 + pad) + 4  # pixel edges: the centre of an 8-pixel tile is 4 pixels in
        x = x0 + (x1 - x0) * centre_px / cols
        assert x == pytest.approx(lim[0] + (j + 0.5) * (lim[1] - lim[0]) / n)
    y_top = y1 - (y1 - y0) * (pad + 4) / rows  # the top tile row's centre, in latent units
    assert y_top == pytest.approx(lim[3] - 0.5 * (lim[3] - lim[2]) / n)


def test_decoded_grid_bad_input():
    with pytest.raises(ValueError, match="xmin < xmax"):
        viz.decoded_grid(fake_decode(), (1, 0, 0, 1))
    with pytest.raises(ValueError, match="four numbers"):
        viz.decoded_grid(fake_decode(), (0, 1, 0))
    with pytest.raises(ValueError, match="one image per code"):
        viz.decoded_grid(lambda z: torch.zeros(1, 1, 8, 8), (0, 1, 0, 1), n=2)
    with pytest.raises(ValueError, match="decode must return a tensor"):
        viz.decoded_grid(lambda z: [0.0], (0, 1, 0, 1), n=2)


def test_decoded_grid_places_each_code_where_it_belongs():
    def decode(z):  # an image whose pixels encode the code: left half z1, right half z2
        img = torch.zeros(len(z), 1, 2, 2)
        img[:, 0, :, 0], img[:, 0, :, 1] = z[:, :1], z[:, 1:]
        return img

    grid = viz.decoded_grid(decode, lim=(0.0, 1.0, 0.0, 1.0), n=4)
    assert grid.shape == (8, 8)
    centres = (np.arange(4) + 0.5) / 4
    np.testing.assert_allclose(grid[0, ::2], centres)  # z1 grows left to right
    np.testing.assert_allclose(grid[::2, 1], centres[::-1])  # z2 grows bottom to top (row 0 at the top)


def test_plot_history_takes_training_history():
    h = History(train_loss=[3.0, 2.0, 1.5], val_loss=[3.5, 2.5, 2.4])
    ax = viz.plot_history(h)
    assert [line.get_label() for line in ax.get_lines()] == ["train", "validation"]
    np.testing.assert_allclose(ax.get_lines()[0].get_xydata(), [[1, 3.0], [2, 2.0], [3, 1.5]])


# ----------------------------------------------------------------------------- prior contours


def test_prior_contours_are_circles_of_the_given_radii():
    fig, ax = plt.subplots()
    viz.plot_prior_contours(ax, radii=(1.0, 2.5))
    for line, r in zip(ax.get_lines(), (1.0, 2.5)):
        np.testing.assert_allclose(np.hypot(*line.get_xydata().T), r, rtol=1e-6)


def test_plot_nearest_distances_draws_both_histograms_on_one_scale():
    samples, test = torch.tensor([0.5, 1.0, 1.5, 2.0]), torch.tensor([1.0, 1.2, 3.0])
    ax = viz.plot_nearest_distances(samples, test, label="flow samples", bins=5)
    test_bars, sample_bars = ax.containers
    assert len(test_bars) == len(sample_bars) == 4  # 5 edges from 0 to the largest distance, shared
    assert sample_bars[0].get_x() == 0 and test_bars[-1].get_x() + test_bars[-1].get_width() == pytest.approx(3.0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["test digits (3)", "flow samples (4)"]
    with pytest.raises(ValueError, match="non-empty arrays of distances"):
        viz.plot_nearest_distances(torch.tensor([]), test)
