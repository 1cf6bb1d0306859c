"""How much of the quality bar is sampling noise: SW1 of 5,000 points against the reference set.

    python benchmarks/bench_sw1_noise.py [--seeds 20] [--checkpoint assets/default_model.pt]

`sample_quality` compares 5,000 points with 5,000 held-out roll points (seed 2024); the bar is
SW1 <= 0.025. Prints SW1 and chamfer for (1) 5,000 true roll points of --seeds different seeds (a
perfect model's samples) and (2) the checkpoint's 5,000 samples at sampling seeds 0..--seeds-1
(the app measures a snapshot with seed 0). It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diffusion.checkpoint import load_checkpoint  # noqa: E402
from diffusion.data import swiss_roll  # noqa: E402
from diffusion.metrics import QUALITY_SW1, sample_quality  # noqa: E402


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:44s} min {min(values):.4f}  median {statistics.median(values):.4f}  max {max(values):.4f}  "
        f"above the bar {sum(v > QUALITY_SW1 for v in values)}/{len(values)}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--checkpoint", default=str(ROOT / "assets" / "default_model.pt"))
    args = ap.parse_args()
    true = [sample_quality(swiss_roll(5000, seed=s)).sw1 for s in range(args.seeds)]
    pipeline = load_checkpoint(args.checkpoint, device="cpu")
    model = [pipeline.quality(5000, seed=s).sw1 for s in range(args.seeds)]
    print(f"SW1 against the 5,000 reference points (bar {QUALITY_SW1}); {args.seeds} seeds each")
    print(summary("5,000 true roll points (a perfect model)", true))
    print(summary(f"the checkpoint's samples ({pipeline.steps_trained:,} steps)", model))
    print(f"the checkpoint at seed 0 (what the app measures): {model[0]:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
