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
