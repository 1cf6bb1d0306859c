"""The session's sweep: its controls on the Compare page, its runs' progress lines, and its
finished runs as models the Compare page offers (`sweep:1` .. `sweep:4`, in the order of the values).

The sweep rides on the session's `JobHolder` (`holder.sweep`): a reload takes it back with the
session's run, and a closed tab stops its runs when the holder's grace period ends
(pages/_app/reconnect.py), exactly as it stops the Train page's run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import streamlit as st

from diffusion import views
from diffusion.config import ConfigError
from diffusion.jobs import DEFAULT_SLOTS, JobState, JobStatus
from diffusion.sweep import SETTINGS, SWEEP_STEPS, Sweep, SweepError, parse_values, sweep_configs
from pages._app import data, training
from pages._app.models import ModelId, ModelRef
from pages._app.settings import training_settings, user_message

SETTING_KEY, STEPS_KEY, MESSAGE_KEY = "sweep_setting", "sweep_steps", "sweep_message"
ENTRY = "sweep:"  # + the run's 1-based place among the values


def values_key(setting: str) -> str:
    """One text box per setting, so that each keeps its own values (and starts at its example)."""
    return f"sweep_values_{setting}"


@dataclass
class SessionSweep:
    """A sweep as the session holds it, and what the page has taken from it."""

    sweep: Sweep
    uid: str  # names its models: run i is ModelId("run", f"{uid}-{i}")
    steps: int
    shown: int = 0  # finished runs the last full page run had; the progress fragment reruns on more
    pending: list[str] = field(default_factory=list)  # entries to add to the comparison as they finish

    def close(self) -> None:
        self.sweep.stop(wait=False)


def current() -> SessionSweep | None:
    return training.holder().sweep


def active() -> bool:
    s = current()
    return s is not None and s.sweep.active()


def _ended(statuses) -> int:
    return sum(1 for r in statuses if not r.status.state.active)


def entry(i: int) -> str:
    return f"{ENTRY}{i + 1}"


def models() -> list[tuple[str, str, ModelRef]]:
    """(entry, label, model) of each run of the session's sweep that has ended with a model."""
    s = current()
    if s is None:
        return []
    statuses = s.sweep.statuses()
    s.shown = _ended(statuses)  # what this page run shows; the progress fragment watches for more
    out = []
    for i, name, status in s.sweep.finished(statuses):
        label = f"sweep {name}"
        if status.state is JobState.STOPPED:
            label += f", stopped at step {status.pipeline.steps_trained:,}"
        note = f"sweep {name} · {status.pipeline.steps_trained:,} steps"
        ref = ModelRef(
            status.pipeline,
            ModelId.of_snapshot(f"{s.uid}-{i}", status.snapshot_id),
            views.TRAINED,
            note,
            status.quality,
        )
        out.append((entry(i), label, ref))
    return out


# ---------------------------------------------------------------------- callbacks
def start_sweep() -> None:
    """Start button: one run per value, trained for the sweep's steps from the session's settings
    (the sidebar's model and the Train page's training settings). Bad values: one message, no run."""
    ss = st.session_state
    ss[MESSAGE_KEY] = None
    h = training.holder()
    if h.sweep is not None and h.sweep.sweep.active():
        return  # a double click: the first one started the sweep
    setting = ss.get(SETTING_KEY, "T")
    base, error = training_settings()
    if base is None:
        ss[MESSAGE_KEY] = f"The session's settings cannot train: {error}"
        return
    try:
        values = parse_values(setting, ss.get(values_key(setting), SETTINGS[setting].example))
        if setting == "data" and "custom" in values and data.custom() is None:
            raise SweepError("Data set: custom needs your own points; upload or draw them on the Train page first")
        runs = sweep_configs(base, setting, values, int(ss.get(STEPS_KEY, SWEEP_STEPS)))
        sweep = Sweep(setting, runs, slots=DEFAULT_SLOTS, dataset_for=data.dataset_for)
    except SweepError as exc:
        # the config's own message with the widgets' labels, after the run it belongs to
        ss[MESSAGE_KEY] = f"{exc.run}: {user_message(exc.__cause__)}" if exc.run else user_message(exc)
        return
    except ConfigError as exc:
        ss[MESSAGE_KEY] = user_message(exc)
        return
    h.sweep = SessionSweep(sweep, uuid.uuid4().hex[:10], int(ss.get(STEPS_KEY, SWEEP_STEPS)))
    h.sweep.pending = [entry(i) for i in range(len(runs))]
    sweep.start()


def pause_sweep() -> None:
    s = current()
    if s is not None:
        s.sweep.pause()


def resume_sweep() -> None:
    s = current()
    if s is not None:
        s.sweep.resume()


def stop_sweep() -> None:
    s = current()
    if s is not None:
        s.sweep.stop(wait=False)


# ---------------------------------------------------------------------- what the page shows
def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def run_line(name: str, s: JobStatus) -> tuple[float, str]:
    """(fraction done, text) of one run's progress line."""
    total = f" / {s.total_steps:,}" if s.total_steps else ""
    if s.state is JobState.QUEUED and s.step == s.start_step:
        where = f"queued, {ordinal(s.queue_position)} in line" if s.queue_position > 0 else "starting"
        return 0.0, f"**{name}** · {where}"
    if s.state is JobState.QUEUED:  # it has trained: its slot is another run's of the sweep for a while
        where = f"{ordinal(s.queue_position)} in line" if s.queue_position > 0 else "its turn next"
        return min(1.0, s.progress), f"**{name}** · waiting its turn, {where} · step {s.step:,}{total}"
    parts = [f"**{name}**", s.state.value, f"step {s.step:,}{total}"]
    if s.state is JobState.RUNNING:
        parts.append(training.rate_text(s.iterations_per_second))
        if s.eta_seconds is not None:
            parts.append(f"{s.eta_seconds:,.0f} s left")
    elif not s.state.active:
        parts.append(f"{s.seconds:,.1f} s trained")
    return min(1.0, s.progress), " · ".join(parts)


def progress() -> None:
    """Each run's line; one full page run when another run has ended (its model joins the
    comparison) and when the last one has. Drawn in a fragment that refreshes itself during a sweep."""
    s = current()
    if s is None:
        return
    statuses = s.sweep.statuses()
    for r in statuses:
        fraction, text = run_line(r.name, r.status)
        st.progress(fraction, text=text)
        if r.status.state is JobState.FAILED and r.status.error:
            st.error(f"{r.name}: {r.status.error}")
    finished = _ended(statuses)
    if not any(r.status.state.active for r in statuses):
        st.caption(
            f"The sweep is over: {len(s.sweep.finished(statuses))} of {len(statuses)} runs gave a model; "
            f"each joined the models to compare below (sweep {s.sweep.setting}=…)."
        )
    if finished != s.shown:
        s.shown = finished
        st.rerun()


def controls() -> bool:
    """The setting, its values, the steps and the buttons; returns whether a sweep is in progress
    (the page's progress fragment then refreshes itself)."""
    ss = st.session_state
    s = current()
    running = s is not None and s.sweep.active()
    c1, c2, c3 = st.columns([2, 3, 1])
    setting = c1.selectbox(
        "Setting",
        options=list(SETTINGS),
        format_func=lambda n: SETTINGS[n].label,
        key=SETTING_KEY,
        disabled=running,
    )
    spec = SETTINGS[setting]
    allowed = f" Allowed: {', '.join(spec.choices)}." if spec.choices else ""
    c2.text_input(
        "Values (2 to 4, separated by commas)",
        value=spec.example,
        key=values_key(setting),
        disabled=running,
        help="Each value trains one run from the session's settings (the sidebar's model, the Train page's "
        f"training settings) with only this setting changed.{allowed}",
    )
    c3.number_input("Steps per run", min_value=1, max_value=100_000, value=SWEEP_STEPS, step=500, key=STEPS_KEY)
    paused = s is not None and s.sweep.paused
    b1, b2, b3, b4 = st.columns(4)
    b1.button(
        "▶ Start sweep",
        on_click=start_sweep,
        key="sweep_start",
        type="primary",
        disabled=running,
        width="stretch",
        help=f"The runs queue for the server's {DEFAULT_SLOTS.capacity} training slots, shared with every session; "
        "each joins the comparison when it ends. A new sweep replaces the last one's models.",
    )
    b2.button("❚❚ Pause all", on_click=pause_sweep, key="sweep_pause", disabled=not running or paused, width="stretch")
    b3.button(
        "▶ Resume all", on_click=resume_sweep, key="sweep_resume", disabled=not running or not paused, width="stretch"
    )
    b4.button(
        "■ Stop all",
        on_click=stop_sweep,
        key="sweep_stop",
        disabled=not running,
        width="stretch",
        help="Ends every run of the sweep; a stopped run's model so far joins the comparison.",
    )
    message = ss.get(MESSAGE_KEY)
    if message:
        st.error(message, icon=":material/error:")
    return running
