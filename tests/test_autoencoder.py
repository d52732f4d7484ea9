import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from course_lib import autoencoder as ae
from course_lib.data import load_digits
from course_lib.metrics import principal_angles
from course_lib.training import fit


def test_shapes_and_output_range():
    model = ae.Autoencoder(ae.AEConfig(latent_dim=3))
    x = torch.rand(5, 1, 8, 8)
    z = model.encode(x)
    assert z.shape == (5, 3)
    x_hat = model.decode(z)
    assert x_hat.shape == (5, 1, 8, 8)
    assert 0 <= x_hat.min() and x_hat.max() <= 1  # sigmoid output for pixels in [0, 1]
    assert torch.equal(model(x), x_hat)


def test_linear_autoencoder_is_linear():
    model = ae.Autoencoder(ae.AEConfig(latent_dim=2, linear=True))
    x, y = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    f = lambda v: model(v) - model(torch.zeros_like(v))
    torch.testing.assert_close(f(2 * x + y), 2 * f(x) + f(y), atol=1e-5, rtol=1e-5)


def test_wrong_input_shapes_are_named():
    model = ae.Autoencoder(ae.AEConfig(latent_dim=2))
    with pytest.raises(ValueError, match=r"images x must be of shape \(B, 1, 8, 8\), got \(4, 64\)"):
        model.encode(torch.rand(4, 64))
    with pytest.raises(ValueError, match=r"codes z must be of shape \(B, 2\), got \(4, 3\)"):
        model.decode(torch.rand(4, 3))
    with pytest.raises(ValueError, match="latent_dim"):
        ae.AEConfig(latent_dim=0)


def test_reconstruction_loss_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    x, x_hat = torch.rand(7, 1, 8, 8, generator=g), torch.rand(7, 1, 8, 8, generator=g)
    brute = np.mean([sum((a - b) ** 2 for a, b in zip(xi.flatten().tolist(), yi.flatten().tolist())) for xi, yi in zip(x, x_hat)])
    assert ae.reconstruction_loss(x, x_hat).item() == pytest.approx(brute, rel=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        ae.reconstruction_loss(x, x_hat[:3])


def test_linear_autoencoder_spans_the_pca_subspace():
    """Baldi & Hornik: the optimum of a linear AE projects onto the top-k PCA subspace (any basis)."""
    x, _ = load_digits("train")
    xc = x - x.mean(0, keepdim=True)
    k = 8
    torch.manual_seed(0)
    model = ae.Autoencoder(ae.AEConfig(latent_dim=k, linear=True))
    fit(model, ae.autoencoder_loss, xc, epochs=1000, batch_size=len(x), lr=1e-2, seed=0, device="cpu", progress=False)
    W_d = model.decoder[0].weight.detach()  # (64, k)
    pca = PCA(k).fit(x.reshape(len(x), -1).numpy())
    angles = principal_angles(W_d, torch.tensor(pca.components_.T)).rad2deg()
    assert angles.max() < 0.1, angles  # degrees
    # same subspace, not the same basis: the learned columns are not orthogonal
    cos = torch.nn.functional.normalize(W_d, dim=0).T @ torch.nn.functional.normalize(W_d, dim=0)
    assert (cos - torch.eye(k)).abs().max() > 0.05
    # and the reconstruction error equals PCA's (summed over pixels)
    flat = x.reshape(len(x), -1).numpy()
    pca_err = ((flat - pca.inverse_transform(pca.transform(flat))) ** 2).sum(1).mean()
    assert ae.reconstruction_error(model, xc) == pytest.approx(pca_err, rel=1e-3)


def test_gaussian_corruption_statistics():
    x = torch.full((400_000,), 0.3)
    out = ae.gaussian_corruption(x, 0.5, generator=torch.Generator().manual_seed(0))
    assert out.mean().item() == pytest.approx(0.3, abs=5 * 0.5 / 400_000**0.5)
    assert out.var().item() == pytest.approx(0.25, rel=0.01)
    assert torch.equal(x, torch.full((400_000,), 0.3))  # input untouched
    assert torch.equal(ae.gaussian_corruption(x[:5], 0.0), x[:5])
    with pytest.raises(ValueError, match="sigma must be a number >= 0"):
        ae.gaussian_corruption(x, -1.0)


def test_masking_corruption_statistics():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(400_000, generator=g) + 0.5
    p = 0.3
    out = ae.masking_corruption(x, p, generator=g)
    kept = out == x
    assert (kept | (out == 0)).all()
    assert 1 - kept.double().mean().item() == pytest.approx(p, abs=0.005)
    assert out.mean().item() == pytest.approx((1 - p) * x.mean().item(), rel=0.01)  # E[x~] = (1 - p) x
    assert torch.equal(ae.masking_corruption(x[:9], 1.0), torch.zeros(9))
    with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\]"):
        ae.masking_corruption(x, 1.5)


def test_corruptions_are_reproducible_under_a_generator():
    x = torch.rand(4, 1, 8, 8)
    for corrupt, level in ((ae.gaussian_corruption, 0.2), (ae.masking_corruption, 0.4)):
        a = corrupt(x, level, generator=torch.Generator().manual_seed(3))
        b = corrupt(x, level, generator=torch.Generator().manual_seed(3))
        assert torch.equal(a, b)


def test_block_mask_and_inpaint_keep_known_pixels():
    x = torch.rand(3, 1, 8, 8)
    x_masked, known = ae.block_mask(x, top=4, left=0, height=2, width=8)
    assert known[..., 4:6, :].sum() == 0 and known.sum() == 3 * 48
    assert torch.equal(x_masked * (1 - known), torch.zeros_like(x))
    target = torch.full((1, 1, 8, 8), 0.7)
    constant = lambda v: target.expand_as(v)
    filled = ae.inpaint(constant, x_masked, known, steps=3)
    assert torch.equal(filled * known, x * known)  # observed pixels are never changed
    assert torch.allclose(filled[..., 4:6, :], torch.tensor(0.7))  # hidden ones take the model's guess
    with pytest.raises(ValueError, match="does not fit"):
        ae.block_mask(x, top=7, left=0, height=3, width=8)
