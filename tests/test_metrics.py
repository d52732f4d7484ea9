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
from course_lib.metrics import bits_per_dim_to_nats, nats_to_bits_per_dim


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


# ----------------------------------------------------------------------------- Frechet distance
import json

from course_lib.data import load_digits
from course_lib.metrics import (
    ClassifierConfig,
    Report,
    SampleQuality,
    digits_classifier,
    digits_features,
    frechet_distance,
    frechet_distance_gaussians,
    kernel_inception_distance,
    precision_recall,
    read_reports,
    sample_quality,
    train_digits_classifier,
)


def _gaussian_feats(n, d, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) / math.sqrt(d)
    return rng.normal(size=(n, d)) @ A + shift  # correlated Gaussian features


def _fd_scipy(x, y):
    """FID's closed form from numpy moments and scipy's general matrix square root."""
    mu1, mu2, S1, S2 = x.mean(0), y.mean(0), np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(S1 @ S2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(S1) + np.trace(S2) - 2 * np.trace(covmean))


def test_fd_matches_scipy_sqrtm():
    x, y = _gaussian_feats(400, 6, 0), _gaussian_feats(300, 6, 1, shift=0.3)
    assert frechet_distance(x, y) == pytest.approx(_fd_scipy(x, y), rel=1e-9)
    assert frechet_distance(torch.from_numpy(x).float(), torch.from_numpy(y).float()) == pytest.approx(
        _fd_scipy(x, y), rel=1e-5)  # float32 tensors are promoted to float64


def test_fd_gaussians_closed_form_and_one_dimension():
    rng = np.random.default_rng(2)
    B1, B2 = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    S1, S2, mu1, mu2 = B1 @ B1.T + 0.1 * np.eye(5), B2 @ B2.T, rng.normal(size=5), rng.normal(size=5)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(S1 + S2 - 2 * scipy.linalg.sqrtm(S1 @ S2).real)
    assert frechet_distance_gaussians(mu1, S1, mu2, S2) == pytest.approx(expected, rel=1e-9)
    # 1-D: W2^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance_gaussians([1.0], [[4.0]], [-0.5], [[0.25]]) == pytest.approx(1.5**2 + 1.5**2, rel=1e-12)
    a, b = np.array([[0.0], [1.0], [5.0]]), np.array([[2.0], [2.5], [3.0], [7.0]])
    want = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert frechet_distance(a, b) == pytest.approx(want, rel=1e-12)


def test_fd_zero_symmetric_and_invariant_to_rotation_and_translation():
    x, y = _gaussian_feats(300, 8, 3), _gaussian_feats(250, 8, 4, shift=-0.2)
    assert abs(frechet_distance(x, x)) < 1e-10
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-10)
    Q, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(8, 8)))
    t = np.arange(8.0)
    assert frechet_distance(x @ Q + t, y @ Q + t) == pytest.approx(frechet_distance(x, y), rel=1e-9)


def test_fd_with_a_dead_feature_equals_fd_without_it():
    """A constant feature (a dead ReLU unit) makes both covariances singular; it must change nothing."""
    x, y = _gaussian_feats(200, 4, 6), _gaussian_feats(200, 4, 7, shift=0.5)
    pad = lambda f: np.concatenate([f, np.zeros((len(f), 1))], axis=1)
    assert frechet_distance(pad(x), pad(y)) == pytest.approx(frechet_distance(x, y), rel=1e-9)


def test_fd_bad_inputs():
    with pytest.raises(ValueError, match="same dimension D"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"\(N, D\) with N >= 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(TypeError, match="torch.Tensor or numpy array"):
        frechet_distance([[0.0]], np.zeros((5, 1)))


# ----------------------------------------------------------------------------- kernel inception distance
def _kid_brute_force(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_matches_double_loop():
    x, y = _gaussian_feats(7, 3, 8), _gaussian_feats(9, 3, 9, shift=0.4)
    assert kernel_inception_distance(x, y) == pytest.approx(_kid_brute_force(x, y), rel=1e-10)
    mean, std = kernel_inception_distance(x[:7], y[:7], subsets=3, subset_size=50)  # all rows, permuted
    assert mean == pytest.approx(_kid_brute_force(x[:7], y[:7]), rel=1e-10) and std == pytest.approx(0.0, abs=1e-12)


def test_kid_unbiased_near_zero_for_one_distribution_positive_for_two():
    rng = np.random.default_rng(10)
    same = np.array([kernel_inception_distance(rng.normal(size=(40, 4)), rng.normal(size=(40, 4))) for _ in range(300)])
    assert abs(same.mean()) < 3 * same.std() / math.sqrt(len(same))  # E = 0: no 1/n bias
    assert (same < 0).any()
    diff = [kernel_inception_distance(rng.normal(size=(40, 4)), rng.normal(size=(40, 4)) + 0.7) for _ in range(20)]
    assert np.mean(diff) > 10 * same.std() / math.sqrt(len(same))


def test_kid_subsets_return_mean_and_std():
    x, y = _gaussian_feats(300, 4, 11), _gaussian_feats(300, 4, 12, shift=0.3)
    mean, std = kernel_inception_distance(x, y, subsets=10, subset_size=100, seed=1)
    assert std > 0 and abs(mean - kernel_inception_distance(x, y)) < 3 * std
    assert kernel_inception_distance(x, y, subsets=10, subset_size=100, seed=1) == (mean, std)


# ----------------------------------------------------------------------------- precision / recall
def _pr_brute_force(real, fake, k):
    def radii(s):
        return [sorted(np.linalg.norm(s[i] - s[j]) for j in range(len(s)) if j != i)[k - 1] for i in range(len(s))]

    def share(points, centres, r):
        return np.mean([any(np.linalg.norm(p - c) <= rc for c, rc in zip(centres, r)) for p in points])

    return share(fake, real, radii(real)), share(real, fake, radii(fake))


@pytest.mark.parametrize("k", [1, 3])
def test_precision_recall_matches_brute_force(k):
    real, fake = _gaussian_feats(12, 2, 13), _gaussian_feats(9, 2, 14, shift=0.8)
    got = precision_recall(real, fake, k=k)
    assert (got.precision, got.recall) == pytest.approx(_pr_brute_force(real, fake, k), abs=1e-12)


def test_precision_recall_known_cases():
    line = np.arange(5.0)[:, None]  # real 0..4: 1-NN radius 1 everywhere
    assert precision_recall(line, np.array([[0.5], [10.0]]), k=1) == (0.5, 1.0)  # the fakes' radius is 9.5
    x = _gaussian_feats(50, 3, 15)
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)
    with pytest.raises(ValueError, match="N >= 4"):
        precision_recall(x, x[:3], k=3)
    with pytest.raises(ValueError, match="k must be a positive int"):
        precision_recall(x, x, k=0)


# ----------------------------------------------------------------------------- the digits classifier
def test_classifier_is_deterministic_accurate_and_leaves_rng_alone():
    cached = digits_classifier(0)
    assert digits_classifier() is cached and digits_classifier(seed=0) is cached  # trained once per process
    assert cached.test_accuracy >= 0.95
    x = load_digits("test")[0]
    with torch.no_grad():
        torch.testing.assert_close(cached.embed(x).double(), digits_features(x), rtol=0, atol=0)
    short = ClassifierConfig(epochs=3)  # two more trainings, shorter than the real one's 30 epochs
    rng, threads = torch.get_rng_state(), torch.get_num_threads()
    one, two = train_digits_classifier(0, short), train_digits_classifier(0, short)
    assert torch.equal(torch.get_rng_state(), rng) and torch.get_num_threads() == threads
    for (name, a), (_, b) in zip(one.state_dict().items(), two.state_dict().items()):
        assert torch.equal(a, b), name
    assert torch.equal(one.embed(x), two.embed(x))
    assert not torch.equal(one.embed(x), train_digits_classifier(1, short).embed(x))  # the seed matters


def test_inception_score_against_its_formula_and_bounds():
    from course_lib.metrics import digits_inception_floor, digits_inception_score

    x = load_digits("test")[0]
    classifier = digits_classifier(0)  # trained on first use: outside no_grad
    with torch.no_grad():
        p = torch.softmax(classifier(x), dim=1).double().numpy()  # (N, 10) p(y | x)
    marginal = p.mean(0)
    kl = (p * (np.log(p) - np.log(marginal))).sum(1)  # KL(p(y | x) || p(y)) image by image, in numpy
    assert digits_inception_score(x) == pytest.approx(math.exp(kl.mean()), rel=1e-6)
    assert 8.0 < digits_inception_score(x) <= 10.0  # confident and balanced: near the number of classes
    one_class = x[load_digits("test")[1] == 3][:40]
    assert digits_inception_score(one_class) < 1.5  # confident, but p(y) is one class: no variety
    mean, std = digits_inception_floor(100, repeats=4)
    assert 7.0 < mean < 10.0 and 0 < std < 0.5


def test_features_shape_and_scale():
    x, _ = load_digits("train")
    f = digits_features(x)
    assert f.shape == (1000, 64) and f.dtype == torch.float64 and f.device.type == "cpu" and not f.requires_grad
    assert f.pow(2).mean().item() == pytest.approx(1.0, rel=1e-4)  # scaled to unit mean square on the train split
    torch.testing.assert_close(digits_features(x.reshape(-1, 64).requires_grad_()), f)


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros((3, 1, 8, 8), np.float32), TypeError, "torch.from_numpy"),
    (torch.zeros(3, 1, 8, 8, dtype=torch.int64), TypeError, "divide by 16"),
    (torch.zeros(3, 8, 8), ValueError, r"\(N, 1, 8, 8\) or \(N, 64\).*got shape \(3, 8, 8\)"),
    (torch.zeros(0, 64), ValueError, r"got shape \(0, 1, 8, 8\)"),
    (torch.full((3, 64), -1.0), ValueError, r"\(x \+ 1\) / 2"),
    (torch.linspace(0, 16, 64).expand(3, 64), ValueError, r"values in \[0, 16\] \(grey levels 0..16\? divide by 16\)"),
    (torch.full((3, 64), float("nan")), ValueError, "NaN"),
])
def test_features_bad_inputs(bad, error, match):
    with pytest.raises(error, match=match):
        digits_features(bad)


# ----------------------------------------------------------------------------- sample_quality
def test_sample_quality_of_the_test_split_itself_is_zero():
    q = sample_quality(load_digits("test")[0])
    assert q.n == 447 and q.reference == "test" and q.floor_n == 447 and q.floor_repeats == 10
    assert q.fd == pytest.approx(0.0, abs=1e-9) and q.ratio < 1e-6
    assert (q.precision, q.recall) == (1.0, 1.0) and q.kid < 0  # unbiased MMD of a set with itself is below 0
    assert q.fd_floor > 0.1 and q.fd_floor_std > 0  # at n = 447 real digits are not at 0


def test_sample_quality_training_digits_sit_at_the_floor_noise_far_above():
    x = load_digits("train")[0]
    real = sample_quality(x[torch.randperm(1000, generator=torch.Generator().manual_seed(123))[:447]])
    assert 0.6 < real.ratio < 1.5
    hits = sample_quality.__globals__["_floor"].cache_info().hits
    noise = sample_quality(torch.rand(447, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    assert sample_quality.__globals__["_floor"].cache_info().hits == hits + 1  # the floor at n = 447 is cached
    assert noise.fd_floor == real.fd_floor
    assert noise.ratio > 10 and noise.kid > 20 * max(real.kid, real.kid_floor) and noise.precision < 0.2
    everything = sample_quality(load_digits("all")[0])
    assert everything.floor_n == 1000 and everything.floor_repeats == 1 and everything.fd_floor_std == 0.0


def test_sample_quality_displays_and_round_trips_through_a_report():
    q = sample_quality(load_digits("val")[0], reference="test", floor_repeats=3)
    assert q.n == 350 and q.floor_n == 350
    text = repr(q)
    assert "Frechet distance" in text and "ratio FD / floor" in text and "350 samples" in text
    assert "<table>" in q._repr_html_()
    report = q.report("06", prefix="ddpm_")
    assert isinstance(report, Report)
    notebook = {"cells": [{"cell_type": "code", "outputs": [{"data": report._repr_mimebundle_()}]}]}
    (stored,) = read_reports(json.loads(json.dumps(notebook)))
    assert stored["lesson"] == "06" and stored["ddpm_fd_ratio"] == pytest.approx(q.ratio, rel=1e-15)
    assert SampleQuality.from_report(stored, prefix="ddpm_") == q


def test_sample_quality_bad_arguments():
    x = load_digits("test")[0]
    with pytest.raises(ValueError, match="disjoint from the training digits"):
        sample_quality(x, reference="train")
    with pytest.raises(ValueError, match="more than k = 3 samples"):
        sample_quality(x[:3])


# ----------------------------------------------------------------------------- energy distance, nearest neighbours
from course_lib.metrics import energy_distance, energy_floor, nearest_neighbours


def test_energy_distance_is_scipys_squared_in_1d_and_the_pairwise_formula_in_2d():
    import scipy.stats

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 1, generator=g), torch.randn(200, 1, generator=g) + 0.5
    assert energy_distance(a, b) == pytest.approx(scipy.stats.energy_distance(a[:, 0], b[:, 0]) ** 2, rel=1e-9)
    a, b = torch.randn(40, 2, generator=g), 2 * torch.randn(30, 2, generator=g)
    brute = lambda u, v: sum(math.dist(p, q) for p in u.tolist() for q in v.tolist()) / (len(u) * len(v))
    assert energy_distance(a, b) == pytest.approx(2 * brute(a, b) - brute(a, a) - brute(b, b), rel=1e-9)
    assert energy_distance(a, a) == pytest.approx(0.0, abs=1e-12) and energy_distance(a, b) == energy_distance(b, a)


def test_energy_distance_sees_a_shift_and_its_floor_is_the_finite_sample_bias():
    g = torch.Generator().manual_seed(1)
    # two samples of one distribution: E[ED] = E|X - X'| (1/n + 1/m), with E|X - X'| = sqrt(pi) for N(0, I_2)
    pairs = [energy_distance(torch.randn(500, 2, generator=g), torch.randn(250, 2, generator=g)) for _ in range(40)]
    assert sum(pairs) / 40 == pytest.approx(math.sqrt(math.pi) * (1 / 500 + 1 / 250), rel=0.15)
    pool, ref = torch.randn(4000, 2, generator=g), torch.randn(1000, 2, generator=g)
    floor, spread = energy_floor(pool, ref, n=1000, repeats=10)
    draws = torch.Generator().manual_seed(0)
    by_hand = [energy_distance(pool[torch.randperm(4000, generator=draws)[:1000]], ref) for _ in range(10)]
    assert floor == pytest.approx(sum(by_hand) / 10, rel=1e-12) and spread == pytest.approx(torch.tensor(by_hand).std().item())
    shifted = torch.randn(1000, 2, generator=g) + torch.tensor([0.3, 0.0])
    assert energy_distance(shifted, ref) > 5 * floor
    with pytest.raises(ValueError, match=r"n must be a sample size in 2 \.\. 4000"):
        energy_floor(pool, ref, n=5000)
    with pytest.raises(ValueError, match="b must be points of the same dimension as a"):
        energy_distance(pool, torch.randn(5, 3))


def test_nearest_neighbours_against_brute_force():
    g = torch.Generator().manual_seed(2)
    ref, q = torch.rand(50, 1, 8, 8, generator=g), torch.rand(7, 1, 8, 8, generator=g)
    q[3] = ref[17]  # a copy of a training image
    dist, idx = nearest_neighbours(q, ref, chunk=3)
    for i in range(7):
        d = [(q[i] - r).double().pow(2).sum().sqrt().item() for r in ref]
        assert idx[i].item() == min(range(50), key=d.__getitem__) and dist[i].item() == pytest.approx(min(d), rel=1e-9)
    assert dist[3].item() == 0.0 and idx[3].item() == 17
    with pytest.raises(ValueError, match="one shape"):
        nearest_neighbours(q, torch.rand(5, 64))


from course_lib.metrics import psnr


def test_psnr_is_ten_log10_of_range_squared_over_the_mse_of_the_whole_set():
    x = torch.zeros(2, 1, 4, 4)
    y = x.clone()
    y[0] = 0.1  # MSE over both images: 0.01 / 2
    assert psnr(y, x) == pytest.approx(10 * math.log10(1 / 0.005))
    assert psnr(2 * y, 2 * x, data_range=2.0) == pytest.approx(psnr(y, x))
    assert psnr(x, x) == math.inf
    with pytest.raises(ValueError, match="two tensors of one shape"):
        psnr(x, x[0])
