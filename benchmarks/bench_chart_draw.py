"""What drawing each chart costs chromium the way Streamlit draws it: two Plotly.react calls.

    python benchmarks/bench_chart_draw.py [--rounds 4] [--of REV] [--as-numbers]

Streamlit's chart (st.plotly_chart, Streamlit 1.67) calls Plotly.react with the figure, and then,
from its onUpdate handler, a second time with the figure plotly.js handed back. This script makes
the same two calls in headless Debian chromium, launched as the e2e tests launch it (software
WebGL, on the same cores), in a plain page with the plotly.js that plotly.py ships (Streamlit
bundles its own, of the same major version), and times each until the next animation frame is
painted: "first draw" and "echo". The figures are the pages' own, from the shipped model: the
Forward and Reverse animations (2,000 points), Figure 1 and the Train page's live chart. With
--of, a git revision's diffusion/figures.py builds them too, from the same views; with
--as-numbers, the same figures are also sent with their traces' arrays as JSON numbers instead
of base64 typed arrays (frames unchanged): plotly.js decodes a base64 array anew at every call,
so the echo finds "new" data and draws the whole figure again. Each figure's variants are drawn
in turn, `--rounds` times, in one page. Prints every round, the medians, the JSON sizes and each
variant's ratios to "now". It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import plotly

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import conftest as e2e  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from revisions import module_at  # noqa: E402  (this folder is on sys.path: the script's own)

from diffusion import figures, views  # noqa: E402
from diffusion.checkpoint import load_checkpoint  # noqa: E402

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
# Resolves with [first draw ms, echo ms]: Streamlit's two calls, each until the next frame is painted.
DRAW = """async spec => {
    const d = JSON.parse(spec), g = document.getElementById('chart');
    const painted = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
    const config = {displaylogo: false};
    Plotly.purge(g);
    await painted();
    let t0 = performance.now();
    await Plotly.react(g, {data: d.data, layout: {...d.layout, width: 1100}, frames: d.frames, config});
    await painted();
    const first = performance.now() - t0;
    t0 = performance.now();
    await Plotly.react(g, {data: g.data, layout: g.layout, frames: g._transitionData._frames, config});
    await painted();
    return [first, performance.now() - t0];
}"""


def as_numbers(fig):
    """The figure with its traces' arrays as lists (the shortest decimals that read back as the
    same float32), set without plotly.py's per-element validation; frames keep typed arrays."""
    for trace in fig.data:
        for owner, names in ((trace, ("x", "y", "z")), (trace["marker"] if "marker" in trace else None, ("color",))):
            if owner is None:
                continue
            validate, owner._validate = owner._validate, False
            try:
                for name in (n for n in names if n in owner):
                    value = owner[name]
                    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
                        owner[name] = (
                            value.tolist()
                            if value.dtype.kind in "iu"
                            else value.astype(np.float32).astype(str).astype(np.float64).tolist()
                        )
            finally:
                owner._validate = validate
    return fig


def figure_specs(module, label: str, convert=None) -> dict[str, str]:
    """The JSON of each page's figure, as `module` builds it (what st.plotly_chart sends)."""
    p = load_checkpoint(ROOT / "assets" / "default_model.pt")
    h = p.history
    live = module.live_training_figure(
        np.asarray(h.steps, np.int64),
        np.asarray(h.loss, np.float32),
        np.asarray(h.kl_per_t, np.float32),
        views.sample_density(p.samples(5000, seed=0)),
        views.roll_curve(),
        "Samples",
    )
    built = {
        "Forward": module.forward_animation(views.forward_view(p.config, 2000, 0), views.schedule_view(p.config)),
        "Reverse": module.reverse_animation(views.reverse_view(p, 2000, 0)),
        "Figure 1": module.figure1(views.figure1_view(p)),
        "Train page live chart": live,
    }
    return {f"{name}, {label}": (convert(fig) if convert else fig).to_json() for name, fig in built.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--of", metavar="REV", help="also draw a git revision's figures.py, in turn with this checkout's"
    )
    parser.add_argument(
        "--as-numbers", action="store_true", help="also draw the figures with their traces' arrays as JSON numbers"
    )
    args = parser.parse_args()

    specs = figure_specs(figures, "now")
    if args.of:
        specs.update(figure_specs(module_at(args.of, "figures"), args.of))
    if args.as_numbers:
        specs.update(figure_specs(figures, "now, as numbers", as_numbers))
    specs = dict(sorted(specs.items()))  # each figure's variants side by side
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in specs}
    with sync_playwright() as pw:
        browser = e2e.launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_content("<div id='chart'></div>")
        page.add_script_tag(path=str(PLOTLY_JS))
        for r in range(args.rounds):
            for name, spec in specs.items():
                first, echo = page.evaluate(DRAW, spec)
                results[name].append((first, echo))
                print(f"round {r + 1}  {name:<32} first draw {first:6.0f} ms   echo {echo:5.0f} ms", flush=True)
        browser.close()

    print(f"\nmedians over {args.rounds} rounds:")
    medians = {
        name: (statistics.median(f for f, _ in rs), statistics.median(e for _, e in rs)) for name, rs in results.items()
    }
    for name, (first, echo) in medians.items():
        print(
            f"  {name:<32} first draw {first:6.0f} ms   echo {echo:5.0f} ms   both {first + echo:6.0f} ms   JSON {len(specs[name]) / 1e6:.2f} MB"
        )
    for name, (first, echo) in medians.items():
        figure, variant = name.split(", ", 1)
        if variant != "now":
            now = medians[f"{figure}, now"]
            print(
                f"  {figure}: {variant} / now: first draw {first / now[0]:.2f}x, echo {echo / now[1]:.2f}x, both {(first + echo) / sum(now):.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
