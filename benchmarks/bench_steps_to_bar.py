"""Steps to the quality bar, stratified roll points against i.i.d. ones, on the default recipe.

    python benchmarks/bench_steps_to_bar.py [--seeds 0-11] [--max-steps 420] [--every 10] [--device cpu]

For each training seed, trains the default recipe twice, once with every batch row's roll points
stratified (what `Trainer` does) and once i.i.d. (the same recipe with `trainer.stratified = False`),
measures the sampling model's quality (5,000 samples at seed 0 against the 5,000 reference points,
as a snapshot in the app is measured) every --every steps from step 150, and prints for each run
the first step that meets the bar and the step from which every later check meets it ("stable"),
then the medians over seeds. Steps, not seconds: both variants cost the same per step. A run that
never meets the bar counts as --max-steps + --every in the medians. It measures and prints; it
asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from diffusion.config import DiffusionConfig  # noqa: E402
from diffusion.metrics import QUALITY_SW1  # noqa: E402
from diffusion.pipeline import DiffusionPipeline  # noqa: E402
from diffusion.train import Trainer  # noqa: E402

FIRST_CHECK = 150  # no seed has met the bar before ~180 steps


def seeds_arg(text: str) -> list[int]:
    """ "0-11" or "0,3,5"."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def one_run(
    seed: int, stratified: bool, max_steps: int, every: int, device: str
) -> tuple[int | None, int | None, list[float]]:
    trainer = Trainer(DiffusionConfig(device=device, seed=seed))
    trainer.stratified = stratified
    checks, sw1 = [], []
    while trainer.step_count < max_steps:
        trainer.step()
        if trainer.step_count >= FIRST_CHECK and trainer.step_count % every == 0:
            checks.append(trainer.step_count)
            sw1.append(DiffusionPipeline.from_trainer(trainer).quality(5000, seed=0).sw1)
    passes = [v <= QUALITY_SW1 for v in sw1]
    first = next((c for c, ok in zip(checks, passes) if ok), None)
    stable = next((c for i, c in enumerate(checks) if all(passes[i:])), None)
    return first, stable, sw1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seeds_arg, default=seeds_arg("0-11"))
    ap.add_argument("--max-steps", type=int, default=420)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cuda draws other random numbers than the CPU for the same seed")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    never = args.max_steps + args.every
    results: dict[str, list[tuple[int | None, int | None]]] = {"stratified": [], "iid": []}
    print(
        f"device {args.device}; SW1 x 1000 at steps {FIRST_CHECK}, {FIRST_CHECK + args.every}, ... {args.max_steps} (bar {QUALITY_SW1 * 1000:g})"
    )
    for seed in args.seeds:
        for name in results:  # the two variants in turn, so a drift of the machine's speed hits both
            started = time.perf_counter()
            first, stable, sw1 = one_run(seed, name == "stratified", args.max_steps, args.every, args.device)
            results[name].append((first, stable))
            print(
                f"seed {seed:3d} {name:10s} first {first or 'never':>5} stable {stable or 'never':>5}  "
                + " ".join(f"{v * 1000:.0f}" for v in sw1)
                + f"  ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    print(f"\nmedians over {len(args.seeds)} seeds (never = {never})")
    for name, runs in results.items():
        first = statistics.median(f or never for f, _ in runs)
        stable = statistics.median(s or never for _, s in runs)
        print(
            f"{name:10s} first pass at step {first:g}, stable from step {stable:g}; never stable: {sum(s is None for _, s in runs)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
