"""Time per training step of the default recipe: glibc's malloc as it comes against
`diffusion.train.keep_freed_memory()` (what the training child and the CLI's train call), or, with
--model-of, this checkout's diffusion/model.py against a git revision's.

    python benchmarks/bench_step.py [--rounds 3] [--steps 150] [--threads 1] [--model-of REV]

Each measurement is a fresh interpreter (the malloc setting is process-wide and cannot be undone),
the two variants in turn, --rounds times: 30 warm-up steps, then --steps timed steps. Prints, per
run, wall-clock and CPU ms per step (this VM's other tenants slow the wall clock by up to ~1.5x;
the process's CPU time is less affected), minor page faults per step and how many of the trunk's
output units fire for some point of a batch (its x_t) at the end (only those reach the heads: see
`diffusion.model._LiveUnits`), then the medians and their ratios. With --model-of both variants
keep freed memory and differ only in the network's code (same weights, same numbers up to float
rounding). It measures and prints; it asserts nothing.
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


def measure(keep: bool, steps: int, threads: int, revision: str | None) -> dict:
    """Runs in the child interpreter."""
    sys.path.insert(0, str(ROOT))
    import torch

    from diffusion import train
    from diffusion.config import DiffusionConfig

    if revision:
        from revisions import module_at  # this folder is on sys.path: the script's own

        train.ReverseNet = module_at(revision, "model").ReverseNet  # what build_model constructs
    applied = train.keep_freed_memory() if keep else False
    torch.set_num_threads(threads)
    trainer = train.Trainer(DiffusionConfig(device="cpu"))
    for _ in range(30):
        trainer.step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        trainer.step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with (
        torch.no_grad()
    ):  # the trunk's output units that fire for some point of a fresh batch of x_t (what a step feeds it)
        x0, t = trainer._batch()
        noise = torch.randn(x0.shape, generator=trainer.generator)  # the trainer's own: the same count every run
        xt = trainer.diffusion.q_sample(x0, torch.arange(t.start, t.stop).view(-1, 1), noise)
        live = int((trainer.model.trunk(xt.reshape(-1, 2)) > 0).any(0).sum())
    return {
        "ms": 1000 * wall / steps,
        "cpu_ms": 1000 * cpu / steps,
        "applied": applied,
        "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps,
        "live": live,
        "width": trainer.model.width,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the dashboard's training child uses 1)")
    ap.add_argument("--model-of", metavar="REV", help="compare this checkout's diffusion/model.py with REV's instead")
    ap.add_argument("--child", choices=["default", "keep"], help=argparse.SUPPRESS)
    ap.add_argument("--child-model-of", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child == "keep", args.steps, args.threads, args.child_model_of)))
        return 0
    if args.model_of:
        subprocess.run(
            ["git", "rev-parse", "--verify", f"{args.model_of}^{{commit}}"], cwd=ROOT, check=True, capture_output=True
        )
        variants = {
            f"model.py at {args.model_of}": ["keep", "--child-model-of", args.model_of],
            "this checkout": ["keep"],
        }
    else:
        variants = {"glibc defaults": ["default"], "keep_freed_memory": ["keep"]}
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    width = max(map(len, variants))
    for _ in range(args.rounds):
        for name, child in variants.items():
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--steps",
                    str(args.steps),
                    "--threads",
                    str(args.threads),
                    "--child",
                    *child,
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            result = json.loads(out.splitlines()[-1])
            runs[name].append(result)
            unapplied = child[0] == "keep" and not result["applied"]
            print(
                f"{name:{width}s} {result['ms']:6.2f} ms/step, {result['cpu_ms']:6.2f} CPU ms/step, {result['faults']:7.1f} page faults/step, "
                f"{result['live']}/{result['width']} trunk units live at the end"
                + ("  (keep_freed_memory not applied: not glibc)" if unapplied else ""),
                flush=True,
            )
    (before, after) = variants
    print(f"\nmedians over {args.rounds} rounds, {args.threads} torch thread(s):")
    for key, label in (("ms", "wall ms/step"), ("cpu_ms", "CPU ms/step")):
        med = {name: statistics.median(r[key] for r in rs) for name, rs in runs.items()}
        print(
            f"  {label}: {before} {med[before]:.2f}, {after} {med[after]:.2f} ({after} / {before} {med[after] / med[before]:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
