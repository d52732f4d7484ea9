"""Lesson 06's benchmark: run the solution at its default settings, print what it measured and check the targets.

    python benchmarks/ddpm_quality.py                 # DEVICE="auto"
    python benchmarks/ddpm_quality.py --device cpu -p SEED 1

Every figure is read from the Report the notebook itself displays, so they are the lesson's own
numbers, from one run:
- the 2-D model: energy distance of its samples to held-out swiss-roll points, next to the floor
  (real training points against the same held-out points);
- the digits: Frechet distance of the DDPM (1000 steps) and DDIM (50 steps) samples to the test split on
  the metric classifier's features, each next to its real floor, with KID and precision/recall, and the
  two samplers' times side by side;
- memorisation: each sample's distance to its nearest training digit, against the test digits' own;
- the variational bound on the test digits in nats and bits/dim, next to lesson 02's VAE;
- the notebook's whole runtime, kernel start included.
The targets of issues 4 and 10 are checked at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

from course_lib.metrics import read_reports

sys.path.insert(0, str(Path(__file__).parent))
from notebook_runtimes import benchmark_args, check_targets, machine, run_solution

VAE_BITS_PER_DIM = 2.003  # lesson 02's importance-weighted test NLL (benchmarks/vae_nll.py)
RUNTIME_TARGET_S = 270  # 5 minutes with margin, on the project's 2-core machine


def main(argv: list[str] | None = None) -> int:
    params = benchmark_args(__doc__.splitlines()[0], argv)
    notebook, runtime = run_solution("06", params)
    (r,) = read_reports(notebook)
    print(f"machine: {machine()}")
    print(f"parameters: {params}")
    toy_ratio = r["toy_energy"] / r["toy_energy_floor"]
    print(f"2-D model: energy distance to held-out data {r['toy_energy']:.5f}; real floor {r['toy_energy_floor']:.5f} "
          f"+- {r['toy_energy_floor_std']:.5f}; ratio {toy_ratio:.2f} (training {r['toy_train_seconds']:.0f} s)")
    print(f"{int(r['n_samples'])} digit samples against the {r['ddpm_reference']} split; "
          f"real floor (FD of {int(r['ddpm_floor_n'])} training digits): "
          f"{r['ddpm_fd_floor']:.3f} +- {r['ddpm_fd_floor_std']:.3f}")
    print(f"{'sampler':<22}{'FD':>8}{'x floor':>9}{'KID':>9}{'prec.':>7}{'recall':>8}{'seconds':>9}")
    for name, key, steps in (("DDPM", "ddpm", int(r["T"])), ("DDIM (eta=0)", "ddim", int(r["ddim_steps"]))):
        print(f"{name + f', {steps} steps':<22}{r[key + '_fd']:>8.3f}{r[key + '_fd'] / r[key + '_fd_floor']:>9.2f}"
              f"{r[key + '_kid']:>9.4f}{r[key + '_precision']:>7.2f}{r[key + '_recall']:>8.2f}{r[key + '_seconds']:>9.1f}")
    print(f"nearest training digit (pixels in [-1, 1]): samples median {r['nn_median_samples']:.2f}, "
          f"min {r['nn_min_samples']:.2f}; test digits median {r['nn_median_test']:.2f}, min {r['nn_min_test']:.2f}")
    print(f"variational bound on the test digits: {r['bound_nats']:.1f} +- {r['bound_nats_se']:.1f} nats = "
          f"{r['bound_bits_per_dim']:.3f} bits/dim (L_T {r['bound_prior']:.2f}, KL terms {r['bound_diffusion']:.1f}, "
          f"L_0 {r['bound_decoder']:.2f}); lesson 02's VAE: {VAE_BITS_PER_DIM} bits/dim")
    ddpm_ratio = r["ddpm_fd"] / r["ddpm_fd_floor"]
    print(f"digits training: {r['train_seconds']:.0f} s; whole notebook: {runtime:.0f} s")
    targets = {
        f"notebook <= {RUNTIME_TARGET_S} s ({runtime:.0f} s)": runtime <= RUNTIME_TARGET_S,
        f"2-D samples within 2 x the energy floor ({toy_ratio:.2f})": toy_ratio <= 2.0,
        f"DDPM FD <= 1.5 x floor ({ddpm_ratio:.2f})": ddpm_ratio <= 1.5,
        f"DDIM FD <= 1.2 x DDPM's ({r['ddim_fd'] / r['ddpm_fd']:.2f})": r["ddim_fd"] <= 1.2 * r["ddpm_fd"],
        f"DDIM >= 15 x faster ({r['ddim_speedup']:.1f} x)": r["ddim_speedup"] >= 15,
    }
    return check_targets(targets)


if __name__ == "__main__":
    sys.exit(main())
