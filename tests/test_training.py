import pytest
import torch
from torch import nn

from course_lib import training
from course_lib.training import History, fit, resolve_device


def _regression(seed: int = 0):
    g = torch.Generator().manual_seed(123)
    x = torch.randn(256, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(256, generator=g)
    data = torch.cat([x, y[:, None]], dim=1)  # (N, 5): inputs and target
    torch.manual_seed(seed)
    model = nn.Linear(4, 1)
    loss = lambda m, b: (m(b[:, :4]).squeeze(1) - b[:, 4]).pow(2).mean()
    return model, loss, data


def test_fit_lowers_the_loss_and_records_history():
    model, loss, data = _regression()
    before = training.evaluate(model, loss, data)
    h = fit(model, loss, data, val_data=data[:64], epochs=20, batch_size=32, lr=0.05, device="cpu", progress=False)
    assert isinstance(h, History) and h.epochs == 20 and len(h.val_loss) == 20
    assert len(h.step_loss) == 20 * 8
    assert h.train_loss[-1] < 0.05 < before
    assert h.train_loss[-1] < h.train_loss[0]
    assert not model.training  # left in eval mode


def test_fit_is_reproducible_under_a_seed():
    runs = []
    for _ in range(2):
        model, loss, data = _regression()
        h = fit(model, loss, data, epochs=3, batch_size=16, seed=7, device="cpu", progress=False)
        runs.append((h.step_loss, model.weight.detach().clone()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    model, loss, data = _regression()
    other = fit(model, loss, data, epochs=3, batch_size=16, seed=8, device="cpu", progress=False)
    assert other.step_loss != runs[0][0]  # another seed shuffles differently


def test_noise_drawn_in_the_loss_is_reproducible():
    def noisy_loss(m, b):
        return (m(b[:, :4] + torch.randn_like(b[:, :4])).squeeze(1) - b[:, 4]).pow(2).mean()

    results = []
    for _ in range(2):
        model, _, data = _regression()
        results.append(fit(model, noisy_loss, data, epochs=2, seed=1, device="cpu", progress=False).step_loss)
    assert results[0] == results[1]


def test_bad_arguments_are_named():
    model, loss, data = _regression()
    with pytest.raises(ValueError, match="train_data must be a non-empty tensor .* or a tuple"):
        fit(model, loss, [1, 2, 3], epochs=1, progress=False)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        fit(model, loss, data, epochs=0, progress=False)
    with pytest.raises(ValueError, match="scalar"):
        fit(model, lambda m, b: m(b[:, :4]), data, epochs=1, device="cpu", progress=False)


def test_resolve_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_fast_mode(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert training.fast(100, 2) == 2
    monkeypatch.setenv("COURSE_FAST", "0")
    assert training.fast(100, 2) == 100
    monkeypatch.delenv("COURSE_FAST")
    assert training.fast(100, 2) == 100


def test_progress_bar_outside_a_notebook_is_plain_tqdm(capsys):
    bar = training.ProgressBar(3, "demo")
    for _ in range(3):
        bar.update()
    bar.set_postfix({"loss": "0.5"})
    bar.close()
    err = capsys.readouterr().err
    assert "demo: 100%" in err and "loss=0.5" in err


def test_fit_takes_a_tuple_of_tensors():
    model, loss, data = _regression()
    pairs = (data[:, :4], data[:, 4])
    tuple_loss = lambda m, b: (m(b[0]).squeeze(1) - b[1]).pow(2).mean()
    h = fit(model, tuple_loss, pairs, val_data=pairs, epochs=15, batch_size=32, lr=0.05, device="cpu", progress=False)
    assert h.train_loss[-1] < 0.05 and len(h.val_loss) == 15
    with pytest.raises(ValueError, match="share a non-zero first dimension"):
        fit(model, tuple_loss, (data[:, :4], data[:10, 4]), epochs=1, progress=False)


def test_on_epoch_sees_every_epoch_with_the_validation_loss():
    model, loss, data = _regression()
    seen = []
    h = fit(model, loss, data, val_data=data[:32], epochs=4, device="cpu", progress=False,
            on_epoch=lambda m, epoch, value: seen.append((m is model, epoch, value)))
    assert seen == [(True, e + 1, v) for e, v in enumerate(h.val_loss)]


# ----------------------------------------------------------------------------- the shared loop and two players
def test_train_runs_a_step_function_and_records_named_series():
    data = torch.arange(10.0)[:, None]  # batches of 4, 4, 2 in shuffled order
    model = nn.Linear(1, 1)
    seen_steps, seen_epochs = [], []

    def step(batch, i):
        return {"size": float(len(batch)), "sum": batch.sum().item()}

    h = training.train(step, data, [model], epochs=3, batch_size=4, device="cpu", progress=False,
                       validate=lambda: {"val": 7.0}, on_step=lambda i, v: seen_steps.append(i),
                       on_epoch=lambda e, means: seen_epochs.append((e, dict(means))))
    assert seen_steps == list(range(1, 10)) and [e for e, _ in seen_epochs] == [1, 2, 3]
    assert h.step["size"] == [4.0, 4.0, 2.0] * 3 and len(h.step["sum"]) == 9
    # epoch means weight each batch by its size: sizes (4*4 + 4*4 + 2*2) / 10, sums 45 * (each example's weight) / 10
    assert h.epoch["size"] == pytest.approx([3.6] * 3) and h.epoch["val"] == [7.0] * 3
    assert sum(h.step["sum"][:3]) == 45.0  # every example once per epoch
    assert seen_epochs[0][1] == {k: v[0] for k, v in h.epoch.items()}
    assert h.epochs == 3 and not model.training and h.train_loss == []  # train() leaves fit's fields alone


def test_fit_keeps_its_history_fields_as_views_of_the_named_series():
    model, loss, data = _regression()
    h = fit(model, loss, data, val_data=data[:32], epochs=3, device="cpu", progress=False)
    assert h.train_loss == h.epoch["loss"] and h.val_loss == h.epoch["val_loss"] and h.step_loss == h.step["loss"]


class _Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))


def test_fit_adversarial_steps_the_critic_every_batch_and_the_generator_every_n_critic():
    gen, critic = _Counting(), _Counting()
    calls, g_hooks = [], []

    def critic_loss(g, d, batch):
        calls.append("critic")
        return (d.w - 1).pow(2).sum() + 0 * g.w.sum()  # pulls the critic's weight to 1

    def generator_loss(g, d, batch):
        calls.append("generator")
        return (g.w + 2).pow(2).sum() + 10 * d.w.sum()  # pulls the generator's to -2; a gradient reaches the critic too

    data = torch.randn(40, 3)
    h = training.fit_adversarial(gen, critic, generator_loss, critic_loss, data, epochs=2, batch_size=4, n_critic=5,
                                 lr=0.05, device="cpu", progress=False,
                                 on_step=lambda g, i: g_hooks.append((g is gen, i)))
    assert calls == (["critic"] * 4 + ["critic", "generator"]) * 4  # 20 batches: the generator after every 5th
    assert len(h.step["critic_loss"]) == 20 and len(h.step["generator_loss"]) == 4
    assert g_hooks == [(True, i) for i in range(1, 5)]
    assert set(h.epoch) == {"critic_loss", "generator_loss"} and h.epochs == 2
    assert critic.w.item() > 0.5  # 20 critic steps towards 1: the generator's loss never stepped the critic
    assert gen.w.item() == pytest.approx(-4 * 0.05, abs=0.03)  # 4 Adam steps of about lr each towards -2
    assert not gen.training and not critic.training
    with pytest.raises(ValueError, match="n_critic must be a positive integer"):
        training.fit_adversarial(gen, critic, generator_loss, critic_loss, data, epochs=1, n_critic=0, progress=False)
    with pytest.raises(ValueError, match="critic_loss must return a scalar tensor"):
        training.fit_adversarial(gen, critic, generator_loss, lambda g, d, b: d.w, data, epochs=1, progress=False)


def _gaussian_gan(seed: int):
    """A generator a z + b against a logistic critic on (x, x^2) (the log density ratio of two Gaussians is quadratic)."""
    import torch.nn.functional as F

    class Quadratic(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 1)

        def forward(self, x):
            return self.lin(torch.cat([x, x.pow(2) / 10], dim=1))

    def critic_loss(g, d, real):  # -[log D(x) + log(1 - D(G(z)))], the fake detached
        fake = g(torch.randn(len(real), 1)).detach()
        return (F.binary_cross_entropy_with_logits(d(real), torch.ones(len(real), 1))
                + F.binary_cross_entropy_with_logits(d(fake), torch.zeros(len(real), 1)))

    def generator_loss(g, d, real):  # the non-saturating -log D(G(z))
        return F.binary_cross_entropy_with_logits(d(g(torch.randn(len(real), 1))), torch.ones(len(real), 1))

    torch.manual_seed(seed)
    return nn.Linear(1, 1), Quadratic(), generator_loss, critic_loss


def test_fit_adversarial_trains_a_gan_onto_the_data_mean_reproducibly():
    real = 3 + 0.5 * torch.randn(2048, 1, generator=torch.Generator().manual_seed(1))
    means = []
    for _ in range(2):
        gen, critic, g_loss, d_loss = _gaussian_gan(0)
        with torch.no_grad():
            start = gen(torch.randn(1000, 1)).mean().item()
        h = training.fit_adversarial(gen, critic, g_loss, d_loss, real, epochs=10, batch_size=128, lr=2e-2,
                                     seed=3, device="cpu", progress=False)
        with torch.no_grad():
            means.append(gen(torch.randn(10_000, 1, generator=torch.Generator().manual_seed(2))).mean().item())
    assert abs(start) < 1.5 and abs(means[0] - 3.0) < 0.35, (start, means)  # moved from about 0 onto the data
    assert means[0] == means[1] and len(h.step["generator_loss"]) == 160  # the same seed, the same run
