"""Time per training step of the default recipe, with glibc's malloc as it comes and with
`diffusion.train.keep_freed_memory()` (what the training child and the CLI's train call).

    python benchmarks/bench_step.py [--rounds 3] [--steps 150] [--threads 1]

Each measurement is a fresh interpreter (the setting is process-wide and cannot be undone), the two
variants in turn, --rounds times: 30 warm-up steps, then --steps timed steps. Prints ms per step
and minor page faults per step for each run, then the medians and their ratio. It measures and
prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(keep: bool, steps: int, threads: int) -> dict:
    """Runs in the child interpreter."""
    sys.path.insert(0, str(ROOT))
    import torch

    from diffusion.config import DiffusionConfig
    from diffusion.train import Trainer, keep_freed_memory

    applied = keep_freed_memory() if keep else False
    torch.set_num_threads(threads)
    trainer = Trainer(DiffusionConfig(device="cpu"))
    for _ in range(30):
        trainer.step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    started = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    seconds = time.perf_counter() - started
    return {"ms": 1000 * seconds / steps, "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps, "applied": applied}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the dashboard's training child uses 1)")
    ap.add_argument("--child", choices=["default", "keep"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child == "keep", args.steps, args.threads)))
        return 0
    runs: dict[str, list[dict]] = {"default": [], "keep": []}
    for _ in range(args.rounds):
        for name in runs:
            out = subprocess.run([sys.executable, __file__, "--child", name, "--steps", str(args.steps), "--threads", str(args.threads)],
                                 check=True, capture_output=True, text=True).stdout
            result = json.loads(out.splitlines()[-1])
            runs[name].append(result)
            print(f"{name:8s} {result['ms']:6.2f} ms/step  {result['faults']:7.1f} page faults/step"
                  + ("" if name == "default" or result["applied"] else "  (not applied: not glibc)"), flush=True)
    med = {name: statistics.median(r["ms"] for r in rs) for name, rs in runs.items()}
    print(f"\nmedians: glibc defaults {med['default']:.2f} ms/step, keep_freed_memory {med['keep']:.2f} ms/step "
          f"(keep/default {med['keep'] / med['default']:.2f}x), {args.threads} torch thread(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
