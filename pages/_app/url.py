"""The settings a link carries: read from the URL once per session, before any widget exists, and
written back after every change.

Streamlit's `bind="query-params"` stores a selectbox's label rather than its value, drops a
spelling it does not produce itself (`5e-1` for a slider's `0.5`) without a word, and lets an
`inf` reach `int()` inside the widget (an OverflowError before any page code runs). So the
dashboard owns the URL: `read_url` parses every known parameter, puts the valid values into
session state (the widgets then show them) and keeps one warning per bad one; `write_url` writes
the values, never labels, and leaves out the defaults so a link stays short.

The keys that are not settings have their own modules: `compare` (pages/_app/compare.py),
`projector` and `hide` (projector.py), `lesson` and `scene` (lesson.py); `session` is reconnect.py's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import streamlit as st
from streamlit.errors import StreamlitAPIException

from diffusion.config import (
    BATCH_MAX,
    SEED_MAX,
    STEPS_MAX,
    T_MAX,
    WIDTH_MAX,
    BetaSchedule,
    DataScale,
    MeanParameterization,
    Network,
)
from diffusion.datasets import LABELS, NAMES
from pages._app.settings import (
    BETA_END_OPTIONS,
    BETA_START_OPTIONS,
    DEFAULTS,
    N_POINTS_UI_MAX,
    REVERSE_N,
    REVERSE_SEED,
    SCHEDULE_LABELS,
    fmt_beta,
)

FORWARD_N, FORWARD_SEED = 2000, 0  # the Forward page's defaults (its widgets' `value=`)
LR_MIN, LR_MAX = 1e-6, 100.0  # the Train page's learning-rate input
# Longer than any number or choice this app takes: echoed in a warning, a long value is cut.
_SHOWN_CHARS = 40
# Longer than any valid value: not parsed at all, so a megabyte of digits costs nothing.
_PARSED_CHARS = 64

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&$:])")

READ_FLAG = "_url_read"  # set once the session's first run has read the URL
WARNINGS = "url_warnings"  # (page title, [warning, ...]) of the link that opened the session


@dataclass(frozen=True)
class Param:
    """One URL parameter: the session-state key it fills (the widget's key) and what it accepts."""

    key: str
    label: str  # as the page names it
    kind: str  # "int", "float", "beta", "choice" or "bool"
    default: object
    low: float = 0
    high: float = 0
    options: tuple = ()  # "beta": the slider's choices; "choice": the values
    labels: dict | None = None  # "choice": value -> label, also accepted (older links hold labels)

    def describe(self) -> str:
        if self.kind == "int":
            return f"a whole number from {self.low:,} to {self.high:,}"
        if self.kind == "float":
            return f"a number from {self.low:g} to {self.high:g}"
        if self.kind == "beta":
            return "a number above 0 and below 1"
        if self.kind == "bool":
            return "true or false"
        return "one of " + ", ".join(str(o) for o in self.options)

    def shown(self, value) -> str:
        if self.kind == "beta":
            return fmt_beta(value)
        if self.kind == "int":
            return f"{value:,}" if value >= 10_000 else str(value)
        if self.kind == "bool":
            return "true" if value else "false"
        return f"{value:g}" if isinstance(value, float) else str(value)

    def text(self, value) -> str:
        """The value as the URL holds it: the shortest spelling that reads back the same."""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind in ("float", "beta"):
            return repr(float(value))
        return str(getattr(value, "value", value))


def _enum(enum) -> tuple:
    return tuple(e.value for e in enum)


PARAMS = (
    # a link carries a named data set; a user's own points stay in the session (and its checkpoints)
    Param("data", "data set", "choice", DEFAULTS.data, options=NAMES, labels={k: LABELS[k] for k in NAMES}),
    Param("T", "T", "int", DEFAULTS.T, 2, T_MAX),
    Param("beta_start", "β start", "beta", DEFAULTS.beta_start, options=tuple(BETA_START_OPTIONS)),
    Param("beta_end", "β end", "beta", DEFAULTS.beta_end, options=tuple(BETA_END_OPTIONS)),
    Param(
        "schedule", "schedule", "choice", DEFAULTS.schedule.value, options=_enum(BetaSchedule), labels=SCHEDULE_LABELS
    ),
    Param("width", "width", "int", DEFAULTS.width, 1, WIDTH_MAX),
    Param(
        "parameterization",
        "parameterization",
        "choice",
        DEFAULTS.parameterization.value,
        options=_enum(MeanParameterization),
    ),
    Param("data_scale", "data scale", "choice", DEFAULTS.data_scale.value, options=_enum(DataScale)),
    Param("learn_betas", "learn β", "bool", DEFAULTS.learn_betas),
    Param("network", "network", "choice", DEFAULTS.network.value, options=_enum(Network)),
    Param("fwd_n", "Forward N", "int", FORWARD_N, 1, N_POINTS_UI_MAX),
    Param("fwd_seed", "Forward seed", "int", FORWARD_SEED, 0, SEED_MAX),
    Param("rev_n", "Reverse N", "int", REVERSE_N, 1, N_POINTS_UI_MAX),
    Param("rev_seed", "Reverse seed", "int", REVERSE_SEED, 0, SEED_MAX),
    Param("lr", "learning rate", "float", DEFAULTS.lr, LR_MIN, LR_MAX),
    Param("batch_size", "batch size", "int", DEFAULTS.batch_size, 1, BATCH_MAX),
    Param("steps", "steps", "int", DEFAULTS.steps or 3000, 1, STEPS_MAX),
    Param("seed", "seed", "int", DEFAULTS.seed, 0, SEED_MAX),
)
BY_KEY = {p.key: p for p in PARAMS}


def escaped(text: str) -> str:
    """`text` as literal characters in a Markdown message, cut when long: `<b>x</b>` shows as typed."""
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 1] + "…"
    return _MARKDOWN.sub(r"\\\1", text)


def _number(text: str) -> Decimal | None:
    """Any finite decimal spelling (`5e-1`, `0.5`, `.5`, `+2`), exactly; None for anything else."""
    if len(text) > _PARSED_CHARS:
        return None
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def parse(param: Param, text: str) -> tuple[object | None, str | None]:
    """(the value to use, or None for the default; a note for the page, or None)."""
    bad = f"{param.label}: '{escaped(text)}' is not {param.describe()}; using {param.shown(param.default)}"
    if param.kind in ("int", "float"):
        d = _number(text)
        if d is None or not (param.low <= d <= param.high):
            return None, bad
        if param.kind == "float":
            return float(d), None
        if d != d.to_integral_value():
            return None, bad
        return int(d), None
    if param.kind == "beta":
        d = _number(text)
        if d is None or not (0 < d < 1):
            return None, bad
        value = float(d)
        nearest = min(param.options, key=lambda o: abs(math.log(o) - math.log(value)))
        if math.isclose(nearest, value, rel_tol=1e-9):
            return nearest, None
        return nearest, (
            f"{param.label}: '{escaped(text)}' is not among the slider's choices; "
            f"using the nearest, {fmt_beta(nearest)}"
        )
    if param.kind == "bool":
        word = text.strip().lower()
        if word in ("true", "1", "yes", "on"):
            return True, None
        if word in ("false", "0", "no", "off"):
            return False, None
        return None, bad
    word = text.strip()
    if word.lower() in param.options:
        return word.lower(), None
    by_label = {label: value for value, label in (param.labels or {}).items()}
    if word in by_label:
        return by_label[word], None
    return None, bad


def read_url() -> list[str]:
    """On the session's first run: the URL's settings into session state, before any widget is
    drawn. Returns the warnings about the parameters it could not use (one each)."""
    ss = st.session_state
    if ss.get(READ_FLAG):
        return []
    ss[READ_FLAG] = True
    warnings = []
    for param in PARAMS:
        if param.key not in st.query_params:
            continue
        values = st.query_params.get_all(param.key)
        value, note = parse(param, values[-1] if values else "")
        if value is not None:
            ss[param.key] = value
        if note:
            warnings.append(note)
    return warnings


def write_url() -> None:
    """The URL after this run: every known setting that differs from its default, as a value.
    Parameters the app does not know (Streamlit's `embed`, a session token) are left alone."""
    ss = st.session_state
    for param in PARAMS:
        value = ss.get(param.key, param.default)
        value = getattr(value, "value", value)
        wanted = None if value == param.default else param.text(value)
        try:
            if wanted is None:
                if param.key in st.query_params:
                    del st.query_params[param.key]
            elif st.query_params.get_all(param.key) != [wanted]:
                st.query_params[param.key] = wanted
        except StreamlitAPIException:
            pass  # a widget bound to the URL (`bind="query-params"`) writes its own parameter


def show_warnings(page_title: str, warnings: list[str]) -> None:
    """The link's warnings, on the page it opened, until the session moves to another page."""
    ss = st.session_state
    if warnings:
        ss[WARNINGS] = (page_title, warnings)
    title, kept = ss.get(WARNINGS, ("", []))
    if title != page_title:
        ss.pop(WARNINGS, None)
        return
    for text in kept:
        st.warning(text, icon=":material/link_off:")
