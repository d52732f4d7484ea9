"""One scoreboard for every model of the course, read from the Reports the executed solutions store.

Each lesson's solution displays a `Report` of what it measured (`core.records`); `ROWS` says, for each
model, which of its values fill which column. Nothing is recomputed here: the table is the lessons' own
figures, at their default settings, from the notebooks as committed (`course build --execute`).

Columns: the likelihood in nats per image and bits per dimension (with the bound it is), the Frechet
distance over its real floor, KID, precision and recall (lesson 06's sample-quality figures against the
test digits), the nearest-training-neighbour ratio (median distance of the samples to their nearest
training digit over the test digits' own: near 1 is new handwriting, near 0 copies), the training time
and the time to sample 100 digits. A model whose lesson does not measure a column shows "-".

No torch here (the `course` command starts without it); matplotlib is imported only to draw.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..core import records

PIXELS = 64  # the 8 x 8 digits
LN2 = math.log(2)


@dataclass(frozen=True)
class Row:
    """Where one model's figures live in its lesson's Report.

    Attributes:
        model, lesson: the row's names ("DDPM, 1000 steps", "06").
        nats, bound: the key of -log p(x) in nats per test digit, and which bound it is.
        quality: the prefix of the `SampleQuality` keys (fd_ratio, kid, precision, recall), "" for none.
        nn: (key of the samples' median nearest-training distance, key of the reference's), or None.
        train: keys whose seconds add up to the training time.
        sample: (key of the sampling seconds, key of the number of digits it drew) or ("key", None) for a
            value already in seconds per 100 digits.
        fd, precision, recall, kid: explicit keys where they are not quality-prefixed (lesson 07's sweep).
        samples_if: (key, value): the sample columns count only when the Report's key has that value
            (lesson 05 scores the samples of its best flow only).
    """

    model: str
    lesson: str
    nats: str | None = None
    bound: str = ""
    quality: str | None = None
    nn: tuple[str, str] | None = None
    train: tuple[str, ...] = ()
    sample: tuple[str, str | None] | None = None
    fd: str | None = None
    kid: str | None = None
    precision: str | None = None
    recall: str | None = None
    samples_if: tuple[str, str] | None = None
    note: str = field(default="", compare=False)

    def has_samples(self, report: dict) -> bool:
        return self.samples_if is None or report.get(self.samples_if[0]) == self.samples_if[1]

    def keys(self, report: dict) -> list[str]:
        """Every key this row reads (lesson 07's best-scale keys depend on the stored best scale)."""
        keys = [k for k in (self.nats, *self.train) if k]
        if not self.has_samples(report):
            return keys
        keys += [k for k in (self.fd, self.kid, self.precision, self.recall) if k]
        if self.quality is not None:
            keys += [f"{self.quality}{name}" for name in ("fd_ratio", "kid", "precision", "recall")]
        keys += list(self.nn or ()) + [k for k in (self.sample or ()) if k]
        return [resolve(k, report) for k in keys]


def resolve(key: str, report: dict) -> str:
    """A key with "{pixel_best}" or "{latent_best}" in it names the stored best guidance scale, as in "s1_5"."""
    for space in ("pixel", "latent"):
        tag = "{" + space + "_best}"
        if tag in key and f"{space}_best_scale" in report:
            key = key.replace(tag, "s" + f"{report[f'{space}_best_scale']:g}".replace(".", "_"))
    return key


ROWS = (
    Row("VAE (conv, 16 latents)", "02", nats="test_iw_nll_nats", bound="IW, K = 1000", quality="vae_",
        nn=("nn_median_samples", "nn_median_test"), train=("train_seconds",), sample=("sample_seconds", "n_samples")),
    Row("VQ-VAE + transformer prior", "03", nats="vq_bound_nats", bound="two-part", quality="prior_",
        nn=("nn_median_samples", "nn_median_test"), train=("vq_seconds", "prior_seconds"),
        sample=("sample_seconds", "n_samples")),
    Row("Gumbel-softmax VAE (straight-through)", "03", nats="gumbel_straight_through_iw", bound="IW, K = 100"),
    Row("conditional GAN", "04", quality="gan_", nn=("nn_median_samples", "nn_median_test"),
        train=("digits_train_seconds",), sample=("sample_seconds", "n_samples")),
    Row("RealNVP", "05", nats="realnvp_nats", bound="dequantisation", quality="flow_",
        nn=("nn_median_samples", "nn_median_test"), train=("realnvp_seconds",), sample=("sample_seconds", "n_samples"),
        samples_if=("best", "RealNVP"), note="the lesson scores the samples of its best flow"),
    Row("MAF", "05", nats="maf_nats", bound="dequantisation", quality="flow_",
        nn=("nn_median_samples", "nn_median_test"), train=("maf_seconds",), sample=("sample_seconds", "n_samples"),
        samples_if=("best", "MAF")),
    Row("DDPM, 1000 steps", "06", nats="bound_nats", bound="variational", quality="ddpm_",
        nn=("nn_median_samples", "nn_median_test"), train=("train_seconds",), sample=("ddpm_seconds", "n_samples")),
    Row("DDIM, 50 steps (same network)", "06", nats="bound_nats", bound="variational", quality="ddim_",
        train=("train_seconds",), sample=("ddim_seconds", "n_samples")),
    Row("class-conditional U-Net, guided", "07", fd="pixel_best_fd_ratio", kid="pixel_best_kid",
        precision="pixel_{pixel_best}_precision", recall="pixel_{pixel_best}_recall",
        nn=("pixel_best_nn_median", "nn_median_test"), train=("pixel_train_seconds",),
        sample=("pixel_seconds_per_100", None), note="at its best guidance scale"),
    Row("latent diffusion (AE + MLP), guided", "07", fd="latent_best_fd_ratio", kid="latent_best_kid",
        precision="latent_{latent_best}_precision", recall="latent_{latent_best}_recall",
        nn=("latent_best_nn_median", "nn_median_test"), train=("ae_train_seconds", "latent_train_seconds"),
        sample=("latent_seconds_per_100", None), note="at its best guidance scale; training includes the autoencoder"),
)
COLUMNS = ("model", "lesson", "nats", "bits/dim", "bound", "FD / floor", "KID", "precision", "recall", "NN ratio",
           "training s", "s per 100 samples")


def reports(root: Path) -> dict[str, dict]:
    """Each lesson's stored Report (the last one of its executed solution), by lesson number."""
    from .build import find_lessons

    found = {}
    for number, lesson in find_lessons(root).items():
        path = lesson.path("solutions", ".ipynb")
        stored = records.read(json.loads(path.read_text()), records.REPORT_MIME) if path.exists() else []
        if stored:
            found[number] = stored[-1]
    return found


def missing(reports_by_lesson: dict[str, dict]) -> dict[str, list[str]]:
    """For each row, the keys its lesson's Report lacks (an empty dict: everything is stored)."""
    gaps = {}
    for row in ROWS:
        report = reports_by_lesson.get(row.lesson)
        lacking = ["the whole Report"] if report is None else [k for k in row.keys(report) if k not in report]
        if lacking:
            gaps[f"{row.lesson} {row.model}"] = lacking
    return gaps


def values(row: Row, report: dict) -> dict[str, float | str | None]:
    """One row's figures (None where the lesson does not measure them)."""
    if not row.has_samples(report):
        row = Row(row.model, row.lesson, nats=row.nats, bound=row.bound, train=row.train)
    get = lambda key: None if key is None else report.get(resolve(key, report))
    q = (lambda name: get(f"{row.quality}{name}")) if row.quality is not None else (lambda name: None)
    nats = get(row.nats)
    nn = None
    if row.nn is not None and get(row.nn[0]) is not None and get(row.nn[1]):
        nn = get(row.nn[0]) / get(row.nn[1])
    sample = None
    if row.sample is not None:
        seconds, count = get(row.sample[0]), get(row.sample[1]) if row.sample[1] else 100.0
        sample = None if seconds is None or not count else 100.0 * seconds / count
    train = [get(k) for k in row.train]
    return {
        "model": row.model, "lesson": row.lesson, "nats": nats,
        "bits/dim": None if nats is None else nats / (PIXELS * LN2), "bound": row.bound or None,
        "FD / floor": get(row.fd) if row.fd else q("fd_ratio"), "KID": get(row.kid) if row.kid else q("kid"),
        "precision": get(row.precision) if row.precision else q("precision"),
        "recall": get(row.recall) if row.recall else q("recall"), "NN ratio": nn,
        "training s": sum(train) if train and None not in train else None, "s per 100 samples": sample,
    }


def table(reports_by_lesson: dict[str, dict]) -> list[dict]:
    """Every row whose lesson stored a Report."""
    return [values(row, reports_by_lesson[row.lesson]) for row in ROWS if row.lesson in reports_by_lesson]


_FORMATS = {"nats": ".1f", "bits/dim": ".3f", "FD / floor": ".2f", "KID": ".4f", "precision": ".2f", "recall": ".2f",
            "NN ratio": ".2f", "training s": ".0f", "s per 100 samples": ".3g"}


def cell(name: str, value) -> str:
    if value is None:
        return "-"
    return format(value, _FORMATS[name]) if name in _FORMATS else str(value)


def markdown(rows: list[dict]) -> str:
    """The table in Markdown (what the README shows)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(c, r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def figure(rows: list[dict], path: Path) -> Path:
    """Quality against sampling time: FD / floor (log) over seconds per 100 samples (log), one point per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r for r in rows if r["FD / floor"] is not None and r["s per 100 samples"] is not None]
    fig, ax = plt.subplots(figsize=(8.0, 4.8))
    for r in points:
        ax.scatter(r["s per 100 samples"], r["FD / floor"], s=40, zorder=3)
        ax.annotate(f"{r['model']} ({r['lesson']})", (r["s per 100 samples"], r["FD / floor"]), fontsize=8,
                    xytext=(6, 4), textcoords="offset points")
    ax.axhline(1.0, color="0.6", ls=":", lw=1, label="real digits (the floor)")
    ax.set(xscale="log", yscale="log", xlabel="seconds to sample 100 digits (2-core CPU)",
           ylabel="Frechet distance / real floor (lower is better)", title="every model of the course: quality against speed")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.yaxis.set_major_formatter(ScalarFormatter())  # 1, 2, 3 rather than 10^0, 2 x 10^0
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks([0.8, 1, 1.5, 2, 3, 4])
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(True, which="both", color="0.92")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
