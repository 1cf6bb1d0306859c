"""A sweep of three default runs through the server's slots against one run alone.

    python benchmarks/bench_sweep.py [--steps 4000] [--runs 3] [--slots 2]

First one run of `DiffusionConfig(steps=STEPS, device="cpu")` alone, as a `TrainingJob` in the
server's way (a child of the warm fork server, one torch thread, snapshots every 2 s); then a
`diffusion.sweep.Sweep` of --runs such runs (seeds 0, 1, 2, ...) through a `TrainingSlots` of
--slots, timed from `start()` until the last run has ended. Prints both, the ideal
(runs / slots) x one run, and the sweep's ratio to it; the target is 1.2. Whole runs on slots of
one core each cannot go below ceil(runs / slots) / (runs / slots) of the ideal (4/3 for three
runs on two slots: the third trains alone while a core idles); that floor is printed too. The
sweep's runs take turns where they do not divide evenly among the slots (`sweep.next_turn`);
`--whole-runs` switches the turns off, for the ratio without them.
It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from diffusion.config import DiffusionConfig  # noqa: E402
from diffusion.jobs import JobState, TrainingJob, TrainingSlots  # noqa: E402
from diffusion.sweep import TURN_SECONDS, Sweep  # noqa: E402


def until_ended(jobs: list[TrainingJob], poll: float = 0.02) -> list[tuple[float, float]]:
    """Block until every job has ended; (first step, end) of each, in seconds since the call."""
    started = time.perf_counter()
    first: dict[int, float] = {}
    end: dict[int, float] = {}
    while len(end) < len(jobs):
        now = time.perf_counter() - started
        for i, job in enumerate(jobs):
            s = job.status()
            if i not in first and s.step > 0:
                first[i] = now
            if i not in end and not s.state.active:
                end[i] = now
        time.sleep(poll)
    return [(first.get(i, end[i]), end[i]) for i in range(len(jobs))]


def line(name: str, job: TrainingJob, span: tuple[float, float]) -> str:
    s = job.status()
    rate = s.step / s.seconds if s.seconds > 0 else 0.0
    return (
        f"  {name}: first step at {span[0]:5.1f} s, ended at {span[1]:5.1f} s; "
        f"{s.seconds:.1f} s of training, {rate:.0f} it/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=DiffusionConfig().steps)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--whole-runs", action="store_true", help="no turns: each run keeps its slot to its end")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = DiffusionConfig(steps=args.steps, device="cpu")

    # the fork server imports torch once; a Start in the dashboard finds it warm
    TrainingJob(config.replace(steps=1), slots=TrainingSlots(1)).start().join(120)

    job = TrainingJob(config, slots=TrainingSlots(args.slots))
    started = time.perf_counter()
    job.start()
    (alone,) = until_ended([job])
    one = time.perf_counter() - started
    assert job.status().state is JobState.FINISHED, job.status().error

    runs = [(f"seed={seed}", config.replace(seed=seed)) for seed in range(args.runs)]
    turns = math.inf if args.whole_runs else TURN_SECONDS
    sweep = Sweep("seed", runs, slots=TrainingSlots(args.slots), turn_seconds=turns)
    started = time.perf_counter()
    sweep.start()
    spans = until_ended(sweep.jobs)
    together = time.perf_counter() - started
    assert len(sweep.finished()) == args.runs, [r.status.error for r in sweep.statuses()]

    ideal = args.runs / args.slots * one
    floor = math.ceil(args.runs / args.slots) / (args.runs / args.slots)
    print(f"one run of {args.steps:,} steps alone: {one:.1f} s")
    print(line("alone", job, alone))
    how = "as whole runs" if args.whole_runs else f"taking turns of {TURN_SECONDS:g} s"
    print(f"sweep of {args.runs} such runs on {args.slots} slots, {how}: {together:.1f} s")
    for (name, _), j, span in zip(runs, sweep.jobs, spans):
        print(line(name, j, span))
    print(f"ideal ({args.runs} / {args.slots}) x one run: {ideal:.1f} s")
    print(f"ratio to the ideal: {together / ideal:.2f} (target 1.2; whole runs on one-core slots: {floor:.2f} at best)")


if __name__ == "__main__":
    main()
