"""Time the slide exports (`diffusion.export`) on the shipped default model.

    .venv/bin/python benchmarks/bench_export.py [--repeats 3] [--threads 2] [--n 2000] [--size 800] [--fps 10]

Prints the median and the fastest of --repeats runs (after one warm-up), and the file's size, for:

  reverse GIF / MP4   the Reverse page's animation (T = 40 on the shipped model: 41 frames of --n
                      points, --size x --size pixels, with the drift arrows): drawing the frames,
                      writing them, and the two together, which is what a click costs once the
                      page has its view;
  forward GIF         the same for the Forward page's chain (no arrows);
  Figure 1 PNG        the 3x3 panels at 1920 x 1080, from its view.

The views themselves (sampling the chains) are timed on their own lines, for reference: the pages
have them cached already. Targets, on 2 cores: GIF written in < 5 s and < 5 MB, MP4 in < 5 s and
< 2 MB. It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

from diffusion import export, views
from diffusion.checkpoint import load_checkpoint

MODEL = ROOT / "assets" / "default_model.pt"


def timed(fn, repeats: int):
    """(median s, best s, last result) of `repeats` calls after one warm-up call."""
    fn()
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), min(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=800)
    parser.add_argument("--fps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipeline = load_checkpoint(MODEL, device="cpu")
    rows = []

    def row(name: str, fn, size_of=None) -> object:
        median, best, result = timed(fn, args.repeats)
        size = f"{len(size_of(result)) / 1e6:.2f}" if size_of else ""
        rows.append((name, median, best, size))
        return result

    reverse = row("reverse view (sampling, for reference)", lambda: views.reverse_view(pipeline, args.n, 0))
    forward = row("forward view (for reference)", lambda: views.forward_view(pipeline.config, args.n, 0))
    fig1 = row("Figure 1 view (for reference)", lambda: views.figure1_view(pipeline))

    frames = row("reverse: draw 41 frames", lambda: export.chain_frames(reverse, args.size))
    for fmt, writer in ((".gif", export.write_gif), (".mp4", export.write_mp4)):
        name = fmt[1:].upper()

        def write(writer=writer) -> bytes:
            buffer = io.BytesIO()
            writer(frames, buffer, args.fps)
            return buffer.getvalue()

        row(f"reverse {name}: write", write, bytes)
        row(f"reverse {name}: draw + write", lambda fmt=fmt: export.chain_bytes(reverse, fmt, args.size), bytes)
    row("forward GIF: draw + write", lambda: export.chain_bytes(forward, ".gif", args.size), bytes)
    row("forward MP4: draw + write", lambda: export.chain_bytes(forward, ".mp4", args.size), bytes)
    row("Figure 1 PNG 1920x1080: draw + write", lambda: export.figure1_bytes(fig1), bytes)

    print(
        f"{args.n} points, {len(reverse.t)} frames of {args.size}x{args.size} at {args.fps} fps, {args.threads} threads"
    )
    print(f"median and best of {args.repeats} after a warm-up\n")
    print("| step | median s | best s | MB |")
    print("|---|---|---|---|")
    for name, median, best, size in rows:
        print(f"| {name} | {median:.3f} | {best:.3f} | {size} |")


if __name__ == "__main__":
    main()
