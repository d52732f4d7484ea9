"""Tests for course_lib.core: the argument checks' one phrasing, devices, COURSE_FAST and the records reader."""

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.core import devices, env, records
from course_lib.core import validation as check


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: check.integer(0, "steps", lo=1), "steps must be a positive integer, got 0"),
        (lambda: check.integer(-1, "n", lo=0), "n must be a non-negative integer, got -1"),
        (lambda: check.integer(2.0, "k", lo=1), "k must be a positive integer, got 2.0"),
        (lambda: check.integer(True, "k", lo=1), "k must be a positive integer, got True"),
        (lambda: check.integer(12, "t", 0, 9, what="an integer step", hint=" (T = 10)"),
         "t must be an integer step in 0 .. 9, got 12 (T = 10)"),
        (lambda: check.integer(1, "levels", lo=2), "levels must be an integer >= 2, got 1"),
        (lambda: check.number(-0.1, "sigma", lo=0), "sigma must be a number >= 0, got -0.1"),
        (lambda: check.number(1.0, "decay", lo=0, hi=1, hi_open=True), "decay must be a number in [0, 1), got 1.0"),
        (lambda: check.number(float("nan"), "eta", lo=0), "eta must be a number >= 0, got nan"),
        (lambda: check.number("1", "eta", lo=0), "eta must be a number >= 0, got '1'"),
        (lambda: check.choice("gpu", "mode", ("linear", "slerp")), "mode must be one of ('linear', 'slerp'), got 'gpu'"),
        (lambda: check.points(np.zeros((4, 3)), "z"), "z must be of shape (N, 2), got shape (4, 3); project it to 2-D"),
        (lambda: check.labels([1, 2], 3), "labels must be of shape (3,), one per point, got shape (2,)"),
        (lambda: check.lim((1, 0, 0, 1)), "lim must be a box with xmin < xmax and ymin < ymax, got (1.0, 0.0, 0.0, 1.0)"),
        (lambda: check.lim("abc"), "lim must be four numbers (xmin, xmax, ymin, ymax), got 'abc'"),
        (lambda: check.vector(torch.zeros(3), "z", d=2), "z must be one latent vector of shape (2,), got shape (3,)"),
        (lambda: check.check_shape(torch.zeros(2, 3), "x", "(B, 4)", False), "x must be of shape (B, 4), got (2, 3)"),
        (lambda: check.same_shape(torch.zeros(2), torch.zeros(3), "x0 and noise"),
         "x0 and noise must have the same shape, got (2,) and (3,)"),
    ],
)
def test_every_check_says_name_must_be_expected_got_value(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value).startswith(message)


def test_checks_return_what_they_accepted():
    assert check.integer(np.int64(3), "k", lo=1) == 3 and type(check.integer(np.int64(3), "k", lo=1)) is int
    assert check.number(1, "x", lo=0) == 1.0 and isinstance(check.number(1, "x"), float)
    assert check.choice("a", "x", ("a", "b")) == "a"
    assert check.points(torch.ones(5, 2)).dtype == np.float32
    assert check.lim([0, 1, -1, 2]) == (0.0, 1.0, -1.0, 2.0)


# ----------------------------------------------------------------------------- devices
def test_model_device_reads_parameters_then_buffers_and_defaults_for_functions():
    assert devices.model_device(nn.Linear(2, 2)) == torch.device("cpu")
    with_buffer = nn.Module()
    with_buffer.register_buffer("table", torch.zeros(3, dtype=torch.float64))
    assert devices.model_device(with_buffer) == torch.device("cpu")
    assert devices.model_dtype(with_buffer) == torch.float64
    assert devices.model_device(lambda x, t: x, default="meta") == torch.device("meta")  # a plain function
    assert devices.model_device(nn.ReLU()) == torch.device("cpu")  # nothing to ask: the default
    assert devices.model_dtype(nn.Linear(2, 2).double()) == torch.float64
    assert devices.model_dtype(lambda x: x) == torch.get_default_dtype()


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="MPS is not available here"):
        devices.resolve_device("mps")
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert devices.resolve_device("auto") == torch.device("mps")
    assert devices.resolve_device("mps") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.resolve_device("auto") == torch.device("cuda")
    with pytest.raises(TypeError, match="device must be a string"):
        devices.resolve_device(3)


# ----------------------------------------------------------------------------- env
@pytest.mark.parametrize("value, fast", [("1", True), ("yes", True), ("0", False), ("", False), ("false", False)])
def test_course_fast(monkeypatch, value, fast):
    monkeypatch.setenv(env.FAST_VARIABLE, value)
    assert env.fast_mode() is fast
    assert env.fast(100, 2) == (2 if fast else 100)


# ----------------------------------------------------------------------------- records
def _notebook(*datas):
    cells = [{"cell_type": "markdown", "source": "text"}]
    cells += [{"cell_type": "code", "outputs": [{"output_type": "display_data", "data": d}]} for d in datas]
    return {"cells": cells}


def test_one_reader_for_check_records_and_reports():
    report = records.Report("06", fd=0.61, sampler="ddpm")
    bundle = report._repr_mimebundle_()
    assert "fd" in bundle["text/plain"] and bundle[records.REPORT_MIME] == {"lesson": "06", "fd": 0.61, "sampler": "ddpm"}
    check_record = {"exercise": "01.f", "status": "passed"}
    nb = _notebook({"text/plain": "x"}, bundle, {records.CHECK_MIME: check_record},
                   {records.CHECK_MIME: '{"exercise": "01.g", "status": "failed"}'})  # stored as text by some front ends
    assert records.read(nb, records.REPORT_MIME) == [{"lesson": "06", "fd": 0.61, "sampler": "ddpm"}]
    assert [r["exercise"] for r in records.read(nb, records.CHECK_MIME)] == ["01.f", "01.g"]
    with pytest.raises(ValueError, match="mime must be one of"):
        records.read(nb, "text/plain")
    with pytest.raises(ValueError, match="at least one named value"):
        records.Report("06")


def test_the_lessons_readers_are_the_core_reader():
    from course_lib import checks, metrics

    nb = _notebook(records.Report("02", nll=88.9)._repr_mimebundle_(), {records.CHECK_MIME: {"exercise": "02.a"}})
    assert metrics.read_reports(nb) == records.read(nb, records.REPORT_MIME)
    assert checks.read_records(nb) == records.read(nb, records.CHECK_MIME)
    assert metrics.Report is records.Report and checks.CHECK_MIME == records.CHECK_MIME


def test_records_and_env_load_without_torch():
    import subprocess
    import sys

    code = ("import sys, course_lib.core.records, course_lib.core.env; "
            "print(sorted(m for m in ('torch', 'numpy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
