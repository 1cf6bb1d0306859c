"""Tutorial recipe vs our default, same wall-clock budget, quality checked every second of training.

    python benchmarks/bench_training.py [--seconds 60] [--device cpu|cuda] [--json FILE]

For each recipe: train for --seconds of training time (evaluation excluded: the trainer's clock
only runs inside step()), and after every --every seconds draw 5,000 samples and compare them with
5,000 fresh roll points. Reports iterations/s, the time of the first check that meets the quality
bar, the time from which every later check meets it ("stable"), and the bound K on 20,000 held-out
points at the end, at data scale and at unit variance. The last line is the ratio tutorial / ours.
It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from diffusion.config import DiffusionConfig, tutorial_config  # noqa: E402
from diffusion.metrics import QUALITY_PRECISION, QUALITY_RECALL, QUALITY_SW1  # noqa: E402
from diffusion.pipeline import DiffusionPipeline  # noqa: E402
from diffusion.train import Trainer  # noqa: E402


def run(name: str, config: DiffusionConfig, every: float, n_samples: int) -> dict:
    trainer = Trainer(config)
    checks = []  # (train seconds, sw1, chamfer, passes)
    next_check = every
    started = time.perf_counter()
    while not trainer.done:
        trainer.step()
        if trainer.train_seconds >= next_check or trainer.done:
            quality = DiffusionPipeline.from_trainer(trainer).quality(n_samples, seed=len(checks))
            checks.append((trainer.train_seconds, quality.sw1, quality.chamfer, quality.passes))
            print(
                f"  {name:9s} {trainer.train_seconds:6.1f}s step {trainer.step_count:6d}  sw1 {quality.sw1:.4f}  "
                f"chamfer {quality.chamfer:.4f}  {'PASS' if quality.passes else ''}",
                file=sys.stderr,
                flush=True,
            )
            next_check = trainer.train_seconds + every
    wall = time.perf_counter() - started
    first = next((c[0] for c in checks if c[3]), None)
    stable = None
    for i in range(len(checks)):
        if all(c[3] for c in checks[i:]):
            stable = checks[i][0]
            break
    bound = DiffusionPipeline.from_trainer(trainer).bound(20_000)
    return {
        "recipe": name,
        "steps": trainer.step_count,
        "train_seconds": trainer.train_seconds,
        "wall_seconds": wall,
        "iterations_per_second": trainer.step_count / trainer.train_seconds,
        "samples_per_second": trainer.step_count * config.batch_size / trainer.train_seconds,
        "first_pass_seconds": first,
        "stable_pass_seconds": stable,
        "final_sw1": checks[-1][1],
        "final_chamfer": checks[-1][2],
        "bound_bits": bound.bits,
        "bound_bits_unit_variance": bound.bits_unit_variance,
        "checks": checks,
    }


def fmt(value, spec: str = ".1f", missing: str = "never") -> str:
    return missing if value is None else format(value, spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training-time budget per recipe")
    parser.add_argument("--every", type=float, default=1.0, help="seconds of training between quality checks")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--recipes", default="tutorial,default", help="comma-separated: tutorial, default")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (the dashboard's server uses 1)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    recipes = {
        "tutorial": tutorial_config(steps=None, max_seconds=args.seconds, device=args.device),
        "default": DiffusionConfig(steps=None, max_seconds=args.seconds, device=args.device),
    }
    print(
        f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"device {args.device}, budget {args.seconds:g} s of training per recipe; "
        f"bar: precision >= {QUALITY_PRECISION}, recall >= {QUALITY_RECALL}, sw1 <= {QUALITY_SW1} "
        f"on {args.samples} samples vs 5,000 roll points"
    )
    results = [run(name, recipes[name], args.every, args.samples) for name in args.recipes.split(",")]

    print(
        "| recipe | it/s | samples/s | first pass (s) | stable pass (s) | final sw1 | final chamfer "
        "| K bits | K bits, unit var |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['recipe']} | {r['iterations_per_second']:.1f} | {r['samples_per_second']:,.0f} "
            f"| {fmt(r['first_pass_seconds'])} | {fmt(r['stable_pass_seconds'])} "
            f"| {r['final_sw1']:.4f} | {r['final_chamfer']:.4f} "
            f"| {r['bound_bits']:+.2f} | {r['bound_bits_unit_variance']:+.2f} |"
        )
    by_name = {r["recipe"]: r for r in results}
    if {"tutorial", "default"} <= set(by_name):
        tut, ours = by_name["tutorial"], by_name["default"]
        if ours["stable_pass_seconds"] is not None:
            if tut["stable_pass_seconds"] is None:
                ratio = (
                    f"> {args.seconds / ours['stable_pass_seconds']:.0f}x "
                    f"(the tutorial recipe never held the bar in {args.seconds:g} s)"
                )
            else:
                ratio = f"{tut['stable_pass_seconds'] / ours['stable_pass_seconds']:.1f}x"
            print(f"time to stable quality, tutorial / ours: {ratio}")
        print(f"K at the end, ours - tutorial: {ours['bound_bits'] - tut['bound_bits']:+.2f} bits")
    if args.json:
        Path(args.json).write_text(
            json.dumps(results, indent=1, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
