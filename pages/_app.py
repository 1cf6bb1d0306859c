"""Streamlit glue shared by the entry script and the pages: session state, the training job, caches.

Not a page (the leading underscore; `dashboard.py` registers pages explicitly). No maths here:
everything is computed in `diffusion/`, this module only decides what is cached and for whom.

Who owns what:
- the shipped default model: one read-only copy per server (`default_model`, global cache);
- the session's training job: `job_holder()`, a session-scoped cache whose `on_release` stops the
  thread when the tab closes or reloads;
- the session's current model: `st.session_state["model"]`, a `ModelRef` (a pipeline plus an id
  that is unique on this server, so view caches can key on it).
"""

from __future__ import annotations

import hashlib
import html
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from diffusion import figures, views
from diffusion.checkpoint import MAX_CHECKPOINT_BYTES, CheckpointError, load_checkpoint
from diffusion.config import (  # the *_MAX bounds are also the pages' widget limits
    BATCH_MAX,  # noqa: F401
    SECONDS_MAX,  # noqa: F401
    SEED_MAX,  # noqa: F401
    STEPS_MAX,  # noqa: F401
    T_MAX,
    WIDTH_MAX,
    BetaSchedule,
    ConfigError,
    DiffusionConfig,
    MeanParameterization,
)
from diffusion.jobs import DEFAULT_SLOTS, PREVIEW_POINTS, JobState, JobStatus, TrainingJob
from diffusion.metrics import QUALITY_CHAMFER, QUALITY_SW1, Bound, SampleQuality, sample_quality
from diffusion.pipeline import DiffusionPipeline

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = ROOT / "assets" / "default_model.pt"
DEFAULTS = DiffusionConfig()
REVERSE_N, REVERSE_SEED = 2000, 0  # the Reverse page's default number of points and seed
REFRESH_SECONDS = 1.0  # live training panels redraw this often
N_POINTS_UI_MAX = 10_000  # an animation of 41 frames x 10,000 points is ~4.5 MB: the browser's limit here

# Log-spaced choices for the betas (1-2-5 steps); the defaults are always among them.
_BETA_START = [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
_BETA_END = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999]
BETA_START_OPTIONS = sorted(set(_BETA_START) | {DEFAULTS.beta_start})
BETA_END_OPTIONS = sorted(set(_BETA_END) | {DEFAULTS.beta_end})

SCHEDULE_LABELS = {
    BetaSchedule.SIGMOID.value: "sigmoid (tutorial)",
    BetaSchedule.LINEAR.value: "linear",
    BetaSchedule.COSINE.value: "cosine (ignores the β range)",
    BetaSchedule.PAPER.value: "paper: 1/(T−t+1) (β start sets β₁)",
}


def fmt_beta(v: float) -> str:
    return f"{v:g}"


# ---------------------------------------------------------------------- models
@dataclass(frozen=True)
class ModelRef:
    """The session's current model. `id` is unique on the server: caches key on it."""

    pipeline: DiffusionPipeline
    id: str
    source: str  # views.DEFAULT, views.TRAINED or views.UPLOADED
    note: str = ""
    quality: SampleQuality | None = None  # when already measured (a training snapshot comes with it)

    @property
    def name(self) -> str:
        """Where it came from, in a few words: 'trained · 300 steps'."""
        return f"{self.source} · {self.note}"

    def of_run(self, uid: str) -> bool:
        """One of the snapshots of run `uid` (see snapshot_model_id)."""
        return _run_of(self.id) == _run_of(snapshot_model_id(uid, 0))  # the id's format lives in snapshot_model_id


@st.cache_resource(show_spinner="Loading the shipped model…")
def _load_default() -> DiffusionPipeline:
    # Read-only and shared by every session: views only run it under inference_mode, and training
    # copies it (TrainingJob deep-copies a model it resumes from).
    return load_checkpoint(DEFAULT_CHECKPOINT, device="cpu")


def default_model() -> ModelRef:
    try:
        return ModelRef(_load_default(), "default", views.DEFAULT, "shipped with the app")
    except (CheckpointError, OSError) as exc:
        # Not cached: once the file is there, the next run loads it.
        return ModelRef(
            DiffusionPipeline.untrained(DEFAULTS.replace(device="cpu")),
            "untrained-default",
            views.DEFAULT,
            f"no shipped model ({exc}); this is an untrained network",
        )


def current_model() -> ModelRef:
    ref = st.session_state.get("model")
    return ref if ref is not None else default_model()


# Models a session replaced: a new run's first snapshot or an upload replaces the current model,
# and the one before stays at hand (to compare, to go back to), a few of them and not too big.
EARLIER_MODELS_MAX = 5
EARLIER_MODELS_BYTES = 64 * 2**20  # of weights per session: T = 40 at width 128 is 2.6 MB, the largest allowed 80 MB


def _run_of(model_id: str) -> str:
    """The snapshots of one run ('job-<uid>-<n>') count as one model: the run's newest."""
    return model_id.rsplit("-", 1)[0] if model_id.startswith("job-") else model_id


def set_current_model(ref: ModelRef) -> None:
    """Make `ref` the session's current model; the one it replaces joins the earlier models
    (not when it is an older snapshot of the same run)."""
    old = current_model()
    st.session_state["model"] = ref
    earlier = [m for m in st.session_state.get("earlier_models", []) if _run_of(m.id) != _run_of(ref.id)]
    if _run_of(old.id) != _run_of(ref.id):
        earlier.insert(0, old)
    kept, total = [], 0
    for m in earlier[:EARLIER_MODELS_MAX]:
        size = 0 if m.source == views.DEFAULT else m.pipeline.weight_bytes  # the shipped one is shared
        if total + size <= EARLIER_MODELS_BYTES:
            kept.append(m)
            total += size
    st.session_state["earlier_models"] = kept


def earlier_models() -> list[ModelRef]:
    """The session's earlier models, newest first."""
    return list(st.session_state.get("earlier_models", []))


def use_earlier_model() -> None:
    """Button callback: the model chosen in `earlier_choice` becomes the current one again, and the
    sidebar takes its settings; the current one joins the earlier models."""
    chosen = st.session_state.get("earlier_choice")
    ref = next((m for m in earlier_models() if m.id == chosen), None)
    if ref is None:
        return
    if holder().active():
        st.session_state["earlier_message"] = ("error", "Stop or finish the training run before switching models.")
        return
    set_current_model(ref)
    st.session_state["upload_message"] = None  # about a model that is no longer the current one
    skipped = apply_model_settings(ref.pipeline.config)
    note = f" (sidebar could not show {', '.join(skipped)})" if skipped else ""
    st.session_state["earlier_message"] = (
        "success",
        f"The current model is again the {ref.source} model ({ref.note}); the sidebar shows its settings{note}.",
    )


# ---------------------------------------------------------------------- the training job
class JobHolder:
    """The session's training job and what the UI has taken from it. One per browser session."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.job: TrainingJob | None = None
        self.uid = ""
        self.adopted = 0  # the job's last snapshot made the current model
        self.end_seen = ""  # uid of the job whose end triggered a full rerun
        self.stopping = False  # Stop was clicked; the worker ends after its current step
        self.chart: tuple | None = None  # ((job uid, snapshot id), the Train page's live figure)
        self.prefetch: ViewPrefetch | None = None  # the run's hook that builds views ahead

    def status(self) -> JobStatus | None:
        return None if self.job is None else self.job.status()

    def active(self) -> bool:
        s = self.status()
        return s is not None and s.state.active

    def close(self) -> None:
        if self.job is not None:
            self.job.stop(wait=False)


def _release(holder: JobHolder) -> None:
    holder.close()


@st.cache_resource(scope="session", on_release=_release, show_spinner=False)
def job_holder() -> JobHolder:
    return JobHolder()


def holder() -> JobHolder:
    h = job_holder()
    st.session_state["_job_holder"] = h  # so tests (and a debugger) can reach the job
    return h


def snapshot_model_id(uid: str, snapshot_id: int) -> str:
    """The server-unique id of a run's (uid's) published snapshot, as the view caches key it."""
    return f"job-{uid}-{snapshot_id}"


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
        set_current_model(
            ModelRef(status.pipeline, snapshot_model_id(h.uid, status.snapshot_id), views.TRAINED, note, status.quality)
        )
    return status


# ---------------------------------------------------------------------- settings
MODEL_KEYS = ("T", "beta_start", "beta_end", "schedule", "width", "parameterization")


def model_settings() -> tuple[DiffusionConfig | None, str | None]:
    """The sidebar's model settings as a config (with training defaults), or the error message."""
    ss = st.session_state
    try:
        cfg = DEFAULTS.replace(
            T=ss.get("T", DEFAULTS.T),
            beta_start=ss.get("beta_start", DEFAULTS.beta_start),
            beta_end=ss.get("beta_end", DEFAULTS.beta_end),
            schedule=ss.get("schedule", DEFAULTS.schedule.value),
            width=ss.get("width", DEFAULTS.width),
            parameterization=ss.get("parameterization", DEFAULTS.parameterization.value),
        )
        return cfg.validate(check_device=False), None
    except ConfigError as exc:
        return None, str(exc)


def training_settings() -> tuple[DiffusionConfig | None, str | None]:
    """Sidebar model settings plus the Train page's training settings, validated like the CLI."""
    ss = st.session_state
    base, error = model_settings()
    if base is None:
        return None, error
    by_seconds = ss.get("length_mode", "steps") == "seconds"
    try:
        cfg = base.replace(
            lr=ss.get("lr", DEFAULTS.lr),
            batch_size=ss.get("batch_size", DEFAULTS.batch_size),
            steps=None if by_seconds else ss.get("steps", DEFAULTS.steps or 4000),
            max_seconds=ss.get("max_seconds", 10.0) if by_seconds else None,
            seed=ss.get("seed", DEFAULTS.seed),
            device=ss.get("device", DEFAULTS.device),
            timestep_sampling=ss.get("timestep_sampling", DEFAULTS.timestep_sampling.value),
            lr_schedule=ss.get("lr_schedule", DEFAULTS.lr_schedule.value),
            ema_decay=ss.get("ema_decay", DEFAULTS.ema_decay),
        )
        return cfg.validate(), None
    except ConfigError as exc:
        return None, str(exc)


def apply_model_settings(cfg: DiffusionConfig) -> list[str]:
    """Set the sidebar to `cfg`'s model settings (in a callback); returns fields it could not set."""
    ss = st.session_state
    skipped = []
    ss["T"] = cfg.T
    ss["width"] = cfg.width
    ss["schedule"] = cfg.schedule.value
    ss["parameterization"] = cfg.parameterization.value
    for key, options in (("beta_start", BETA_START_OPTIONS), ("beta_end", BETA_END_OPTIONS)):
        value = getattr(cfg, key)
        if value in options:
            ss[key] = value
        else:
            skipped.append(f"{key} = {value:g}")
    return skipped


def sidebar_settings() -> None:
    """The model settings every page shares, mirrored in the URL (a link reproduces them)."""
    st.sidebar.header("Model settings")
    st.sidebar.number_input(
        "T (diffusion steps)",
        min_value=2,
        max_value=T_MAX,
        value=DEFAULTS.T,
        step=1,
        key="T",
        bind="query-params",
        help="Number of steps of the forward and reverse chains.",
    )
    st.sidebar.select_slider(
        "β start (log scale)",
        options=BETA_START_OPTIONS,
        value=DEFAULTS.beta_start,
        key="beta_start",
        format_func=fmt_beta,
        bind="query-params",
        help="β₁, the noise added at the first step.",
    )
    st.sidebar.select_slider(
        "β end (log scale)",
        options=BETA_END_OPTIONS,
        value=DEFAULTS.beta_end,
        key="beta_end",
        format_func=fmt_beta,
        bind="query-params",
        help="β_T, the noise added at the last step.",
    )
    st.sidebar.selectbox(
        "Schedule",
        options=[s.value for s in BetaSchedule],
        index=[s.value for s in BetaSchedule].index(DEFAULTS.schedule.value),
        key="schedule",
        format_func=lambda v: SCHEDULE_LABELS.get(v, v),
        bind="query-params",
    )
    st.sidebar.number_input(
        "Network width",
        min_value=1,
        max_value=WIDTH_MAX,
        value=DEFAULTS.width,
        step=16,
        key="width",
        bind="query-params",
        help="Hidden units of the trunk and of each per-t head.",
    )
    with st.sidebar.expander("Advanced"):
        params = [p.value for p in MeanParameterization]
        st.selectbox(
            "Reverse-mean parameterisation",
            options=params,
            index=params.index(DEFAULTS.parameterization.value),
            key="parameterization",
            bind="query-params",
            help="paper: μ = x√(1−β) + f√β (fast to train); tutorial: the network outputs μ and log σ² directly.",
        )


# ---------------------------------------------------------------------- status
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


@dataclass(frozen=True)
class AppState:
    model: ModelRef
    settings: DiffusionConfig | None
    settings_error: str | None
    job: JobStatus | None
    training: bool
    status: str  # views.model_status(...)


def app_state() -> AppState:
    job = sync_job()
    model = current_model()
    settings, error = model_settings()
    training = job is not None and job.state.active
    status = views.model_status(model.source, model.pipeline.config, settings, training)
    return AppState(model, settings, error, job, training, status)


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
    # chart below it was drawn (~2 s in software WebGL), pushing the chart down when it did.
    st.sidebar.caption(
        f"{html.escape(f'{state.model.source} model · {note}', quote=False)} · T = {p.T}, width {p.config.width}, "
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


def live_chart(h: JobHolder, s: JobStatus) -> figures.go.Figure | None:
    """The Train page's live panels (loss curve, loss per t, the snapshot's samples), rebuilt once
    per snapshot (every ~2 s), not at every redraw of the panel (every 1 s): between snapshots the
    chart is unchanged, and building and serialising it again would only cost the server time."""
    if s.pipeline is None or s.preview is None or s.pipeline.steps_trained == 0:
        return None
    key = (h.uid, s.snapshot_id)
    cached = h.chart
    if cached is None or cached[0] != key:
        steps, loss = s.losses
        # all 5,000 samples of the snapshot, the ones its quality line measures
        cached = h.chart = (
            key,
            figures.live_training_figure(
                steps,
                loss,
                s.kl_per_t,
                views.sample_density(s.preview),
                views.roll_curve(),
                f"Fresh samples, snapshot at step {s.pipeline.steps_trained:,}",
            ),
        )
    return cached[1]


class ViewPrefetch:
    """A run's `on_update` hook (diffusion.jobs): builds views ahead, so that opening a page only
    has to draw it. Each build runs in a thread of its own, started the moment the snapshot
    arrives, whichever page the user is on (built from the Train page's redraw instead, it started
    up to a second later and held up the page switch that followed):

    - the run's first snapshot that meets the quality bar: its Reverse animation (where a user
      goes next, with the N and seed they left on that page);
    - the final model: its Reverse animation, then its bound on 20,000 points (1-1.4 s, the Bound
      page's wait) and its Figure 1 (the Overview's), the pages a user opens after a run.

    Not for every snapshot: each costs the server 0.3-1.4 s, and the pages take the newest snapshot
    when they open."""

    def __init__(self, uid: str, n: int, seed: int):
        self.uid, self.n, self.seed = uid, n, seed  # the Reverse page's N and seed when the run started
        self._lock = threading.Lock()
        self._started: set[str] = set()
        self.threads: list[threading.Thread] = []

    def __call__(self, s: JobStatus) -> None:
        if s.pipeline is None or s.pipeline.steps_trained == 0 or s.snapshot_id == 0:
            return
        ended = not s.state.active
        if not ended and (s.quality is None or not s.quality.passes):
            return
        which = "final" if ended else "first passing"
        with self._lock:
            if which in self._started:
                return
            self._started.add(which)
            thread = threading.Thread(
                target=self._build, args=(s, ended), name=f"view-prefetch-{self.uid}", daemon=True
            )
            self.threads.append(thread)
        thread.start()

    def _build(self, s: JobStatus, final: bool) -> None:
        model_id = snapshot_model_id(self.uid, s.snapshot_id)
        builds = [lambda: reverse_figure(model_id, self.n, self.seed, s.pipeline)]
        if final:
            builds += [lambda: bound_numbers(model_id, s.pipeline), lambda: figure1(model_id, s.pipeline)]
        for build in builds:
            try:
                build()
            except Exception:
                pass  # only a head start: the page builds it itself and says what went wrong


def rerun_to_adopt(h: JobHolder, s: JobStatus) -> None:
    """From the Train page's live panel (a fragment, which redraws only itself): one full rerun, so
    the sidebar and the Save and load section show the run's model, when its first snapshot arrives
    and when it is paused (the paused model: what a download then saves). Not at every snapshot:
    a full rerun redraws the whole page, and the other pages take the newest snapshot anyway."""
    if s.state.active and unadopted_snapshot(h, s) and (h.adopted == 0 or s.state is JobState.PAUSED):
        st.rerun()  # the full run's sync_job adopts it, so this happens once per snapshot


def model_to_save(h: JobHolder, s: JobStatus | None, model: ModelRef) -> tuple[DiffusionPipeline, str, str]:
    """(pipeline, source, note) of the model the Train page's Save offers now. While a run goes
    on, the page adopts only its first snapshot and the paused one (rerun_to_adopt), so the
    newest snapshot is newer than the session's current model: Save offers that one, the model
    the page's progress and samples show. Otherwise the current model."""
    if s is not None and s.state.active and unadopted_snapshot(h, s) and h.adopted > 0:
        return s.pipeline, views.TRAINED, f"{s.pipeline.steps_trained:,} steps, the run's newest snapshot"
    return model.pipeline, model.source, model.note


def rerun_when_ended(h: JobHolder, s: JobStatus) -> None:
    """One full rerun when the job ends, so every page picks up the final model and status."""
    if not s.state.active:
        with h.lock:
            first = h.end_seen != h.uid
            h.end_seen = h.uid
        if first:
            st.rerun()


def state_label(h: JobHolder, s: JobStatus) -> str:
    if h.stopping and s.state.active:
        return "stopping"
    if s.state is JobState.QUEUED and s.queue_position <= 0:
        return "starting"  # has a slot; its process is being started
    return s.state.value


def queue_message(s: JobStatus) -> str:
    """`queue_position` is the run's 1-based place in the waiting line (0: not waiting)."""
    if s.queue_position <= 0:
        return "Starting…"
    ahead = s.queue_position - 1
    if ahead == 0:
        return f"Server busy: all {DEFAULT_SLOTS.capacity} training slots are taken; your run is next in line."
    return f"Server busy: {ahead} run{'s' if ahead != 1 else ''} ahead of you; training starts when a slot frees."


def mismatch_banner(state: AppState) -> None:
    """When the sidebar no longer matches the model: say so and offer both ways out."""
    if state.status != views.CHANGED or state.settings is None:
        return
    changes = views.changed_fields(state.model.pipeline.config, state.settings)
    with st.container(border=True):
        st.warning(
            "**The model no longer matches the settings.** The sidebar changed "
            + ", ".join(changes)
            + ". The pages keep showing the current model (with its own settings) until you retrain; "
            "a new run keeps it among the Train page's earlier models.",
            icon="⚠️",
        )
        c1, c2, _ = st.columns([1, 1, 2])
        c1.button(
            "Retrain with the new settings",
            on_click=start_training,
            key="banner_retrain",
            type="primary",
            disabled=state.training,
        )
        c2.button("Put the model's settings back", on_click=restore_model_settings, key="banner_restore")


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
            job = TrainingJob(cfg, resume_from=resume_from, on_update=prefetch)
        except ConfigError as exc:
            st.session_state["train_message"] = str(exc)
            return
        if h.job is not None:
            h.job.stop(wait=False)
        h.job, h.uid, h.adopted, h.stopping, h.prefetch = job, uid, 0, False, prefetch
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
        # Not waited for: the run ends after its step and a last snapshot (~0.5 s); the panel says
        # "stopping" at once and "stopped" at its next redraw.
        h.job.stop(wait=False)


def restore_model_settings() -> None:
    skipped = apply_model_settings(current_model().pipeline.config)
    if skipped:
        st.session_state["train_message"] = (
            "Could not set " + ", ".join(skipped) + " in the sidebar (not among its choices)."
        )


def on_upload() -> None:
    """Checkpoint uploader changed: validate (never unpickled); on any problem keep the current model."""
    up = st.session_state.get("upload")
    st.session_state["upload_message"] = st.session_state["earlier_message"] = None
    if up is None:
        return
    if holder().active():
        st.session_state["upload_message"] = ("error", "Stop or finish the training run before loading another model.")
        return
    data = up.getvalue()
    try:
        pipeline = load_checkpoint(data, device="cpu")
    except CheckpointError as exc:
        st.session_state["upload_message"] = ("error", f"Could not load {up.name}: {exc}. The current model is kept.")
        return
    digest = hashlib.sha1(data).hexdigest()[:16]
    set_current_model(
        ModelRef(pipeline, f"upload-{digest}", views.UPLOADED, f"{up.name}, {pipeline.steps_trained:,} steps")
    )
    skipped = apply_model_settings(pipeline.config)
    note = f" (sidebar could not show {', '.join(skipped)})" if skipped else ""
    st.session_state["upload_message"] = (
        "success",
        f"Loaded {up.name}: T = {pipeline.T}, width {pipeline.config.width}, "
        f"{pipeline.steps_trained:,} steps. The sidebar now shows its settings{note}.",
    )


UPLOAD_LIMIT_MB = MAX_CHECKPOINT_BYTES // 2**20


# ---------------------------------------------------------------------- cached views
# Keyed on the model's server-unique id: sessions with the same model share, others never collide.
@st.cache_resource(max_entries=24, show_spinner="Drawing the forward process…")
def forward_figure(model_key: tuple, n: int, seed: int, _config: DiffusionConfig):
    view = views.forward_view(_config, n, seed)
    sched = views.schedule_view(_config)
    return figures.forward_animation(view, sched), view, sched


# No spinners of their own (reverse_figure, figure1, bound_numbers): ViewPrefetch calls them from a
# thread that has no page to show one on; the pages wrap their calls in st.spinner.
@st.cache_resource(max_entries=24, show_spinner=False)
def reverse_figure(model_id: str, n: int, seed: int, _pipeline: DiffusionPipeline):
    view = views.reverse_view(_pipeline, n, seed)
    return figures.reverse_animation(view), view


@st.cache_resource(max_entries=24, show_spinner=False)
def figure1(model_id: str, _pipeline: DiffusionPipeline):
    return figures.figure1(views.figure1_view(_pipeline))


@st.cache_data(max_entries=64, show_spinner=False)
def bound_numbers(model_id: str, _pipeline: DiffusionPipeline) -> Bound:
    return _pipeline.bound()


# No spinner: only ever called inside another cached function, where Streamlit shows none.
@st.cache_data(max_entries=16, show_spinner=False)
def model_samples(model_id: str, _pipeline: DiffusionPipeline) -> np.ndarray:
    """The model's 5,000 samples at seed 0 (about 0.3 s): what its quality line measures and what
    the Train page draws before a run, so both show the same points."""
    return _pipeline.samples(PREVIEW_POINTS, seed=0)


@st.cache_data(max_entries=64, show_spinner=False)
def _quality_numbers(model_id: str, _pipeline: DiffusionPipeline) -> SampleQuality:
    return sample_quality(model_samples(model_id, _pipeline))


@st.cache_resource(max_entries=8, show_spinner=False)
def model_chart(model_id: str, _pipeline: DiffusionPipeline) -> figures.go.Figure:
    """The Train page's live figure for a model that is not training: its loss curve and loss per t
    as its checkpoint recorded them, and its samples. Shown before a run, so a user sees what the
    current model is (and the browser has loaded its charting code before a run needs it)."""
    h = _pipeline.history
    return figures.live_training_figure(
        np.asarray(h.steps, np.int64),
        np.asarray(h.loss, np.float32),
        np.asarray(h.kl_per_t, np.float32),
        views.sample_density(model_samples(model_id, _pipeline)),
        views.roll_curve(),
        f"Samples of this model ({_pipeline.steps_trained:,} steps)",
    )


def model_quality(model: ModelRef) -> SampleQuality:
    """SW1 and chamfer of the model's 5,000 samples: a snapshot brings them (measured in its
    training process); otherwise measured here once per model (about 0.3 s)."""
    return model.quality if model.quality is not None else _quality_numbers(model.id, model.pipeline)


def quality_line(q: SampleQuality, what: str = "this model") -> None:
    """One line: the model's sample quality against the bar, green when it meets it."""
    verdict = "meets the quality bar" if q.passes else "does not meet the quality bar yet"
    text = (
        f"Sample quality of {what}: SW1 {q.sw1:.4f} (bar ≤ {QUALITY_SW1}), chamfer {q.chamfer:.4f} "
        f"(bar ≤ {QUALITY_CHAMFER}), 5,000 samples vs 5,000 roll points: **{verdict}**."
    )
    (st.success if q.passes else st.info)(text, icon=":material/check_circle:" if q.passes else ":material/pending:")


def newer_snapshot_notice(shown: ModelRef) -> None:
    """While a run trains: offer the newest snapshot in place of the one this page shows. Not
    automatic: redrawing every 2 s would restart an animation the user is watching."""
    h = holder()
    s = h.status()
    if s is None:
        return
    if s.state.active and unadopted_snapshot(h, s):
        c1, c2 = st.columns([3, 1], vertical_alignment="center")
        c1.info(
            f"Training goes on: a newer snapshot (step {s.pipeline.steps_trained:,}) is ready; "
            f"this page shows {shown.note}.",
            icon=":material/update:",
        )
        if c2.button("Show the newest snapshot", key="show_newest", width="stretch"):
            st.rerun()  # the full run adopts it (sync_job)
    rerun_when_ended(h, s)


@st.cache_data(max_entries=16, show_spinner="Computing the best bound this schedule allows (about 15 s)…")
def ceiling_numbers(model_key: tuple, _schedule) -> Bound:
    """The ceiling depends only on the schedule (T and the betas), so it is cached on the model key."""
    from diffusion.ceiling import best_possible_bound

    return best_possible_bound(_schedule, n=CEILING_POINTS, seed=0)


CEILING_POINTS = 1000


def plot(fig, key: str | None = None) -> None:
    """Every chart goes through here: the figure as built (no theme rewrite), no Plotly logo."""
    st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False})
