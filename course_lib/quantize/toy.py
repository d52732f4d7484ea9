"""A codebook on 2-D toy points, with no encoder: where dead codes come from, and how restarts revive them.

`train_toy_codebook` trains a `VectorQuantizer` directly on points (N, 2) under one update rule and
records `CodebookSnapshot`s: the codes, how many points each wins, and what was restarted.
`voronoi_labels` maps each point of a grid to its nearest code (the Voronoi cells a picture shows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core.devices import one_thread  # tiny tensors: one thread, 100x quicker on a busy machine
from ..core.validation import check_shape, choice, integer, invalid, number
from ..core.validation import points as as_points
from .codes import VectorQuantizer, VQConfig, code_counts, nearest_code, perplexity, usage

RULES = ("loss", "ema", "ema+restart")
INITS = ("corner", "random", "kmeans")


# ----------------------------------------------------------------------------- a run, as plain tensors
@dataclass(frozen=True)
class CodebookSnapshot:
    """The codebook at one training step, measured over all the toy points.

    codebook: (K, 2) the codes. counts: (K,) int64 how many points each code wins (nearest code).
    restarted: (K,) bool codes restarted since the previous snapshot. restarts: restarts so far
    (cumulative). perplexity: exp(entropy of counts / N). usage: the fraction of codes with a point.
    error: the mean squared distance of a point to its code.
    """

    step: int
    codebook: torch.Tensor
    counts: torch.Tensor
    restarted: torch.Tensor
    restarts: int
    perplexity: float
    usage: float
    error: float

    @property
    def used(self) -> int:
        """How many codes win at least one point."""
        return int((self.counts > 0).sum())


@dataclass(frozen=True)
class CodebookRun:
    """One rule's training on toy points: rule, init, points (N, 2), snapshots (steps ascending)."""

    rule: str
    init: str
    points: torch.Tensor
    snapshots: tuple[CodebookSnapshot, ...]

    def __len__(self) -> int:
        return len(self.snapshots)

    @property
    def final(self) -> CodebookSnapshot:
        """The last snapshot."""
        return self.snapshots[-1]

    @property
    def num_codes(self) -> int:
        return int(self.snapshots[0].codebook.shape[0])

    @property
    def steps(self) -> list[int]:
        """The step of every snapshot."""
        return [s.step for s in self.snapshots]


# ----------------------------------------------------------------------------- training
def _initial_codes(points: torch.Tensor, K: int, init: str, g: torch.Generator) -> torch.Tensor | None:
    """(K, 2) starting codes: "corner" a tight cloud off one corner of the data, "random" N(0, I/2)."""
    if init == "corner":  # where no data is: only the codes nearest the data ever win a point
        lo, hi = points.min(0).values, points.max(0).values
        return lo + 0.03 * (hi - lo) * torch.randn(K, 2, generator=g)
    if init == "random":  # the quantiser's own default init, N(0, I / D)
        return torch.randn(K, 2, generator=g) / math.sqrt(2)
    return None  # "kmeans": init_from_data


def _restarted(vq: VectorQuantizer, batch: torch.Tensor) -> torch.Tensor:
    """(K,) bool: the codes the coming training step will restart (its own dead test, on a copy)."""
    cfg = vq.config
    K = cfg.num_codes
    n = torch.bincount(nearest_code(batch, vq.codebook.detach()), minlength=K).to(batch.dtype)
    count = vq.ema_count.clone().mul_(cfg.decay).add_(n / len(batch), alpha=1 - cfg.decay)  # as _ema_update does
    return count < cfg.dead_threshold / K


@torch.no_grad()
def _snapshot(vq: VectorQuantizer, points: torch.Tensor, step: int, restarted: torch.Tensor) -> CodebookSnapshot:
    codebook = vq.codebook.detach().clone()
    k = nearest_code(points, codebook)
    K = vq.config.num_codes
    error = ((points - codebook[k]) ** 2).sum(1).mean().item()  # ||x - e_k(x)||^2, mean over points
    return CodebookSnapshot(step, codebook, code_counts(k, K), restarted.clone(), int(vq.restarts),
                            perplexity(k, K), usage(k, K), error)


def train_toy_codebook(points: torch.Tensor, num_codes: int = 32, rule: str = "loss", steps: int = 600,
                       batch_size: int = 128, lr: float = 0.05, decay: float = 0.95, dead_threshold: float = 0.3,
                       init: str = "corner", every: int = 20, seed: int = 0) -> CodebookRun:
    """Train a codebook of `num_codes` 2-D codes directly on `points` and record it every `every` steps.

    Args:
        points: (N, 2) toy points (a tensor or array), e.g. `data.make_toy("eight_gaussians", 2000)`.
        rule: "loss" (the codebook loss ||sg[x] - e||^2, Adam at `lr`), "ema" (moving averages with
            `decay`), or "ema+restart" (EMA, and codes whose average use falls below `dead_threshold`
            times the uniform share 1/K jump onto points of the batch).
        init: "corner" (a tight cloud off the data's lower-left corner, where no point is: the codes
            nearest the data win everything and the rest never win a point), "random" (N(0, I/2),
            the quantiser's default) or "kmeans" (`init_from_data`).
        steps, batch_size: minibatches of points drawn at random. seed: the only randomness (the
            points' order, the init, the restarts); global random state is left as it was.
    Returns:
        a `CodebookRun` with snapshots at step 0 (before training), every `every` steps, and the last.
    """
    points = torch.from_numpy(as_points(points, "points"))  # (N, 2) float32 on the CPU, from a tensor or array
    if not len(points):
        raise invalid("points", "at least one point (N, 2)", "none")
    K = integer(num_codes, "num_codes", lo=2)
    choice(rule, "rule", RULES)
    choice(init, "init", INITS)
    steps, every = integer(steps, "steps", lo=1), integer(every, "every", lo=1)
    B = integer(batch_size, "batch_size", lo=1)
    lr, seed = number(lr, "lr", 0.0, lo_open=True), integer(seed, "seed")
    config = VQConfig(num_codes=K, code_dim=2, update="loss" if rule == "loss" else "ema",
                      restart=rule == "ema+restart", decay=decay, dead_threshold=dead_threshold)
    with one_thread(), torch.random.fork_rng(devices=[]):  # the quantiser draws its init and restarts globally
        torch.manual_seed(seed)
        return _train(points, config, rule, init, steps, B, lr, every, torch.Generator().manual_seed(seed))


def _train(points: torch.Tensor, config: VQConfig, rule: str, init: str, steps: int, B: int, lr: float, every: int,
           g: torch.Generator) -> CodebookRun:
    """train_toy_codebook's loop, on checked arguments; g draws the init and the minibatches."""
    K = config.num_codes
    vq = VectorQuantizer(config)
    start = _initial_codes(points, K, init, g)
    with torch.no_grad():
        if start is None:
            vq.init_from_data(points, generator=g)
        else:
            vq.codebook.copy_(start)
            vq.ema_sum.copy_(start / K)  # the EMA's m_k / N_k is the code itself
    opt = torch.optim.Adam([vq.codebook], lr=lr) if rule == "loss" else None
    vq.train()
    restarted = torch.zeros(K, dtype=torch.bool)
    snapshots = [_snapshot(vq, points, 0, restarted)]
    for step in range(1, steps + 1):
        batch = points[torch.randint(len(points), (min(B, len(points)),), generator=g)]  # 1. a minibatch
        if config.restart:
            restarted |= _restarted(vq, batch)  # 2. which codes this step revives (for the picture)
        out = vq(batch)  # 3. nearest codes; under EMA the codes move (and dead ones restart) here
        if opt is not None:
            opt.zero_grad()
            out.loss.backward()  # 4. under "loss" the codebook term pulls each winning code to its points
            opt.step()
        if step % every == 0 or step == steps:
            snapshots.append(_snapshot(vq, points, step, restarted))
            restarted = torch.zeros(K, dtype=torch.bool)
    return CodebookRun(rule, init, points, tuple(snapshots))


def voronoi_labels(codebook: torch.Tensor, xlim: tuple[float, float], ylim: tuple[float, float],
                   resolution: int = 200) -> tuple[torch.Tensor, tuple[float, float, float, float]]:
    """The nearest code of every point of a resolution x resolution grid over xlim x ylim.

    Returns labels (R, R) int64, rows along y from ylim[0] up, and extent (xmin, xmax, ymin, ymax):
    `imshow(labels, origin="lower", extent=extent)` draws the codebook's Voronoi cells.
    """
    check_shape(codebook, "codebook", "(K, 2)",
                isinstance(codebook, torch.Tensor) and codebook.ndim == 2 and codebook.shape[1] == 2)
    R = integer(resolution, "resolution", lo=2)
    (xmin, xmax), (ymin, ymax) = (tuple(float(v) for v in lim) for lim in (xlim, ylim))
    if not (xmin < xmax and ymin < ymax):
        raise invalid("xlim and ylim", "ranges (lo, hi) with lo < hi", (xlim, ylim))
    half_x, half_y = (xmax - xmin) / (2 * R), (ymax - ymin) / (2 * R)  # pixel centres
    xs = torch.linspace(xmin + half_x, xmax - half_x, R)
    ys = torch.linspace(ymin + half_y, ymax - half_y, R)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx.flatten(), gy.flatten()], 1)  # (R*R, 2)
    with one_thread():
        labels = nearest_code(grid, codebook.detach().to("cpu", torch.float32)).view(R, R)
    return labels, (xmin, xmax, ymin, ymax)
