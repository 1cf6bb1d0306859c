"""Helpers for the AppTest tests (a unique module name: conftest.py files of other folders may exist)."""

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `diffusion` and `pages` import from the repository root

DASHBOARD = str(ROOT / "dashboard.py")
PAGES = [
    "pages/overview.py",
    "pages/train.py",
    "pages/forward.py",
    "pages/reverse.py",
    "pages/inside.py",
    "pages/compare.py",  # before the Bound page, whose K a test reads after visiting every page
    "pages/lesson.py",
    "pages/bound.py",
]


def opened(query: dict | None = None, page: str | None = None):
    """The dashboard opened by a link with `query`'s parameters, on `page`, without an exception."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(DASHBOARD, default_timeout=180)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    app.run()
    if page is not None:
        app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def status_text(app) -> str:
    """The sidebar's model status line."""
    for md in app.sidebar.markdown:
        if md.value.startswith("**Status:**"):
            return md.value
    raise AssertionError("no status line in the sidebar")


def progress_text(app) -> str:
    """The main area's progress bar's text (the Train page's)."""
    (bar,) = app.main.get("progress")
    return bar.proto.text


def start_tiny_run(app, **training):
    """A run of a small model (T = 10, width 16, batch 256) started from the Train page, with the
    given training widgets set first (e.g. steps=30, lr=100.0); returns its TrainingJob."""
    app.number_input(key="T").set_value(10).run()
    app.number_input(key="width").set_value(16).run()
    app.switch_page("pages/train.py").run()
    for key, value in {"batch_size": 256, **training}.items():
        app.number_input(key=key).set_value(value).run()
    app.button(key="start").click().run()
    return app.session_state["_job_holder"].job


def wait_until(predicate, timeout: float, what: str) -> None:
    """Poll `predicate` every 0.1 s; fail with `what` after `timeout` seconds."""
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)


def wait_for_job(app, timeout: float = 150.0):
    """AppTest never fires run_every: poll the job and rerun until it ends."""
    holder = app.session_state["_job_holder"]
    deadline = time.time() + timeout
    while holder.job.status().state.active:
        assert time.time() < deadline, f"training did not end in {timeout} s: {holder.job.status()}"
        time.sleep(0.3)
    app.run()
    return holder.job.status()
