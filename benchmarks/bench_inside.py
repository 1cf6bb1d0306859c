"""Time the "see inside the chains" engine (`diffusion.inside`) on the shipped default model.

    python benchmarks/bench_inside.py [--repeats 7] [--threads 2] [--n 2000] [--seed 0]

Prints the median and the fastest of --repeats runs (after one warm-up) for:

  paths      following 50 random points through both chains of --n points: drawing the 50
             indices and cutting their paths out of the forward and the reverse trajectory, which
             the pages have cached already (building those chains is timed on its own lines, for
             reference), and picking points with a 100-vertex lasso on one frame;
  densities  the density view for every t (T = 40 on the shipped model: 41 frames) at 64 x 64 bins,
             from the cached chains: both image stacks, SW1 of q(x_t) against p(x_t) per frame, and
             the noise floor, which builds one more forward chain; and its payload in float32 bytes;
  kernel     the true reverse step q(x_{t-1} | x_t = x) from 20,000 data points (the mixture's
             weights and means, then its moments) at t = 2, T/2 and T, and the whole probe beside
             the learned kernel with both ellipses.

Targets, on 2 cores: paths < 50 ms, densities < 1 s and < 2 MB, true reverse step < 200 ms.
It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from diffusion import inside  # noqa: E402
from diffusion.checkpoint import load_checkpoint  # noqa: E402
from diffusion.data import roll_at  # noqa: E402

MODEL = ROOT / "assets" / "default_model.pt"


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """Median and fastest wall time of `repeats` calls after one warm-up, in ms, and the last result."""
    out = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times), out


def row(name: str, median: float, fastest: float, note: str = "") -> None:
    print(f"  {name:<58} {median:9.2f} ms  (fastest {fastest:8.2f}){'  ' + note if note else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=2000, help="points per chain (the pages' default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipeline = load_checkpoint(MODEL, device="cpu")
    T, n, seed, r = pipeline.T, args.n, args.seed, args.repeats
    print(f"model {MODEL.name}: T = {T}, width {pipeline.config.width}; n = {n}, {args.threads} torch threads")

    print("paths (50 points, both chains)")
    m, f, (q_traj, _) = timed(lambda: pipeline.forward_trajectory(n, seed), r)
    row("build the forward chain (cached by the pages)", m, f)
    m, f, p_traj = timed(lambda: pipeline.reverse_trajectory(n, seed), r)
    row("build the reverse chain (cached by the pages)", m, f)

    def follow():
        idx = inside.random_indices(n, 50, seed=1)
        return inside.select_paths(q_traj, idx), inside.select_paths(p_traj, idx)

    m, f, (qp, pp) = timed(follow, r)
    row("50 random indices + both paths, from the cached chains", m, f, f"{qp.nbytes + pp.nbytes:,} bytes")
    angle = np.linspace(0, 2 * np.pi, 100, endpoint=False)
    radius = 0.6 + 0.25 * np.cos(5 * angle)  # a star: concave, like a hand-drawn lasso
    lasso = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    m, f, picked = timed(lambda: inside.indices_in_polygon(q_traj[T // 2], lasso), r)
    row(f"lasso of 100 vertices on one frame of {n} points", m, f, f"{len(picked)} picked")

    print("densities (every t, 64 x 64 bins)")
    m, f, view = timed(lambda: inside.density_view(pipeline, n, seed, q_trajectory=q_traj, p_trajectory=p_traj), r)
    row(f"density view, {len(view.t)} frames, from the cached chains", m, f)
    print(f"  payload: {view.payload_bytes:,} bytes of float32 ({view.payload_bytes / 2**20:.2f} MiB)")
    m, f, _ = timed(lambda: inside.chain_densities(q_traj), r)
    row("  of which one stack of images (chain_densities)", m, f)
    m, f, _ = timed(lambda: inside.density_divergence(q_traj, p_traj), r)
    row("  of which SW1 per frame (density_divergence)", m, f)
    ratio = view.divergence / view.noise_floor
    print(
        f"  SW1(q, p) / noise floor over t: median {np.median(ratio):.2f}, max {ratio.max():.2f} at "
        f"t = {int(view.t[np.argmax(ratio)])}; floor {view.noise_floor.min():.4f}..{view.noise_floor.max():.4f}"
    )

    print("kernel (true reverse step from 20,000 data points)")
    data = inside._probe_data(inside.PROBE_DATA_POINTS, 0)
    x = roll_at(np.array(9.0)) + np.array([0.05, -0.05])
    schedule = pipeline.diffusion.schedule
    for t in (2, T // 2, T):

        def true_step(t=t):
            weights, means, var = inside.true_reverse_step(schedule, x, t, data)
            return inside.mixture_moments(weights, means, var)

        m, f, _ = timed(true_step, r)
        row(f"true_reverse_step + mixture_moments at t = {t}", m, f)
    m, f, probe = timed(lambda: inside.probe_kernel(pipeline, x, T // 2), r)
    row(f"probe_kernel at t = {T // 2} (learned and true, both ellipses)", m, f)
    print(
        f"  at t = {T // 2}: learned mean {probe.learned_mean.round(4)}, true {probe.true_mean.round(4)}; "
        f"learned var {probe.learned_var.round(5)}, true diag {np.diag(probe.true_cov).round(5)}; "
        f"{probe.effective_points:,.0f} effective points"
    )


if __name__ == "__main__":
    main()
