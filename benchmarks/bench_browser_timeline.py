"""Start -> a passing snapshot -> the Reverse animation drawn, in a real browser, stage by stage.

    python benchmarks/bench_browser_timeline.py [--repeats 3] [--rounds 2] [CHECKOUT ...]

Issue 4's speed target as the e2e test takes it (tests/e2e, `test_default_run_reaches_the_quality_bar`):
headless Debian chromium on the same cores as the app, default settings, click Start on the Train
page, wait until it shows a snapshot that meets the quality bar, open the Reverse page. The e2e tests' in-page
stopwatch (a MutationObserver) notes when each stage first shows:

    train_pass   the Train page shows a snapshot that meets the bar
    nav_click    the Reverse page's menu entry is clicked (right after)
    rev_heading  the Reverse page's title
    rev_plotdiv  its chart's element
    rev_drawn    the chart drawn, slider and all
    rev_meets    ... and its quality line says the model meets the bar (the e2e test's stopwatch)

Each CHECKOUT (default: this one) is served by its own server, in turn, `--rounds` times, so that
two commits (`git worktree add /tmp/x <commit>`) are compared under the same drift of a VM's speed.
Prints every run and, per checkout, the medians. It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import conftest as e2e  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402
from test_browser import REVERSE_DRAWN, SNAPSHOT_PASSES, nav, stopwatch, wait_idle  # noqa: E402

STAGES = {
    "train_pass": SNAPSHOT_PASSES,
    "rev_heading": "[...main.querySelectorAll('h1')].some(h => h.textContent.includes('Reverse process'))",
    "rev_plotdiv": "main.querySelector('.st-key-reverse_chart .js-plotly-plot') !== null",
    "rev_drawn": REVERSE_DRAWN,
    "rev_meets": REVERSE_DRAWN
    + " && main.textContent.includes('current model (trained') && main.textContent.includes('meets the quality bar')",
}


def one_run(browser, url: str, server) -> tuple[dict[str, float], str]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(url + "/train")
        start = page.get_by_role("button", name="Start new run")
        expect(start).to_be_enabled(timeout=90_000)
        wait_idle(page)
        e2e.wait_for_fork_server(server)  # as the e2e test: a warm server
        stopwatch(page, **STAGES)
        start.click()
        page.wait_for_function(
            f"() => {{ const main = document.querySelector('[data-testid=\"stMain\"]'); return {SNAPSHOT_PASSES}; }}",
            timeout=120_000,
            polling=100,
        )
        line = page.evaluate(
            "() => [...document.querySelectorAll('[data-testid=\"stAlert\"]')].map(e => e.textContent)"
            ".find(t => t.includes('of the snapshot at step'))"
        )
        clicked = page.evaluate("() => performance.now() - window.__t0")
        nav(page, "Reverse process")
        page.wait_for_function("() => 'rev_meets' in window.__seen", timeout=60_000, polling=100)
        seen = page.evaluate("() => window.__seen")
        seen["nav_click"] = clicked
        return {k: v / 1000 for k, v in seen.items()}, line
    finally:
        context.close()


def served_in_turn(checkouts: list[str], rounds: int):
    """(round, checkout, server, url) for each checkout in turn, `rounds` times: each served by a
    server of its own, stopped before the next starts, so that commits see the same drift of a
    VM's speed."""
    for r in range(rounds):
        for checkout in checkouts:
            e2e.ROOT = Path(checkout)  # start_server serves ROOT / dashboard.py
            server, url = e2e.start_server()
            try:
                yield r, checkout, server, url
            finally:
                e2e.stop_server(server)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkouts", nargs="*", default=[str(ROOT)], help="checkouts of this repository to serve in turn")
    ap.add_argument("--repeats", type=int, default=3, help="runs per checkout per round (one server each round)")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    results: dict[str, list[dict[str, float]]] = {c: [] for c in args.checkouts}
    with sync_playwright() as p:
        browser = e2e.launch_chromium(p)
        try:
            for _, checkout, server, url in served_in_turn(args.checkouts, args.rounds):
                for _ in range(args.repeats):
                    seen, line = one_run(browser, url, server)
                    results[checkout].append(seen)
                    step = line.split("at step ")[1].split(":")[0] if line and "at step " in line else "?"
                    print(
                        checkout,
                        json.dumps({k: round(v, 2) for k, v in sorted(seen.items(), key=lambda kv: kv[1])}),
                        f"passing snapshot at step {step}",
                        flush=True,
                    )
                    time.sleep(3)  # the run's process ends with its session
        finally:
            browser.close()
    print("\nmedians, seconds from the Start click (switch = nav_click -> rev_meets)")
    for checkout, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in ("train_pass", "rev_meets")}
        switch = statistics.median(r["rev_meets"] - r["nav_click"] for r in runs)
        print(
            f"{checkout}: {len(runs)} runs; Train page passes {med['train_pass']:.2f}; Reverse drawn and passing "
            f"{med['rev_meets']:.2f} (range {min(r['rev_meets'] for r in runs):.2f}-{max(r['rev_meets'] for r in runs):.2f}); switch {switch:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
