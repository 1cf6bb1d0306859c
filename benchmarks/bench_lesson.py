"""Next / Previous in the guided lesson: from the click (or key) to the new scene drawn, in headless
chromium, for every scene of the shipped lesson (assets/lesson_paper.json).

    .venv/bin/python benchmarks/bench_lesson.py [--size 1920x1080] [--talk 3] [--no-projector] [--no-prefetch]

Starts the app on a free loopback port and opens `/?lesson=paper&scene=1&projector=1`. Pass 1
steps through every scene on the fresh server (what a first class sees: each scene's views are
built while the previous one is shown, `--talk` seconds per scene), pass 2 does the same in a new
browser session (the server's caches warm). "Drawn" is what tests/e2e/test_lesson_browser.py waits
for: the lesson bar names the new scene, and its page's chart is drawn (at the scene's t, where it
names one). The server's own work for each step (its script runs, in-process, warm) is printed
beside it, so the rest is the browser's; and, for comparison, the Forward page redrawn outside any
lesson after its Seed changes. Prints a table and writes runs/benchmarks/bench_lesson.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from _serve import CHROMIUM, CHROMIUM_ARGS, OUT, start_server, stop_server  # noqa: E402
from test_lesson_browser import CHARTS, DRAWN  # noqa: E402

from diffusion import lesson as engine  # noqa: E402

SCENES = engine.load_lesson(ROOT / "assets" / "lesson_paper.json").scenes
TARGET_S = 1.5


def idle(page, timeout_s: float = 60.0) -> None:
    time.sleep(0.3)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and page.locator('[data-testid="stStatusWidget"]').count():
        time.sleep(0.2)


def drawn(page, k: int, timeout_ms: float = 120_000) -> None:
    scene = SCENES[k - 1]
    page.wait_for_function(DRAWN, arg=[k, len(SCENES), CHARTS[scene.page], scene.t], polling="raf", timeout=timeout_ms)


def one_pass(browser, url: str, size: tuple[int, int], talk: float, query: str) -> list[float]:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(f"{url}/?lesson=paper&scene=1{query}")
        drawn(page, 1)
        steps = []
        for k in range(2, len(SCENES) + 1):
            idle(page)
            time.sleep(talk)
            started = time.perf_counter()
            if k % 2:
                page.keyboard.press("ArrowRight")
            else:
                page.locator(".st-key-lesson_next button").first.click()
            drawn(page, k)
            steps.append(time.perf_counter() - started)
        idle(page)
        time.sleep(talk)
        started = time.perf_counter()
        page.keyboard.press("ArrowLeft")
        drawn(page, len(SCENES) - 1)
        steps.append(time.perf_counter() - started)
        return steps
    finally:
        context.close()


def redraw_seconds(browser, url: str, size: tuple[int, int], repeats: int = 3) -> list[float]:
    """Outside a lesson, for comparison: the Forward page's animation redrawn after its Seed
    changes (a new figure, so a new chart, as at a scene's step), from Enter to the new chart."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.set_default_timeout(120_000)
    out = []
    try:
        page.goto(f"{url}/forward")
        page.locator(".st-key-forward_chart .js-plotly-plot").first.wait_for()
        for seed in range(1, repeats + 2):
            idle(page)
            time.sleep(2.0)
            page.evaluate("() => { document.querySelector('.st-key-forward_chart .js-plotly-plot').__old = 1; }")
            page.get_by_role("spinbutton", name="Seed").fill(str(seed))
            started = time.perf_counter()
            page.keyboard.press("Enter")
            page.wait_for_function(
                """() => { const g = document.querySelector('.st-key-forward_chart .js-plotly-plot');
                    return g && !g.__old && g._fullLayout && !g.closest('[data-stale="true"]'); }""",
                polling="raf",
            )
            if seed > 1:  # the first builds the new seed's view on the server
                out.append(time.perf_counter() - started)
        return out
    finally:
        context.close()


def server_seconds(query: dict) -> list[float]:
    """The server's script runs for each Next (and the last Previous), in-process, caches warm."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    original = PagesManager.__init__

    def init(self, *args, **kwargs):  # run the entry script on every rerun, as the server does
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init
    out = []
    for warm in (False, True):
        app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
        for key, value in {"lesson": "paper", **query}.items():
            app.query_params[key] = value
        app.run()
        times = []
        for _ in SCENES[1:]:
            started = time.perf_counter()
            app.button(key="lesson_next").click().run()
            times.append(time.perf_counter() - started)
        started = time.perf_counter()
        app.button(key="lesson_prev").click().run()
        times.append(time.perf_counter() - started)
        if warm:
            out = times
    PagesManager.__init__ = original
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1920x1080", help="the browser's viewport, WxH")
    ap.add_argument("--talk", type=float, default=3.0, help="seconds on each scene before Next")
    ap.add_argument("--no-projector", action="store_true", help="the lesson without projector mode")
    ap.add_argument("--no-prefetch", action="store_true", help="do not build the next scene's views ahead")
    args = ap.parse_args()
    if args.no_prefetch:
        os.environ["DASHBOARD_LESSON_PREFETCH"] = "0"  # the server inherits it
    size = tuple(int(v) for v in args.size.split("x"))
    query = "" if args.no_projector else "&projector=1"
    OUT.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    load = os.getloadavg()[0]
    proc, url = start_server(OUT / "bench_lesson_server.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                cold = one_pass(browser, url, size, args.talk, query)
                warm = one_pass(browser, url, size, args.talk, query)
                redraw = redraw_seconds(browser, url, size)
            finally:
                browser.close()
    finally:
        stop_server(proc)
    server = server_seconds({} if args.no_projector else {"projector": "1"})
    names = [f"{k}. {SCENES[k - 1].page}" for k in range(2, len(SCENES) + 1)] + [f"{len(SCENES) - 1}. back (←)"]
    print(f"viewport {args.size}, projector {'off' if args.no_projector else 'on'}, {args.talk:g} s per scene, "
          f"load average at the start {load:.1f} on {os.cpu_count()} cores")  # fmt: skip
    print("| step to scene | fresh server (s) | warm (s) | server's share, warm (s) |")
    print("|---|---|---|---|")
    for name, c, w, s in zip(names, cold, warm, server):
        print(f"| {name} | {c:.2f} | {w:.2f} | {s:.2f} |")
    print(
        f"| median | {statistics.median(cold):.2f} | {statistics.median(warm):.2f} | {statistics.median(server):.2f} |"
    )
    print(
        f"outside the lesson, the Forward page redrawn after a Seed change: {', '.join(f'{r:.2f}' for r in redraw)} s"
    )
    met = sum(w <= TARGET_S for w in warm)
    print(f"warm steps within {TARGET_S} s: {met} of {len(warm)}")
    report = dict(size=args.size, projector=not args.no_projector, talk_s=args.talk, load=load)
    report.update(steps=names, fresh_s=cold, warm_s=warm, server_s=server, redraw_s=redraw)
    report.update(prefetch=not args.no_prefetch)
    (OUT / "bench_lesson.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
