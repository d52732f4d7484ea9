import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib import viz
from course_lib.training import History


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_image_grid_puts_each_image_in_its_tile():
    images = torch.arange(5 * 2 * 3, dtype=torch.float32).reshape(5, 1, 2, 3) / 30
    grid = viz.image_grid(images, nrow=3, pad=1)
    assert grid.shape == (2 * (2 + 1) + 1, 3 * (3 + 1) + 1)
    for k in range(5):
        r, c = divmod(k, 3)
        tile = grid[1 + r * 3 : 1 + r * 3 + 2, 1 + c * 4 : 1 + c * 4 + 3]
        np.testing.assert_array_equal(tile, images[k, 0].numpy())
    assert grid[0, 0] == viz.PAD_VALUE and grid[-3:, -4:].min() == viz.PAD_VALUE  # border and the empty 6th tile
    np.testing.assert_array_equal(viz.image_grid(images[:1, 0, :, :], pad=0), images[0, 0].numpy())


def test_image_errors_name_the_expected_shape():
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\).*got shape \(2, 3, 4, 4\)"):
        viz.image_grid(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="nrow must be a positive integer"):
        viz.image_grid(torch.zeros(2, 4, 4), nrow=0)


def test_show_images_and_rows_draw_the_pixels():
    x = torch.rand(6, 1, 8, 8)
    ax = viz.show_images(x, nrow=3, title="t")
    np.testing.assert_allclose(ax.images[0].get_array(), viz.image_grid(x, nrow=3))
    assert ax.get_title() == "t"
    fig = viz.show_image_rows({"clean": x, "noisy": x[:4]})
    assert [a.get_ylabel() for a in fig.axes] == ["clean", "noisy"]
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), viz.image_grid(x[:4], nrow=4))


def test_plot_latent_colours_by_label():
    z = torch.randn(30, 2)
    labels = torch.arange(30) % 10
    ax = viz.plot_latent(z, labels, title="codes")
    np.testing.assert_allclose(ax.collections[0].get_offsets(), z.numpy())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [str(k) for k in range(10)]
    with pytest.raises(ValueError, match=r"z must have shape \(N, 2\), got shape \(30, 3\); project it to 2-D"):
        viz.plot_latent(torch.randn(30, 3))


def test_plot_history():
    h = History(train_loss=[3.0, 2.0, 1.5], val_loss=[3.5, 2.5, 2.4])
    ax = viz.plot_history(h)
    assert [line.get_label() for line in ax.get_lines()] == ["train", "validation"]
    np.testing.assert_allclose(ax.get_lines()[0].get_xydata(), [[1, 3.0], [2, 2.0], [3, 1.5]])
    with pytest.raises(ValueError, match="one value per epoch"):
        viz.plot_history(History(train_loss=[1.0, 2.0], val_loss=[1.0]))


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
    ax = viz.plot_decoded_grid(decode, (0.0, 1.0, 0.0, 1.0), n=4)
    assert tuple(ax.images[0].get_extent()) == (0.0, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="xmin < xmax"):
        viz.decoded_grid(decode, (1.0, 0.0, 0.0, 1.0))


def test_prior_contours_are_circles_of_the_given_radii():
    fig, ax = plt.subplots()
    viz.plot_prior_contours(ax, radii=(1.0, 2.5))
    for line, r in zip(ax.get_lines(), (1.0, 2.5)):
        np.testing.assert_allclose(np.hypot(*line.get_xydata().T), r, rtol=1e-6)
