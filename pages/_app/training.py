"""The session's training job: who holds it, its controls, and how its snapshots become the model.

One `JobHolder` per browser session, in a session-scoped cache whose `on_release` parks it for a
reload to take back (reconnect.py), its run going on. The run publishes snapshots; `sync_job` makes the newest the
session's current model, and the rerun helpers decide when a page redraws in full to show it.
"""

from __future__ import annotations

import threading
import uuid

import streamlit as st

from diffusion import views
from diffusion.config import ConfigError
from diffusion.jobs import DEFAULT_SLOTS, JobState, JobStatus, TrainingJob
from diffusion.metrics import better_model
from diffusion.pipeline import DiffusionPipeline
from pages._app import data, display, reconnect
from pages._app.caches import ViewPrefetch, model_quality
from pages._app.models import ModelId, ModelRef, current_model, set_current_model
from pages._app.settings import REVERSE_N, REVERSE_SEED, training_settings, user_message

REFRESH_SECONDS = 1.0  # live training panels redraw this often


class JobHolder:
    """The session's training job and what the UI has taken from it. One per browser session."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.job: TrainingJob | None = None
        self.uid = ""
        self.adopted = 0  # the job's last snapshot made the current model
        self.end_seen = ""  # uid of the job whose end triggered a full rerun
        self.stopping = False  # Stop was clicked; the worker ends after its current step
        self.chart: tuple | None = None  # (the snapshot's ModelId, the Train page's live figure)
        self.prefetch: ViewPrefetch | None = None  # the run's hook that builds views ahead
        self.before: ModelRef | None = None  # the current model when the run started
        self.judged = ""  # uid of the job whose ended model was compared with `before`
        self.rejected: ModelRef | None = None  # the run's model, worse than `before`, which stayed
        # What a reload gets back (reconnect.py): the session's token and its models, kept here
        # because the session's state is gone by the time `on_release` runs.
        self.token = ""
        self.model: ModelRef | None = None
        self.earlier: list[ModelRef] = []
        self.sweep = None  # the session's sweep (pages/_app/sweep.py): parked and stopped with the run

    def adopt(self, other: JobHolder) -> None:
        """Take over a parked holder's run and models (this session's own holder stays the one cached)."""
        for name, value in vars(other).items():
            if name != "lock":
                setattr(self, name, value)

    def status(self) -> JobStatus | None:
        return None if self.job is None else self.job.status()

    def active(self) -> bool:
        s = self.status()
        return s is not None and s.state.active

    def close(self) -> None:
        if self.job is not None:
            self.job.stop(wait=False)
        if self.sweep is not None:
            self.sweep.close()


def _release(holder: JobHolder) -> None:
    # A session ends on a reload or a dropped connection too: park its work for the grace period
    # (an entry nobody takes back stops its run then). Without a token: stop the run now.
    if not reconnect.put(holder.token, holder):
        holder.close()


@st.cache_resource(scope="session", on_release=_release, show_spinner=False)
def job_holder() -> JobHolder:
    return JobHolder()


def holder() -> JobHolder:
    h = job_holder()
    st.session_state["_job_holder"] = h  # so tests (and a debugger) can reach the job
    return h


def resume_session() -> None:
    """First on every run: on the session's first, take back the work parked under the URL's token
    (a reload) or make a new token; then keep the token in the URL and the models in the holder."""
    ss = st.session_state
    h = holder()
    if "_session_token" not in ss:
        token = st.query_params.get(reconnect.TOKEN_PARAM)
        parked = reconnect.take(token)
        if parked is None:
            token = reconnect.new_token()  # an unknown or malformed token starts afresh
        else:
            h.adopt(parked)
            if parked.model is not None:
                ss["model"] = parked.model
            ss["earlier_models"] = list(parked.earlier)
        ss["_session_token"] = h.token = token
    else:
        reconnect.expire()
    if st.query_params.get(reconnect.TOKEN_PARAM) != ss["_session_token"]:
        st.query_params[reconnect.TOKEN_PARAM] = ss["_session_token"]
    remember_models()


def remember_models() -> None:
    h = holder()
    h.model = st.session_state.get("model")
    h.earlier = list(st.session_state.get("earlier_models", []))


def unadopted_snapshot(h: JobHolder, s: JobStatus | None) -> bool:
    """The run has published a model the session has not made its current one yet. A snapshot from
    before the first step is no model: the current one stays until there is one."""
    return s is not None and s.pipeline is not None and s.pipeline.steps_trained > 0 and s.snapshot_id > h.adopted


def sync_job() -> JobStatus | None:
    """Make the job's newest published model the session's current model."""
    h = holder()
    status = h.status()
    if unadopted_snapshot(h, status):
        h.adopted = status.snapshot_id
        note = f"{status.pipeline.steps_trained:,} steps"
        if status.state is JobState.FAILED:
            note += ", last good weights of a run that failed"
        model_id = ModelId.of_snapshot(h.uid, status.snapshot_id)
        set_current_model(ModelRef(status.pipeline, model_id, views.TRAINED, note, status.quality))
    if status is not None and not status.state.active and h.judged != h.uid:
        h.judged = h.uid
        keep_the_better_model(h, status)
    return status


def keep_the_better_model(h: JobHolder, status: JobStatus) -> None:
    """When a run has ended: a model that diverged, or that is clearly worse than the one it
    replaced (a high learning rate, a Stop after a few steps), does not take its place. The model
    from before the run becomes current again; the run's joins the earlier models and stays on
    offer (`rejected`)."""
    run_model = current_model()
    if h.before is None or not run_model.of_run(h.uid):
        return
    # A run that finished its configured length replaces the model, as its user asked (a short
    # run at new settings is an experiment, not a mistake); one that diverged or was stopped early
    # replaces it only when it is not clearly worse.
    ended_early = status.diverged or status.state is not JobState.FINISHED
    if ended_early and (status.diverged or not better_model(run_model.quality, model_quality(h.before))):
        h.rejected = run_model
        set_current_model(h.before)


def make_rejected_current() -> None:
    """Button callback: the run's model becomes current after all."""
    h = holder()
    if h.rejected is not None and not h.active():
        set_current_model(h.rejected)
        h.rejected = None


# ---------------------------------------------------------------------- callbacks
def start_training(resume: bool = False) -> None:
    """Start button: a new run (or continue the current model). Ignores a second click while running."""
    h = holder()
    cfg, error = training_settings()
    st.session_state["train_message"] = st.session_state["earlier_message"] = None
    if cfg is None:
        st.session_state["train_message"] = error
        return
    with h.lock:
        if h.job is not None and h.job.status().state.active:
            return  # a double click: the first one started the run, this one changes nothing
        resume_from = None
        if resume:
            model = current_model().pipeline
            if model.config.model_key() != cfg.model_key():
                st.session_state["train_message"] = (
                    "To continue training, the model settings must match the current model's; "
                    "put its settings back or start a new run."
                )
                return
            resume_from = model
        uid = uuid.uuid4().hex[:10]
        # the Reverse page's N and seed, as the user left them (its widgets keep them per session)
        prefetch = ViewPrefetch(
            uid, int(st.session_state.get("rev_n", REVERSE_N)), int(st.session_state.get("rev_seed", REVERSE_SEED))
        )
        try:
            job = TrainingJob(cfg, resume_from=resume_from, on_update=prefetch, dataset=data.dataset_for(cfg))
        except ConfigError as exc:
            st.session_state["train_message"] = user_message(exc)
            return
        if h.job is not None:
            h.job.stop(wait=False)
        h.job, h.uid, h.adopted, h.stopping, h.prefetch = job, uid, 0, False, prefetch
        h.before, h.rejected = current_model(), None
        job.start()


def pause_training() -> None:
    h = holder()
    if h.job is not None:
        h.job.pause()


def resume_training() -> None:
    h = holder()
    if h.job is not None:
        h.job.resume()


def stop_training() -> None:
    h = holder()
    if h.job is not None:
        h.stopping = True
        # Not waited for: the run ends after its step and a last snapshot; the panel says
        # "stopping" at once and "stopped" at its next redraw.
        h.job.stop(wait=False)


# ---------------------------------------------------------------------- what the pages show of it
def state_label(h: JobHolder, s: JobStatus) -> str:
    if h.stopping and s.state.active:
        return "stopping"
    if s.state is JobState.QUEUED and s.queue_position <= 0:
        return "starting"  # has a slot; its process is being started
    return s.state.value


def rate_text(rate: float) -> str:
    """Iterations per second; a slow run (a wide network, a huge batch) reads "< 1", never "0"."""
    if rate <= 0:
        return "— it/s"  # fewer than two steps so far: no pace yet
    return f"{rate:,.0f} it/s" if rate >= 1 else "< 1 it/s"


def queue_message(s: JobStatus) -> str:
    """`queue_position` is the run's 1-based place in the waiting line (0: not waiting)."""
    if s.queue_position <= 0:
        return "Starting…"
    ahead = s.queue_position - 1
    if ahead == 0:
        return f"Server busy: all {DEFAULT_SLOTS.capacity} training slots are taken; your run is next in line."
    return f"Server busy: {ahead} run{'s' if ahead != 1 else ''} ahead of you; training starts when a slot frees."


def rerun_to_adopt(h: JobHolder, s: JobStatus) -> None:
    """From the Train page's live panel (a fragment, which redraws only itself): one full rerun, so
    the sidebar and the Save and load section show the run's model, when its first snapshot arrives
    and when it is paused (the paused model: what a download then saves). Not at every snapshot:
    a full rerun redraws the whole page, and the other pages take the newest snapshot anyway."""
    if s.state.active and unadopted_snapshot(h, s) and (h.adopted == 0 or s.state is JobState.PAUSED):
        st.rerun()  # the full run's sync_job adopts it, so this happens once per snapshot


def rerun_when_ended(h: JobHolder, s: JobStatus) -> None:
    """One full rerun when the job ends, so every page picks up the final model and status."""
    if not s.state.active:
        with h.lock:
            first = h.end_seen != h.uid
            h.end_seen = h.uid
        if first:
            st.rerun()


def model_to_save(h: JobHolder, s: JobStatus | None, model: ModelRef) -> tuple[DiffusionPipeline, str, str]:
    """(pipeline, source, note) of the model the Train page's Save offers now. While a run goes
    on, the page adopts only its first snapshot and the paused one (rerun_to_adopt), so the
    newest snapshot is newer than the session's current model: Save offers that one, the model
    the page's progress and samples show. Otherwise the current model."""
    if s is not None and s.state.active and unadopted_snapshot(h, s) and h.adopted > 0:
        return s.pipeline, views.TRAINED, f"{s.pipeline.steps_trained:,} steps, the run's newest snapshot"
    return model.pipeline, model.source, model.note


def newer_snapshot_notice(shown: ModelRef) -> None:
    """While a run trains: offer the newest snapshot in place of the one this page shows. Not
    automatic: redrawing at every snapshot would restart an animation the user is watching."""
    h = holder()
    s = h.status()
    if s is None:
        return
    if s.state.active and unadopted_snapshot(h, s):
        c1, c2 = st.columns([3, 1], vertical_alignment="center")
        c1.info(
            f"Training goes on: a newer snapshot (step {s.pipeline.steps_trained:,}) is ready; "
            f"this page shows {display.literal(shown.note)}.",
            icon=":material/update:",
        )
        if c2.button("Show the newest snapshot", key="show_newest", width="stretch"):
            st.rerun()  # the full run adopts it (sync_job)
    rerun_when_ended(h, s)
