"""`course scoreboard`: every model in one table, read from the executed solutions' Reports."""

import math

import pytest

from course_lib.tooling import cli
from course_lib.tooling import scoreboard as sb
from course_lib.tooling.build import find_lessons, find_root

ROOT = find_root()


def test_every_lesson_stores_the_figures_the_scoreboard_needs():
    stored = sb.reports(ROOT)
    generative = {n for n in find_lessons(ROOT) if n != "01"}  # lesson 01's autoencoder is not a generative model
    assert generative <= set(stored), f"no Report stored by lessons {sorted(generative - set(stored))}"
    assert generative <= {row.lesson for row in sb.ROWS}, "a lesson without a row on the scoreboard"
    assert sb.missing(stored) == {}, "run `course build --execute NN` after adding the figures to the lesson's Report"


def test_every_row_has_a_likelihood_or_samples_and_its_times():
    for row in sb.table(sb.reports(ROOT)):
        assert row["nats"] is not None or row["FD / floor"] is not None, row["model"]
        if row["FD / floor"] is not None:
            assert row["s per 100 samples"] is not None and row["s per 100 samples"] > 0, row["model"]
            assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1, row["model"]


def _report(**values):
    return {"lesson": "06", **values}


def test_values_follow_the_keys_and_units():
    row = sb.Row("a model", "06", nats="nll", bound="variational", quality="q_", nn=("nn_s", "nn_t"),
                 train=("t1", "t2"), sample=("seconds", "n"))
    report = _report(nll=88.0, q_fd_ratio=1.5, q_kid=0.01, q_precision=0.7, q_recall=0.8, nn_s=1.0, nn_t=2.0,
                     t1=10.0, t2=5.0, seconds=2.0, n=400.0)
    v = sb.values(row, report)
    assert v["bits/dim"] == pytest.approx(88.0 / (64 * math.log(2)))  # the VAE's 88.86 nats are 2.003 bits/dim
    assert (v["FD / floor"], v["KID"], v["precision"], v["recall"]) == (1.5, 0.01, 0.7, 0.8)
    assert v["NN ratio"] == 0.5 and v["training s"] == 15.0 and v["s per 100 samples"] == pytest.approx(0.5)


def test_a_best_scale_key_names_the_stored_scale():
    assert sb.resolve("pixel_{pixel_best}_recall", {"pixel_best_scale": 1.5}) == "pixel_s1_5_recall"
    assert sb.resolve("latent_{latent_best}_recall", {"latent_best_scale": 1.0}) == "latent_s1_recall"


def test_sample_columns_follow_the_model_they_measure():
    realnvp, maf = (row for row in sb.ROWS if row.lesson == "05")
    report = {"best": "MAF", "realnvp_nats": 95.0, "maf_nats": 99.0, "realnvp_seconds": 1.0, "maf_seconds": 2.0,
              "flow_fd_ratio": 2.0, "flow_kid": 0.1, "flow_precision": 0.5, "flow_recall": 0.8, "nn_median_samples": 1.0,
              "nn_median_test": 1.0, "sample_seconds": 1.0, "n_samples": 100.0}
    assert sb.values(realnvp, report)["FD / floor"] is None and sb.values(maf, report)["FD / floor"] == 2.0
    assert "flow_fd_ratio" not in realnvp.keys(report)


def test_the_markdown_table_shows_a_dash_where_a_lesson_does_not_measure():
    text = sb.markdown([sb.values(sb.Row("m", "02", nats="n"), {"n": 90.0})])
    header, rule, line = text.splitlines()
    assert header.count("|") == rule.count("|") == line.count("|") == len(sb.COLUMNS) + 1
    assert "| 90.0 | 2.029 |" in line and "| - |" in line


def test_course_scoreboard_prints_the_table_and_writes_the_figure(tmp_path, capsys):
    assert cli.main(["scoreboard", "--out", str(tmp_path), "--check"]) == 0
    printed = capsys.readouterr().out
    assert "| model | lesson | nats |" in printed and "DDPM, 1000 steps" in printed
    assert (tmp_path / "scoreboard.md").read_text().startswith("| model |")
    assert (tmp_path / "scoreboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_readme_shows_the_current_scoreboard():
    readme = (ROOT / "README.md").read_text()
    assert sb.markdown(sb.table(sb.reports(ROOT))) in readme, "run `course scoreboard --out docs` and paste the table"
    assert "docs/scoreboard.png" in readme and (ROOT / "docs" / "scoreboard.png").exists()
