"""The store that gives a reload its session's work back: put, take, expiry, bounds, and the app's use."""

from types import SimpleNamespace

import pytest
from app_helpers import DASHBOARD, ROOT
from streamlit.testing.v1 import AppTest

from diffusion import views
from pages._app import reconnect, training


class FakeHolder:
    def __init__(self, nbytes: int = 0):
        self.closed = 0
        self.model = SimpleNamespace(source=views.UPLOADED, pipeline=SimpleNamespace(weight_bytes=nbytes))
        self.earlier = []

    def close(self):
        self.closed += 1


@pytest.fixture(autouse=True)
def empty_store(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(reconnect, "clock", lambda: now[0])
    reconnect._store.clear()
    yield now
    reconnect._store.clear()


def test_put_then_take_gives_the_holder_back_once():
    token, h = reconnect.new_token(), FakeHolder()
    assert reconnect.valid_token(token) and len(token) == 22
    assert reconnect.put(token, h)
    assert reconnect.take(token) is h
    assert reconnect.take(token) is None, "taken: removed from the store"
    assert h.closed == 0, "taken back: its run goes on"


def test_a_wrong_or_malformed_token_gets_nothing():
    token, h = reconnect.new_token(), FakeHolder()
    reconnect.put(token, h)
    for other in (reconnect.new_token(), token[:-1], token + "x", "", None, "../../etc", "<b>x</b>" * 3):
        assert reconnect.take(other) is None
    assert not reconnect.put("not a token", FakeHolder())
    assert reconnect.take(token) is h


def test_an_expired_entry_stops_its_run_and_frees_its_models(empty_store):
    token, h = reconnect.new_token(), FakeHolder(10)
    reconnect.put(token, h)
    empty_store[0] += reconnect.GRACE_SECONDS - 1
    assert reconnect.expire() == 0 and h.closed == 0
    empty_store[0] += 2
    assert reconnect.expire() == 1
    assert h.closed == 1 and h.model is None and h.earlier == []
    assert reconnect.take(token) is None


def test_the_byte_bound_evicts_the_oldest(monkeypatch):
    monkeypatch.setattr(reconnect, "MAX_BYTES", 250)
    holders = {reconnect.new_token(): FakeHolder(100) for _ in range(3)}
    for token, h in holders.items():
        reconnect.put(token, h)
    (first, second, third) = holders
    assert holders[first].closed == 1 and reconnect.take(first) is None, "the oldest went"
    assert reconnect.take(second) is holders[second] and reconnect.take(third) is holders[third]


def test_the_entry_bound_evicts_the_oldest(monkeypatch):
    monkeypatch.setattr(reconnect, "MAX_ENTRIES", 2)
    tokens = [reconnect.new_token() for _ in range(3)]
    holders = [FakeHolder() for _ in tokens]
    for token, h in zip(tokens, holders):
        reconnect.put(token, h)
    assert holders[0].closed == 1 and reconnect.parked() == 2


def test_a_reload_takes_the_sessions_models_back_and_a_bad_token_starts_afresh():
    app = AppTest.from_file(DASHBOARD, default_timeout=180)
    app.run()
    token = app.query_params["session"]
    assert reconnect.valid_token(token)
    app.switch_page("pages/train.py").run()
    data = (ROOT / "assets" / "default_model.pt").read_bytes()
    app.file_uploader(key="upload").set_value(("mine.pt", data, "application/octet-stream")).run()
    model = app.session_state["model"]
    assert model.source == views.UPLOADED
    training._release(app.session_state["_job_holder"])  # what Streamlit does when the tab reloads
    assert reconnect.parked() == 1

    reloaded = AppTest.from_file(DASHBOARD, default_timeout=180)
    reloaded.query_params["session"] = token
    reloaded.run()
    assert not reloaded.exception
    assert reloaded.session_state["model"] is model and reloaded.query_params["session"] == token
    assert any(m.source == views.DEFAULT for m in reloaded.session_state["earlier_models"])
    assert reconnect.parked() == 0

    other = AppTest.from_file(DASHBOARD, default_timeout=180)
    other.query_params["session"] = token  # taken already: a copied link gets nothing of it
    other.run()
    assert other.query_params["session"] != token and "model" not in other.session_state
