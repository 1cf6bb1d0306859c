"""What every page shares, computed once per script run by dashboard.py: the `AppState` (the
current model, the settings, the job), the sidebar's status of the current model, and the banner
shown when the sidebar's settings no longer match the model."""

from __future__ import annotations

import html
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from diffusion import views
from diffusion.config import DiffusionConfig
from diffusion.jobs import JobState, JobStatus
from pages._app import display
from pages._app.models import ModelRef, current_model
from pages._app.settings import fmt_beta, model_settings, restore_model_settings
from pages._app.training import (
    REFRESH_SECONDS,
    holder,
    queue_message,
    rerun_when_ended,
    start_training,
    state_label,
    sync_job,
)

PAUSED = "paused"  # the sidebar's status while the session's run is paused
QUEUED = "queued"  # ... while it waits for a training slot


@dataclass(frozen=True)
class AppState:
    model: ModelRef
    settings: DiffusionConfig | None
    settings_error: str | None
    job: JobStatus | None
    training: bool
    status: str  # views.model_status(...), or PAUSED


def app_state() -> AppState:
    job = sync_job()
    model = current_model()
    settings, error = model_settings()
    training = job is not None and job.state.active
    status = views.model_status(model.source, model.pipeline.config, settings, training)
    if status == views.TRAINING and job.state is JobState.PAUSED:
        status = PAUSED  # a paused run trains nothing: the sidebar must not say it does
    elif status == views.TRAINING and job.state is JobState.QUEUED:
        status = QUEUED  # waiting for a slot: nothing trains yet
    return AppState(model, settings, error, job, training, status)


def page_state() -> AppState:
    """What dashboard.py computed for this run; every page starts with it.

    Streamlit takes a `pages/` folder beside the entry script for its legacy multipage layout until
    `st.navigation` has run once in the process. So the first request of a freshly started server,
    if it is a link to a page (`/train?T=20`, a shared configuration), runs that page file alone,
    without the entry script. Leave the legacy mode and run again, through dashboard.py.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
    return st.session_state["app_state"]


def sidebar_status(state: AppState, progress: bool = True) -> None:
    """The current model's status and device; with `progress`, a run's progress bar that redraws
    itself every second (the Train page has its own, so it asks for none: one fragment less to
    redraw every second in a browser that shares the cores with the training)."""
    p = state.model.pipeline
    st.sidebar.divider()
    st.sidebar.subheader("Current model")
    label = state.status
    st.sidebar.markdown(f"**Status:** `{label}`")
    note = state.model.note
    h = holder()
    if not progress and state.job is not None and state.job.state is JobState.RUNNING and state.model.of_run(h.uid):
        # The Train page redraws only its live panel while the run goes on: a step count here
        # would fall behind the one under Progress within seconds.
        note = "the run's newest snapshot, shown under Progress"
    # HTML for the subscripts, and on purpose in the sidebar, which every page draws before its own
    # content: Streamlit loads the code that renders HTML in markdown lazily, at its first use in
    # the tab. Met first in a page's caption, it made that caption appear late, up to after the
    # chart below it was drawn, pushing the chart down when it did.
    model_line = display.literal(html.escape(f"{state.model.source} model · {note}", quote=False))
    st.sidebar.caption(
        f"{model_line} · T = {p.T}, width {p.config.width}, "
        f"{p.config.schedule.value} schedule, β<sub>1</sub> = {fmt_beta(p.config.beta_start)} … "
        f"β<sub>T</sub> = {fmt_beta(p.config.beta_end)}",
        unsafe_allow_html=True,
    )
    st.sidebar.markdown(f"**Device:** `{p.device}`")
    if state.settings_error:
        st.sidebar.error(state.settings_error)
    if state.training and progress:
        with st.sidebar:
            st.fragment(run_every=REFRESH_SECONDS)(_sidebar_progress)()


def _sidebar_progress() -> None:
    h = holder()
    s = h.status()
    if s is None:
        return
    if s.state is JobState.QUEUED and not h.stopping:
        st.caption(queue_message(s))
    else:
        st.progress(min(1.0, s.progress), text=f"{state_label(h, s)}: step {s.step:,}")
    rerun_when_ended(h, s)


def mismatch_banner(state: AppState) -> None:
    """When the sidebar no longer matches the model: say so and offer both ways out."""
    if state.status != views.CHANGED or state.settings is None:
        return
    changes = views.changed_fields(state.model.pipeline.config, state.settings)
    # One row, the rest in the buttons' help: taller, the banner pushed the Reverse page's Play
    # button out of a laptop's screen. On a phone the columns stack.
    c0, c1, c2 = st.columns([4.8, 2.4, 2.6], vertical_alignment="center", gap="small")
    c0.warning("**The model no longer matches the settings:** " + ", ".join(changes) + ".", icon="⚠️")
    c1.button(
        "Retrain with the new settings",
        on_click=start_training,
        key="banner_retrain",
        type="primary",
        disabled=state.training,
        width="stretch",
        help="Until you retrain, the pages keep showing the current model, with its own settings; "
        "a new run keeps it among the Train page's earlier models.",
    )
    c2.button(
        "Put the model's settings back",
        on_click=restore_model_settings,
        key="banner_restore",
        width="stretch",
        help="The sidebar takes the current model's settings again.",
    )
