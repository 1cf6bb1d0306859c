"""From a Start click to a reverse animation that meets the quality bar, on the server's side.

    python benchmarks/bench_start_to_quality.py [--repeats 3] [--poll 1.0] [--threads 1]

Does what the dashboard does after Start with the default settings, without a browser: a
`TrainingJob` (child process, default recipe, 4,000 steps), its status read every --poll s (the
Train page redraws every 1 s), until a published snapshot's samples meet the quality bar (SW1 and
chamfer of 5,000 samples, measured in the training process); then the Reverse page's work for that
snapshot: the reverse trajectory of 2,000 points with the drift field, the Plotly animation, and its
JSON (what Streamlit sends). The run is then stopped. The fork server is started and used once
before the first repeat, as the dashboard does when its first page is drawn.

Prints, per repeat: seconds to the first passing snapshot (and its step), seconds for the Reverse
page's work, and their sum. A browser adds its own drawing time (tests/e2e measures that, with
chromium on the same cores). It measures and prints; it asserts nothing.
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

from diffusion import figures, views  # noqa: E402
from diffusion.config import DiffusionConfig  # noqa: E402
from diffusion.jobs import TrainingJob, warm_up  # noqa: E402


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
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--poll", type=float, default=1.0, help="seconds between status reads (the Train page's refresh)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per call (the dashboard uses 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

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
