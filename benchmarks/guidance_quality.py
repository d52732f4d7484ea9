"""Lesson 07's benchmark: run the solution at three seeds, print what each run measured and check the targets.

    python benchmarks/guidance_quality.py                  # seeds 0, 1, 2; DEVICE="auto"
    python benchmarks/guidance_quality.py --seeds 0 --device cpu

Every figure is read from the Report the notebook itself displays, so they are the lesson's own
numbers: each seed is one whole run of the solution at its default settings (papermill, a fresh
kernel; `-p SEED s`), which also times the notebook.
- the guidance sweep of the class-conditional pixel U-Net and latent MLP: class accuracy by the digits
  classifier, Frechet distance / real floor, precision and recall at each scale s;
- the pixel model at s = 1 sampled with deterministic DDIM (eta = 0) and with fresh noise (eta = 1, the sweep's);
- latent against pixel diffusion at the same training budget: training times (the autoencoder's apart),
  sampling time per digit, and the latent model trained without the scale factor or sampled without
  the clip;
- the nearest-training-neighbour check at each model's best scale.
The targets of issue 14 are checked at the end.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from notebook_runtimes import check_targets, machine, run_seeds, seeds_parser

RUNTIME_TARGET_S = 250  # 5 minutes with a 20 % margin, on the project's 2-core machine
SPACES = ("pixel", "latent")
VARIANTS = {"latent_scaled_clipped": "latent, scaled + clipped", "latent_unscaled_latents": "latent, unscaled latents",
            "latent_no_clip": "latent, no clip", "latent_neither": "latent, neither", "pixel": "pixel"}


def scales_of(report: dict, space: str) -> list[str]:
    """The scale keys ("s1_5") of one model's sweep, in increasing order of s."""
    keys = {k[len(space) + 1:-len("_accuracy")] for k in report if k.startswith(f"{space}_s") and k.endswith("_accuracy")}
    keys = {k for k in keys if re.fullmatch(r"s\d+(_\d+)?", k)}  # not pixel_s1_eta0_accuracy, the sampler's row
    return sorted(keys, key=lambda k: float(k[1:].replace("_", ".")))


def copies(report: dict, space: str) -> float:
    """Median nearest-training distance of the best samples over that of real digits the model never saw.

    For the pixel model the test digits; for the latent model their reconstructions, since its samples are
    decoder outputs (smoother than handwriting, so nearer to everything).
    """
    reference = report["nn_median_test"] if space == "pixel" else report["nn_median_reconstructions"]
    return report[f"{space}_best_nn_median"] / reference


def main(argv: list[str] | None = None) -> int:
    parser = seeds_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    seeds = args.seeds
    reports, runtimes = run_seeds("07", seeds, args.device)
    print(f"machine: {machine()}")
    first = reports[seeds[0]]

    for space in SPACES:
        print(f"\n{space} model: guidance sweep ({int(first['n_samples'])} samples per scale, "
              f"{int(first['ddim_steps'])} DDIM steps, eta {first['ddim_eta']:g}): class accuracy / FD x floor / precision / "
              "recall, per seed")
        for key in scales_of(first, space):
            cells = "   ".join(f"{reports[s][f'{space}_{key}_accuracy']:.3f} / {reports[s][f'{space}_{key}_fd_ratio']:.2f} / "
                               f"{reports[s][f'{space}_{key}_precision']:.2f} / {reports[s][f'{space}_{key}_recall']:.2f}"
                               for s in seeds)
            print(f"  s = {key[1:].replace('_', '.'):<5}{cells}")
        print("  best FD scale: " + ", ".join(
            f"seed {s}: s = {reports[s][f'{space}_best_scale']:g} (FD x {reports[s][f'{space}_best_fd_ratio']:.2f}, "
            f"accuracy {reports[s][f'{space}_best_accuracy']:.3f})" for s in seeds))

    print("\nthe sampler's noise: pixel model at s = 1, class accuracy / FD x floor / precision / recall, per seed")
    for eta in ("0", "1"):
        cells = "   ".join(f"{reports[s][f'pixel_s1_eta{eta}_accuracy']:.3f} / {reports[s][f'pixel_s1_eta{eta}_fd_ratio']:.2f} / "
                           f"{reports[s][f'pixel_s1_eta{eta}_precision']:.2f} / {reports[s][f'pixel_s1_eta{eta}_recall']:.2f}"
                           for s in seeds)
        print(f"  eta = {eta}   {cells}")

    print("\nlatent against pixel at the same training budget")
    print(f"{'seed':>4}{'AE s':>7}{'latent s':>10}{'pixel s':>9}{'latent ms/digit':>17}{'pixel ms/digit':>16}{'speed-up':>10}"
          f"{'scale factor':>14}{'recon FD x':>12}")
    for s in seeds:
        r = reports[s]
        print(f"{s:>4}{r['ae_train_seconds']:>7.1f}{r['latent_train_seconds']:>10.1f}{r['pixel_train_seconds']:>9.1f}"
              f"{r['latent_ms_per_sample']:>17.2f}{r['pixel_ms_per_sample']:>16.2f}{r['sampling_speedup']:>10.1f}"
              f"{r['scale_factor']:>14.4f}{r['reconstruction_fd_ratio']:>12.2f}")
    print("FD x floor at s = 1: " + "   ".join(VARIANTS))
    for s in seeds:
        print(f"{s:>4}  " + "   ".join(f"{reports[s][key + '_fd_ratio']:>{len(key)}.2f}" for key in VARIANTS))

    print("\nnearest training digit, median distance at the best scale (test digits; reconstructions of them)")
    for s in seeds:
        r = reports[s]
        print(f"{s:>4}  pixel {r['pixel_best_nn_median']:.2f}  latent {r['latent_best_nn_median']:.2f}  "
              f"(test {r['nn_median_test']:.2f}; reconstructions {r['nn_median_reconstructions']:.2f})")

    runs = [reports[s] for s in seeds]

    def listed(key: str, fmt: str) -> str:
        return ", ".join(format(r[key], fmt) for r in runs)

    targets = {
        f"pixel: class accuracy >= 0.98 at the scale with the best FD ({listed('pixel_best_accuracy', '.3f')} "
        f"at s = {listed('pixel_best_scale', 'g')})": min(r["pixel_best_accuracy"] for r in runs) >= 0.98,
        f"pixel: best FD <= 1.2x the floor ({listed('pixel_best_fd_ratio', '.2f')})":
            max(r["pixel_best_fd_ratio"] for r in runs) <= 1.2,
        f"latent sampling >= 5x faster per digit ({listed('sampling_speedup', '.1f')})":
            min(r["sampling_speedup"] for r in runs) >= 5,
        f"latent FD <= 1.5x the floor at s = 1 ({listed('latent_scaled_clipped_fd_ratio', '.2f')})":
            max(r["latent_scaled_clipped_fd_ratio"] for r in runs) <= 1.5,
        f"best samples are not copies: median NN distance >= 0.8x the test digits' for pixel, their reconstructions' "
        f"for latent ({', '.join(f'{copies(r, space):.2f}' for r in runs for space in SPACES)})":
            min(copies(r, space) for r in runs for space in SPACES) >= 0.8,
        f"notebook <= {RUNTIME_TARGET_S} s ({', '.join(f'{runtimes[s]:.0f}' for s in seeds)})":
            max(runtimes.values()) <= RUNTIME_TARGET_S,
    }
    return check_targets(targets)


if __name__ == "__main__":
    sys.exit(main())
