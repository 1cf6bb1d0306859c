"""Load test: many browser sessions train and animate at once on one server.

    .venv/bin/python benchmarks/load_test.py [--sessions 8] [--seconds 3 | --steps N] [--waves 1]
                                             [--timeout 1200] [--stall 240] [--hostile 0]

Everything is on 127.0.0.1 and every wait is bounded.

1. Starts `streamlit run dashboard.py` on a free loopback port in its own process group (killed at
   the end whatever happens), with `server.disconnectedSessionTTL` set to --session-ttl (20 s;
   Streamlit's default is 120 s), see 4.
2. Warm-up: one browser session opens Overview and Train, trains 5 steps and leaves, as a real
   server's first visitor would (it loads torch, the shipped model and the fork server). The
   server's RSS (process and children), its threads and its Python threads by kind (from a stack
   dump) are then "start".
3. A wave: --sessions sessions at once (contexts of one headless chromium, asyncio Playwright),
   each: open the app and wait for Figure 1; on Train set the training length (--seconds of
   training, or --steps) and its own seed; click Start; poll the progress bar until "finished"
   (the server trains at most one run per core, so the others first show "Server busy ... ahead
   of you"); open Reverse, check it shows the trained model, press Play and wait for the slider to
   move. A sampler records the server's RSS and threads every 0.25 s and the CPU time of the
   server, of the browsers and of the whole machine.
4. The browser closes. Streamlit keeps a closed session's state for the TTL and drops it at the
   next store operation, so after the TTL one short visit triggers that, as later traffic would.
   Then it waits (at most --settle s) until RSS and threads are steady and takes "after".
   --waves repeats 3-4; growth from one wave to the next would be a leak.

--hostile N adds N hostile users to each wave, each with four tabs at once beside the normal
sessions: an upload of a crafted checkpoint that declares a 2 GB tensor in a small file;
`/bound?T=1000&width=138` (close to the weight limit); `/train?T=4&width=2048&batch_size=262144` and
Start (the largest batch, the widest network); and a link of inf / nan / 1e400 / 400-digit values.
Each prints what the page said. The server's peak RSS is then compared with its start RSS plus
diffusion.memory.MEMORY_BUDGET_BYTES per session (normal and hostile tabs).

Prints, per session, its timings; per wave, the server's RSS and threads (start, peak, after), the
training processes at most at once and left after, the CPU split, and what it noticed (a session
that failed or stalled, processes or threads left behind). It measures and prints; it asserts
nothing. A JSON report and the server's log go to runs/benchmarks/.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import signal
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))  # diffusion.memory: the budget the peak RSS is compared with
from _serve import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server, training_processes  # noqa: E402
from _serve import OUT as ARTIFACTS  # noqa: E402
from playwright.async_api import Error as PlaywrightError  # noqa: E402
from playwright.async_api import async_playwright, expect  # noqa: E402

from diffusion.memory import MEMORY_BUDGET_BYTES  # noqa: E402

MB = 2**20
VIEWPORT = {
    "width": 1100,
    "height": 800,
}  # smaller than a laptop's: 8 software-rendered pages share the server's 2 cores
expect.set_options(timeout=180_000)  # every wait is bounded; a loaded 2-core server is slow, not stuck
ACTION_TIMEOUT_MS = 180_000  # clicks, fills, reads


# ---------------------------------------------------------------------- server memory
def server_usage(proc: psutil.Process) -> tuple[int, int]:
    """(RSS in bytes, threads) of the server and all its children."""
    rss = threads = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, 0
    for p in procs:
        try:
            with p.oneshot():
                rss += p.memory_info().rss
                threads += p.num_threads()
        except psutil.NoSuchProcess:
            pass
    return rss, threads


def tree_cpu(proc: psutil.Process, seen: dict[int, float]) -> None:
    """Record the CPU seconds (user + system) of `proc` and its descendants into `seen` (by pid)."""
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            t = p.cpu_times()
            seen[p.pid] = max(seen.get(p.pid, 0.0), t.user + t.system)
        except psutil.NoSuchProcess:
            pass


class Sampler(threading.Thread):
    """Samples the server's RSS and threads every `interval` s until stopped; keeps the peaks, and
    the CPU time used meanwhile by the server, by this script's browsers, and by the whole machine."""

    def __init__(self, proc: psutil.Process, interval: float = 0.25):
        super().__init__(daemon=True)
        self.proc, self.interval = proc, interval
        self.peak_rss = self.peak_threads = 0
        self.peak_training = 0  # training processes (diffusion.jobs) at once
        self.server = None  # the subprocess.Popen, set by the caller, for training_processes()
        self.samples: list[tuple[float, int, int]] = []
        self._halt = threading.Event()
        self.server_cpu: dict[int, float] = {}
        self.browser_cpu: dict[int, float] = {}
        self.wall = 0.0

    def run(self) -> None:
        t0 = time.monotonic()
        me = psutil.Process()
        tree_cpu(self.proc, self.server_cpu)
        server_before = sum(self.server_cpu.values())
        machine_before = psutil.cpu_times()
        while not self._halt.is_set():
            rss, threads = server_usage(self.proc)
            self.peak_rss, self.peak_threads = max(self.peak_rss, rss), max(self.peak_threads, threads)
            if self.server is not None:
                self.peak_training = max(self.peak_training, len(training_processes(self.server)))
            self.samples.append((round(time.monotonic() - t0, 2), rss, threads))
            tree_cpu(self.proc, self.server_cpu)
            tree_cpu(me, self.browser_cpu)  # the Playwright driver and chromium are this script's children
            self._halt.wait(self.interval)
        self.wall = time.monotonic() - t0
        machine_after = psutil.cpu_times()
        self.browser_cpu.pop(me.pid, None)
        self.server_cpu_s = sum(self.server_cpu.values()) - server_before
        self.browser_cpu_s = sum(self.browser_cpu.values())
        busy = lambda t: t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0)  # noqa: E731
        self.machine_cpu_s = busy(machine_after) - busy(machine_before)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


# ---------------------------------------------------------------------- one browser session
@dataclass
class SessionResult:
    index: int
    ok: bool = False
    error: str = ""
    open_s: float = 0.0  # goto / until Figure 1 is in the page
    started_s: float = 0.0  # Start click until the page first shows the run running (or already finished)
    saw_busy_message: bool = False  # "Server busy ... ahead of you / next in line" was shown
    finished_s: float = 0.0  # Start click until the page shows "finished" (waiting for a slot included)
    steps: int = 0  # as the finished run reports them
    trained_s: float = 0.0  # seconds spent in training steps, as the finished run reports them
    reverse_s: float = 0.0  # page switch until the reverse chart is in the page
    play_frames: int = 0  # distinct slider positions seen after Play
    total_s: float = 0.0
    progress_texts: list[str] = field(default_factory=list)
    js_errors: list[str] = field(default_factory=list)  # uncaught exceptions, console errors, crashes (first 20)


async def nav(page, title: str) -> None:
    await page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()


async def start_run(page, steps: int | None, seconds: float | None, seed: int) -> None:
    """On the Train page: set the training length (steps, or seconds of training) and the seed, click Start."""
    start = page.get_by_role("button", name="Start new run")
    await expect(start).to_be_enabled()
    if seconds is not None:
        await page.locator('[data-testid="stRadio"]').get_by_text("seconds", exact=True).click()
        fields = (("Seconds", seconds), ("Seed", seed))
    else:
        fields = (("Steps", steps), ("Seed", seed))
    for label, value in fields:
        box = page.get_by_label(label, exact=True)
        await box.fill(str(value))
        await box.press("Enter")
        await expect(box).to_have_value(f"{value:.2f}" if isinstance(value, float) else str(value))
    await asyncio.sleep(1.0)  # let the widget values reach the server before the click
    await expect(start).to_be_enabled()
    await start.click()


async def one_session(
    browser,
    url: str,
    index: int,
    steps: int | None,
    seconds: float | None,
    timeout_s: float,
    stall_s: float,
    stall_hook=None,
) -> SessionResult:
    r = SessionResult(index)
    started = time.perf_counter()
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_MS)

    def note(line: str) -> None:
        if len(r.js_errors) < 20 and "fonts.gstatic.com" not in line:  # the favicon's icon font: no internet here
            r.js_errors.append(line[:300])

    page.on("pageerror", lambda exc: note(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda msg: note(f"console.error: {msg.text} ({msg.location.get('url', '')})") if msg.type == "error" else None,
    )
    page.on("crash", lambda _: note("the page crashed"))
    phase = "open the app, wait for Figure 1"
    try:
        await page.goto(url + "/")
        await expect(page.locator(".st-key-figure1 .js-plotly-plot").first).to_be_visible()
        r.open_s = time.perf_counter() - started

        phase = "Train page: set the length and seed, click Start"
        await nav(page, "Train")
        await start_run(page, steps, seconds, seed=index)
        clicked = time.perf_counter()
        phase = "wait for the run to finish"

        main = page.locator('[data-testid="stMain"]')
        progress = main.locator('[data-testid="stProgress"]')
        deadline = time.monotonic() + timeout_s
        last_text, last_change = "", time.monotonic()
        while True:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"not finished after {timeout_s:.0f} s; last: {r.progress_texts[-1:]}")
            if await main.get_by_text("Server busy").count():
                r.saw_busy_message = True
            try:
                text = (await progress.first.inner_text(timeout=10_000)) if await progress.count() else ""
            except PlaywrightError:
                text = ""  # replaced between count() and inner_text() by a rerun
            text = " ".join(text.split())
            if text != last_text:
                last_text, last_change = text, now
            elif now - last_change > stall_s and not text.startswith(("queued", "starting")):
                if stall_hook:
                    stall_hook()
                raise TimeoutError(f"the progress bar has not changed for {stall_s:.0f} s: {text!r}")
            if text and (not r.progress_texts or r.progress_texts[-1].split(" ·")[0] != text.split(" ·")[0]):
                r.progress_texts.append(text)  # one entry per state change
            if not r.started_s and text.startswith(("running", "paused", "finished")):
                r.started_s = time.perf_counter() - clicked
            if text.startswith(("failed", "stopped")):
                raise RuntimeError(f"training ended as: {text}")
            if text.startswith("finished"):
                if seconds is None and f"step {steps:,} / {steps:,}" not in text:
                    raise RuntimeError(f"finished at the wrong step: {text}")
                r.finished_s = time.perf_counter() - clicked
                m = re.search(r"step ([\d,]+).*?([\d,.]+) s trained", text)
                if m:
                    r.steps, r.trained_s = int(m.group(1).replace(",", "")), float(m.group(2).replace(",", ""))
                break
            await asyncio.sleep(0.5)

        phase = "Reverse page: the trained model's animation"
        switched = time.perf_counter()
        await nav(page, "Reverse process")
        rev = page.locator(".st-key-reverse_chart .js-plotly-plot").first
        await expect(rev).to_be_visible()
        await expect(main.get_by_text("Generated by the current model (trained")).to_be_visible()
        r.reverse_s = time.perf_counter() - switched
        await asyncio.sleep(1.0)
        phase = "press Play, watch the slider"
        await rev.locator(".updatemenu-button", has_text="Play").click()
        seen = {await rev.evaluate("g => g._fullLayout.sliders[0].active")}
        deadline = time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            seen.add(await rev.evaluate("g => g._fullLayout.sliders[0].active"))
        r.play_frames = len(seen)
        if len(seen) < 3:
            raise RuntimeError(f"the reverse animation did not advance: {sorted(seen)}")
        r.ok = True
    except Exception as exc:  # recorded and reported with the session's row
        r.error = f"{phase}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        try:
            await page.screenshot(path=str(ARTIFACTS / f"load_session{index}_failed.png"), full_page=True)
        except Exception:
            pass
    finally:
        r.total_s = time.perf_counter() - started
        await context.close()
    print(
        f"  session {index}: {'ok' if r.ok else 'FAILED ' + r.error} after {r.total_s:.1f} s "
        f"(open {r.open_s:.1f}, Start -> running {r.started_s:.1f}, -> finished {r.finished_s:.1f}, "
        f"reverse {r.reverse_s:.1f})",
        flush=True,
    )
    return r


async def run_sessions(
    url: str, n: int, steps: int | None, seconds: float | None, timeout_s: float, stall_s: float, stall_hook=None
) -> list[SessionResult]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tasks = [
                asyncio.create_task(one_session(browser, url, i, steps, seconds, timeout_s, stall_s, stall_hook))
                for i in range(n)
            ]
            await asyncio.wait(tasks, timeout=timeout_s + 120)  # each session bounds itself; this is the backstop
            results = []
            for i, task in enumerate(tasks):
                if task.done():
                    results.append(task.result())
                else:
                    task.cancel()
                    results.append(SessionResult(i, error=f"still running after {timeout_s + 120:.0f} s"))
            return results
        finally:
            await browser.close()


async def visit(url: str, train_steps: int = 0) -> float:
    """One browser session: Overview (Figure 1), Train, optionally a run of `train_steps`; then it
    leaves. Returns the seconds from Start to "finished" (0 without a run)."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context()).new_page()
            page.set_default_timeout(180_000)
            await page.goto(url + "/")
            await expect(page.locator(".st-key-figure1 .js-plotly-plot").first).to_be_visible()
            await nav(page, "Train")
            if not train_steps:
                await expect(page.get_by_role("button", name="Start new run")).to_be_enabled()
                return 0.0
            await start_run(page, train_steps, None, seed=0)
            t = time.perf_counter()
            await expect(page.locator('[data-testid="stMain"] [data-testid="stProgress"]')).to_contain_text("finished")
            return time.perf_counter() - t
        finally:
            await browser.close()


# ---------------------------------------------------------------------- hostile sessions
HOSTILE_TABS = (
    "upload of a checkpoint declaring 2 GB",
    "T=1000&width=138 on Bound",
    "width 2048, batch 262144, Start",
    "inf/nan/huge link",
)


def crafted_checkpoint() -> bytes:
    """The shipped model with one tensor's uncompressed size declared as 2 GB in the zip headers
    (as tests/test_checkpoint.py makes one): the loader must refuse it before reading."""
    out = bytearray((ROOT / "assets" / "default_model.pt").read_bytes())
    size = 2 * 2**30
    at = 0
    while (at := out.find(b"PK\x01\x02", at)) >= 0:  # central directory headers
        n = int.from_bytes(out[at + 28 : at + 30], "little")
        if bytes(out[at + 46 : at + 46 + n]).decode().endswith("data/0"):
            local = int.from_bytes(out[at + 42 : at + 46], "little")
            out[at + 24 : at + 28] = size.to_bytes(4, "little")
            out[local + 22 : local + 26] = size.to_bytes(4, "little")
        at += 46
    return bytes(out)


async def _said(page) -> str:
    """The page's alerts (errors, warnings, infos) and any exception, in one line."""
    texts = []
    for sel in ('[data-testid="stAlert"]', '[data-testid="stException"]'):
        for el in await page.locator(sel).all():
            texts.append((await el.inner_text()).strip().replace("\n", " ")[:140])
    return " | ".join(texts) or "(nothing)"


async def hostile_tab(browser, url: str, kind: int) -> str:
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        if kind == 0:
            await page.goto(url + "/train")
            await expect(page.get_by_role("button", name="Start new run")).to_be_enabled()
            await page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
                {"name": "bomb.pt", "mimeType": "application/octet-stream", "buffer": crafted_checkpoint()}
            )
            await expect(page.locator('[data-testid="stAlert"]', has_text="bomb")).to_be_visible()
        elif kind == 1:
            await page.goto(url + "/bound?T=1000&width=138")
            await page.wait_for_timeout(15_000)  # whatever the page does with it, within 15 s
        elif kind == 2:
            await page.goto(url + "/train?T=4&width=2048&batch_size=262144")
            start = page.get_by_role("button", name="Start new run")
            await expect(start).to_be_visible()
            if await start.is_enabled():
                await start.click()
            await page.wait_for_timeout(15_000)
        else:
            await page.goto(
                url + "/?T=inf&width=1e400&beta_end=nan&lr=" + "9" * 400 + "&rev_n=-1&schedule=%3Cb%3Ex%3C/b%3E"
            )
            await expect(page.locator('[data-testid="stAlert"]').first).to_be_visible()
            await page.wait_for_timeout(2_000)
        return await _said(page)
    except (PlaywrightError, AssertionError) as exc:
        return f"FAILED: {str(exc).splitlines()[0][:160]} | page said: {await _said(page)}"
    finally:
        await context.close()


async def run_hostile(url: str, n: int) -> list[str]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            return list(await asyncio.gather(*(hostile_tab(browser, url, i % 4) for i in range(4 * n))))
        finally:
            await browser.close()


async def one_wave(url: str, args, stall_hook) -> tuple[list[SessionResult], list[str]]:
    normal = run_sessions(url, args.sessions, args.steps, args.seconds, args.timeout, args.stall, stall_hook=stall_hook)
    if not args.hostile:
        return await normal, []
    return tuple(await asyncio.gather(normal, run_hostile(url, args.hostile)))


# ---------------------------------------------------------------------- settle
POOL = "idle pool worker"  # anyio's / concurrent.futures' workers: kept after a burst, reused later


def dump_stacks(server, log: Path) -> str:
    """SIGUSR1 makes the server (started by _serve's launcher) write every Python thread's stack
    to its log (faulthandler); returns that dump."""
    before = log.stat().st_size
    server.send_signal(signal.SIGUSR1)
    time.sleep(1.5)
    return log.read_bytes()[before:].decode(errors="replace")


STALL_DUMPS: list[str] = []


def on_stall(server, log: Path) -> None:
    """The first time a session looks stuck: keep the server's thread stacks for the report."""
    if not STALL_DUMPS:
        text = dump_stacks(server, log)
        STALL_DUMPS.append(text)
        (ARTIFACTS / "load_stall_stacks.txt").write_text(text)


def python_threads(server, log: Path) -> collections.Counter:
    """The server's Python threads by kind: training (a frame in diffusion/), script run
    (Streamlit's script runner), idle pool worker, or 'other: <innermost useful frame>'."""
    text = dump_stacks(server, log)
    plumbing = ("threading.py", "queue.py", "selectors.py", "concurrent/futures/thread.py", "asyncio/")
    kinds = collections.Counter()
    for block in re.split(r"^(?:Current thread|Thread) 0x[0-9a-f]+ \(most recent call first\):$", text, flags=re.M)[1:]:
        frames = [ln.strip() for ln in block.splitlines() if ln.strip().startswith("File ")]
        joined = "\n".join(frames)
        if "/diffusion/" in joined:
            kinds["training"] += 1
        elif "scriptrunner" in joined:
            kinds["script run"] += 1
        elif "anyio/_backends/_asyncio.py" in joined or (
            "concurrent/futures/thread.py" in joined and "_worker" in joined
        ):
            kinds[POOL] += 1
        else:
            useful = [f for f in frames if not any(x in f for x in plumbing)] or frames or ["?"]
            kinds["other: " + useful[0].replace(str(ROOT), ".")] += 1
    return kinds


def others(kinds: collections.Counter) -> int:
    return sum(n for k, n in kinds.items() if k != POOL)


def wait_settled(proc: psutil.Process, threads_goal: int, seconds: float) -> tuple[int, int, float]:
    """Until the thread count is at most `threads_goal` and RSS and threads have been steady for
    6 s (RSS within 5 MB), or `seconds` have passed; returns (rss, threads, seconds waited)."""
    t0 = time.monotonic()
    history: list[tuple[int, int]] = []
    while True:
        rss, threads = server_usage(proc)
        history.append((rss, threads))
        waited = time.monotonic() - t0
        last = history[-6:]
        steady = (
            len(last) == 6
            and max(r for r, _ in last) - min(r for r, _ in last) < 5 * MB
            and len({t for _, t in last}) == 1
        )
        if (threads <= threads_goal and steady) or waited >= seconds:
            return rss, threads, waited
        time.sleep(1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=8)
    length = ap.add_mutually_exclusive_group()
    length.add_argument(
        "--seconds",
        type=float,
        default=3.0,
        help="training length per session in seconds of training, set in the UI (default 3)",
    )
    length.add_argument("--steps", type=int, help="training length per session in steps instead")
    ap.add_argument(
        "--waves", type=int, default=1, help="repeat the burst of sessions; growth from wave to wave shows a leak"
    )
    ap.add_argument("--timeout", type=float, default=1200, help="seconds each session may take")
    ap.add_argument(
        "--stall",
        type=float,
        default=240,
        help="a session is given up when its progress bar (not queued) has not changed for this long "
        "(to its user the page is stuck)",
    )
    ap.add_argument(
        "--session-ttl",
        type=int,
        default=20,
        help="server.disconnectedSessionTTL: how long the server keeps a closed tab's state for a reconnect",
    )
    ap.add_argument(
        "--hostile", type=int, default=0, help="hostile users beside the normal sessions, four tabs each (see above)"
    )
    ap.add_argument("--settle", type=float, default=150, help="seconds to wait for the server to let the sessions go")
    args = ap.parse_args()
    if args.steps is not None:
        args.seconds = None
    run_length = f"{args.steps} steps" if args.steps else f"{args.seconds:g} s of training"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "load_server.log"

    server, url = start_server(log, ["--server.disconnectedSessionTTL", str(args.session_ttl)])
    ps = psutil.Process(server.pid)
    noticed: list[str] = []  # what a user or the operator would call wrong
    report: dict = {"sessions": args.sessions, "run_length": run_length, "waves": []}
    try:
        cold_rss, cold_threads = server_usage(ps)
        t = time.perf_counter()
        first_run = asyncio.run(visit(url, train_steps=5))
        print(
            f"warm-up session: {time.perf_counter() - t:.1f} s "
            f"(its 5-step run, the server's first: {first_run:.1f} s Start -> finished)"
        )
        start_rss, start_threads, _ = wait_settled(ps, 10**6, 30)  # until RSS is steady
        start_kinds = python_threads(server, log)
        cores = psutil.cpu_count()
        print(
            f"server at start: RSS {start_rss / MB:.0f} MB (cold, before any session: {cold_rss / MB:.0f}), "
            f"{start_threads} threads (cold: {cold_threads}); {cores} CPU cores"
        )
        report.update(
            rss_mb={"cold": cold_rss / MB, "start": start_rss / MB},
            threads={"cold": cold_threads, "start": start_threads},
            python_threads_start=dict(start_kinds),
            first_run_s=first_run,
        )

        for wave in range(1, args.waves + 1):
            print(f"\nwave {wave}: {args.sessions} sessions at once, {run_length} each")
            sampler = Sampler(ps)
            sampler.server = server
            sampler.start()
            results, hostile = asyncio.run(one_wave(url, args, lambda: on_stall(server, log)))
            sampler.stop()
            closing_rss, closing_threads = server_usage(ps)
            # Closed tabs: training threads end at once (the session cache is released); Streamlit keeps
            # a disconnected session's state for the TTL and drops it at its next store operation, so
            # one short visit after the TTL lets the store expire them, as later traffic would.
            time.sleep(args.session_ttl + 2)
            asyncio.run(visit(url))
            after_rss, after_threads, waited = wait_settled(ps, 10**6, args.settle)
            after_kinds = python_threads(server, log)
            after_training = len(training_processes(server))

            print(
                f"{'#':>2} {'ok':>3} {'open':>6} {'->run':>6} {'busy':>5} {'->done':>7} {'steps':>5} "
                f"{'trained':>7} {'reverse':>7} {'frames':>6} {'total':>6}"
            )
            for r in results:
                print(
                    f"{r.index:>2} {'yes' if r.ok else 'NO':>3} {r.open_s:6.1f} {r.started_s:6.1f} "
                    f"{'yes' if r.saw_busy_message else 'no':>5} {r.finished_s:7.1f} {r.steps:5d} "
                    f"{r.trained_s:7.1f} {r.reverse_s:7.1f} {r.play_frames:6d} {r.total_s:6.1f}"
                )
                if not r.ok:
                    noticed.append(f"wave {wave} session {r.index}: {r.error}")
            for r in results:
                for line in r.js_errors[:5]:
                    print(f"   session {r.index} browser: {line}")
            totals = [r.total_s for r in results]
            print(
                "(seconds; open: until Figure 1; ->run / ->done: from the Start click; "
                "trained: the run's own step time)"
            )
            print(
                f"time per session: median {statistics.median(totals):.1f} s, max {max(totals):.1f} s; "
                f"wave wall {sampler.wall:.1f} s"
            )
            print(
                f"server RSS (MB): start {start_rss / MB:.0f}, peak {sampler.peak_rss / MB:.0f}, "
                f"as the sessions closed {closing_rss / MB:.0f}, after they left {after_rss / MB:.0f} "
                f"({(after_rss - start_rss) / MB:+.0f} vs start; settled in {waited:.0f} s)"
            )
            if args.hostile:
                tabs = args.sessions + 4 * args.hostile
                bound = start_rss + MEMORY_BUDGET_BYTES * tabs
                print(f"hostile tabs ({args.hostile} users x 4, beside the {args.sessions} normal sessions):")
                for i, said in enumerate(hostile):
                    print(f"  {HOSTILE_TABS[i % 4]}: {said}")
                print(
                    f"peak RSS {sampler.peak_rss / MB:.0f} MB against start {start_rss / MB:.0f} MB + "
                    f"MEMORY_BUDGET_BYTES {MEMORY_BUDGET_BYTES / MB:.0f} MB x {tabs} sessions = {bound / MB:.0f} MB "
                    f"({'within' if sampler.peak_rss <= bound else 'OVER'})"
                )
                report.setdefault("hostile", []).append(
                    {"said": hostile, "peak_rss_mb": sampler.peak_rss / MB, "bound_mb": bound / MB}
                )
            print(
                f"server threads: start {start_threads}, peak {sampler.peak_threads}, "
                f"as the sessions closed {closing_threads}, after they left {after_threads}"
            )
            print(
                f"training processes: at most {sampler.peak_training} at once (cap: {cores}, one per core), "
                f"{after_training} after the sessions left"
            )
            print(
                f"CPU meanwhile ({cores} cores x {sampler.wall:.0f} s = {cores * sampler.wall:.0f} core-s): "
                f"server {sampler.server_cpu_s:.0f} ({sampler.server_cpu_s / sampler.wall:.2f} cores), "
                f"browsers (chromium) {sampler.browser_cpu_s:.0f} ({sampler.browser_cpu_s / sampler.wall:.2f}), "
                f"whole machine {sampler.machine_cpu_s:.0f} ({sampler.machine_cpu_s / sampler.wall:.2f}; "
                "the rest is other work)"
            )
            print("server Python threads by kind (start -> after):")
            for kind in sorted(set(start_kinds) | set(after_kinds)):
                print(f"  {start_kinds[kind]:3d} -> {after_kinds[kind]:3d}  {kind}")
            report["waves"].append(
                {
                    "sessions": [asdict(r) for r in results],
                    "wall_s": sampler.wall,
                    "rss_mb": {"peak": sampler.peak_rss / MB, "closing": closing_rss / MB, "after": after_rss / MB},
                    "threads": {"peak": sampler.peak_threads, "closing": closing_threads, "after": after_threads},
                    "training_processes": {"peak": sampler.peak_training, "after": after_training},
                    "python_threads_after": dict(after_kinds),
                    "cpu_core_s": {
                        "server": sampler.server_cpu_s,
                        "browsers": sampler.browser_cpu_s,
                        "machine": sampler.machine_cpu_s,
                    },
                    "samples": sampler.samples,
                }
            )

        if after_kinds["training"] or after_kinds["script run"]:
            noticed.append(
                f"threads left running after every session closed: {after_kinds['training']} training, "
                f"{after_kinds['script run']} script runs"
            )
        if after_training:
            noticed.append(f"{after_training} training processes left after every session closed")
        if report["waves"] and max(w["training_processes"]["peak"] for w in report["waves"]) > cores:
            noticed.append(f"more training processes at once than the cap of {cores}")
        if others(after_kinds) > others(start_kinds):
            noticed.append(
                f"threads did not come back: {others(after_kinds)} non-pool Python threads, "
                f"{others(start_kinds)} at start"
            )
    finally:
        stop_server(server)
        report["noticed"] = noticed
        (ARTIFACTS / "load_test.json").write_text(json.dumps(report, indent=1) + "\n")

    if STALL_DUMPS:
        print(
            "\na session looked stuck; what the server's training and script threads were doing then "
            f"(innermost frames of the app first; all stacks: {ARTIFACTS / 'load_stall_stacks.txt'}):"
        )
        for block in re.split(
            r"^(?:Current thread|Thread) 0x[0-9a-f]+ \(most recent call first\):$", STALL_DUMPS[0], flags=re.M
        )[1:]:
            frames = re.findall(r'File "([^"]+)", line (\d+) in (\S+)', block)
            if not any("/diffusion/" in f or "scriptrunner" in f for f, _, _ in frames):
                continue
            mine = [f"{Path(f).name}:{line} {fn}" for f, line, fn in frames if str(ROOT) in f and "/.venv/" not in f]
            print("  " + " <- ".join(mine[:4]))
    for line in noticed:
        print("noticed:", line)
    print(f"load test done, {len(noticed)} things noticed (details in {ARTIFACTS / 'load_test.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
