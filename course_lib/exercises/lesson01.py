"""Lesson 01 (autoencoders): the checks of its exercises."""

from __future__ import annotations

import torch

from .. import autoencoder as ae
from ..checks import CheckFailure, expect_close, expect_tensor, register


def _images(B: int, seed: int, shape=(1, 8, 8)) -> torch.Tensor:
    return torch.rand((B, *shape), generator=torch.Generator().manual_seed(seed))


@register("01.reconstruction_loss", "reconstruction_loss(x, x_hat)", ae.reconstruction_loss)
def _check_reconstruction_loss(student, reference, cases) -> None:
    B = 4
    cases.add("all-ones images against all-zeros reconstructions: 64 pixels off by 1 (expect 64)")
    expect_close(torch.tensor(64.0), student(torch.ones(B, 1, 8, 8), torch.zeros(B, 1, 8, 8)), what="the loss")
    cases.add("perfect reconstruction (expect 0)")
    x = _images(B, 1)
    expect_close(torch.tensor(0.0), student(x, x.clone()), what="the loss")
    for shape in ((5, 1, 8, 8), (1, 1, 8, 8), (3, 64), (7, 1, 4, 4)):
        x, x_hat = _images(1, 2, shape).squeeze(0), _images(1, 3, shape).squeeze(0)
        cases.add(f"random x and x_hat of shape {shape}")
        expect_close(reference(x, x_hat), student(x, x_hat), what="the loss")
    cases.add("the loss is differentiable with respect to x_hat")
    x_hat = _images(3, 4).requires_grad_()
    loss = student(_images(3, 5), x_hat)
    expect_tensor(loss, (), "the loss (a scalar)")
    loss.backward()
    if x_hat.grad is None:
        raise CheckFailure("no gradient reached x_hat: compute the loss with torch operations, without .item() or numpy")


@register("01.Autoencoder", "Autoencoder.encode and Autoencoder.decode", ae.Autoencoder)
def _check_autoencoder(student, reference, cases) -> None:
    configs = [
        ("MLP autoencoder, 3 latents", ae.AEConfig(latent_dim=3, hidden=(16, 8))),
        ("linear autoencoder (no sigmoid)", ae.AEConfig(latent_dim=2, linear=True)),
        ("4x4 images, 1 latent", ae.AEConfig(image_shape=(1, 4, 4), latent_dim=1, hidden=(5,))),
    ]
    for name, cfg in configs:
        torch.manual_seed(0)
        ref = reference(cfg)
        cases.add(f"{name}: build Autoencoder(cfg) and load the reference's weights")
        stud = student(cfg)
        try:
            stud.load_state_dict(ref.state_dict())
        except (RuntimeError, AttributeError) as err:
            raise CheckFailure(f"your Autoencoder's layers differ from the given __init__ (keep it as it is): {err}") from None
        for B in (5, 1):
            x = _images(B, seed=B, shape=cfg.image_shape)
            cases.add(f"{name}: encode a batch of {B} images {tuple(x.shape)}")
            expect_close(ref.encode(x), stud.encode(x), what="encode(x)")
            z = torch.randn(B, cfg.latent_dim, generator=torch.Generator().manual_seed(10 + B))
            cases.add(f"{name}: decode a batch of {B} codes {tuple(z.shape)}")
            expect_close(ref.decode(z), stud.decode(z), what="decode(z)")
            cases.add(f"{name}: forward = decode(encode(x))")
            expect_close(ref(x), stud(x), what="model(x)")
    cases.add("gradients reach the encoder through decode(encode(x))")
    stud = student(configs[0][1])
    stud.decode(stud.encode(_images(4, 0))).sum().backward()
    if any(p.grad is None for p in stud.parameters()):
        raise CheckFailure("some parameters received no gradient: did you detach or rebuild a tensor?")


def _check_corruption_common(student, cases, level_name: str, level: float) -> None:
    x = _images(6, 7)
    x_copy = x.clone()
    cases.add(f"output has the input's shape and dtype ({level_name}={level})")
    out = expect_tensor(student(x, level, generator=torch.Generator().manual_seed(0)), x.shape, "x_tilde")
    if out.dtype != x.dtype:
        raise CheckFailure(f"expected dtype {x.dtype}, got {out.dtype}")
    cases.add("the input is not modified in place")
    if not torch.equal(x, x_copy):
        raise CheckFailure("your function changed its input x in place; return a new tensor instead")
    cases.add("the same generator seed gives the same corruption (pass generator= to torch.randn / torch.rand)")
    a = student(x, level, generator=torch.Generator().manual_seed(1))
    b = student(x, level, generator=torch.Generator().manual_seed(1))
    c = student(x, level, generator=torch.Generator().manual_seed(2))
    if not torch.equal(a, b):
        raise CheckFailure("two calls with generators seeded alike gave different outputs: use the generator argument")
    if torch.equal(a, c):
        raise CheckFailure("two calls with different generator seeds gave identical outputs: is the noise random?")


def _max_correlation(rows: torch.Tensor) -> float:
    """The largest |correlation| between two of the rows (8, n)."""
    c = torch.corrcoef(rows)
    return c[~torch.eye(len(rows), dtype=torch.bool)].abs().max().item()


def _check_independence(student, x: torch.Tensor, level: float, cases, what: str) -> None:
    """Noise (or a mask) drawn once per image makes the pixels of an image move together; drawn once for
    the batch, it makes the images move together. Drawn per pixel, neither happens."""
    B = x.shape[0]
    cases.add(f"each pixel of each image gets its own {what} (a batch of {B} identical images)")
    flat = (student(x, level, generator=torch.Generator().manual_seed(11)) - x).flatten(1).double()  # (B, P)
    if (flat.std(dim=0) < 1e-12).all():
        raise CheckFailure(f"every image of the batch gets the same {what}: draw it with the shape of x, "
                           "not one pattern for the whole batch")
    if (flat.std(dim=1) < 1e-12).all():
        raise CheckFailure(f"all the pixels of an image get the same {what}: draw it for every pixel, with the "
                           "shape of x, not one value per image")
    within, across = _max_correlation(flat.T[:8]), _max_correlation(flat[:8])  # 8 pixels over images; 8 images over pixels
    if within > 5 / B**0.5 + 0.02:
        raise CheckFailure(f"pixels of the same image change together (correlation {within:.2f}): draw the {what} "
                           "for every pixel independently")
    if across > 5 / flat.shape[1] ** 0.5 + 0.1:
        raise CheckFailure(f"images of the batch change together (correlation {across:.2f}): draw the {what} "
                           "for every image independently")


@register("01.gaussian_corruption", "gaussian_corruption(x, sigma, generator)", ae.gaussian_corruption)
def _check_gaussian_corruption(student, reference, cases) -> None:
    _check_corruption_common(student, cases, "sigma", 0.3)
    x = _images(3, 8)
    cases.add("sigma = 0 leaves x unchanged")
    expect_close(x, student(x, 0.0, generator=torch.Generator().manual_seed(0)), what="x_tilde")
    _check_independence(student, torch.full((4000, 1, 8, 8), 0.5), 0.3, cases, "noise")
    n = 200_000
    for value, sigma in ((0.25, 0.5), (0.8, 0.1)):
        x = torch.full((n,), value)
        cases.add(f"{n} draws around x = {value} with sigma = {sigma}: mean x, standard deviation sigma")
        out = student(x, sigma, generator=torch.Generator().manual_seed(3))
        noise = out - x
        if abs(noise.mean().item()) > 5 * sigma / n**0.5:
            raise CheckFailure(f"the noise should have mean 0, its mean is {noise.mean().item():.4f}")
        if abs(noise.std().item() - sigma) > 0.01 * sigma:
            raise CheckFailure(f"the noise should have standard deviation sigma = {sigma}, got {noise.std().item():.4f}")
        cases.add("the noise is Gaussian (fraction within one sigma is about 68.3%)")
        frac = (noise.abs() < sigma).double().mean().item()
        if abs(frac - 0.6827) > 0.01:
            raise CheckFailure(f"{frac:.3f} of the noise lies within one sigma; a Gaussian has 0.683 (use torch.randn)")


@register("01.masking_corruption", "masking_corruption(x, p, generator)", ae.masking_corruption)
def _check_masking_corruption(student, reference, cases) -> None:
    _check_corruption_common(student, cases, "p", 0.5)
    x = _images(3, 9) + 0.1  # strictly positive, so a zero means "masked"
    cases.add("p = 0 keeps every pixel")
    expect_close(x, student(x, 0.0, generator=torch.Generator().manual_seed(0)), what="x_tilde")
    cases.add("p = 1 masks every pixel")
    expect_close(torch.zeros_like(x), student(x, 1.0, generator=torch.Generator().manual_seed(0)), what="x_tilde")
    _check_independence(student, torch.full((4000, 1, 8, 8), 0.5), 0.3, cases, "mask")
    n = 200_000
    x = torch.rand(n, generator=torch.Generator().manual_seed(4)) + 0.5
    for p in (0.25, 0.7):
        out = student(x, p, generator=torch.Generator().manual_seed(5))
        cases.add(f"p = {p}: every pixel is either kept exactly or set to 0")
        kept = out == x
        if not (kept | (out == 0)).all():
            raise CheckFailure("some pixels were neither kept unchanged nor set to 0 (masking noise does not rescale or add)")
        cases.add(f"p = {p}: about a fraction p of {n} pixels is masked")
        frac = 1 - kept.double().mean().item()
        if abs(frac - p) > 0.01:
            raise CheckFailure(f"expected a fraction {p} of pixels masked, got {frac:.4f}")
