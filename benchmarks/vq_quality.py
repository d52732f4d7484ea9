"""Lesson 03's benchmark: run the solution at three seeds, print what each run measured and check the targets.

    python benchmarks/vq_quality.py                  # seeds 0, 1, 2; DEVICE="auto"
    python benchmarks/vq_quality.py --seeds 0 --device cpu

Every figure is read from the Report the notebook itself displays, so they are the lesson's own
numbers: each seed is one whole run of the solution at its default settings (papermill, a fresh
kernel; `-p SEED s`), which also times the notebook.
- the main VQ-VAE (K = 512, EMA + dead-code restarts, k-means initialisation): codes used on the
  training split, perplexity over the test split, test PSNR;
- the codebook-health runs (random initialisation; K = 64 and 512; loss, EMA, EMA + restart);
- samples of the prior over tokens: Frechet distance with its real floor, precision and recall, and
  the nearest-training-digit check;
- likelihoods in nats per test digit: the VQ-VAE's two-part bound, and for the Gumbel-softmax VAE
  (straight-through and fully relaxed training) its training objective, the discrete model's ELBO and
  its IW-100 bound, next to lesson 02's VAE.
The targets of issue 11 are checked at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from notebook_runtimes import check_targets, machine, run_seeds, seeds_parser

RUNTIME_TARGET_S = 250  # 5 minutes with a 20 % margin, on the project's 2-core machine
VAE_NATS = 88.86  # lesson 02 (benchmarks/vae_nll.py)
RULES = ("loss", "ema", "ema_restart")


def main(argv: list[str] | None = None) -> int:
    parser = seeds_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    seeds = args.seeds
    reports, runtimes = run_seeds("03", seeds, args.device)
    print(f"machine: {machine()}")

    print(f"\nmain VQ-VAE (K = {int(reports[seeds[0]]['num_codes'])}, EMA + restart, k-means init)")
    print(f"{'seed':>4}{'used (train)':>14}{'perplexity (test)':>19}{'PSNR (test)':>13}{'best epoch':>12}{'train s':>9}")
    for s in seeds:
        r = reports[s]
        print(f"{s:>4}{r['usage_train']:>14.1%}{r['perplexity_test']:>19.0f}{r['test_psnr']:>10.2f} dB"
              f"{int(r['best_epoch']):>12}{r['vq_seconds']:>9.0f}")

    print("\ncodebook health from a random initialisation: codes used (train) / test perplexity / test PSNR")
    sizes = sorted({int(k.split("_")[1]) for k in reports[seeds[0]] if k.startswith("health_")})
    for size in sizes:
        for rule in RULES:
            key = f"health_{size}_{rule}"
            cells = "".join(f"{reports[s][key + '_usage']:>9.1%} /{reports[s][key + '_perplexity']:>5.0f} /"
                            f"{reports[s][key + '_psnr']:>6.2f}" for s in seeds)
            print(f"  K = {size:<4}{rule:<12}{cells}")

    print(f"\nprior samples ({int(reports[seeds[0]]['n_samples'])}) against the test split")
    print(f"{'seed':>4}{'FD':>8}{'floor':>8}{'x floor':>9}{'prec.':>7}{'(real)':>7}{'recall':>8}{'(real)':>7}"
          f"{'NN med.':>9}{'(test)':>7}{'prior s':>9}{'sample s':>10}")
    for s in seeds:
        r = reports[s]
        print(f"{s:>4}{r['prior_fd']:>8.3f}{r['prior_fd_floor']:>8.3f}{r['prior_fd_ratio']:>9.2f}"
              f"{r['prior_precision']:>7.2f}{r['prior_precision_floor']:>7.2f}{r['prior_recall']:>8.2f}"
              f"{r['prior_recall_floor']:>7.2f}{r['nn_median_samples']:>9.2f}{r['nn_median_test']:>7.2f}"
              f"{r['prior_seconds']:>9.0f}{r['sample_seconds']:>10.2f}")

    print(f"\nnats per test digit (lesson 02's VAE: {VAE_NATS})")
    print(f"{'seed':>4}{'VQ bound':>10}{'= recon':>9}{'+ prior':>9}   Gumbel VAE: objective / -ELBO / IW-100, "
          "straight-through | relaxed")
    for s in seeds:
        r = reports[s]
        gumbel = " | ".join(" / ".join(f"{r[f'gumbel_{run}_{what}']:.1f}" for what in ("objective", "elbo", "iw"))
                            for run in ("straight_through", "relaxed"))
        print(f"{s:>4}{r['vq_bound_nats']:>10.1f}{r['recon_nats']:>9.1f}{r['prior_nats']:>9.1f}   {gumbel}")

    main_512 = [reports[s] for s in seeds]
    big = max(sizes)
    collapse = [reports[s][f"health_{big}_loss_usage"] for s in seeds]
    ratios = [r["prior_fd_ratio"] for r in main_512]
    copies = [r["nn_median_samples"] / r["nn_median_test"] for r in main_512]

    def listed(key: str, fmt: str) -> str:
        return ", ".join(format(r[key], fmt) for r in main_512)

    targets = {
        f"K = 512, EMA + restart: >= 95 % of codes used on train ({listed('usage_train', '.1%')})":
            min(r["usage_train"] for r in main_512) >= 0.95,
        f"test perplexity >= 350 ({listed('perplexity_test', '.0f')})":
            min(r["perplexity_test"] for r in main_512) >= 350,
        f"test PSNR >= 26 dB ({listed('test_psnr', '.2f')})":
            min(r["test_psnr"] for r in main_512) >= 26,
        f"a loss-trained codebook of {big} collapses, < 20 % used ({', '.join(f'{v:.1%}' for v in collapse)})":
            max(collapse) < 0.20,
        f"prior samples <= 2.0x the FD floor ({', '.join(f'{v:.2f}' for v in ratios)})": max(ratios) <= 2.0,
        f"samples are not copies: median NN distance >= 0.8x the test digits' ({', '.join(f'{v:.2f}' for v in copies)})":
            min(copies) >= 0.8,
        f"Gumbel-softmax VAE <= 100 nats by IW-100 ({listed('gumbel_straight_through_iw', '.1f')})":
            max(r["gumbel_straight_through_iw"] for r in main_512) <= 100,
        f"notebook <= {RUNTIME_TARGET_S} s ({', '.join(f'{runtimes[s]:.0f}' for s in seeds)})":
            max(runtimes.values()) <= RUNTIME_TARGET_S,
    }
    return check_targets(targets)


if __name__ == "__main__":
    sys.exit(main())
