"""AppTest fixtures: the dashboard driven in-process, one fresh session per test."""

import pytest
import torch
from app_helpers import DASHBOARD
from streamlit.testing.v1 import AppTest


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """dashboard.py sets torch to one thread for the server; keep that out of other test files."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _navigation_not_legacy_pages(monkeypatch):
    """Run the entry script on every AppTest rerun, as the real server does.

    A `pages/` folder beside the entry script makes Streamlit assume the legacy (v1) multipage
    layout until `st.navigation` runs and clears the flag. The server keeps the cleared flag for
    the process; AppTest resets it before every run, so each rerun would execute only the page
    (no sidebar). Clearing it after AppTest's reset restores the server's behaviour.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(autouse=True)
def _one_session_id_per_apptest(monkeypatch):
    """AppTest gives every instance the same session id ("test session id"), so session-scoped
    caches (the training job holder) would be shared by all of them, unlike browser sessions on
    a server. Give each AppTest its own id, stable across its runs."""
    from streamlit.testing.v1.local_script_runner import LocalScriptRunner

    original = LocalScriptRunner.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._session_id = f"apptest-{id(self.session_state._state)}"

    monkeypatch.setattr(LocalScriptRunner, "__init__", init)


@pytest.fixture
def at():
    app = AppTest.from_file(DASHBOARD, default_timeout=180)
    app.run()
    yield app
    holder = app.session_state["_job_holder"] if "_job_holder" in app.session_state else None
    if holder is not None and holder.job is not None:
        holder.job.stop(wait=True)  # never leave a training thread behind
