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
    loss = lambda m, b: (m(b[:, :4]).squeeze(1) - b[:, 4]).pow(2).mean()  # noqa: E731
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
    tuple_loss = lambda m, b: (m(b[0]).squeeze(1) - b[1]).pow(2).mean()  # noqa: E731
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
