"""Time the computations behind the dashboard's views, on the shipped default model.

    python benchmarks/bench_ui_paths.py [--device cpu|cuda] [--repeats 7] [--threads 1]

Prints the median and the fastest of --repeats runs (after one warm-up) for: the reverse trajectory
of 5,000 points, the forward trajectory of 5,000 points, the drift field on a 25x25 grid at every t
(what the reverse animation shows) and at one t, the bound on 20,000 held-out points, the
quality metrics, and building the Plotly figures of the Forward, Reverse and Overview pages from
their view data (2,000 points; what a page waits for the first time it shows a setting or model),
and serialising them as st.plotly_chart does at every script run (with plotly's JSON encoder and
with orjson); the figure tables only where Plotly imports (a GPU machine may lack it).
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

import importlib.util  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from diffusion import views  # noqa: E402
from diffusion.checkpoint import load_checkpoint  # noqa: E402
from diffusion.metrics import sample_quality  # noqa: E402

try:  # the figure tables need Plotly; the engine's timings do not (a GPU machine may lack it)
    import plotly.io
    import plotly.tools

    from diffusion import figures
except ImportError:
    figures = None


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


def figure_builds(p, module) -> dict:
    """The figures the pages build from their views (2,000 points, as the pages default to)."""
    forward, schedule = views.forward_view(p.config, 2000, 0), views.schedule_view(p.config)
    reverse, fig1 = views.reverse_view(p, 2000, 0), views.figure1_view(p)
    h, density, roll = p.history, views.sample_density(p.samples(5000, seed=0)), views.roll_curve()
    return {
        "Forward page's figure, 2,000 points": lambda: module.forward_animation(forward, schedule),
        "Reverse page's figure, 2,000 points": lambda: module.reverse_animation(reverse),
        "Overview's Figure 1": lambda: module.figure1(fig1),
        "Train page's live charts": lambda: module.live_training_figures(
            np.asarray(h.steps, np.int64),
            np.asarray(h.loss, np.float32),
            np.asarray(h.kl_per_t, np.float32),
            density,
            roll,
            "Samples",
        ),
    }


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
    print("| path | median ms | best ms |")
    print("|---|---|---|")
    for name, fn in paths.items():
        median, best = timed(fn, 3 if "bound" in name else args.repeats)
        print(f"| {name} | {median:.1f} | {best:.1f} |")

    if figures is None:
        print("\nfigures: not timed (Plotly is not importable here)")
        return 0
    builds = figure_builds(p, figures)
    print("\n| figure built | median ms | best ms |")
    print("|---|---|---|")
    for name, fn in builds.items():
        median, best = timed(fn, args.repeats)
        print(f"| {name} | {median:.0f} | {best:.0f} |")
    serialised(builds)
    return 0


def serialised(builds: dict, rounds: int = 15) -> None:
    """What st.plotly_chart does with a cached figure at every script run that draws it: to_dict(),
    then plotly.io.to_json, with plotly's own JSON encoder and with orjson (which plotly uses
    whenever it is installed). The encoders of a figure run in turn, `rounds` times, and the
    medians are printed, so both see the machine at nearly the same speed. A build that returns
    several figures (the Train page's three live panels) counts them all."""
    engines = ["json"] + (["orjson"] if importlib.util.find_spec("orjson") else [])
    figs = {name: fn() for name, fn in builds.items()}
    print(
        "\n| figure serialised per script run (to_dict + to_json) | "
        + " | ".join(f"{e} (ms)" for e in engines)
        + " | JSON MB |"
    )
    print("|---|" + "---|" * (len(engines) + 1))
    for name, fig in figs.items():
        cells = {e: [] for e in engines}
        for _ in range(rounds):
            for engine, times in cells.items():
                start = time.perf_counter()
                for part in fig if isinstance(fig, tuple) else (fig,):
                    plotly.io.to_json(
                        plotly.tools.return_figure_from_figure_or_data(part, True), validate=False, engine=engine
                    )
                times.append((time.perf_counter() - start) * 1000)
        print(
            f"| {name} | "
            + " | ".join(f"{statistics.median(t):.1f}" for t in cells.values())
            + f" | {sum(len(part.to_json()) for part in (fig if isinstance(fig, tuple) else (fig,))) / 1e6:.2f} |"
        )


if __name__ == "__main__":
    sys.exit(main())
