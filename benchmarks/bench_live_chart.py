"""What one update of the Train page's live charts costs the browser, before and after issue 4's fix.

    python benchmarks/bench_live_chart.py [--updates 8]

Streamlit rebuilds a chart from scratch whenever its figure changes (the element's id hashes the
spec), so each snapshot (every ~2 s) redraws the live charts as new plots. This script does the
same in headless Debian chromium with the plotly.js that the plotly package ships: for each
variant, `--updates` times, it replaces the chart divs and calls Plotly.newPlot with fresh data,
0.7 s apart, and prints chromium's CPU time (all its processes, GPU process included) per update.

- before: three figures (loss curve, loss per t, 2,000 samples as Scattergl markers), as the Train
  page drew them until this change;
- auto layout: that figure with plotly.js's autorange and the template's automargin on every axis,
  as it was drawn until the figure set its own ranges and margins;
- now: `figures.live_training_figure`, one figure with the samples as a 2-D histogram image.

It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import numpy as np  # noqa: E402
import plotly  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import psutil  # noqa: E402
from conftest import launch_chromium  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from diffusion import figures, views  # noqa: E402

WIDTH = 1300  # px, the main column of the Train page in a 1,400-px window


def live_data(rng: np.random.Generator, step: int) -> dict:
    steps = np.arange(1, step + 1)
    return dict(
        steps=steps,
        loss=(0.4 / steps**0.1 * rng.uniform(0.95, 1.05, step)).astype(np.float32),
        kl=rng.uniform(0, 0.6, 39).astype(np.float32),
        samples=rng.normal(size=(5000, 2)) * 0.6,
    )


def before(d: dict) -> list[tuple[go.Figure, int]]:
    curve = views.roll_curve()
    preview = go.Figure(
        [
            go.Scatter(
                x=curve[:, 0], y=curve[:, 1], mode="lines", line=dict(color="#c8ced6", width=6), hoverinfo="skip"
            ),
            go.Scattergl(
                x=figures.f32(d["samples"][:2000, 0]),
                y=figures.f32(d["samples"][:2000, 1]),
                mode="markers",
                marker=dict(size=figures.POINT_SIZE, opacity=0.75, color="#1f77b4"),
                hoverinfo="skip",
            ),
        ]
    )
    figures._square(preview)
    preview.update_layout(template=figures.TEMPLATE, height=380, showlegend=False)
    return [
        (figures.loss_figure(d["steps"], d["loss"]), WIDTH // 2),
        (figures.kl_per_t_figure(d["kl"]), WIDTH // 2),
        (preview, WIDTH),
    ]


def now(d: dict) -> list[tuple[go.Figure, int]]:
    fig = figures.live_training_figure(
        d["steps"],
        d["loss"],
        d["kl"],
        views.sample_density(d["samples"]),
        views.roll_curve(),
        f"Fresh samples, snapshot at step {len(d['steps']):,}",
    )
    return [(fig, WIDTH)]


def auto_layout(d: dict) -> list[tuple[go.Figure, int]]:
    ((fig, width),) = now(d)
    fig.update_xaxes(autorange=True, automargin=True)
    fig.update_yaxes(autorange=True, automargin=True)
    return [(fig, width)]


def chromium_cpu(root: psutil.Process) -> float:
    total = 0.0
    for p in root.children(recursive=True):
        try:
            if "chrom" in p.name():
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=8)
    args = ap.parse_args()
    plotly_js = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()
    rng = np.random.default_rng(0)
    me = psutil.Process()
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_content(f"<html><body><div id=charts></div><script>{plotly_js}</script></body></html>")
        version = page.evaluate("() => Plotly.version")
        print(
            f"headless chromium, plotly.js {version}; chromium CPU per update of the live charts ({args.updates} updates, 0.7 s apart)"
        )
        variants = (("before", before), ("auto layout", auto_layout), ("now", now))
        results: dict[str, list[float]] = {name: [] for name, _ in variants}
        for _ in range(2):  # interleaved: this VM's speed drifts
            for name, build in variants:
                specs = [
                    [(json.loads(f.to_json()), w) for f, w in build(live_data(rng, 300 + 40 * k))]
                    for k in range(args.updates)
                ]
                cpu0 = chromium_cpu(me)
                for charts in specs:
                    page.evaluate(
                        """charts => {
                        const box = document.getElementById('charts');
                        for (const old of box.children) Plotly.purge(old);
                        box.replaceChildren();
                        return Promise.all(charts.map(([s, w]) => { const d = document.createElement('div'); d.style.width = w + 'px';
                            box.appendChild(d); return Plotly.newPlot(d, s.data, s.layout); }));
                    }""",
                        charts,
                    )
                    time.sleep(0.7)
                per_update = (chromium_cpu(me) - cpu0) / args.updates
                idle0 = chromium_cpu(me)
                time.sleep(0.7 * 3)
                idle = (chromium_cpu(me) - idle0) / 3
                results[name].append(per_update - idle)
                print(
                    f"  {name:11s} {1000 * (per_update - idle):5.0f} ms of chromium CPU per update (idle {1000 * idle:.0f} ms per 0.7 s subtracted)",
                    flush=True,
                )
        browser.close()
    b, a, n = (statistics.median(results[name]) for name in ("before", "auto layout", "now"))
    print(
        f"median: before {1000 * b:.0f} ms, auto layout {1000 * a:.0f} ms, now {1000 * n:.0f} ms per update: "
        f"now/before = {n / b:.2f}, now/auto layout = {n / a:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
