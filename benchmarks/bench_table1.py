"""The paper's Table 1 experiment: K on 20,000 held-out points of the unit-variance roll.

    .venv/bin/python benchmarks/bench_table1.py [--seconds 60]

Trains the `table1` preset (unit-variance roll, T = 40, beta_1 = 1e-5 fixed, beta_2..beta_T
learned, diagonal Gaussian kernels, the default recipe) for at most the given seconds of training
on one torch thread (what the dashboard uses), then the same run with the paper's RBF-16 network and
with fixed (unlearned) betas, so the gain of each choice shows. Prints K and K - L_null in bits per
point against Table 1 (2.35 / 6.45), each run's ceiling (the best K of the diagonal-Gaussian family
for the schedule it ended with, `diffusion.ceiling`), and, unless --search 0, the highest ceiling
that any beta_2..beta_T reach at this T and beta_1 (`ceiling.best_betas`, a few minutes), which no
trained model can pass. Measures and prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusion.ceiling import best_betas, best_possible_bound  # noqa: E402
from diffusion.config import table1_config  # noqa: E402
from diffusion.metrics import PAPER_K_BITS, PAPER_K_MINUS_NULL_BITS  # noqa: E402
from diffusion.pipeline import DiffusionPipeline  # noqa: E402
from diffusion.schedule import NoiseSchedule  # noqa: E402
from diffusion.train import Trainer  # noqa: E402

CEILING_N = 4000  # points per ceiling estimate: about 0.02 bits of noise
VARIANTS = {
    "table1 (MLP, learned betas)": {},
    "table1, RBF-16 network": {"network": "rbf", "width": 16},
    "table1, fixed betas": {"learn_betas": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--search", type=int, default=120, help="iterations of the best-betas search (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"Table 1, Swiss roll: K = {PAPER_K_BITS:.2f} bits, K - L_null = {PAPER_K_MINUS_NULL_BITS:.2f} bits")
    for name, changes in VARIANTS.items():
        config = table1_config(steps=None, max_seconds=args.seconds, device="cpu", **changes)
        started = time.perf_counter()
        trainer = Trainer(config).train()
        wall = time.perf_counter() - started
        bound = DiffusionPipeline.from_trainer(trainer).bound(20_000)
        schedule = trainer.diffusion.schedule
        ceiling = best_possible_bound(schedule, n=CEILING_N, seed=1, data_scale="unit").bits_unit_variance
        print(
            f"{name:30s} {trainer.step_count:6d} steps in {trainer.train_seconds:5.1f} s ({wall:5.1f} s wall): "
            f"K = {bound.bits_unit_variance:+.3f} bits, K - L_null = {bound.minus_null_bits:+.3f} bits; "
            f"its schedule's ceiling {ceiling:+.3f}; "
            f"beta_2 = {schedule.betas[2]:.2e}, beta_T = {schedule.betas[-1]:.3f}",
            flush=True,
        )
    if args.search:
        torch.set_num_threads(2)  # the search is not a dashboard run: both cores
        start = NoiseSchedule.from_config(table1_config())
        started = time.perf_counter()
        best = best_betas(start, data_scale="unit", iterations=args.search)
        seconds = time.perf_counter() - started
        ceilings = [
            best_possible_bound(s, n=CEILING_N, seed=k, data_scale="unit").bits_unit_variance
            for s in (start, best)
            for k in (1, 2)
        ]
        print(
            f"ceiling of the starting schedule (two estimates of {CEILING_N:,} points): "
            f"{ceilings[0]:+.3f}, {ceilings[1]:+.3f}; of the best betas found "
            f"({args.search} iterations, {seconds:.0f} s): {ceilings[2]:+.3f}, {ceilings[3]:+.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
