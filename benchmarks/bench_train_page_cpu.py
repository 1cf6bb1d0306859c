"""Where the CPU goes while a user watches the Train page: server, training process, browser.

    python benchmarks/bench_train_page_cpu.py [--seconds 20] [--post-script-gc]

Starts the app on loopback (tests/e2e/conftest.py's launcher), opens the Train page in headless
Debian chromium, clicks Start with the default settings and, every 2 s for --seconds, prints the
CPU used (in cores) by the server process, by its training processes (the fork server's
children) and by their main threads (where the steps run: one torch thread, so at most one core),
by chromium and by its renderer processes alone (the page's scripts, layout and, with
--disable-gpu, its painting), and the machine's idle CPU, with the progress bar's text; once, the
autogroups of each. --post-script-gc turns Streamlit's full garbage collection after every script
run back on (`.streamlit/config.toml` turns it off), to compare. It measures and prints; it
asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import psutil  # noqa: E402
from conftest import ARTIFACTS, fork_servers, launch_chromium, start_server, stop_server  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from diffusion.jobs import autogroup  # noqa: E402


def training_processes(server: psutil.Process) -> list[psutil.Process]:
    """The server's training runs: its fork server's children."""
    procs = []
    for forkserver in fork_servers(server.pid):
        try:
            procs += forkserver.children()
        except psutil.NoSuchProcess:
            pass
    return procs


def chromium_processes(browser_root: psutil.Process) -> list[psutil.Process]:
    return [p for p in browser_root.children(recursive=True) if "chrom" in p.name()]


def cpu_seconds(server: psutil.Process, browser_root: psutil.Process) -> dict[str, float]:
    """CPU seconds (user + system) so far, by group; processes that ended since are not counted."""
    groups = {"server": [server], "training": training_processes(server), "chromium": chromium_processes(browser_root)}
    groups["renderer"] = [p for p in groups["chromium"] if "--type=renderer" in _cmdline(p)]
    totals = {"idle": psutil.cpu_times().idle, "train_main": 0.0}
    for p in groups["training"]:
        try:
            totals["train_main"] += sum(t.user_time + t.system_time for t in p.threads() if t.id == p.pid)
        except psutil.NoSuchProcess:
            pass
    for name, procs in groups.items():
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        totals[name] = total
    return totals


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.NoSuchProcess:
        return ""


def autogroups(procs: list[psutil.Process]) -> str:
    """The Linux autogroups (one per session; the CPU is shared fairly between them before niceness
    counts) these processes are in, with each group's niceness; '-' where there are none. A process
    whose ancestors never started a session is in init's default group (`autogroup` gives None)."""
    groups = set()
    for p in procs:
        group = autogroup(p.pid)
        if group is not None:
            groups.add(f"{group[0].lstrip('/')} nice {group[1]}")
        elif p.is_running() and Path(f"/proc/{p.pid}/autogroup").exists():
            groups.add("the default autogroup")
    return ", ".join(sorted(groups)) or "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument(
        "--post-script-gc", action="store_true", help="Streamlit's default: a full gc.collect() after every script run"
    )
    args = ap.parse_args()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    extra = ["--runner.postScriptGC", "true"] if args.post_script_gc else []
    proc, url = start_server(ARTIFACTS / "bench_train_page_server.log", extra)
    server = psutil.Process(proc.pid)
    rows: list[dict[str, float]] = []
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(url + "/train")
            start = page.get_by_role("button", name="Start new run")
            expect(start).to_be_enabled(timeout=90_000)
            time.sleep(6)  # the fork server imports torch after the first page: let it finish
            me = psutil.Process()
            before, t_before = cpu_seconds(server, me), time.perf_counter()
            started = t_before
            start.click()
            progress = page.locator('[data-testid="stMain"] [data-testid="stProgress"]')
            print(f"postScriptGC {'on' if args.post_script_gc else 'off'}; CPU in cores over each interval")
            print(
                f"{'s':>5} {'server':>7} {'training':>9} {'(main)':>7} {'chromium':>9} {'(renderer)':>10} {'idle':>5}  progress"
            )
            while time.perf_counter() - started < args.seconds:
                time.sleep(2.0)
                now, t_now = cpu_seconds(server, me), time.perf_counter()
                row = {k: (now[k] - before.get(k, 0.0)) / (t_now - t_before) for k in now}
                text = " ".join((progress.first.inner_text() if progress.count() else "").split())[:70]
                print(
                    f"{t_now - started:5.1f} {row['server']:7.2f} {row['training']:9.2f} {row['train_main']:7.2f} {row['chromium']:9.2f} "
                    f"{row['renderer']:10.2f} {row['idle']:5.2f}  {text}",
                    flush=True,
                )
                if not rows:
                    print(
                        f"autogroups: server {autogroups([server])}; training {autogroups(training_processes(server))}; "
                        f"chromium {autogroups(chromium_processes(me))}",
                        flush=True,
                    )
                rows.append(row)
                before, t_before = now, t_now
            browser.close()
    finally:
        stop_server(proc)
    steady = rows[1:] or rows  # the first interval includes the run's start
    print(
        "median: "
        + ", ".join(
            f"{k} {statistics.median(r[k] for r in steady):.2f} cores"
            for k in ("server", "training", "train_main", "chromium", "renderer", "idle")
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
