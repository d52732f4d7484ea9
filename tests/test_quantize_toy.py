"""course_lib.quantize.toy: a codebook trained on 2-D toy points under each update rule, recorded for the widgets.

The lesson's point is measured on the defaults: a codebook started where no data is keeps most of its
codes dead under the codebook loss and under EMA alone, and restarts revive them all."""

import math
import time

import pytest
import torch

from course_lib import data
from course_lib import quantize as Q


@pytest.fixture(scope="module")
def points():
    return data.make_toy("eight_gaussians", 2000)


@pytest.fixture(scope="module")
def runs(points):
    out, seconds = {}, {}
    for rule in ("loss", "ema", "ema+restart"):
        start = time.perf_counter()
        out[rule] = Q.train_toy_codebook(points, rule=rule)
        seconds[rule] = time.perf_counter() - start
    assert max(seconds.values()) < 5.0, seconds  # the notebook trains all three in a few seconds
    return out


def test_defaults_show_dead_codes_and_their_revival(runs):
    loss, ema, restart = (runs[r].final for r in ("loss", "ema", "ema+restart"))
    assert loss.usage < 0.5 and ema.usage < 0.5  # codes started where no data is never win a point
    assert loss.restarts == ema.restarts == 0
    assert restart.usage >= 0.9 and restart.restarts > 0
    assert restart.perplexity > 2 * max(loss.perplexity, ema.perplexity)
    assert restart.error < loss.error and restart.error < ema.error  # more live codes: points closer to a code
    for run in runs.values():  # all start alike: bunched in a corner, almost all dead
        assert run.snapshots[0].usage < 0.2


def test_snapshots_are_recorded_every_few_steps_and_measure_every_point(runs, points):
    run = runs["ema+restart"]
    assert run.rule == "ema+restart" and run.init == "corner" and run.num_codes == 32
    assert run.steps == list(range(0, 601, 20)) and len(run) == 31 and run.final is run.snapshots[-1]
    assert torch.equal(run.points, points)
    for snap in run.snapshots:
        assert snap.codebook.shape == (32, 2) and snap.counts.shape == (32,) and snap.restarted.dtype == torch.bool
        assert int(snap.counts.sum()) == len(points)
        k = Q.nearest_code(points, snap.codebook)
        assert torch.equal(snap.counts, torch.bincount(k, minlength=32))
        assert snap.usage == pytest.approx(Q.usage(k, 32)) and snap.used == int((snap.counts > 0).sum())
        assert snap.perplexity == pytest.approx(Q.perplexity(k, 32))
        assert snap.error == pytest.approx(((points - snap.codebook[k]) ** 2).sum(1).mean().item(), rel=1e-5)
    assert [s.restarts for s in run.snapshots] == sorted(s.restarts for s in run.snapshots)  # cumulative
    short = Q.train_toy_codebook(points, rule="ema", steps=50, every=20)
    assert short.steps == [0, 20, 40, 50]  # and the last step


def test_restarted_flags_follow_the_quantisers_restarts(runs):
    run = runs["ema+restart"]
    for before, snap in zip(run.snapshots, run.snapshots[1:]):
        new = snap.restarts - before.restarts
        assert bool(snap.restarted.any()) == (new > 0)
        assert int(snap.restarted.sum()) <= new  # a code restarted twice in a window is flagged once
    assert sum(int(s.restarted.sum()) for s in run.snapshots) > 0
    for rule in ("loss", "ema"):
        assert not any(s.restarted.any() for s in runs[rule].snapshots)


def test_runs_are_deterministic_and_leave_global_random_state_alone(points):
    state = torch.get_rng_state()
    a = Q.train_toy_codebook(points, rule="ema+restart", steps=100, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    b = Q.train_toy_codebook(points, rule="ema+restart", steps=100, seed=3)
    c = Q.train_toy_codebook(points, rule="ema+restart", steps=100, seed=4)
    for sa, sb in zip(a.snapshots, b.snapshots):
        assert torch.equal(sa.codebook, sb.codebook) and torch.equal(sa.counts, sb.counts)
        assert sa.restarts == sb.restarts and torch.equal(sa.restarted, sb.restarted)
    assert not torch.equal(a.final.codebook, c.final.codebook)


def test_measuring_a_snapshot_never_moves_the_codebook(points):
    """Snapshots measure in no-grad passes that neither train nor draw random numbers: how often one
    records does not change the codes; and a quantiser in eval mode leaves codes, EMA and restarts alone."""
    often = Q.train_toy_codebook(points, rule="ema+restart", steps=60, every=1)
    rarely = Q.train_toy_codebook(points, rule="ema+restart", steps=60, every=60)
    assert torch.equal(often.final.codebook, rarely.final.codebook)
    loss_often = Q.train_toy_codebook(points, rule="loss", steps=40, every=1)
    assert torch.equal(loss_often.final.codebook, Q.train_toy_codebook(points, rule="loss", steps=40).final.codebook)
    assert not torch.equal(often.snapshots[0].codebook, often.final.codebook)  # snapshots are copies, not views
    vq = Q.VectorQuantizer(Q.VQConfig(num_codes=8, code_dim=2, update="ema", restart=True)).eval()
    before = {k: v.clone() for k, v in vq.state_dict().items()}
    for _ in range(50):
        vq(points[:128] + 10.0)  # far from every code: in training, all eight would restart
    assert all(torch.equal(before[k], v) for k, v in vq.state_dict().items())


@pytest.mark.parametrize("init", ["random", "kmeans"])
def test_other_inits(points, init):
    run = Q.train_toy_codebook(points, rule="loss", steps=40, init=init)
    assert run.init == init
    if init == "kmeans":  # k-means starts every code on the data
        assert run.snapshots[0].usage > 0.9


def test_bad_arguments_say_what_was_expected(points):
    with pytest.raises(ValueError, match=r"rule must be one of \('loss', 'ema', 'ema\+restart'\), got 'restart'"):
        Q.train_toy_codebook(points, rule="restart")
    with pytest.raises(ValueError, match=r"points must be of shape \(N, 2\), got shape \(10, 3\)"):
        Q.train_toy_codebook(torch.zeros(10, 3))
    with pytest.raises(ValueError, match=r"points must be of shape \(N, 2\), got shape \(2000,\)"):
        Q.train_toy_codebook(points[:, 0].numpy())
    assert torch.equal(Q.train_toy_codebook(points.numpy(), steps=5).points, points)  # an array is fine
    with pytest.raises(ValueError, match="num_codes must be an integer >= 2, got 1"):
        Q.train_toy_codebook(points, num_codes=1)
    with pytest.raises(ValueError, match="init must be one of"):
        Q.train_toy_codebook(points, init="zeros")
    with pytest.raises(ValueError, match="every must be a positive integer"):
        Q.train_toy_codebook(points, every=0)
    with pytest.raises(ValueError, match="lr must be a number > 0"):
        Q.train_toy_codebook(points, lr=0.0)
    with pytest.raises(ValueError, match=r"decay must be a number in \[0, 1\)"):
        Q.train_toy_codebook(points, rule="ema", decay=1.0)


# ----------------------------------------------------------------------------- Voronoi cells
def test_voronoi_labels_are_the_nearest_code_of_each_pixel_centre():
    codebook = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [0.0, 1.5]])
    labels, extent = Q.voronoi_labels(codebook, (-2, 2), (-3, 3), resolution=40)
    assert labels.shape == (40, 40) and labels.dtype == torch.int64 and extent == (-2.0, 2.0, -3.0, 3.0)
    xs = -2 + 4 * (torch.arange(40) + 0.5) / 40
    ys = -3 + 6 * (torch.arange(40) + 0.5) / 40
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1).reshape(-1, 2)  # (x, y), rows along y
    brute = torch.cdist(grid, codebook).argmin(1).view(40, 40)
    assert (labels != brute).sum() <= 2  # ties on the cells' borders only
    assert labels[0, 0] == 0 and labels[0, -1] == 1 and labels[-1, 20] == 2  # bottom left, bottom right, top
    with pytest.raises(ValueError, match=r"codebook must be of shape \(K, 2\)"):
        Q.voronoi_labels(torch.zeros(3, 4), (0, 1), (0, 1))
    with pytest.raises(ValueError, match="xlim and ylim must be ranges"):
        Q.voronoi_labels(codebook, (1, 0), (0, 1))


# ----------------------------------------------------------------------------- a VQ-VAE's codebook health
def test_codebook_health_measures_a_split():
    g = torch.Generator().manual_seed(0)
    indices = torch.tensor([[0, 0], [1, 3]]).repeat(5, 1, 1)  # (5, 2, 2): codes 0, 1, 3 of 6
    x = torch.rand(5, 1, 8, 8, generator=g)
    r = (x + 0.1).clamp(0, 1)
    h = Q.codebook_health(6, "ema", indices, x, r, n=3)
    assert h.num_codes == 6 and h.rule == "ema" and h.counts.tolist() == [10, 5, 0, 5, 0, 0] and h.dead == 3
    assert h.usage == pytest.approx(0.5)
    assert h.perplexity == pytest.approx(math.exp(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))))
    mse = ((r - x) ** 2).mean().item()
    assert h.psnr == pytest.approx(10 * math.log10(1 / mse), rel=1e-5)
    assert h.originals.shape == h.reconstructions.shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match=r"reconstructions must be of the originals' shape \(5, 1, 8, 8\)"):
        Q.codebook_health(6, "ema", indices, x, r[:4])
    with pytest.raises(ValueError, match=r"indices must be code indices in 0..5"):
        Q.codebook_health(6, "ema", indices + 3, x, r)
    with pytest.raises(ValueError, match=r"counts must be of shape \(6,\)"):
        Q.CodebookHealth(6, "ema", torch.zeros(5), 1.0, 0.5, x, r, 20.0)
    with pytest.raises(ValueError, match=r"originals must be of shape \(n, 1, H, W\)"):
        Q.CodebookHealth(6, "ema", torch.zeros(6), 1.0, 0.5, x[:, 0], r, 20.0)
