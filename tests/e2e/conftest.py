"""Browser-test fixtures: the real app on a free loopback port, and one headless Debian chromium.

`app_url` (session) starts `streamlit run dashboard.py` in its own process group, waits until
`/_stcore/health` answers `ok`, yields the URL and kills the whole group at the end (the server's
training threads die with it). `browser` (session) launches /usr/bin/chromium through Playwright
(never `playwright install`: it downloads a browser of its own). `page` gives each test a fresh context,
so each test is a new Streamlit session. The server's log goes to tests/artifacts/server.log.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HEALTH_TIMEOUT_S = 90  # 0.8 s on an idle machine; generous for a busy 2-core one


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# `python -m streamlit`, plus: SIGUSR1 writes every thread's stack to the server's log (diagnostics).
_LAUNCHER = (
    "import faulthandler, signal; faulthandler.register(signal.SIGUSR1, all_threads=True); "
    "from streamlit.web.cli import main; main(prog_name='streamlit')"
)


def start_server(
    log_path: Path | None = None, extra_args: tuple[str, ...] | list[str] = ()
) -> tuple[subprocess.Popen, str]:
    """Start the app on 127.0.0.1:<free port> in a new process group; return (process, url) once healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-c",
        _LAUNCHER,
        "run",
        str(ROOT / "dashboard.py"),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        *extra_args,
    ]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    if log_path:
        log.close()  # the child holds its own descriptor
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"streamlit exited with status {proc.returncode} before it was healthy (log: {log_path})"
            )
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return proc, url
        except OSError:
            pass
        time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"streamlit did not answer /_stcore/health within {HEALTH_TIMEOUT_S} s (log: {log_path})")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left after 10 s."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # children that outlived the leader
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def app_server(artifacts) -> tuple[subprocess.Popen, str]:
    proc, url = start_server(artifacts / "server.log")
    try:
        yield proc, url
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def app_url(app_server) -> str:
    return app_server[1]


@pytest.fixture
def training_pids(app_server):
    """A function: the PIDs of the test server's training processes now."""
    return lambda: set(training_processes(app_server[0]))


def training_processes(server: subprocess.Popen) -> list[int]:
    """PIDs of the server's training runs: the children of its fork server (diffusion.jobs)."""
    import psutil

    pids = []
    for forkserver in fork_servers(server.pid):
        try:
            pids += [p.pid for p in forkserver.children() if p.status() != psutil.STATUS_ZOMBIE]
        except psutil.NoSuchProcess:
            continue
    return pids


def fork_servers(server_pid: int) -> list:
    """The server's fork server (diffusion.jobs), as psutil processes: none before the first page."""
    import psutil

    found = []
    for child in psutil.Process(server_pid).children():
        try:
            if "forkserver" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def wait_for_fork_server(server: subprocess.Popen, timeout_s: float = 60.0) -> float:
    """Block until the server's fork server (started by the first page) has imported torch: its
    CPU time stops growing. Every Start but the first few seconds of a fresh server finds it so;
    timings of a Start are taken from there. Returns the seconds waited."""

    started = time.monotonic()
    deadline = started + timeout_s
    last = None
    while time.monotonic() < deadline:
        forkservers = fork_servers(server.pid)
        if forkservers:
            t = forkservers[0].cpu_times()
            now = t.user + t.system
            if last is not None and now - last < 0.01:
                return time.monotonic() - started
            last = now
        time.sleep(0.5)
    raise RuntimeError(f"the fork server was not ready after {timeout_s} s")


@pytest.fixture
def warm_server(app_server):
    """A function: wait until the test server can start a training process at once."""
    return lambda: wait_for_fork_server(app_server[0])


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip("Debian's chromium is not installed (tests/setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (a new Streamlit session) with a tall viewport."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    pg.on(
        "console",
        lambda msg: (
            errors.append(f"console.{msg.type}: {msg.text} ({msg.location.get('url', '')})")
            if msg.type == "error"
            else None
        ),
    )
    pg.on("crash", lambda _: errors.append("the page crashed"))
    pg.js_errors = errors  # tests read and check them
    # A classroom may have no internet: nothing the app shows may come from another host.
    outside: list[str] = []
    pg.on("request", lambda r: outside.append(r.url) if not _served_here(r.url) else None)
    try:
        yield pg
    finally:
        context.close()
        if errors:
            _JS_ERRORS.extend(errors)
    assert not outside, f"requests left the machine: {sorted(set(outside))[:5]}"


def _served_here(url: str) -> bool:
    parsed = urllib.parse.urlsplit(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname in ("127.0.0.1", "localhost", "::1")


# ---------------------------------------------------------------------- timings
_TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def timings(artifacts):
    """Named measurements (seconds); printed after the run and saved to browser_timings.json."""
    yield _TIMINGS
    if _TIMINGS:
        import json

        (artifacts / "browser_timings.json").write_text(json.dumps(_TIMINGS, indent=2) + "\n")


_JS_ERRORS: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if _TIMINGS:
        terminalreporter.section("browser timings (s)")
        for name, seconds in _TIMINGS.items():
            terminalreporter.write_line(f"{seconds:8.2f}  {name}")
    if _JS_ERRORS:
        terminalreporter.section("browser console errors")
        for line in _JS_ERRORS[:30]:
            terminalreporter.write_line(line[:300])
