"""The Compare page's chain figure: 4 shipped presets x 2,000 points x 41 frames with arrows.

Measures the payload Streamlit sends (plotly.io.to_json, as st.plotly_chart does), the server's
build from cached views (the figure, and Streamlit's own copy of it), and, with --browser, how
long headless chromium takes to parse and draw it in a page with plotly.js already loaded.

    .venv/bin/python benchmarks/bench_compare.py --repeats 3 --browser
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import plotly.graph_objects as go  # noqa: E402
import plotly.io as pio  # noqa: E402
import plotly.tools  # noqa: E402
import torch  # noqa: E402

from diffusion import compare, figures_compare, presets  # noqa: E402

NAMES = ("default", "T10", "width16", "table1")


def browser_draw_seconds(spec: str) -> float:
    """Seconds headless chromium takes to parse the figure's JSON and draw it (Plotly.newPlot to
    its promise), in a page that has plotly.js loaded already, as the dashboard's page has."""
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]
    with tempfile.NamedTemporaryFile(suffix=".html", delete=False) as f:
        f.write(pio.to_html(go.Figure(), include_plotlyjs=True, full_html=True, div_id="blank").encode())
        path = f.name
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"file://{path}")
        page.wait_for_function("window.Plotly !== undefined")
        seconds = page.evaluate(
            """async (spec) => {
                const start = performance.now();
                const fig = JSON.parse(spec);
                const div = document.createElement("div");
                document.body.appendChild(div);
                await Plotly.newPlot(div, fig.data, fig.layout, {responsive: true});
                await Plotly.addFrames(div, fig.frames);
                return (performance.now() - start) / 1000;
            }""",
            spec,
        )
        browser.close()
    Path(path).unlink()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--browser", action="store_true", help="also time the drawing in headless chromium")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the dashboard's server

    pipelines = [presets.load_preset(name) for name in NAMES]
    frames = compare.frame_count([p.T for p in pipelines])
    start = time.perf_counter()
    chains = [compare.compare_view(p, frames, args.n, 0) for p in pipelines]
    views_s = time.perf_counter() - start

    builds, copies = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fig = figures_compare.compare_animation(list(NAMES), chains, [p.T for p in pipelines])
        builds.append(time.perf_counter() - start)
        start = time.perf_counter()
        plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)  # st.plotly_chart's copy
        spec = pio.to_json(fig, validate=False)  # what it sends
        copies.append(time.perf_counter() - start)
    print(f"models {', '.join(NAMES)}; {args.n:,} points x {frames} frames with arrows")
    print(f"views (sampled once, then cached): {views_s:.2f} s")
    print(f"figure from cached views: median {statistics.median(builds):.3f} s (of {args.repeats})")
    print(f"Streamlit's copy and JSON: median {statistics.median(copies):.3f} s")
    print(f"payload: {len(spec) / 1e6:.2f} MB")
    if args.browser:
        draws = [browser_draw_seconds(spec) for _ in range(args.repeats)]
        print(f"drawn in headless chromium: median {statistics.median(draws):.2f} s (of {args.repeats})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
