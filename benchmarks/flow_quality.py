"""Lesson 05's benchmark: run the solution at three seeds, print what each run measured and check the targets.

    python benchmarks/flow_quality.py                  # seeds 0, 1, 2; DEVICE="auto"
    python benchmarks/flow_quality.py --seeds 0 --device cpu

Every figure is read from the Report the notebook itself displays, so they are the lesson's own
numbers: each seed is one whole run of the solution at its default settings (papermill, a fresh
kernel; `-p SEED s`), which also times the notebook.
- the digits test split in nats per image for the three digit flows (RealNVP, MAF, the plain
  RealNVP peer): the one-draw dequantisation bound averaged over 10 draws, and the 10-draw
  importance-weighted bound, next to lesson 02's VAE;
- max |f^-1(f(y)) - y| on the dequantised test digits for every trained flow;
- MAF and IAF (the same networks) timed side by side on density and sampling;
- the best flow's samples: Frechet distance with its real floor, and the nearest-training-digit check;
- the 2-D flows' held-out NLL.
The targets of issue 13 are checked at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from notebook_runtimes import check_targets, machine, run_seeds, seeds_parser

RUNTIME_TARGET_S = 250  # 5 minutes with a 20 % margin, on the project's 2-core machine
VAE_NATS = 88.86  # lesson 02 (benchmarks/vae_nll.py)
MODELS = {"RealNVP": "realnvp", "MAF": "maf", "plain RealNVP": "plain_realnvp"}


def main(argv: list[str] | None = None) -> int:
    parser = seeds_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    seeds = args.seeds
    reports, runtimes = run_seeds("05", seeds, args.device)
    print(f"machine: {machine()}")

    print(f"\ndigits test split (447 images), nats per image: one-draw bound (mean of 10 draws) / IW-10; "
          f"lesson 02's VAE {VAE_NATS}")
    print(f"{'model':<15}" + "".join(f"{'seed ' + str(s):>22}" for s in seeds) + f"{'best epoch':>14}{'train s':>9}"
          f"{'max inv. err':>14}")
    for name, key in MODELS.items():
        cells = "".join(f"{reports[s][key + '_nats']:>12.1f} / {reports[s][key + '_iw_nats']:>6.1f}" for s in seeds)
        epochs = ",".join(str(int(reports[s][key + "_best_epoch"])) for s in seeds)
        seconds = sum(reports[s][key + "_seconds"] for s in seeds) / len(seeds)
        err = max(reports[s][key + "_inversion_error"] for s in seeds)
        print(f"{name:<15}{cells}{epochs:>14}{seconds:>9.0f}{err:>14.1e}")

    print("\nMAF and IAF on the same networks, 447 digits, ms (seed by seed)")
    for what in ("maf_density", "iaf_density", "maf_sampling", "iaf_sampling"):
        print(f"  {what:<13}" + "".join(f"{1000 * reports[s][what + '_seconds']:>10.1f}" for s in seeds))
    sampling = [reports[s]["maf_sampling_seconds"] / reports[s]["iaf_sampling_seconds"] for s in seeds]
    density = [reports[s]["iaf_density_seconds"] / reports[s]["maf_density_seconds"] for s in seeds]

    print(f"\nbest flow's samples ({int(reports[seeds[0]]['n_samples'])}, T = 1) against the test split")
    print(f"{'seed':>4} {'best':<10}{'FD':>8}{'floor':>8}{'x floor':>9}{'prec.':>7}{'(real)':>7}{'recall':>8}"
          f"{'(real)':>7}{'NN med.':>9}{'(test)':>7}")
    for s in seeds:
        r = reports[s]
        print(f"{s:>4} {r['best']:<10}{r['flow_fd']:>8.3f}{r['flow_fd_floor']:>8.3f}{r['flow_fd_ratio']:>9.2f}"
              f"{r['flow_precision']:>7.2f}{r['flow_precision_floor']:>7.2f}{r['flow_recall']:>8.2f}"
              f"{r['flow_recall_floor']:>7.2f}{r['nn_median_samples']:>9.2f}{r['nn_median_test']:>7.2f}")

    print("\n2-D flows, held-out NLL in nats (seed by seed)")
    toys = sorted({k for k in reports[seeds[0]] if k.startswith("toy: ")})
    for k in toys:
        print(f"  {k[len('toy: '):-len(': nll')]:<26}" + "".join(f"{reports[s][k]:>8.3f}" for s in seeds))

    best = [min(reports[s][k + "_nats"] for k in ("realnvp", "maf")) for s in seeds]
    gaps = [reports[s]["maf_nats"] - best[i] for i, s in enumerate(seeds)]
    errors = [reports[s][k + "_inversion_error"] for s in seeds for k in MODELS.values()]
    targets = {
        f"best flow <= 100 nats on every seed ({', '.join(f'{v:.1f}' for v in best)})": max(best) <= 100,
        f"MAF within 5 nats of the best flow ({', '.join(f'{v:.1f}' for v in gaps)})": max(gaps) <= 5,
        f"IAF sampling >= 10x faster than MAF's ({', '.join(f'{v:.0f}' for v in sampling)})": min(sampling) >= 10,
        f"MAF density >= 10x faster than IAF's ({', '.join(f'{v:.0f}' for v in density)})": min(density) >= 10,
        f"max |f^-1(f(y)) - y| <= 1e-4 for every flow (worst {max(errors):.1e})": max(errors) <= 1e-4,
        f"notebook <= {RUNTIME_TARGET_S} s ({', '.join(f'{runtimes[s]:.0f}' for s in seeds)})":
            max(runtimes.values()) <= RUNTIME_TARGET_S,
    }
    return check_targets(targets)


if __name__ == "__main__":
    sys.exit(main())
