"""Metrics and measurements shared by the lessons; sample quality (FD, KID, precision/recall) from `quality`."""

from __future__ import annotations

import math

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


def nats_to_bits_per_dim(nats: torch.Tensor | float, dims: int) -> torch.Tensor | float:
    """Negative log-likelihood in nats per example -> bits per dimension: nats / (dims * ln 2)."""
    if dims < 1:
        raise ValueError(f"dims must be a positive number of dimensions, got {dims!r}")
    return nats / (dims * math.log(2))


def bits_per_dim_to_nats(bpd: torch.Tensor | float, dims: int) -> torch.Tensor | float:
    """Bits per dimension -> nats per example: bpd * dims * ln 2."""
    if dims < 1:
        raise ValueError(f"dims must be a positive number of dimensions, got {dims!r}")
    return bpd * dims * math.log(2)


REPORT_MIME = "application/vnd.course.metrics+json"


class Report:
    """Named figures a lesson measured, displayed as a table and stored machine-readably.

    Benchmarks read them back from an executed notebook (`read_reports`), so a figure printed in the
    README comes from the lesson's own run, not from a re-implementation of it.
    """

    def __init__(self, lesson: str, **values: float):
        self.lesson, self.values = lesson, {k: (float(v) if not isinstance(v, str) else v) for k, v in values.items()}

    def _text(self) -> str:
        width = max(map(len, self.values))
        rows = [f"{k:<{width}}  {v:.4g}" if isinstance(v, float) else f"{k:<{width}}  {v}" for k, v in self.values.items()]
        return "\n".join(rows)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": self._text(), REPORT_MIME: {"lesson": self.lesson, **self.values}}

    def __repr__(self) -> str:
        return self._text()


def read_reports(notebook: dict) -> list[dict]:
    """Every Report stored in the outputs of an executed notebook (nbformat dict)."""
    found = []
    for cell in notebook.get("cells", []):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if REPORT_MIME in out.get("data", {}):
                found.append(dict(out["data"][REPORT_MIME]))
    return found


# ----------------------------------------------------------------------------- sample quality (course_lib.quality)
from .quality import (  # noqa: E402  (quality imports Report lazily, so either module may be imported first)
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
