"""Every data set: the Forward page's redraw after a picker switch, and the training time to the bar.

    python benchmarks/bench_datasets.py [--seeds 1] [--max-seconds 40] [--threads 1]

Per data set, on this machine's CPU:
- the server's work when the sidebar's Data set changes on the Forward page: the forward chain of
  2,000 points, its Plotly animation and the JSON Streamlit sends (the first draw of a set; a
  later one comes from the page's cache);
- with the default recipe (run for --max-seconds), the training seconds until the first model
  that meets the quality bar (`SampleQuality.passes`: precision, recall and SW1 against fresh data
  of the same set), checked every 100 steps on 5,000 samples. The checks' own time is excluded,
  as a snapshot's measurement runs beside training in the app. The median over --seeds seeds.
It measures and prints a Markdown table; it asserts nothing.
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

from diffusion import datasets, figures, views  # noqa: E402
from diffusion.config import DiffusionConfig  # noqa: E402
from diffusion.pipeline import DiffusionPipeline  # noqa: E402
from diffusion.train import Trainer  # noqa: E402

CHECK_EVERY = 100


def forward_redraw(name: str) -> float:
    started = time.perf_counter()
    config = DiffusionConfig(data=name)
    view = views.forward_view(config, 2000, 0)
    figures.forward_animation(view, views.schedule_view(config)).to_json()
    return time.perf_counter() - started


def seconds_to_bar(name: str, seed: int, max_seconds: float) -> tuple[float | None, int]:
    """Training seconds (checks excluded) and steps until the bar is met; (None, steps) if never."""
    trainer = Trainer(DiffusionConfig(data=name, seed=seed, steps=None, max_seconds=max_seconds))
    while not trainer.done:
        for _ in range(CHECK_EVERY):
            trainer.step()
            if trainer.done:
                break
        if DiffusionPipeline.from_trainer(trainer).quality(5000, seed=0).passes:
            return trainer.train_seconds, trainer.step_count
    return None, trainer.step_count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=40.0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the app trains with 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    forward_redraw("swiss_roll")  # imports and first-call costs, once
    print("| data set | Forward redraw (s) | seconds to the bar (median) | steps | seeds that met it |")
    print("|---|---|---|---|---|")
    for name in datasets.NAMES:
        redraw = forward_redraw(name)
        results = [seconds_to_bar(name, seed, args.max_seconds) for seed in range(args.seeds)]
        met = [r for r in results if r[0] is not None]
        if met:
            seconds = statistics.median(r[0] for r in met)
            steps = int(statistics.median(r[1] for r in met))
            time_text, steps_text = f"{seconds:.1f}", f"{steps:,}"
        else:
            time_text, steps_text = f"not within {args.max_seconds:g}", "-"
        print(
            f"| {datasets.LABELS[name]} | {redraw:.2f} | {time_text} | {steps_text} | {len(met)} of {args.seeds} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
