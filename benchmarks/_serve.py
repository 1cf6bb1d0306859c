"""The app on a loopback port, and Debian's chromium, for the benchmarks that drive a browser.

`start_server` runs `streamlit run dashboard.py` in its own process group on a free port and
returns once `GET /_stcore/health` answers `ok`; `stop_server` ends the whole group. The server is
launched so that SIGUSR1 writes every Python thread's stack to its log (faulthandler).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "benchmarks"  # logs and JSON reports (ignored by git)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HEALTH_TIMEOUT_S = 90

# `python -m streamlit`, plus: SIGUSR1 writes every thread's stack to the server's log.
_LAUNCHER = (
    "import faulthandler, signal; faulthandler.register(signal.SIGUSR1, all_threads=True); "
    "from streamlit.web.cli import main; main(prog_name='streamlit')"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(log_path: Path, extra_args: list[str] = ()) -> tuple[subprocess.Popen, str]:
    """Start the app on 127.0.0.1:<free port> in a new process group; return (process, url) once healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-c", _LAUNCHER, "run", str(ROOT / "dashboard.py")]
    cmd += ["--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port)]
    cmd += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *extra_args]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {proc.returncode} (log: {log_path})")
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
    try:
        os.killpg(pgid, signal.SIGTERM)
        proc.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def training_processes(server: subprocess.Popen) -> list[int]:
    """PIDs of the server's training runs: the live children of its fork server."""
    import psutil

    pids = []
    for child in psutil.Process(server.pid).children():
        try:
            if "forkserver" in " ".join(child.cmdline()):
                pids += [p.pid for p in child.children() if p.status() != psutil.STATUS_ZOMBIE]
        except psutil.NoSuchProcess:
            continue
    return pids
