"""course_lib.quantize against independent computations: nearest codes against brute force, the two VQ
terms and the straight-through estimator through the gradients autograd gives each side, the
Gumbel-max trick and the Gumbel-softmax against the categorical they sample (frequencies, chi-square),
perplexity against the entropy computed by hand, and the EMA codebook against a k-means step."""

import copy
import math

import numpy as np
import pytest
import torch

from course_lib import metrics
from course_lib import quantize as Q


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- the functions
def test_nearest_code_matches_brute_force_and_works_in_chunks():
    z, codebook = torch.randn(1000, 5, generator=_gen(0)), torch.randn(37, 5, generator=_gen(1))
    brute = torch.cdist(z.double(), codebook.double()).argmin(dim=1)
    got = Q.nearest_code(z, codebook, chunk=128)
    assert got.dtype == torch.int64 and got.shape == (1000,)
    assert torch.equal(got, brute)
    assert torch.equal(Q.nearest_code(codebook, codebook), torch.arange(37))


def test_straight_through_is_z_q_forward_and_the_identity_backward():
    z_e = torch.randn(4, 3, requires_grad=True)
    z_q = torch.randn(4, 3, requires_grad=True)
    out = Q.straight_through(z_e, z_q)
    assert torch.equal(out, z_q.detach() + 0 * out.detach()) or torch.allclose(out, z_q)
    w = torch.randn(4, 3)
    (out * w).sum().backward()
    assert torch.allclose(z_e.grad, w)  # d out / d z_e = I
    assert z_q.grad is None or torch.count_nonzero(z_q.grad) == 0  # z_q gets nothing through this path


def test_each_vq_term_moves_one_side_only():
    z_e = torch.randn(6, 4, requires_grad=True)
    e = torch.randn(6, 4, requires_grad=True)
    codebook_loss, commitment = Q.vq_losses(z_e, e)
    assert codebook_loss.item() == pytest.approx(((z_e - e) ** 2).mean().item())
    assert commitment.item() == pytest.approx(codebook_loss.item())
    g_e, g_z = torch.autograd.grad(codebook_loss, [e, z_e], allow_unused=True)
    assert torch.allclose(g_e, 2 * (e - z_e).detach() / e.numel()) and (g_z is None or not g_z.any())
    g_e, g_z = torch.autograd.grad(commitment, [e, z_e], allow_unused=True)
    assert torch.allclose(g_z, 2 * (z_e - e).detach() / e.numel()) and (g_e is None or not g_e.any())


def test_gumbel_max_samples_the_categorical_exactly():
    logits = torch.tensor([1.5, 0.0, -1.0, 0.7])
    g = Q.gumbel_noise((200000, 4), _gen(2))
    freq = torch.bincount((logits + g).argmax(1), minlength=4).double() / 200000
    p = torch.softmax(logits.double(), 0)
    chi2 = (200000 * (freq - p) ** 2 / p).sum().item()
    assert chi2 < 16.3  # chi-square with 3 degrees of freedom, p = 0.001


def test_gumbel_noise_stays_finite_at_the_clamp():
    g = Q.gumbel_noise((10,), eps=1e-10)
    assert torch.isfinite(g).all()
    u = torch.tensor([1e-10, 1 - 1e-10], dtype=torch.float64)
    assert torch.isfinite(-torch.log(-torch.log(u))).all()


def test_gumbel_softmax_hard_samples_follow_softmax_but_the_mean_of_soft_ones_does_not():
    logits = torch.tensor([[2.0, 0.0, -1.0]]).expand(100000, 3)
    p = torch.softmax(logits[0].double(), 0)
    hard = Q.gumbel_softmax(logits, tau=1.0, hard=True, generator=_gen(3))
    assert torch.equal(hard.detach().sum(1), torch.ones(100000)) and set(hard.detach().unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(hard.detach().mean(0).double(), p, atol=0.006)
    soft = Q.gumbel_softmax(logits, tau=1.0, generator=_gen(4))
    assert (soft.mean(0).double() - p).abs().max() > 0.03  # the relaxation's mean is not the categorical
    cold = Q.gumbel_softmax(logits[:1000], tau=1e-3, generator=_gen(5))
    assert (cold.max(1).values > 0.999).double().mean() > 0.99  # tau -> 0: one-hot (but for near ties)


def test_hard_gumbel_softmax_passes_the_soft_samples_gradient():
    logits = torch.randn(5, 4, generator=_gen(6), requires_grad=True)
    w = torch.randn(5, 4, generator=_gen(7))
    (Q.gumbel_softmax(logits, 0.5, hard=True, generator=_gen(8)) * w).sum().backward()
    hard_grad = logits.grad.clone()
    logits.grad = None
    (Q.gumbel_softmax(logits, 0.5, hard=False, generator=_gen(8)) * w).sum().backward()
    assert torch.allclose(hard_grad, logits.grad)
    with pytest.raises(ValueError, match="tau must be a number > 0"):
        Q.gumbel_softmax(logits, 0.0)


def test_perplexity_and_usage_against_hand_computed_entropies():
    assert Q.perplexity(torch.arange(16), 16) == pytest.approx(16)
    assert Q.perplexity(torch.zeros(50, dtype=torch.long), 16) == pytest.approx(1)
    idx = torch.tensor([0, 0, 0, 1, 2, 2])
    p = torch.tensor([3, 1, 2]) / 6
    assert Q.perplexity(idx.view(2, 3), 8) == pytest.approx(math.exp(-(p * p.log()).sum().item()))
    assert Q.usage(idx, 8) == pytest.approx(3 / 8)
    with pytest.raises(ValueError, match=r"code indices in 0..7"):
        Q.perplexity(torch.tensor([8]), 8)


# ----------------------------------------------------------------------------- quantisers
def test_vector_quantizer_outputs_nearest_codes_with_straight_through_gradients():
    vq = Q.VectorQuantizer(Q.VQConfig(num_codes=8, code_dim=3, update="loss"))
    z = torch.randn(2, 3, 4, 4, generator=_gen(9), requires_grad=True)
    out = vq(z)
    rows = z.detach().permute(0, 2, 3, 1).reshape(-1, 3)
    assert out.indices.shape == (2, 4, 4)
    assert torch.equal(out.indices.reshape(-1), torch.cdist(rows, vq.codebook.detach()).argmin(1))
    assert torch.allclose(out.z_q.permute(0, 2, 3, 1).reshape(-1, 3), vq.codebook.detach()[out.indices.reshape(-1)])
    w = torch.randn_like(z)
    (out.z_q * w).sum().backward()
    assert torch.allclose(z.grad, w + torch.autograd.grad(out.loss, z, retain_graph=False)[0] * 0)  # identity
    cb, cm = Q.vq_losses(rows, vq.codebook.detach()[out.indices.reshape(-1)])
    assert out.loss.item() == pytest.approx(cb.item() + 0.25 * cm.item(), rel=1e-5)


def test_ema_codebook_with_decay_0_is_a_k_means_step_and_never_moves_in_eval():
    vq = Q.VectorQuantizer(Q.VQConfig(num_codes=4, code_dim=2, update="ema", decay=0.0, restart=False))
    z = torch.randn(400, 2, generator=_gen(10)) * 3
    before = vq.codebook.detach().clone()
    k = Q.nearest_code(z, before)
    vq.train()(z)
    for j in k.unique():
        assert torch.allclose(vq.codebook[j], z[k == j].mean(0), atol=1e-5)  # the assigned vectors' mean
    frozen = vq.codebook.detach().clone()
    vq.eval()(z * 5)
    assert torch.equal(vq.codebook.detach(), frozen)
    assert not vq.codebook.requires_grad  # EMA codes get no gradient


def test_dead_codes_restart_on_encoder_outputs_and_kmeans_init_beats_random():
    torch.manual_seed(0)
    cfg = Q.VQConfig(num_codes=16, code_dim=2, update="ema", decay=0.5, restart=True, dead_threshold=0.5)
    vq = Q.VectorQuantizer(cfg)
    with torch.no_grad():
        vq.codebook[8:] += 100.0  # far from the data: never chosen
        vq.ema_sum[8:] = vq.codebook[8:] * vq.ema_count[8:, None]  # the EMA state holds the codes too
    z = torch.randn(512, 2, generator=_gen(11))
    for _ in range(5):
        vq.train()(z)
    assert int(vq.restarts) >= 8
    assert Q.usage(vq.eval()(z).indices, 16) > 0.9
    err = {}
    for init in ("random", "kmeans"):
        q = Q.VectorQuantizer(Q.VQConfig(num_codes=16, code_dim=2, update="loss"))
        if init == "kmeans":
            q.init_from_data(z, generator=_gen(12))
        out = q.eval()(z)
        err[init] = ((out.z_q - z) ** 2).mean().item()
    assert err["kmeans"] < 0.5 * err["random"]


def test_gumbel_quantizer_is_argmax_in_eval_and_its_kl_is_the_closed_form():
    gq = Q.GumbelQuantizer(8, 3, tau=0.5)
    logits = torch.randn(2, 8, 4, 4, generator=_gen(13))
    out = gq.eval()(logits)
    assert torch.equal(out.indices, logits.argmax(1))
    q = torch.softmax(logits.permute(0, 2, 3, 1).reshape(-1, 8).double(), 1)
    assert out.loss.item() == pytest.approx((q * (q * 8).log()).sum(1).mean().item(), rel=1e-5)
    train = gq.train()(logits, generator=_gen(14))
    assert train.z_q.shape == (2, 3, 4, 4) and train.z_q.requires_grad


def test_vqvae_shapes_likelihood_and_decoding_from_indices():
    torch.manual_seed(0)
    for quantizer in ("vq", "gumbel"):
        model = Q.VQVAE(Q.VQVAEConfig(width=16, quantizer=quantizer, vq=Q.VQConfig(num_codes=8, code_dim=4))).eval()
        x = torch.randint(0, 17, (3, 1, 8, 8), generator=_gen(15)).float() / 16
        logits, q = model(x)
        assert logits.shape == (3, 1, 8, 8, 17) and q.indices.shape == (3, 4, 4)
        manual = -torch.log_softmax(logits, -1).gather(-1, torch.round(x * 16).long()[..., None]).squeeze(-1)
        assert torch.allclose(model.reconstruction_nll(logits, x), manual.reshape(3, -1).sum(1), atol=1e-4)
        assert torch.allclose(model.decode_indices(q.indices), logits, atol=1e-5)
        assert Q.vqvae_loss(model, x).ndim == 0
    with pytest.raises(ValueError, match=r"x must be of shape \(B, 1, 8, 8\)"):
        model(torch.zeros(2, 64))


@pytest.mark.parametrize("call, message", [
    (lambda: Q.nearest_code(torch.zeros(3, 2), torch.zeros(4, 3)), r"codebook must be of shape \(K, 2\)"),
    (lambda: Q.straight_through(torch.zeros(2), torch.zeros(3)), "tensors of one shape"),
    (lambda: Q.VQConfig(update="kmeans"), "update must be one of"),
    (lambda: Q.VectorQuantizer(Q.VQConfig(code_dim=4))(torch.zeros(2, 3, 4, 4)), r"of shape \(N, 4\) or \(B, 4, H, W\)"),
    (lambda: Q.VQVAEConfig(quantizer="kmeans"), "quantizer must be one of"),
    (lambda: Q.perplexity(torch.zeros(0, dtype=torch.long), 4), "at least one code index"),
])
def test_bad_input_gets_an_error_naming_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------- the prior
@pytest.mark.parametrize("tied", [False, True])
def test_token_prior_is_a_normalised_causal_distribution_and_samples_it(tied):
    torch.manual_seed(0)
    codebook = torch.randn(3, 4, generator=_gen(15)) if tied else None
    prior = Q.TokenPrior(num_codes=3, length=2, width=16, depth=1, heads=2, dropout=0.0, codebook=codebook).eval()
    with torch.no_grad():
        for p in prior.parameters():
            p.add_(torch.randn(p.shape, generator=_gen(16)) * 0.5)
    grids = torch.cartesian_prod(torch.arange(3), torch.arange(3))  # all 9 sequences
    with torch.no_grad():
        probs = prior.log_prob(grids).exp()
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-5)
    a, b = torch.tensor([[0, 1]]), torch.tensor([[0, 2]])
    assert torch.allclose(prior.logits(a)[:, :2], prior.logits(b)[:, :2])  # position 2 reads only position 1
    samples = prior.sample(30000, _gen(17))
    freq = torch.bincount(samples[:, 0] * 3 + samples[:, 1], minlength=9).double() / 30000
    chi2 = (30000 * (freq - probs.double()) ** 2 / probs.double()).sum().item()
    assert chi2 < 26.1  # chi-square, 8 degrees of freedom, p = 0.001
    with pytest.raises(ValueError, match="indices must be of shape"):
        prior.log_prob(torch.zeros(2, 3, dtype=torch.long))


def test_a_prior_tied_to_the_codebook_scores_codes_by_their_vectors():
    codebook = torch.randn(5, 3, generator=_gen(30))
    prior = Q.TokenPrior(5, 4, width=8, depth=1, heads=2, dropout=0.0, codebook=codebook).eval()
    codebook[0] = 100.0  # the prior keeps its own copy
    assert prior.codebook[0].abs().max() < 100
    with torch.no_grad():
        prior.codebook[1] = prior.codebook[2]  # two codes with one vector: read alike, scored alike
        prior.bias.zero_()
        logits = prior.logits(torch.tensor([[1, 3, 0, 4]]))
        same = prior.logits(torch.tensor([[2, 3, 0, 4]]))
    assert torch.allclose(logits[..., 1], logits[..., 2])
    assert torch.allclose(logits, same)
    with pytest.raises(ValueError, match=r"codebook must be of shape \(5, D\)"):
        Q.TokenPrior(5, 4, width=8, heads=2, codebook=torch.zeros(4, 3))
    with pytest.raises(ValueError, match="a multiple of heads"):
        Q.TokenPrior(5, 4, width=10, heads=4)


def test_the_global_layout_reuses_lesson_02s_networks_and_bounds_the_likelihood():
    from course_lib import vae
    model = Q.VQVAE(Q.VQVAEConfig(quantizer="gumbel", latent="global", variables=6, hidden=32,
                                  vq=Q.VQConfig(num_codes=4, code_dim=3))).eval()
    assert isinstance(model.encoder, vae.ConvEncoder) and isinstance(model.decoder, vae.ConvDecoder)
    x = torch.rand(5, 1, 8, 8, generator=_gen(31))
    assert model.encode(x).shape == (5, 4, 6, 1)  # logits of 6 variables of 4 classes
    logits, q = model(x)
    assert logits.shape == (5, 1, 8, 8, 17) and q.indices.shape == (5, 6, 1)
    nll = Q.gumbel_iw_nll(model, x, k=20, generator=_gen(32))
    assert nll.shape == (5,) and torch.isfinite(nll).all()
    with pytest.raises(ValueError, match="latent must be one of"):
        Q.VQVAEConfig(latent="patch")


def test_pixelcnn_masks_hide_the_future_and_type_a_the_centre():
    a, b = Q.pixelcnn_mask(3, "A"), Q.pixelcnn_mask(3, "B")
    assert a.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert b.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="an odd size"):
        Q.pixelcnn_mask(4, "A")


def test_gumbel_iw_nll_is_exact_for_a_one_position_model_and_bounds_from_above():
    torch.manual_seed(0)
    model = Q.VQVAE(Q.VQVAEConfig(image_shape=(1, 2, 2), width=8, quantizer="gumbel",
                                  vq=Q.VQConfig(num_codes=4, code_dim=3))).eval()
    x = torch.randint(0, 17, (5, 1, 2, 2), generator=_gen(18)).float() / 16
    # one position (a 1 x 1 grid) with 4 codes: p(x) = 1/4 sum_z p(x | z), computed by enumeration
    exact = []
    for z in range(4):
        idx = torch.full((5, 1, 1), z)
        exact.append(-model.reconstruction_nll(model.decode_indices(idx), x) - math.log(4))
    exact = -torch.logsumexp(torch.stack(exact), 0)
    many = Q.gumbel_iw_nll(model, x, k=3000, generator=_gen(19))
    one = torch.stack([Q.gumbel_iw_nll(model, x, k=1, generator=_gen(20 + i)) for i in range(200)]).mean(0)
    assert torch.allclose(many, exact, atol=0.02)
    assert (one >= exact - 0.02).all()


def test_vq_nll_adds_the_priors_code_length_to_the_reconstructions():
    torch.manual_seed(0)
    model = Q.VQVAE(Q.VQVAEConfig(width=16, vq=Q.VQConfig(num_codes=8, code_dim=4)))
    prior = Q.TokenPrior(8, 16, width=16, depth=1, heads=2)
    x = torch.randint(0, 17, (4, 1, 8, 8), generator=_gen(21)).float() / 16
    got = Q.vq_nll(model, prior, x)
    logits, q = model(x)
    want = model.reconstruction_nll(logits, x) - prior.log_prob(q.indices)
    assert torch.allclose(got, want.detach(), atol=1e-4) and not model.training and not prior.training
    assert (got > model.reconstruction_nll(logits, x).detach()).all()  # a code length is positive
    with pytest.raises(ValueError, match="quantizer='gumbel'"):
        Q.gumbel_iw_nll(model, x)


def test_train_vqvae_keeps_the_best_validation_epoch_and_reads_out_in_eval_mode():
    x = (torch.rand(48, 1, 8, 8, generator=_gen(40)) > 0.6).float()
    config = Q.VQVAEConfig(width=16, vq=Q.VQConfig(num_codes=16, code_dim=4))
    model = Q.VQVAE(config)
    history = Q.train_vqvae(model, x[:32], x[32:], epochs=3, batch_size=16, seed=0, progress=False)
    assert len(history.val_psnr) == 3 and history.best_epoch == 1 + int(np.argmax(history.val_psnr))
    assert not model.training
    assert metrics.psnr(Q.reconstruct(model, x[32:]), x[32:]) == pytest.approx(max(history.val_psnr), abs=1e-4)
    before = model.quantizer.codebook.detach().clone()
    idx = Q.encode_indices(model, x, batch_size=10)
    assert idx.shape == (48, 4, 4) and idx.dtype == torch.long
    assert torch.equal(before, model.quantizer.codebook)  # reading out never moves an EMA codebook
    smaller = Q.with_codebook(config, num_codes=8, update="loss")
    assert smaller.vq.num_codes == 8 and smaller.vq.update == "loss" and smaller.width == 16


def test_train_prior_keeps_its_best_validation_epoch():
    grids = torch.randint(0, 4, (40, 4), generator=_gen(41))
    prior = Q.TokenPrior(4, 4, width=8, depth=1, heads=2)
    history = Q.train_prior(prior, grids[:30], grids[30:], epochs=3, batch_size=10, progress=False)
    assert history.best_epoch == 1 + int(np.argmin(history.val_loss)) and not prior.training
    with torch.no_grad():
        assert (-prior.log_prob(grids[30:]).mean()).item() == pytest.approx(min(history.val_loss), rel=1e-4)


def test_train_prior_without_validation_keeps_its_last_epoch():
    grids = torch.randint(0, 4, (40, 4), generator=_gen(42))
    torch.manual_seed(0)
    prior = Q.TokenPrior(4, 4, width=8, depth=1, heads=2, dropout=0.0)
    twin = copy.deepcopy(prior)
    history = Q.train_prior(prior, grids, epochs=3, batch_size=10, lr=1e-3, progress=False)
    assert history.best_epoch == 3 and history.val_loss == [] and not prior.training
    # the twin, trained alike but scored on its own training grids, improves every epoch: it keeps epoch 3
    twin_history = Q.train_prior(twin, grids, grids, epochs=3, batch_size=10, lr=1e-3, progress=False)
    assert twin_history.best_epoch == 3 and twin_history.val_loss[0] > twin_history.val_loss[-1]
    assert all(torch.allclose(v, twin.state_dict()[k]) for k, v in prior.state_dict().items())
