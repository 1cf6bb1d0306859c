"""Why training runs in a child process: its speed beside a server thread that is busy in Python.

    python benchmarks/bench_gil.py [--seconds 4] [--threads 1]

Trains the default recipe (T = 40, width 128, batch 2,048) for --seconds in three ways and prints
iterations per second:
  1. alone, in this process's main thread (the reference);
  2. in this process, while a second thread builds and serialises Plotly figures in a loop, as a
     Streamlit script thread does when a page redraws (the GIL: every torch call releases and
     re-takes it, and the busy thread keeps it for up to the 5 ms switch interval each time);
  3. in a `diffusion.jobs.TrainingJob` (a child process) while the same busy thread runs here;
  4. and 5. in this process while a second thread measures sample quality (5,000 samples) in a
     loop, as the training process's snapshot thread does: with the measurement as it was (SW1's
     projections as a matrix product with an inner dimension of 2, which numpy runs holding the
     GIL, and the reference roll made by sklearn at every call) and as it is (`sample_quality`).
It measures and prints the ratios to (1); it asserts nothing. The server runs torch with one thread
per call (dashboard.py), hence the default --threads 1.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from diffusion import figures  # noqa: E402
from diffusion.config import DiffusionConfig  # noqa: E402
from diffusion.data import swiss_roll  # noqa: E402
from diffusion.jobs import JobState, TrainingJob, TrainingSlots, warm_up  # noqa: E402
from diffusion.metrics import chamfer_distance, sample_quality  # noqa: E402
from diffusion.train import Trainer  # noqa: E402

LONG = 10**7


def busy_python(stop: threading.Event) -> None:
    """What a page redraw does to the server process: build figures and turn them into JSON."""
    rng = np.random.default_rng(0)
    while not stop.is_set():
        figures.loss_figure(np.arange(1, 1001), rng.random(1000) + 1.0).to_json()


def quality_before(samples: np.ndarray) -> tuple[float, float]:
    """sample_quality as it was before the measurement stopped holding the GIL (same numbers)."""
    reference = swiss_roll(5000, seed=2024)
    angles = np.arange(180) * (np.pi / 180)
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    sw1 = float(np.abs(np.sort(samples @ directions.T, axis=0) - np.sort(reference @ directions.T, axis=0)).mean())
    return sw1, chamfer_distance(samples, reference)


def measuring(stop: threading.Event, measure) -> None:
    """What a training process's snapshot thread does, without the pauses between snapshots."""
    samples = swiss_roll(5000, seed=1)
    while not stop.is_set():
        measure(samples)


def rate_beside(seconds: float, target, *args) -> float:
    stop = threading.Event()
    other = threading.Thread(target=target, args=(stop, *args), daemon=True)
    other.start()
    try:
        return rate_in_thread(seconds)
    finally:
        stop.set()
        other.join()


def rate_in_thread(seconds: float) -> float:
    trainer = Trainer(DiffusionConfig(steps=LONG))
    for _ in range(10):  # warm-up: first calls allocate
        trainer.step()
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        trainer.step()
        steps += 1
    return steps / (time.perf_counter() - started)


def rate_in_child(seconds: float) -> float:
    """Steps per wall-clock second, between two progress reports of the child (sent every 0.2 s)."""
    job = TrainingJob(DiffusionConfig(steps=LONG), slots=TrainingSlots(1), snapshot_seconds=3600).start()

    def next_report(after: int) -> tuple[float, int]:
        while (step := job.status().step) <= after:
            if not job.status().state.active:
                raise RuntimeError(f"the job ended: {job.status().error}")
            time.sleep(0.002)
        return time.perf_counter(), step

    try:
        t0, s0 = next_report(10)  # past the start-up and the first steps
        time.sleep(seconds)
        t1, s1 = next_report(job.status().step)
        return (s1 - s0) / (t1 - t0)
    finally:
        job.stop(wait=True)
        assert job.status().state is JobState.STOPPED


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per call (the dashboard uses 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warm_up()  # the fork server imports torch once; not part of any measurement

    alone = rate_in_thread(args.seconds)
    stop = threading.Event()
    busy = threading.Thread(target=busy_python, args=(stop,), daemon=True)
    busy.start()
    try:
        beside_thread = rate_in_thread(args.seconds)
        beside_child = rate_in_child(args.seconds)
    finally:
        stop.set()
        busy.join()
    measuring_before = rate_beside(args.seconds, measuring, quality_before)
    measuring_now = rate_beside(args.seconds, measuring, sample_quality)

    print(f"torch threads per call: {args.threads}; {args.seconds:g} s each; default recipe, batch 2,048")
    print(f"{'where training runs':58s} {'it/s':>7s} {'vs alone':>9s}")
    for name, rate in (
        ("alone, main thread", alone),
        ("thread in the server process, beside a busy script thread", beside_thread),
        ("child process (TrainingJob), same busy thread in the server", beside_child),
        ("beside a thread measuring sample quality, as it was", measuring_before),
        ("beside a thread measuring sample quality, as it is", measuring_now),
    ):
        print(f"{name:58s} {rate:7.1f} {rate / alone:8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
