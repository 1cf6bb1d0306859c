"""A reload or a dropped connection within a grace period gets the session's work back.

A browser reload is a new Streamlit session: without this, the old one's run was stopped and its
models dropped. Each session keeps a random token in its URL (`?session=...`). When a session
ends, the job holder's `on_release` parks the holder (with the session's current and earlier
models) here under that token instead of stopping the run; the next page run that presents the
token takes it back. Entries that nobody takes within the grace period stop their run and free
their models, so a closed tab frees everything soon after. The store is bounded in entries and
in bytes of weights: the oldest entry goes first.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from diffusion import views

GRACE_SECONDS = 180.0  # long enough for a reload or a laptop's Wi-Fi to come back; short for a closed tab
MAX_ENTRIES = 64  # more sessions than one class closes within a grace period
MAX_BYTES = 512 * 2**20  # of the parked models' weights (one session keeps at most 64 MB of earlier ones)
SWEEP_SECONDS = 10.0  # how often an idle server stops the runs of expired entries
TOKEN_PARAM = "session"
# secrets.token_urlsafe(16): 16 random bytes, 22 URL-safe characters. Anything else is no token.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")

clock = time.monotonic  # tests replace it


@dataclass
class Entry:
    holder: object  # a JobHolder: .close() stops its run; .model and .earlier are the session's models
    nbytes: int
    expires: float = field(default=0.0)


_lock = threading.Lock()
_store: OrderedDict[str, Entry] = OrderedDict()
_sweeper: threading.Thread | None = None


def new_token() -> str:
    return secrets.token_urlsafe(16)


def valid_token(token) -> bool:
    return isinstance(token, str) and _TOKEN.fullmatch(token) is not None


def held_bytes(holder) -> int:
    """Weights the holder keeps alive: its session's models (the shipped one is shared)."""
    models = [getattr(holder, "model", None), *getattr(holder, "earlier", ())]
    return sum(m.pipeline.weight_bytes for m in models if m is not None and m.source != views.DEFAULT)


def _free(entries: list[Entry]) -> None:
    """Outside the lock: stopping a run signals its process and must not hold up the store."""
    for entry in entries:
        entry.holder.close()
        entry.holder.model, entry.holder.earlier = None, []


def put(token: str, holder) -> bool:
    """Park `holder` under `token`; False (nothing parked) for a malformed token."""
    if not valid_token(token):
        return False
    now = clock()
    nbytes = held_bytes(holder)
    with _lock:
        dropped = _expired(now)
        old = _store.pop(token, None)
        if old is not None and old.holder is not holder:
            dropped.append(old)
        _store[token] = Entry(holder, nbytes, now + GRACE_SECONDS)
        while len(_store) > MAX_ENTRIES or (len(_store) > 1 and sum(e.nbytes for e in _store.values()) > MAX_BYTES):
            dropped.append(_store.popitem(last=False)[1])  # the oldest
    _free(dropped)
    _start_sweeper()
    return token in _store


def take(token) -> object | None:
    """The holder parked under `token`, removed from the store; None for any other token."""
    if not valid_token(token):
        return None
    with _lock:
        dropped = _expired(clock())
        entry = _store.pop(token, None)
    _free(dropped)
    return None if entry is None else entry.holder


def expire() -> int:
    """Stop the runs and free the models of the entries past their grace period; how many."""
    with _lock:
        dropped = _expired(clock())
    _free(dropped)
    return len(dropped)


def _expired(now: float) -> list[Entry]:
    gone = [token for token, entry in _store.items() if entry.expires <= now]
    return [_store.pop(token) for token in gone]


def parked() -> int:
    with _lock:
        return len(_store)


def _start_sweeper() -> None:
    global _sweeper
    with _lock:
        if _sweeper is not None and _sweeper.is_alive():
            return
        _sweeper = threading.Thread(target=_sweep, name="reconnect-sweeper", daemon=True)
        _sweeper.start()


def _sweep() -> None:
    while True:
        time.sleep(SWEEP_SECONDS)
        expire()
        with _lock:
            if not _store:
                return
