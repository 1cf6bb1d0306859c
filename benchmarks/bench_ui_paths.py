"""Time the computations behind the dashboard's views, on the shipped default model.

    python benchmarks/bench_ui_paths.py [--device cpu|cuda] [--repeats 7]

Prints the median and the fastest of --repeats runs (after one warm-up) for: the reverse trajectory
of 5,000 points, the forward trajectory of 5,000 points, the drift field on a 25x25 grid at every t
(what the reverse animation shows) and at one t, the bound on 20,000 held-out points, and the
quality metrics. It measures and prints; it asserts nothing.
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

from diffusion.checkpoint import load_checkpoint  # noqa: E402
from diffusion.metrics import sample_quality  # noqa: E402

TARGETS_MS = {
    "reverse trajectory, 5,000 points": 50,
    "forward trajectory, 5,000 points": 50,
    "drift field 25x25, every t": 50,
    "drift field 25x25, one t": 50,
    "bound K, 20,000 points": 1000,
}


def timed(fn, repeats: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--checkpoint", default=str(ROOT / "assets" / "default_model.pt"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (the dashboard's server uses 1)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    p = load_checkpoint(args.checkpoint, device=args.device)
    grid = torch.zeros(625, 2, device=p.device)
    samples = p.samples(5000)
    paths = {
        "reverse trajectory, 5,000 points": lambda: p.reverse_trajectory(5000),
        "forward trajectory, 5,000 points": lambda: p.forward_trajectory(5000),
        "drift field 25x25, every t": lambda: p.drift_field(25),
        "drift field 25x25, one t": lambda: p.diffusion.drift(p.model, grid, p.T // 2),
        "bound K, 20,000 points": lambda: p.bound(20_000),
        "quality (sw1 + chamfer), 5,000 samples": lambda: sample_quality(samples),
    }
    print(f"# device {args.device}, {torch.get_num_threads()} torch threads, T={p.T}, width={p.config.width}")
    print("| path | median ms | best ms | target ms |")
    print("|---|---|---|---|")
    for name, fn in paths.items():
        median, best = timed(fn, 3 if "bound" in name else args.repeats)
        target = TARGETS_MS.get(name)
        print(f"| {name} | {median:.1f} | {best:.1f} | {target if target else '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
