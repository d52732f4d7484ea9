"""Metrics and measurements shared by the lessons; sample quality (FD, KID, precision/recall) from `quality`.

`Report` (named figures stored machine-readably in a notebook) lives in `core.records`; it is
re-exported here, where the lessons import it.
"""

from __future__ import annotations

import math

import torch

from .core import records
from .core.records import REPORT_MIME, Report
from .core.validation import integer, invalid
from .quality import (  # re-exported: course_lib.metrics is where the lessons find them
    ClassifierConfig,
    DigitsClassifier,
    PrecisionRecall,
    SampleQuality,
    digits_classifier,
    digits_features,
    digits_inception_floor,
    digits_inception_score,
    frechet_distance,
    frechet_distance_gaussians,
    gaussian_fit,
    kernel_inception_distance,
    precision_recall,
    sample_quality,
    train_digits_classifier,
)


def psnr(x: torch.Tensor, reference: torch.Tensor, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio 10 log10(range^2 / MSE) in dB, the MSE taken over every pixel of the set.

    Args: x, reference: tensors of one shape (e.g. reconstructions and originals (N, C, H, W)), pixels
    on a scale of `data_range` (1 for images in [0, 1]).
    """
    if not isinstance(x, torch.Tensor) or not isinstance(reference, torch.Tensor) or x.shape != reference.shape:
        raise invalid("x and reference", "two tensors of one shape",
                      f"{tuple(getattr(x, 'shape', ()))} and {tuple(getattr(reference, 'shape', ()))}")
    mse = ((x.double() - reference.double()) ** 2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)


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


# ----------------------------------------------------------------------------- 2-D samples: energy distance
def _points(x: torch.Tensor, name: str) -> torch.Tensor:
    """A point set (N, D) with N >= 2 as float64 on the CPU."""
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] < 2:
        raise invalid(name, "a tensor of points (N, D) with N >= 2", f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
    return x.detach().to("cpu", torch.float64)


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Squared energy distance between two point sets: 2 E|X - Y| - E|X - X'| - E|Y - Y'| (Szekely & Rizzo).

    Every expectation is over all pairs of the two empirical distributions (a V-statistic), so the
    value is >= 0 and is 0 only for identical sets; two samples of one distribution score
    E|X - X'| (1/n + 1/m) > 0 on average, the floor to compare a model with (`energy_floor`). Scale-free of
    any bandwidth, unlike an MMD. In 1-D it is the square of scipy.stats.energy_distance.

    Args:
        a: (N, D), b: (M, D) points, N, M >= 2.
    """
    a, b = _points(a, "a"), _points(b, "b")
    if a.shape[1] != b.shape[1]:
        raise invalid("b", f"points of the same dimension as a ({a.shape[1]})", f"dimension {b.shape[1]}")
    d = lambda u, v: torch.cdist(u, v, compute_mode="donot_use_mm_for_euclid_dist").mean()
    return (2 * d(a, b) - d(a, a) - d(b, b)).item()  # 2 E|X-Y| - E|X-X'| - E|Y-Y'|


def energy_floor(pool: torch.Tensor, reference: torch.Tensor, n: int, repeats: int = 10, seed: int = 0
                 ) -> tuple[float, float]:
    """The energy distance that real data scores: n points drawn from `pool` against `reference`, mean and std over repeats.

    Args:
        pool: (P, D) real points (e.g. the training set), P >= n. reference: (M, D) held-out points.
        n: the sample size being judged (use the number of model samples). repeats: draws averaged.
    """
    pool = _points(pool, "pool")
    n, repeats = integer(n, "n", 2, len(pool), what="a sample size", hint=f" (the pool has {len(pool)} points)"), \
        integer(repeats, "repeats", lo=1)
    g = torch.Generator().manual_seed(seed)
    values = torch.tensor([energy_distance(pool[torch.randperm(len(pool), generator=g)[:n]], reference)
                           for _ in range(repeats)], dtype=torch.float64)
    return values.mean().item(), (values.std().item() if repeats > 1 else 0.0)


# ----------------------------------------------------------------------------- memorisation
def nearest_neighbours(queries: torch.Tensor, reference: torch.Tensor, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distance from each query to its nearest reference example, and that example's index.

    Examples of any shape are flattened: for images, the distance is over pixels. A sample whose nearest
    training image is much closer than a test image's nearest training image is a copy.

    Args:
        queries: (N, ...) and reference: (M, ...) with the same example shape.
    Returns:
        (distances (N,) float64, indices (N,) int64 into reference).
    """
    if not isinstance(queries, torch.Tensor) or not isinstance(reference, torch.Tensor) or queries.ndim < 1 \
            or reference.ndim < 1 or queries.shape[1:] != reference.shape[1:] or len(reference) == 0:
        raise invalid("queries and reference", "tensors of examples (N, ...) and (M, ...) of one shape, M >= 1",
                      f"{tuple(getattr(queries, 'shape', ()))} and {tuple(getattr(reference, 'shape', ()))}")
    q = queries.detach().to("cpu", torch.float64).reshape(len(queries), -1)  # (N, D)
    r = reference.detach().to("cpu", torch.float64).reshape(len(reference), -1)  # (M, D)
    dist, idx = [], []
    for i in range(0, len(q), integer(chunk, "chunk", lo=1)):
        d = torch.cdist(q[i : i + chunk], r, compute_mode="donot_use_mm_for_euclid_dist")  # (chunk, M)
        best = d.min(dim=1)
        dist.append(best.values)
        idx.append(best.indices)
    return torch.cat(dist), torch.cat(idx)


def read_reports(notebook: dict) -> list[dict]:
    """Every Report stored in the outputs of an executed notebook (nbformat dict)."""
    return records.read(notebook, REPORT_MIME)


__all__ = [
    "principal_angles", "nats_to_bits_per_dim", "bits_per_dim_to_nats", "REPORT_MIME", "Report", "read_reports",
    "energy_distance", "energy_floor", "nearest_neighbours",
    "frechet_distance", "frechet_distance_gaussians", "gaussian_fit", "kernel_inception_distance", "precision_recall",
    "PrecisionRecall", "ClassifierConfig", "DigitsClassifier", "train_digits_classifier", "digits_classifier",
    "digits_features", "sample_quality", "SampleQuality", "digits_inception_score", "digits_inception_floor",
]
