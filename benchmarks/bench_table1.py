"""The paper's Table 1 experiment: K on 20,000 held-out points of the unit-variance roll.

    .venv/bin/python benchmarks/bench_table1.py [--seconds 60]

Trains the `table1` preset (unit-variance roll, T = 40, beta_1 = 1e-5 fixed, beta_2..beta_T
learned, diagonal Gaussian kernels, the default recipe) for at most the given seconds of training
on one torch thread (what the dashboard uses), then the same run with the paper's RBF-16 network and
with fixed (unlearned) betas, so the gain of each choice shows. Prints K and K - L_null in bits per
point against Table 1 (2.35 / 6.45). Measures and prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusion.config import table1_config  # noqa: E402
from diffusion.metrics import PAPER_K_BITS, PAPER_K_MINUS_NULL_BITS  # noqa: E402
from diffusion.pipeline import DiffusionPipeline  # noqa: E402
from diffusion.train import Trainer  # noqa: E402

VARIANTS = {
    "table1 (MLP, learned betas)": {},
    "table1, RBF-16 network": {"network": "rbf", "width": 16},
    "table1, fixed betas": {"learn_betas": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"Table 1, Swiss roll: K = {PAPER_K_BITS:.2f} bits, K - L_null = {PAPER_K_MINUS_NULL_BITS:.2f} bits")
    for name, changes in VARIANTS.items():
        config = table1_config(steps=None, max_seconds=args.seconds, device="cpu", **changes)
        started = time.perf_counter()
        trainer = Trainer(config).train()
        wall = time.perf_counter() - started
        bound = DiffusionPipeline.from_trainer(trainer).bound(20_000)
        betas = trainer.diffusion.schedule.betas
        print(
            f"{name:30s} {trainer.step_count:6d} steps in {trainer.train_seconds:5.1f} s ({wall:5.1f} s wall): "
            f"K = {bound.bits_unit_variance:+.3f} bits, K - L_null = {bound.minus_null_bits:+.3f} bits; "
            f"beta_2 = {betas[2]:.2e}, beta_T = {betas[-1]:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
