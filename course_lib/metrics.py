"""Metrics and measurements shared by the lessons."""

from __future__ import annotations

import torch


def principal_angles(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the column spaces of A and B.

    The cosines are the singular values of Q_A^T Q_B with Q_A, Q_B orthonormal bases (Bjorck & Golub).
    All zero means the same subspace, whatever the basis.

    Args:
        A: (D, k) matrix, B: (D, m) matrix, both of full column rank.
    """
    if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[0]:
        raise ValueError(f"expected matrices (D, k) and (D, m) with the same D, got {tuple(A.shape)} and {tuple(B.shape)}")
    Qa, _ = torch.linalg.qr(A.double())
    Qb, _ = torch.linalg.qr(B.double())
    cos = torch.linalg.svdvals(Qa.T @ Qb).clamp(-1.0, 1.0)  # descending cosines
    return torch.arccos(cos)  # ascending angles
