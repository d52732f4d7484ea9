"""Sample quality on the digits: Frechet distance, KID and k-NN precision/recall on classifier features.

Reads top-down: distances between two feature sets (Frechet, kernel inception distance, precision
and recall) -> a small digits classifier whose penultimate layer gives the features -> the verdict
on a generator's samples (`sample_quality`), each figure next to its real-vs-real floor at the same
sample size. `course_lib.metrics` re-exports the public names.

    q = sample_quality(samples)            # samples: (N, 1, 8, 8) in [0, 1]
    q                                      # a table: FD, its floor, the ratio, KID, precision, recall
    q.report("06", prefix="ddpm_")         # a metrics.Report the benchmarks read back
"""

from __future__ import annotations

import functools
import html
import math
import time
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .core.devices import one_thread
from .core.records import Report
from .core.validation import integer, number
from .data import DIGITS_SPLITS, load_digits

Array = torch.Tensor | np.ndarray


# ----------------------------------------------------------------------------- distances between feature sets
def _feature_set(x: Array, name: str, min_rows: int = 1) -> torch.Tensor:
    """`x` as a float64 CPU tensor of shape (N, D), checked."""
    if not isinstance(x, (torch.Tensor, np.ndarray)):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array of shape (N, D), got {type(x).__name__}")
    t = torch.as_tensor(x).detach().to("cpu", torch.float64)
    if t.ndim != 2 or t.shape[0] < min_rows or t.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, D) with N >= {min_rows}, got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def _same_width(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two feature sets must have the same dimension D, got {a.shape[1]} and {b.shape[1]}")


def gaussian_fit(feats: Array) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D), in float64, of a feature set (N, D), N >= 2."""
    x = _feature_set(feats, "feats", min_rows=2)
    mu = x.mean(0)
    xc = x - mu  # (N, D)
    return mu, xc.T @ xc / (x.shape[0] - 1)  # S = sum (x - mu)(x - mu)^T / (N - 1)


def _sym_sqrt(S: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix via its eigendecomposition."""
    w, V = torch.linalg.eigh(0.5 * (S + S.T))
    return (V * w.clamp_min(0).sqrt()) @ V.T  # V diag(sqrt(w)) V^T


def frechet_distance_gaussians(mu1: Array, S1: Array, mu2: Array, S2: Array) -> float:
    """Squared Frechet (2-Wasserstein) distance between N(mu1, S1) and N(mu2, S2), computed in float64.

    Args:
        mu1, mu2: (D,) means. S1, S2: (D, D) symmetric positive semi-definite covariances.
    """
    mu1, mu2, S1, S2 = (torch.as_tensor(t).detach().to("cpu", torch.float64) for t in (mu1, mu2, S1, S2))
    D = mu1.shape[0] if mu1.ndim == 1 else -1
    if mu1.shape != (D,) or mu2.shape != (D,) or S1.shape != (D, D) or S2.shape != (D, D):
        raise ValueError(f"expected means (D,) and covariances (D, D) with one D, got {tuple(mu1.shape)}, "
                         f"{tuple(S1.shape)}, {tuple(mu2.shape)}, {tuple(S2.shape)}")
    R = _sym_sqrt(S1)  # S1^(1/2)
    M = R @ S2 @ R  # S1^(1/2) S2 S1^(1/2): symmetric PSD, same eigenvalues as S1 S2
    tr_sqrt = torch.linalg.eigvalsh(0.5 * (M + M.T)).clamp_min(0).sqrt().sum()  # tr (S1 S2)^(1/2)
    d2 = (mu1 - mu2).pow(2).sum() + S1.trace() + S2.trace() - 2 * tr_sqrt  # |mu1-mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))
    return max(d2.item(), 0.0)  # rounding can leave -1e-13 for identical Gaussians


def frechet_distance(feats_a: Array, feats_b: Array) -> float:
    """Frechet distance (FID's formula) between Gaussians fitted to two feature sets.

    Args:
        feats_a: (N, D), feats_b: (M, D) features, N, M >= 2.
    """
    a, b = _feature_set(feats_a, "feats_a", 2), _feature_set(feats_b, "feats_b", 2)
    _same_width(a, b)
    return frechet_distance_gaussians(*gaussian_fit(a), *gaussian_fit(b))


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3."""
    m, n, D = x.shape[0], y.shape[0], x.shape[1]
    k_xx = (x @ x.T / D + 1) ** 3  # (m, m)
    k_yy = (y @ y.T / D + 1) ** 3  # (n, n)
    k_xy = (x @ y.T / D + 1) ** 3  # (m, n)
    off_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))  # mean over i != j
    off_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return (off_xx + off_yy - 2 * k_xy.mean()).item()  # E k(x,x') + E k(y,y') - 2 E k(x,y)


def kernel_inception_distance(feats_a: Array, feats_b: Array, subsets: int | None = None,
                              subset_size: int = 1000, seed: int = 0) -> float | tuple[float, float]:
    """Kernel inception distance: the unbiased MMD^2 with k(x, y) = (x.y / D + 1)^3 (Binkowski et al. 2018).

    Unbiased, so two samples of one distribution give values around 0, sometimes negative.

    Args:
        feats_a: (N, D), feats_b: (M, D) features, N, M >= 2.
        subsets: None uses both whole sets once and returns the estimate; an int averages it over that
            many pairs of random subsets and returns (mean, std) over them.
        subset_size: rows per subset (at most min(N, M)).
        seed: seeds the subsets' draws.
    """
    a, b = _feature_set(feats_a, "feats_a", 2), _feature_set(feats_b, "feats_b", 2)
    _same_width(a, b)
    if subsets is None:
        return _mmd2_unbiased(a, b)
    if not isinstance(subsets, int) or subsets < 1 or subset_size < 2:
        raise ValueError(f"subsets must be None or an int >= 1 and subset_size >= 2, got {subsets!r}, {subset_size!r}")
    size = min(subset_size, a.shape[0], b.shape[0])
    g = torch.Generator().manual_seed(seed)
    values = torch.tensor([_mmd2_unbiased(a[torch.randperm(a.shape[0], generator=g)[:size]],
                                          b[torch.randperm(b.shape[0], generator=g)[:size]]) for _ in range(subsets)],
                          dtype=torch.float64)
    return values.mean().item(), (values.std().item() if subsets > 1 else 0.0)


class PrecisionRecall(NamedTuple):
    """What `precision_recall` returns; unpacks as (precision, recall)."""

    precision: float  # share of generated samples inside the real data's k-NN balls
    recall: float  # share of real samples inside the generated data's k-NN balls


def _knn_radii(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """(N,) distance from each row of x to its k-th nearest other row."""
    radii = [torch.cdist(x[i:i + chunk], x, compute_mode="donot_use_mm_for_euclid_dist").kthvalue(k + 1, dim=1).values
             for i in range(0, x.shape[0], chunk)]  # k + 1: each point is its own 0-th neighbour
    return torch.cat(radii)


def _coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> float:
    """Share of `points` within distance radii[j] of some centres[j]."""
    inside = [(torch.cdist(points[i:i + chunk], centres, compute_mode="donot_use_mm_for_euclid_dist") <= radii).any(1)
              for i in range(0, points.shape[0], chunk)]
    return torch.cat(inside).double().mean().item()


def precision_recall(real_feats: Array, fake_feats: Array, k: int = 3) -> PrecisionRecall:
    """Improved precision and recall (Kynkaanniemi et al. 2019): each set's support is the union of k-NN balls.

    precision = share of fake samples within the k-th-neighbour radius of some real sample (quality);
    recall = share of real samples within the k-th-neighbour radius of some fake sample (coverage).

    Args:
        real_feats: (N, D), fake_feats: (M, D) features, N, M > k.
        k: the neighbour whose distance sets each ball's radius (the paper uses 3).
    """
    k = integer(k, "k", lo=1)
    real, fake = _feature_set(real_feats, "real_feats", k + 1), _feature_set(fake_feats, "fake_feats", k + 1)
    _same_width(real, fake)
    precision = _coverage(fake, real, _knn_radii(real, k))
    recall = _coverage(real, fake, _knn_radii(fake, k))
    return PrecisionRecall(precision, recall)


# ----------------------------------------------------------------------------- the digits classifier
@dataclass(frozen=True)
class ClassifierConfig:
    """How the feature classifier is built and trained (always on the CPU, one thread, float32).

    Attributes:
        channels: width of the first 3x3 convolution (the second has twice as many).
        features: width of the penultimate layer, the feature dimension D.
        epochs, batch_size: passes over the 1000 training digits and images per step.
        max_lr, weight_decay: AdamW with a one-cycle learning-rate schedule peaking at max_lr.
        shift: random translation of each training image by up to this many pixels (zero padded).
    """

    channels: int = 16
    features: int = 64
    epochs: int = 30
    batch_size: int = 50
    max_lr: float = 3e-3
    weight_decay: float = 1e-4
    shift: int = 1

    def __post_init__(self):
        for name in ("channels", "features", "epochs", "batch_size"):
            integer(getattr(self, name), name, lo=1)
        integer(self.shift, "shift", lo=0)
        number(self.max_lr, "max_lr", lo=0, lo_open=True)
        number(self.weight_decay, "weight_decay", lo=0)


class DigitsClassifier(nn.Module):
    """Two 3x3 convolutions, a 2x2 max-pool and a ReLU layer of D features, then a linear 10-way head.

    `embed` gives the features scaled by `feature_scale`, set after training so that their mean square
    over the training digits is 1 (O(1) like Inception's pool features, the scale KID's kernel expects).
    """

    def __init__(self, config: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        c, D = config.channels, config.features
        self.features = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(),  # (B, 2c * 4 * 4)
            nn.Linear(2 * c * 16, D), nn.ReLU(),  # (B, D): the features
        )
        self.head = nn.Linear(D, 10)
        self.register_buffer("feature_scale", torch.tensor(1.0))
        self.train_seconds, self.test_accuracy = float("nan"), float("nan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, 10) logits

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 8, 8) images -> (B, D) scaled penultimate-layer features."""
        return self.features(x) * self.feature_scale


def _random_shift(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image of (B, 1, H, W) by up to `shift` pixels in each direction, zero padded."""
    B, _, H, W = x.shape
    padded = F.pad(x, (shift, shift, shift, shift))  # (B, 1, H + 2s, W + 2s)
    dy, dx = torch.randint(0, 2 * shift + 1, (2, B, 1, 1), generator=generator)
    rows, cols = dy + torch.arange(H).view(1, H, 1), dx + torch.arange(W).view(1, 1, W)  # (B, H, 1), (B, 1, W)
    return padded[torch.arange(B).view(B, 1, 1), 0, rows, cols].unsqueeze(1)  # (B, 1, H, W)


def train_digits_classifier(seed: int = 0, config: ClassifierConfig = ClassifierConfig()) -> DigitsClassifier:
    """Train the feature classifier on the digits train split, deterministically from `seed` (uncached).

    Always on the CPU with one thread in float32, drawing from its own generator, so one seed gives
    the same weights on a machine and the caller's random state is left alone. The result knows its
    `train_seconds` and its `test_accuracy` on the test split. Use the cached `digits_classifier`.
    """
    x, y = load_digits("train")
    start = time.perf_counter()
    with one_thread():  # a fixed reduction order: the same weights every time
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the layers' initialisation
            model = DigitsClassifier(config).float()
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=config.max_lr, weight_decay=config.weight_decay)
        steps_per_epoch = math.ceil(len(x) / config.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.max_lr, total_steps=config.epochs * steps_per_epoch)
        for _ in range(config.epochs):
            for idx in torch.randperm(len(x), generator=g).split(config.batch_size):
                loss = F.cross_entropy(model(_random_shift(x[idx], config.shift, g)), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        model.train_seconds = time.perf_counter() - start
        model.eval().requires_grad_(False)
        x_test, y_test = load_digits("test")
        with torch.no_grad():
            f = model.features(x)  # (N, D)
            model.feature_scale.fill_(f.pow(2).mean().rsqrt().item())  # mean_i |f_i|^2 / D = 1 after scaling
            model.test_accuracy = (model(x_test).argmax(1) == y_test).double().mean().item()
    return model


def digits_classifier(seed: int = 0, config: ClassifierConfig = ClassifierConfig()) -> DigitsClassifier:
    """The feature classifier for `seed`, trained once per process (a few seconds) and then reused; do not modify it."""
    return _cached_classifier(seed, config)  # one cache key however the arguments are spelled


@functools.lru_cache(maxsize=8)
def _cached_classifier(seed: int, config: ClassifierConfig) -> DigitsClassifier:
    return train_digits_classifier(seed, config)


def _check_images(images: torch.Tensor, tol: float = 1e-3) -> torch.Tensor:
    """Digits images as a float32 CPU tensor (N, 1, 8, 8) in [0, 1], or a clear error."""
    expected = "digits images of shape (N, 1, 8, 8) or (N, 64) with values in [0, 1]"
    if not isinstance(images, torch.Tensor):
        hint = " (use torch.from_numpy)" if isinstance(images, np.ndarray) else ""
        raise TypeError(f"expected a torch.Tensor of {expected}, got {type(images).__name__}{hint}")
    if not images.is_floating_point():
        raise TypeError(f"expected a floating-point tensor of {expected}, got dtype {images.dtype} "
                        f"(grey levels 0..16? divide by 16)")
    if images.ndim == 2 and images.shape[1] == 64:
        images = images.reshape(-1, 1, 8, 8)  # (N, 1, 8, 8)
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 8, 8) or images.shape[0] < 1:
        raise ValueError(f"expected {expected}, got shape {tuple(images.shape)}")
    x = images.detach().to("cpu", torch.float32)
    if not torch.isfinite(x).all():
        raise ValueError(f"expected {expected}, got NaN or infinite values")
    lo, hi = x.min().item(), x.max().item()
    if lo < -tol or hi > 1 + tol:
        hint = " (samples in [-1, 1]? map them with (x + 1) / 2)" if lo < -0.1 else ""
        hint += " (grey levels 0..16? divide by 16)" if hi > 1.5 else ""
        raise ValueError(f"expected {expected}, got values in [{lo:.3g}, {hi:.3g}]{hint}")
    return x.clamp(0, 1)


def digits_features(images: torch.Tensor, seed: int = 0, batch_size: int = 1024) -> torch.Tensor:
    """Penultimate-layer features of the seed's digits classifier (`DigitsClassifier.embed`), on the CPU, no grad.

    Args:
        images: (N, 1, 8, 8) or (N, 64) in [0, 1], on any device.
        seed: which classifier (`digits_classifier(seed)`); compare only features of one seed.

    Returns:
        (N, D) float64 features on the CPU (D = 64).
    """
    x = _check_images(images)
    model = digits_classifier(seed)
    with torch.no_grad(), one_thread():
        return torch.cat([model.embed(b) for b in x.split(batch_size)]).double()  # (N, D)


def digits_inception_score(images: torch.Tensor, seed: int = 0, batch_size: int = 1024) -> float:
    """The Inception score on the digits: exp(E_x KL(p(y | x) || p(y))) with the course's digits classifier.

    p(y | x) is the classifier's softmax on each image and p(y) its mean over the set. The score is
    high when each image is confidently one digit (sharp p(y | x)) and the set holds every digit (flat
    p(y)); it is at most 10, the number of classes, and it never looks at real data: compare it with
    `digits_inception_floor`, the score of real digits.

    Args:
        images: (N, 1, 8, 8) or (N, 64) in [0, 1], N >= 1. seed: which classifier.
    """
    x = _check_images(images)
    model = digits_classifier(seed)
    with torch.no_grad(), one_thread():
        logp = torch.cat([F.log_softmax(model(b), dim=1) for b in x.split(batch_size)]).double()  # (N, 10)
    log_marginal = torch.logsumexp(logp, dim=0) - math.log(len(logp))  # log p(y) = log mean_x p(y | x)
    kl = (logp.exp() * (logp - log_marginal)).sum(dim=1)  # KL(p(y | x) || p(y)) per image
    return math.exp(kl.mean().item())


def digits_inception_floor(n: int, split: str = "test", seed: int = 0, repeats: int = 10) -> tuple[float, float]:
    """The Inception score of n real digits of a split (mean and std over draws): the value to compare samples with."""
    images = load_digits(split)[0]
    n = integer(n, "n", 1, len(images), what="a number of images", hint=f" (the {split} split has {len(images)})")
    g = torch.Generator().manual_seed(seed)
    scores = torch.tensor([digits_inception_score(images[torch.randperm(len(images), generator=g)[:n]], seed)
                           for _ in range(integer(repeats, "repeats", lo=1))], dtype=torch.float64)
    return scores.mean().item(), (scores.std().item() if repeats > 1 else 0.0)


# ----------------------------------------------------------------------------- the verdict on samples
@functools.lru_cache(maxsize=16)
def _split_features(split: str, seed: int) -> torch.Tensor:
    return digits_features(load_digits(split)[0], seed)


@functools.lru_cache(maxsize=64)
def _floor(n: int, reference: str, seed: int, repeats: int, k: int) -> tuple[float, ...]:
    """Real-vs-real figures: `repeats` seeded draws of min(n, 1000) training digits against the reference.

    Returns the means over the draws of FD, KID, precision and recall, the std of FD, the draw size and
    the number of draws (1 when a draw is the whole training split).
    """
    train, ref = _split_features("train", seed), _split_features(reference, seed)
    size = min(n, len(train))
    draws = repeats if size < len(train) else 1
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(draws):
        sub = train[torch.randperm(len(train), generator=g)[:size]]  # (size, D)
        rows.append((frechet_distance(sub, ref), kernel_inception_distance(sub, ref), *precision_recall(ref, sub, k)))
    fd, kid, p, r = torch.tensor(rows, dtype=torch.float64).T
    fd_std = fd.std().item() if draws > 1 else 0.0
    return fd.mean().item(), kid.mean().item(), p.mean().item(), r.mean().item(), fd_std, size, draws


@dataclass
class SampleQuality:
    """A generator's figures against a digits split, each next to its real-vs-real floor at the same n.

    The floor draws `floor_n` = min(n, 1000) training digits without replacement (a generator seeded
    by `seed`; `floor_repeats` draws, figures averaged over them, `fd_floor_std` their spread; one draw
    when it is the whole split) and measures them against the same reference split: what real digits
    score at this sample size. `ratio` = fd / fd_floor; 1 is as good as real digits.
    """

    n: int
    reference: str
    fd: float
    fd_floor: float
    fd_floor_std: float
    kid: float
    kid_floor: float
    precision: float
    recall: float
    precision_floor: float
    recall_floor: float
    floor_n: int
    floor_repeats: int
    k: int
    seed: int

    @property
    def ratio(self) -> float:
        return self.fd / self.fd_floor if self.fd_floor > 0 else float("inf")

    def _rows(self) -> list[tuple[str, str, str]]:
        return [
            ("Frechet distance", f"{self.fd:.4g}", f"{self.fd_floor:.4g} ± {self.fd_floor_std:.2g}"),
            ("  ratio FD / floor", f"{self.ratio:.3g}", "1"),
            ("KID (unbiased)", f"{self.kid:.3g}", f"{self.kid_floor:.3g}"),
            (f"precision (k={self.k})", f"{self.precision:.3f}", f"{self.precision_floor:.3f}"),
            (f"recall (k={self.k})", f"{self.recall:.3f}", f"{self.recall_floor:.3f}"),
        ]

    def _caption(self) -> str:
        return (f"{self.n} samples vs the digits {self.reference} split; real floor: {self.floor_n} training "
                f"digits, mean of {self.floor_repeats} draws (classifier seed {self.seed})")

    def _text(self) -> str:
        rows = [("", "samples", "real floor"), *self._rows()]
        w0, w1 = (max(len(r[i]) for r in rows) for i in (0, 1))
        return "\n".join([self._caption(), *(f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows)])

    def _repr_html_(self) -> str:
        cell = '<td style="text-align:{};padding:2px 10px">{}</td>'
        body = "".join("<tr>" + cell.format("left", html.escape(a)) + cell.format("right", b) + cell.format("right", c)
                       + "</tr>" for a, b, c in self._rows())
        head = "<tr><th></th><th>samples</th><th>real floor</th></tr>"
        return f"<table><caption>{html.escape(self._caption())}</caption>{head}{body}</table>"

    def __repr__(self) -> str:
        return self._text()

    def report(self, lesson: str, prefix: str = "") -> Report:
        """These figures (and the ratio) as a `metrics.Report`, names prefixed (e.g. "ddpm_")."""
        values = {f"{prefix}{f.name}": getattr(self, f.name) for f in fields(self)}
        return Report(lesson, **values, **{f"{prefix}fd_ratio": self.ratio})

    @classmethod
    def from_report(cls, values: dict, prefix: str = "") -> SampleQuality:
        """Rebuild the result from a report's values (`metrics.read_reports`), e.g. in a benchmark."""
        ints = {"n", "floor_n", "floor_repeats", "k", "seed"}
        return cls(**{f.name: (int(values[prefix + f.name]) if f.name in ints else values[prefix + f.name])
                      for f in fields(cls)})

    def as_dict(self) -> dict:
        return {**asdict(self), "fd_ratio": self.ratio}


def sample_quality(samples: torch.Tensor, reference: str = "test", seed: int = 0, k: int = 3,
                   floor_repeats: int = 10) -> SampleQuality:
    """FD, KID and precision/recall of digit samples against a held-out split, each with its real floor.

    Args:
        samples: (N, 1, 8, 8) or (N, 64) in [0, 1], N > k, on any device.
        reference: the split compared with: "test" (447 images) or "val" (350), both disjoint from train.
        seed: the classifier's seed; also seeds the floor's draws of training digits.
        k: neighbour of precision/recall.
        floor_repeats: draws of training digits averaged in the floor (cached per n, reference, seed, k).
    """
    refs = [s for s in DIGITS_SPLITS if s != "train"]
    if reference not in refs:
        raise ValueError(f"reference must be a split disjoint from the training digits, {' or '.join(map(repr, refs))};"
                         f" got {reference!r}")
    integer(floor_repeats, "floor_repeats", lo=1)
    feats = digits_features(samples, seed)  # (N, D)
    if len(feats) <= k:
        raise ValueError(f"need more than k = {k} samples, got {len(feats)}")
    with one_thread():  # small matrices: threads only cost time (10x on a busy 2-core machine)
        ref = _split_features(reference, seed)
        floor = _floor(len(feats), reference, seed, floor_repeats, k)  # cached per (n, reference, seed, repeats, k)
        fd_floor, kid_floor, p_floor, r_floor, fd_std, floor_n, draws = floor
        fd, kid = frechet_distance(feats, ref), kernel_inception_distance(feats, ref)
        p, r = precision_recall(ref, feats, k)
    return SampleQuality(
        n=len(feats), reference=reference, fd=fd, fd_floor=fd_floor, fd_floor_std=fd_std, kid=kid, kid_floor=kid_floor,
        precision=p, recall=r, precision_floor=p_floor, recall_floor=r_floor, floor_n=floor_n, floor_repeats=draws,
        k=k, seed=seed,
    )
