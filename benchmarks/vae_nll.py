"""Lesson 02's likelihood benchmark: run the solution at its default settings, print its figures.

    python benchmarks/vae_nll.py                 # DEVICE="auto"
    python benchmarks/vae_nll.py --device cpu -p SEED 1

The figures are read from the Report the notebook itself displays (course_lib.metrics), so they are
the lesson's own numbers: test negative log-likelihood with K importance samples (nats per image and
bits per dimension), the test ELBO, and the reference (92.9 nats), plus the notebook's runtime.
"""

from __future__ import annotations

import sys
from pathlib import Path

from course_lib.metrics import read_reports

sys.path.insert(0, str(Path(__file__).parent))
from notebook_runtimes import benchmark_args, machine, run_solution


def main(argv: list[str] | None = None) -> int:
    params = benchmark_args(__doc__.splitlines()[0], argv)
    notebook, runtime = run_solution("02", params)
    (report,) = read_reports(notebook)
    print(f"machine: {machine()}")
    print(f"parameters: {params}")
    print(f"test NLL (K={int(report['importance_samples'])}): {report['test_iw_nll_nats']:.2f} nats/image "
          f"= {report['test_iw_nll_bits_per_dim']:.4f} bits/dim")
    print(f"test -ELBO: {-report['test_elbo_nats']:.2f} nats/image (the reference's: 96.3)")
    gain = report["reference_nll_nats"] - report["test_iw_nll_nats"]
    print(f"reference: {report['reference_nll_nats']:.1f} nats -> {gain:+.2f} nats better")
    print(f"VAE training: {report['train_seconds']:.0f} s; IW evaluation: {report['eval_seconds']:.0f} s; "
          f"whole notebook: {runtime:.0f} s")
    target_ok = report["test_iw_nll_nats"] <= 90.0
    print(f"target (<= 90 nats): {'met' if target_ok else 'NOT met'}")
    return 0 if target_ok else 1


if __name__ == "__main__":
    sys.exit(main())
