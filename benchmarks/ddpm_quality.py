"""Lesson 06's benchmark: run the solution at its default settings, print sample quality and speed.

    python benchmarks/ddpm_quality.py                 # DEVICE="auto"
    python benchmarks/ddpm_quality.py --device cpu -p SEED 1

The figures are read from the Report the notebook itself displays, so they are the lesson's own
numbers: the Frechet distance of its 447 DDPM (1000 steps) and DDIM (50 steps) samples to the digits
test split on the metric classifier's features, each next to the real floor (447 training digits
against the same test split), KID and precision/recall, the two samplers' times measured side by side
in the one run, and the notebook's whole runtime. The targets of issue 4 are checked at the end:
notebook <= 5 min, DDPM FD <= 1.5 x floor, DDIM FD <= 1.2 x DDPM's, DDIM >= 15 x faster.
"""

from __future__ import annotations

import sys
from pathlib import Path

from course_lib.metrics import read_reports

sys.path.insert(0, str(Path(__file__).parent))
from notebook_runtimes import benchmark_args, machine, run_solution


def main(argv: list[str] | None = None) -> int:
    params = benchmark_args(__doc__.splitlines()[0], argv)
    notebook, runtime = run_solution("06", params)
    (r,) = read_reports(notebook)
    print(f"machine: {machine()}")
    print(f"parameters: {params}")
    print(f"{int(r['n_samples'])} samples against the {r['ddpm_reference']} split; "
          f"real floor (FD of {int(r['ddpm_floor_n'])} training digits): "
          f"{r['ddpm_fd_floor']:.3f} +- {r['ddpm_fd_floor_std']:.3f}")
    print(f"{'sampler':<22}{'FD':>8}{'x floor':>9}{'KID':>9}{'prec.':>7}{'recall':>8}{'seconds':>9}")
    for name, key, steps in (("DDPM", "ddpm", int(r["T"])), ("DDIM (eta=0)", "ddim", int(r["ddim_steps"]))):
        print(f"{name + f', {steps} steps':<22}{r[key + '_fd']:>8.3f}{r[key + '_fd'] / r[key + '_fd_floor']:>9.2f}"
              f"{r[key + '_kid']:>9.4f}{r[key + '_precision']:>7.2f}{r[key + '_recall']:>8.2f}{r[key + '_seconds']:>9.1f}")
    ddpm_ratio = r["ddpm_fd"] / r["ddpm_fd_floor"]
    print(f"digits training: {r['train_seconds']:.0f} s; whole notebook: {runtime:.0f} s")
    targets = {
        f"notebook <= 300 s ({runtime:.0f} s)": runtime <= 300,
        f"DDPM FD <= 1.5 x floor ({ddpm_ratio:.2f})": ddpm_ratio <= 1.5,
        f"DDIM FD <= 1.2 x DDPM's ({r['ddim_fd'] / r['ddpm_fd']:.2f})": r["ddim_fd"] <= 1.2 * r["ddpm_fd"],
        f"DDIM >= 15 x faster ({r['ddim_speedup']:.1f} x)": r["ddim_speedup"] >= 15,
    }
    for what, ok in targets.items():
        print(f"target {what}: {'met' if ok else 'NOT met'}")
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
