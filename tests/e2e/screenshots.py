"""Screenshot every page of the dashboard in headless Chromium (a look, not a test).

    .venv/bin/python tests/e2e/screenshots.py [out_dir] [--train]
    .venv/bin/python tests/e2e/screenshots.py --docs

Starts the app on loopback, opens each page, waits for its charts, saves a PNG per page, and stops
the server. With --train it also starts a short run on the Train page and screenshots it live.
With --docs it writes only docs/screenshot.png, the README's picture: the Overview page with the
paper's Figure 1 for the shipped model, 1400x1000.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = int(os.environ.get("DASHBOARD_PORT") or _free_port())
URL = f"http://127.0.0.1:{PORT}"
DOCS_SHOT = ROOT / "docs" / "screenshot.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = [
    ("overview", "/"),
    ("train", "/train"),
    ("forward", "/forward"),
    ("reverse", "/reverse"),
    ("bound", "/bound"),
    ("settings_changed", "/forward?T=60&schedule=linear"),
]


def start_server() -> subprocess.Popen:
    cmd = [
        str(ROOT / ".venv/bin/streamlit"),
        "run",
        "dashboard.py",
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(PORT),
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{URL}/_stcore/health", timeout=1).read() == b"ok":
                return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("server did not become healthy")


def wait_idle(page, timeout: float = 60.0) -> None:
    """Until no script run is in progress (the status widget exists only while one runs)."""
    time.sleep(0.5)
    deadline = time.time() + timeout
    while time.time() < deadline and page.locator('[data-testid="stStatusWidget"]').count():
        time.sleep(0.2)


def docs_screenshot(browser) -> None:
    """The README's picture: Overview at 1400x1000, scrolled so that Figure 1 is in view."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(URL + "/")
    expect(page.locator('[data-testid="stSidebar"]')).to_be_visible(timeout=60_000)
    wait_idle(page)
    chart = page.locator(".st-key-figure1 .js-plotly-plot").first
    expect(chart).to_be_visible(timeout=60_000)
    page.get_by_role("heading", name="Figure 1 of the paper").evaluate("e => e.scrollIntoView({block: 'start'})")
    time.sleep(2.0)  # WebGL draws after the element appears
    DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_SHOT))
    print(f"wrote {DOCS_SHOT} ({DOCS_SHOT.stat().st_size / 1024:.0f} KB)")


def main() -> None:
    if "--docs" in sys.argv:
        server = start_server()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                docs_screenshot(browser)
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
        return
    out = Path(
        sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else ROOT / "tests/artifacts/screenshots"
    )
    out.mkdir(parents=True, exist_ok=True)
    server = start_server()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": int(os.environ.get("SHOT_HEIGHT", "2200"))})
            for name, path in PAGES:
                started = time.perf_counter()
                page.goto(URL + path)
                expect(page.locator('[data-testid="stSidebar"]')).to_be_visible(timeout=60_000)
                wait_idle(page)
                if name != "train":
                    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
                time.sleep(1.5)  # WebGL draws after the element appears
                print(f"{name}: {time.perf_counter() - started:.1f} s")
                page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            if "--train" in sys.argv:
                page.goto(URL + "/train")
                wait_idle(page)
                page.get_by_role("button", name="Start new run").click()
                time.sleep(6)
                page.screenshot(path=str(out / "train_live.png"), full_page=True)
                page.get_by_role("button", name="Stop").click()
                wait_idle(page)
                time.sleep(1.5)
                page.screenshot(path=str(out / "train_stopped.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
