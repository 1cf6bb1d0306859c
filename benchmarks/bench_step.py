"""Time per training step of the default recipe: the plain network against its CPU fast path.

    python benchmarks/bench_step.py [--rounds 3] [--steps 270] [--threads 1]

`diffusion.model.ReverseNet` is the tutorial's network; `diffusion.live_units.LiveUnitsNet` sends
only the trunk's live units on to the heads (what `build_model` uses on a CPU). Both train the
default recipe from the same seed for 30 warm-up steps and then --steps timed steps, each variant
in a fresh interpreter, in turn, --rounds times. The time to the quality bar is steps to the bar
times the time per step, and both variants need the same steps (they compute the same numbers),
so the ratio of the medians is the ratio of the CLI's time to a good model. Prints every run, the
medians and their ratio. It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("plain", "live units")


def measure(variant: str, steps: int, threads: int) -> dict:
    """Runs in the child interpreter."""
    sys.path.insert(0, str(ROOT))
    import torch

    from diffusion.config import DiffusionConfig
    from diffusion.live_units import LiveUnitsNet
    from diffusion.model import ReverseNet
    from diffusion.train import Trainer

    torch.set_num_threads(threads)
    config = DiffusionConfig(device="cpu")
    network = ReverseNet if variant == "plain" else LiveUnitsNet
    trainer = Trainer(config, model=network(config.T, config.width, torch.Generator().manual_seed(config.seed)))
    for _ in range(30):
        trainer.step()
    started = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    return {"ms": 1000 * (time.perf_counter() - started) / steps, "loss": trainer.history.loss[-1]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=270, help="timed steps (the default run meets the bar near 300)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the dashboard's training child uses 1)")
    ap.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.threads)))
        return 0
    runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name in VARIANTS:
            cmd = [sys.executable, __file__, "--child", name, "--steps", str(args.steps)]
            cmd += ["--threads", str(args.threads)]
            result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            runs[name].append(result)
            print(f"{name:10s} {result['ms']:6.2f} ms/step, last loss {result['loss']:.4f}", flush=True)
    medians = {name: statistics.median(r["ms"] for r in rs) for name, rs in runs.items()}
    plain, fast = medians["plain"], medians["live units"]
    print(f"\nmedians over {args.rounds} rounds, {args.threads} torch thread(s), steps 31-{30 + args.steps}:")
    print(f"  plain {plain:.2f} ms/step, live units {fast:.2f} ms/step (live units / plain {fast / plain:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
