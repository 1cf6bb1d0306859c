"""How long a Start click waits for the first training step: the fork server against a fresh interpreter.

    python benchmarks/bench_start_latency.py [--repeats 5]

"fork server": what the dashboard does, a `diffusion.jobs.TrainingJob` whose fork server is already
warm (the dashboard starts it with its first page); timed from `start()` until its status reports
step 1. "fresh interpreter": a `multiprocessing` "spawn" child that imports torch and
`diffusion.train`, builds a `Trainer` and takes one step; timed from `start()` until it says so.
Both train `DiffusionConfig(steps=1, device="cpu")`. The two run in turn, --repeats times each.
Prints every run, the medians and their ratio. It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_step_in_fresh_interpreter(conn) -> None:
    """Runs in the spawned child: the imports and the first step a fresh interpreter would pay."""
    sys.path.insert(0, str(ROOT))
    from diffusion.config import DiffusionConfig
    from diffusion.train import Trainer

    Trainer(DiffusionConfig(steps=1, device="cpu")).step()
    conn.send("stepped")
    conn.close()


def fresh_interpreter() -> float:
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(target=one_step_in_fresh_interpreter, args=(child,))
    started = time.perf_counter()
    process.start()
    parent.recv()
    seconds = time.perf_counter() - started
    process.join()
    return seconds


def fork_server() -> float:
    from diffusion.config import DiffusionConfig
    from diffusion.jobs import TrainingJob

    started = time.perf_counter()
    job = TrainingJob(DiffusionConfig(steps=1, device="cpu")).start()
    while job.status().step < 1:
        time.sleep(0.002)
    seconds = time.perf_counter() - started
    job.stop()
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    from diffusion.config import DiffusionConfig
    from diffusion.jobs import TrainingJob, warm_up

    warm_up()  # as the dashboard does after its first page
    warm = TrainingJob(DiffusionConfig(steps=1, device="cpu")).start()
    while warm.status().state.active:  # the fork server has imported torch once this has run
        time.sleep(0.05)

    times: dict[str, list[float]] = {"fork server": [], "fresh interpreter": []}
    print(f"{'#':>2} {'fork server (s)':>16} {'fresh interpreter (s)':>22}")
    for i in range(args.repeats):
        times["fork server"].append(fork_server())
        times["fresh interpreter"].append(fresh_interpreter())
        print(f"{i:>2} {times['fork server'][-1]:16.3f} {times['fresh interpreter'][-1]:22.3f}")
    warm_start, cold_start = (statistics.median(t) for t in times.values())
    print(
        f"median Start -> first step: fork server {warm_start:.3f} s, fresh interpreter {cold_start:.3f} s; "
        f"fork server / fresh = {warm_start / cold_start:.3f} ({cold_start / warm_start:.0f}x sooner)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
