import math

import numpy as np
import pytest
import scipy.linalg
import torch

from course_lib.metrics import principal_angles


def test_same_subspace_in_another_basis_has_zero_angles():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(20, 4, generator=g, dtype=torch.float64)
    mix = torch.randn(4, 4, generator=g, dtype=torch.float64) + 4 * torch.eye(4, dtype=torch.float64)
    assert principal_angles(A, A @ mix).max() < 1e-6


def test_matches_scipy_subspace_angles():
    g = torch.Generator().manual_seed(1)
    A, B = torch.randn(10, 3, generator=g, dtype=torch.float64), torch.randn(10, 3, generator=g, dtype=torch.float64)
    ours = principal_angles(A, B).numpy()
    theirs = np.sort(scipy.linalg.subspace_angles(A.numpy(), B.numpy()))
    np.testing.assert_allclose(ours, theirs, atol=1e-10)


def test_known_angle_between_lines():
    theta = 0.3
    a = torch.tensor([[1.0], [0.0]])
    b = torch.tensor([[math.cos(theta)], [math.sin(theta)]])
    assert principal_angles(a, b).item() == pytest.approx(theta, abs=1e-7)
    assert principal_angles(a, torch.tensor([[0.0], [2.0]])).item() == pytest.approx(math.pi / 2)


def test_bad_shapes():
    with pytest.raises(ValueError, match="same D"):
        principal_angles(torch.zeros(3, 2), torch.zeros(4, 2))


# ----------------------------------------------------------------------------- nats <-> bits per dimension
from course_lib.metrics import bits_per_dim_to_nats, nats_to_bits_per_dim  # noqa: E402


def test_one_bit_per_dim():
    assert nats_to_bits_per_dim(64 * math.log(2), 64) == pytest.approx(1.0, rel=1e-15)
    assert bits_per_dim_to_nats(1.0, 64) == pytest.approx(64 * math.log(2), rel=1e-15)


def test_uniform_code_over_grey_levels():
    """A uniform distribution over 17 levels for each of 64 pixels: 64 ln 17 nats = log2(17) bits per pixel."""
    assert nats_to_bits_per_dim(64 * math.log(17), 64) == pytest.approx(math.log2(17), rel=1e-12)


def test_bits_per_dim_round_trip_and_tensors():
    nats = torch.tensor([0.0, 1.5, 180.0, 1234.5], dtype=torch.float64)
    bpd = nats_to_bits_per_dim(nats, 784)
    assert isinstance(bpd, torch.Tensor) and bpd.shape == (4,) and bpd.dtype == torch.float64
    torch.testing.assert_close(bpd, torch.log2(torch.e ** (nats / 784)))  # log2(e^(n/D)) = n / (D ln 2)
    torch.testing.assert_close(bits_per_dim_to_nats(bpd, 784), nats)
    for value in (0.0, 3.7, 181.3):
        assert bits_per_dim_to_nats(nats_to_bits_per_dim(value, 64), 64) == pytest.approx(value, rel=1e-14, abs=1e-14)
    assert nats_to_bits_per_dim(torch.tensor(64 * math.log(2)), 64).item() == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("dims", [0, -1])
def test_bits_per_dim_needs_positive_dims(dims):
    with pytest.raises(ValueError, match="dims must be a positive"):
        nats_to_bits_per_dim(1.0, dims)
    with pytest.raises(ValueError, match="dims must be a positive"):
        bits_per_dim_to_nats(1.0, dims)
