"""Time to the quality bar with the default settings: training seconds over seeds, and a Start click.

    python benchmarks/bench_start_to_quality.py [--seeds 0 1 2] [--every 0.5] [--threads 2]
    python benchmarks/bench_start_to_quality.py --start [--repeats 3] [--poll 1.0] [--threads 1]

Default: the race against the tutorial (11-14 hours of training). For each seed, train the default
settings (`DiffusionConfig(seed=...)`) in this process and, after every --every seconds of training,
measure 5,000 samples against 5,000 fresh data points (`diffusion.metrics.sample_quality`); the
trainer's clock runs only inside step(), so evaluation is excluded. Prints per seed the training
seconds and step of the first check that meets the bar and of the check from which every later one
meets it ("stays"), then the median over seeds and its ratio to the tutorial's 11 hours. The
shortest default length that meets the bar for every seed is the largest "stays" step.

--start: what the dashboard does after Start, without a browser: a `TrainingJob` (child process,
default settings), its status read every --poll s (the Train page redraws every 1 s), until a
published snapshot meets the bar (measured in the training process); then the Reverse page's work
for that snapshot: the reverse trajectory of 2,000 points with the drift field, the Plotly
animation, and its JSON (what Streamlit sends). A browser adds its own drawing time (tests/e2e).

It measures and prints; it asserts nothing. Timings depend on what else runs on the cores.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from diffusion import figures, views  # noqa: E402
from diffusion.config import DiffusionConfig  # noqa: E402
from diffusion.jobs import TrainingJob, warm_up  # noqa: E402
from diffusion.pipeline import DiffusionPipeline  # noqa: E402
from diffusion.train import Trainer  # noqa: E402

TUTORIAL_HOURS = (11.0, 14.0)


def to_bar(seed: int, every: float) -> tuple[list[tuple[float, int, bool]], Trainer]:
    """Checks (training seconds, step, passes) of one default run, and its trainer."""
    trainer = Trainer(DiffusionConfig(seed=seed))
    checks = []
    next_check = every
    while not trainer.done:
        trainer.step()
        if trainer.train_seconds >= next_check or trainer.done:
            quality = DiffusionPipeline.from_trainer(trainer).quality(5000, seed=len(checks))
            checks.append((trainer.train_seconds, trainer.step_count, quality.passes))
            print(
                f"  seed {seed} {trainer.train_seconds:6.1f} s step {trainer.step_count:5d}  precision "
                f"{quality.precision:.4f} recall {quality.recall:.4f} sw1 {quality.sw1:.4f}"
                f"{'  PASS' if quality.passes else ''}",
                file=sys.stderr,
                flush=True,
            )
            next_check = trainer.train_seconds + every
    return checks, trainer


def race(seeds: list[int], every: float) -> None:
    config = DiffusionConfig()
    print(f"default settings ({config.steps} steps), torch threads {torch.get_num_threads()}, check every {every:g} s")
    print(f"{'seed':>4} {'it/s':>6} {'first pass (s)':>15} {'at step':>8} {'stays (s)':>10} {'from step':>10}")
    firsts, stays, stay_steps = [], [], []
    for seed in seeds:
        checks, trainer = to_bar(seed, every)
        first = next((c for c in checks if c[2]), None)
        stay = next((c for i, c in enumerate(checks) if all(d[2] for d in checks[i:])), None)
        rate = trainer.step_count / trainer.train_seconds
        firsts.append(math.inf if first is None else first[0])
        stays.append(math.inf if stay is None else stay[0])
        stay_steps.append(math.inf if stay is None else stay[1])
        show = lambda c, i: "never" if c is None else f"{c[i]:.1f}" if i == 0 else str(c[i])  # noqa: E731
        print(f"{seed:>4} {rate:6.0f} {show(first, 0):>15} {show(first, 1):>8} {show(stay, 0):>10} {show(stay, 1):>10}")
    median = statistics.median(stays)
    ratio = " - ".join(f"{h * 3600 / median:,.0f}" for h in TUTORIAL_HOURS)
    print(
        f"median: first pass {statistics.median(firsts):.1f} s, stays from {median:.1f} s of training "
        f"(the tutorial's 11-14 h: {ratio} times longer); every seed stays from step {max(stay_steps)}"
    )


def one_run(poll: float, timeout: float = 120.0) -> tuple[float, int, float, float, float]:
    """(seconds to a passing snapshot, its step, seconds for the Reverse page's work, it/s, MB sent)."""
    clicked = time.perf_counter()
    job = TrainingJob(DiffusionConfig()).start()
    try:
        while True:
            s = job.status()
            if s.quality is not None and s.quality.passes:
                passed = time.perf_counter() - clicked
                break
            if not s.state.active or time.perf_counter() - clicked > timeout:
                raise RuntimeError(f"no passing snapshot: state {s.state.value}, step {s.step}, {s.error}")
            time.sleep(poll)
        started = time.perf_counter()
        view = views.reverse_view(s.pipeline, n=2000, seed=0)
        payload = figures.reverse_animation(view).to_json()
        page = time.perf_counter() - started
        return passed, s.pipeline.steps_trained, page, s.iterations_per_second, len(payload) / 1e6
    finally:
        job.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--every", type=float, default=0.5, help="seconds of training between quality checks")
    ap.add_argument("--start", action="store_true", help="time a Start click to the Reverse page instead")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--poll", type=float, default=1.0, help="seconds between status reads (the Train page's refresh)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: 2, or 1 with --start)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads or (1 if args.start else 2))
    if not args.start:
        race(args.seeds, args.every)
        return 0

    warm_up()  # the fork server imports torch; the dashboard starts it with its first page
    warm = TrainingJob(DiffusionConfig(T=5, width=8, batch_size=64, steps=2)).start()
    while warm.status().state.active:  # a first run through it, so every timed Start finds it ready
        time.sleep(0.1)

    print(f"default settings, torch threads {args.threads}, status read every {args.poll:g} s")
    print(
        f"{'#':>2} {'to passing snapshot (s)':>24} {'at step':>8} {'it/s':>6} "
        f"{'Reverse page work (s)':>22} {'MB':>5} {'total (s)':>10}"
    )
    totals = []
    for i in range(args.repeats):
        passed, step, page, rate, mb = one_run(args.poll)
        totals.append(passed + page)
        print(f"{i:>2} {passed:24.2f} {step:8d} {rate:6.0f} {page:22.2f} {mb:5.2f} {passed + page:10.2f}")
    print(
        f"median total {statistics.median(totals):.2f} s "
        "(Start -> the Reverse page's data for a model that meets the bar)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
