"""Metrics and measurements shared by the lessons; sample quality (FD, KID, precision/recall) from `quality`.

`Report` (named figures stored machine-readably in a notebook) lives in `core.records`; it is
re-exported here, where the lessons import it.
"""

from __future__ import annotations

import math

import torch

from .core import records
from .core.records import REPORT_MIME, Report
from .core.validation import integer


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


def nats_to_bits_per_dim(nats: torch.Tensor | float, dims: int) -> torch.Tensor | float:
    """Negative log-likelihood in nats per example -> bits per dimension: nats / (dims * ln 2)."""
    return nats / (integer(dims, "dims", lo=1, hint=" (a number of dimensions)") * math.log(2))


def bits_per_dim_to_nats(bpd: torch.Tensor | float, dims: int) -> torch.Tensor | float:
    """Bits per dimension -> nats per example: bpd * dims * ln 2."""
    return bpd * integer(dims, "dims", lo=1, hint=" (a number of dimensions)") * math.log(2)


def read_reports(notebook: dict) -> list[dict]:
    """Every Report stored in the outputs of an executed notebook (nbformat dict)."""
    return records.read(notebook, REPORT_MIME)


# ----------------------------------------------------------------------------- sample quality (course_lib.quality)
from .quality import (  # noqa: E402  (re-exported: course_lib.metrics is where notebooks find them)
    ClassifierConfig,
    DigitsClassifier,
    PrecisionRecall,
    SampleQuality,
    digits_classifier,
    digits_features,
    frechet_distance,
    frechet_distance_gaussians,
    gaussian_fit,
    kernel_inception_distance,
    precision_recall,
    sample_quality,
    train_digits_classifier,
)

__all__ = [
    "principal_angles", "nats_to_bits_per_dim", "bits_per_dim_to_nats", "REPORT_MIME", "Report", "read_reports",
    "frechet_distance", "frechet_distance_gaussians", "gaussian_fit", "kernel_inception_distance", "precision_recall",
    "PrecisionRecall", "ClassifierConfig", "DigitsClassifier", "train_digits_classifier", "digits_classifier",
    "digits_features", "sample_quality", "SampleQuality",
]
