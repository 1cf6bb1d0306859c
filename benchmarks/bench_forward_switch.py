"""Train page -> the Forward page with a view the server has not built yet, in a real browser.

    python benchmarks/bench_forward_switch.py [--repeats 3] [--rounds 2] [CHECKOUT ...]

What a user who changes T, the betas or the schedule and opens the Forward page waits for: headless
Debian chromium on the same cores as the app (as the e2e tests), a new browser context per run
opening /train?T=<a T not shown before> (so the server builds a new forward view and figure), then
a click on the Forward page's menu entry. The e2e tests' in-page stopwatch notes, from the click:

    heading   the Forward page's title
    plotdiv   its chart's element (the figure has reached the page)
    drawn     the chart drawn, slider and all

Each CHECKOUT (default: this one) is served by its own server, in turn, `--rounds` times, so that
two commits (`git worktree add /tmp/x <commit>`) see the same drift of a VM's speed. The first run
on each server also pays the server's first figure of its kind. It measures and prints; it asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import conftest as e2e  # noqa: E402
from bench_browser_timeline import served_in_turn  # noqa: E402  (this folder is on sys.path: the script's own)
from playwright.sync_api import expect, sync_playwright  # noqa: E402
from test_browser import nav, stopwatch, wait_idle  # noqa: E402

CHART = "main.querySelector('.st-key-forward_chart .js-plotly-plot{}') !== null"
STAGES = {
    "heading": "[...main.querySelectorAll('h1')].some(h => h.textContent.includes('Forward process q'))",
    "plotdiv": CHART.format(""),
    "drawn": CHART.format(" .slider-group"),
}


def one_run(browser, url: str, T: int) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{url}/train?T={T}")
        expect(page.get_by_role("button", name="Start new run")).to_be_visible(timeout=90_000)
        wait_idle(page)
        page.wait_for_timeout(1000)
        stopwatch(page, **STAGES)
        clicked = page.evaluate("() => performance.now() - window.__t0")
        nav(page, "Forward process")
        page.wait_for_function("() => 'drawn' in window.__seen", timeout=60_000, polling=100)
        return {k: (v - clicked) / 1000 for k, v in page.evaluate("() => window.__seen").items()}
    finally:
        context.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkouts", nargs="*", default=[str(ROOT)], help="checkouts of this repository to serve in turn")
    ap.add_argument("--repeats", type=int, default=3, help="runs per checkout per round (one server each round)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    results: dict[str, list[dict[str, float]]] = {c: [] for c in args.checkouts}
    with sync_playwright() as p:
        browser = e2e.launch_chromium(p)
        try:
            for r, checkout, _, url in served_in_turn(args.checkouts, args.rounds):
                for k in range(args.repeats):
                    T = 41 + r * args.repeats + k  # the same new T for every checkout
                    seen = one_run(browser, url, T)
                    results[checkout].append(seen)
                    print(checkout, f"T={T}", json.dumps({s: round(v, 2) for s, v in seen.items()}), flush=True)
        finally:
            browser.close()
    print("\nmedians, seconds from the click on 'Forward process'")
    for checkout, runs in results.items():
        med = {s: statistics.median(r[s] for r in runs) for s in STAGES}
        print(
            f"{checkout}: {len(runs)} runs; "
            + ", ".join(f"{s} {v:.2f}" for s, v in med.items())
            + f" (drawn {min(r['drawn'] for r in runs):.2f}-{max(r['drawn'] for r in runs):.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
