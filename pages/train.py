"""Train: the training settings, start / pause / resume / stop, live progress, save and load a model."""

import streamlit as st

from diffusion import views
from diffusion.checkpoint import checkpoint_bytes
from diffusion.config import (
    BATCH_MAX,
    PRESETS,
    SECONDS_MAX,
    SEED_MAX,
    STEPS_MAX,
    LRSchedule,
    TimestepSampling,
    available_devices,
)
from diffusion.jobs import JobState
from pages._app import caches, data, display, models, settings, status, switching, training

state = status.page_state()
D = settings.DEFAULTS

st.title("Train a model")
# One line on a laptop: each row above the live panels pushes them towards the bottom of the screen.
st.caption(
    "Model settings in the sidebar, training settings here. A run trains on the server in the background; "
    "every page uses its newest snapshot (every ~2 s)."
)

# ---------------------------------------------------------------- settings
# The preset and the training length share a row: a row less above the live panels, which during a
# run must stay in view on a laptop's screen.
p1, p2, l1, l2 = st.columns([2, 1, 2, 2], vertical_alignment="bottom")
preset = p1.selectbox(
    "Preset",
    options=list(PRESETS),
    key="preset",
    persist_state="session",
    help="A whole recipe at once, the CLI's `train --preset`: Apply sets the sidebar's model settings and "
    "the training settings below.",
)
p2.button("Apply", on_click=settings.apply_preset, key="preset_apply")
st.caption(settings.preset_note(preset))
# The data set is the sidebar's; a user's own points are made here (the expander stays open while
# its message about the last upload or drawing is the news).
with st.expander("Your own points: upload a CSV or draw them", expanded=data.MESSAGE_KEY in st.session_state):
    data.points_panel()

c1, c2, c3, c4 = st.columns(4)
c1.number_input(
    "Learning rate",
    min_value=1e-6,
    max_value=100.0,
    value=D.lr,
    step=1e-3,
    format="%.1e",
    key="lr",
    persist_state="session",
)
c2.number_input(
    "Batch size (points per step)",
    min_value=1,
    max_value=BATCH_MAX,
    value=D.batch_size,
    step=256,
    key="batch_size",
    persist_state="session",
)
c3.number_input("Seed", min_value=0, max_value=SEED_MAX, value=D.seed, step=1, key="seed", persist_state="session")
devices = available_devices()
c4.selectbox(
    "Device",
    options=devices,
    index=devices.index(D.device) if D.device in devices else 0,
    key="device",
    persist_state="session",
    help="Only devices present on this server are offered; auto picks the fastest.",
)

mode = l1.radio(
    "Training length in", options=["steps", "seconds"], horizontal=True, key="length_mode", persist_state="session"
)
if mode == "steps":
    l2.number_input(
        "Steps",
        min_value=1,
        max_value=STEPS_MAX,
        value=D.steps or 3000,
        step=500,
        key="steps",
        persist_state="session",
    )
else:
    l2.number_input(
        "Seconds",
        min_value=0.5,
        max_value=SECONDS_MAX,
        value=10.0,
        step=5.0,
        key="max_seconds",
        persist_state="session",
    )

with st.expander("Advanced training settings"):
    a1, a2, a3 = st.columns(3)
    ts = [v.value for v in TimestepSampling]
    a1.selectbox(
        "Timesteps per batch",
        options=ts,
        index=ts.index(D.timestep_sampling.value),
        key="timestep_sampling",
        persist_state="session",
        help="all: every t = 2..T in every batch (fast); one: one random t per batch (the tutorial).",
    )
    lrs = [v.value for v in LRSchedule]
    a2.selectbox(
        "Learning-rate schedule",
        options=lrs,
        index=lrs.index(D.lr_schedule.value),
        key="lr_schedule",
        persist_state="session",
    )
    a3.number_input(
        "EMA decay (0 = off)",
        min_value=0.0,
        max_value=0.9999,
        value=D.ema_decay,
        step=0.001,
        format="%.4f",
        key="ema_decay",
        persist_state="session",
    )

cfg, cfg_error = settings.training_settings()
if cfg_error:
    st.error(cfg_error)
elif cfg.schedule.value == "linear" and not training.holder().active():
    st.info(
        "The linear schedule trains slowly: its loss sits at the noise level for about the first 500 steps "
        "before it falls, so give it a few thousand steps (the sigmoid schedule starts learning at once).",
        icon=":material/schedule:",
    )

# ---------------------------------------------------------------- controls and live progress
h = training.holder()
model = state.model
can_continue = cfg is not None and model.pipeline.config.model_key() == cfg.model_key()
full_run_status = h.status()  # the job as this full run saw it (the live panel reruns alone)
refreshing = full_run_status is not None and full_run_status.state.active  # this full run's choice of run_every


def toasting(callback, message_key: str):
    """`callback`, then its message (in `message_key`) also as a toast: the page shows it in place,
    which may be out of view where the page is scrolled, and a toast is seen wherever it is."""

    def run(*args, **kwargs) -> None:
        callback(*args, **kwargs)
        message = st.session_state.get(message_key)
        if message:
            kind, text = message if isinstance(message, tuple) else ("error", message)
            st.toast(text, icon=":material/error:" if kind == "error" else ":material/check_circle:")

    return run


def controls(s) -> None:
    """Start / continue / pause / resume / stop, enabled from the job's state as of now."""
    active = s is not None and s.state.active
    running = s is not None and s.state is JobState.RUNNING
    paused = s is not None and s.state is JobState.PAUSED
    b1, b2, b3, b4, b5 = st.columns(5)
    b1.button(
        "▶ Start new run",
        on_click=toasting(training.start_training, "train_message"),
        key="start",
        type="primary",
        disabled=active or cfg is None,
        width="stretch",
        help="Trains a fresh network with these settings. Your current model stays until the new run's first snapshot.",
    )
    b2.button(
        "⤴ Continue this model",
        on_click=toasting(training.start_training, "train_message"),
        kwargs={"resume": True},
        key="continue",
        disabled=active or not can_continue,
        width="stretch",
        help="Keeps training the current model (its settings must match the sidebar's).",
    )
    b3.button(
        "❚❚ Pause", on_click=training.pause_training, key="pause", disabled=not running or h.stopping, width="stretch"
    )
    b4.button(
        "▶ Resume", on_click=training.resume_training, key="resume", disabled=not paused or h.stopping, width="stretch"
    )
    b5.button(
        "■ Stop",
        on_click=training.stop_training,
        key="stop",
        disabled=not active or h.stopping,
        width="stretch",
        help="Ends the run; the model so far is kept.",
    )
    message = st.session_state.get("train_message")
    if message:
        st.error(message)
    if not active and model.source != views.DEFAULT:
        st.caption(
            "Starting a new run replaces the current model once the new run publishes its first snapshot; "
            "the session keeps it among its earlier models (below), and a download keeps it for good."
        )


def live_panel() -> None:
    """The controls, the run's progress and Save. Redraws itself every second while a run is
    active; it only reads the job (the buttons act through their callbacks, which run before it)."""
    s = h.status()
    if s is not None and s.state.active and not refreshing:
        st.rerun()  # a run just started from a button in here: one full run turns the refresh on
    if (
        full_run_status is not None
        and full_run_status.state is JobState.PAUSED
        and s is not None
        and s.state is JobState.RUNNING
    ):
        st.rerun()  # resumed: one full run, so the sidebar no longer describes the paused model
    controls(s)
    progress_panel(s)
    save(s)


def progress_panel(s) -> None:
    if s is None or not s.state.active:  # during a run the progress bar heads it: a row less above the charts
        st.subheader("Progress")
    # After an upload or a switch to an earlier model, the last run's panel would show another model.
    # Only once the run's end has had its full rerun (which adopts the final model): until then
    # this page's model is older than the run's, and the panel below asks for that rerun.
    replaced = (
        s is not None and not s.state.active and h.end_seen == h.uid and s.snapshot_id > 0 and not model.of_run(h.uid)
    )
    # a run whose worse model was not made current still shows its own panel, and why
    replaced = replaced and not (h.rejected is not None and h.rejected.of_run(h.uid))
    rejected_notice(s)
    if s is None or replaced:
        before = (
            "No run yet in this session."
            if s is None
            else f"The last run ended at step {s.step:,}; the current model is another one."
        )
        st.info(
            f"{before} Every page uses the current model ({model.source}, {display.literal(model.note)}); "
            "below, how it trained and 5,000 of its samples."
        )
        display.quality_line(caches.model_quality(model))
        live_charts(caches.model_chart(model.id, model.pipeline), key="model_chart")
        return
    if s.state is JobState.QUEUED and not h.stopping:
        st.info(training.queue_message(s), icon=":material/hourglass_top:")
    total = f" / {s.total_steps:,}" if s.total_steps else ""
    parts = [f"**{training.state_label(h, s)}**", f"step {s.step:,}{total}"]
    if s.state.active and s.state is not JobState.PAUSED:  # a paused run has no pace and no end in sight
        parts += [
            training.rate_text(s.iterations_per_second),
            "—" if s.eta_seconds is None else f"{s.eta_seconds:,.0f} s left",
        ]
    elif (
        not s.state.active and s.seconds > 0
    ):  # over: no time left to quote, and the pace of the whole run, not its recent one
        parts.append(f"{training.rate_text(s.step / s.seconds)} on average")
    st.progress(min(1.0, s.progress), text=" · ".join(parts + [f"{s.seconds:,.1f} s trained"]))
    # During a run the explanations go under the chart: above it they pushed the samples below the
    # fold of a laptop's screen.
    running = s.state is JobState.RUNNING
    if s.state is JobState.FAILED and s.error:
        st.error(s.error)
    elif s.state is JobState.FINISHED:
        st.success(f"Finished: {s.step:,} steps in {s.seconds:,.1f} s. Every page now uses this model.")
    elif s.state is JobState.STOPPED and s.step == s.start_step:
        st.info("Stopped before the first step; the previous model is still the current one.")
    elif s.state is JobState.STOPPED:
        st.info(f"Stopped at step {s.step:,}; the model so far is kept.")
    if s.quality is not None:  # above the chart: the browser shows it before it has drawn the chart
        display.quality_line(s.quality, what=f"the snapshot at step {s.pipeline.steps_trained:,}", explain=not running)
    chart = caches.live_chart(h, s)
    if chart is None:
        st.caption(
            "The loss curve, the loss per t and fresh samples appear with the first snapshot, after the run's "
            "first second of training: a few seconds after Start, longer the first time a server trains."
        )
    else:
        live_charts(chart, key="live_chart")
    if running:
        st.caption(display.PROGRESS_HELP)
        if s.quality is not None:
            st.caption(display.QUALITY_HELP)
    training.rerun_to_adopt(h, s)
    training.rerun_when_ended(h, s)


def live_charts(figs, key: str) -> None:
    """The three live panels side by side; on a phone Streamlit stacks the columns, so each panel
    gets the screen's whole width. The container's key names the row for the browser tests."""
    with st.container(key=key):
        for column, (name, fig) in zip(st.columns(3), figs._asdict().items()):
            with column:
                display.plot(fig, key=f"{key}_{name}")


def rejected_notice(s) -> None:
    """The run's model was worse than the one it would have replaced, which stayed current."""
    r = h.rejected
    if s is None or s.state.active or r is None or not r.of_run(h.uid) or model.of_run(h.uid):
        return
    q, current = r.quality, caches.model_quality(model)
    scores = "no samples measured" if q is None else display.quality_numbers(q)
    why = "diverged; its last good weights" if s.diverged else "ended; its model"
    st.warning(
        f"This run's model ({scores}) is worse than the current one ({display.quality_numbers(current)}), which stays. "
        f"You can still look at it or download it. (The run {why} are among this session's earlier models.)",
        icon=":material/undo:",
    )
    r1, r2, _ = st.columns([1, 1, 2])
    r1.download_button(
        "Download the run's model (.pt)",
        data=lambda: checkpoint_bytes(r.pipeline),
        file_name=f"{r.pipeline.config.data}_T{r.pipeline.T}_{r.pipeline.steps_trained}steps.pt",
        mime="application/octet-stream",
        on_click="ignore",
        key="rejected_ckpt",
    )
    r2.button("Make it current anyway", on_click=training.make_rejected_current, key="use_rejected", width="stretch")


def save(s) -> None:
    """In the live panel, so that while a run goes on it names and saves the newest snapshot."""
    st.subheader("Save and load")
    p, source, note = training.model_to_save(h, s, model)
    s1, _ = st.columns(2)
    s1.markdown(f"Current model: **{source}** ({note}), T = {p.T}, width {p.config.width}.")
    s1.download_button(
        "Download the model (.pt)",
        data=lambda: checkpoint_bytes(p),
        file_name=f"{p.config.data}_T{p.T}_{p.steps_trained}steps.pt",
        mime="application/octet-stream",
        on_click="ignore",
        key="train_ckpt",
    )


st.fragment(run_every=training.REFRESH_SECONDS if refreshing else None)(live_panel)()

# ---------------------------------------------------------------- load
load_column, _ = st.columns(2)
with load_column:
    st.file_uploader(
        f"Load a checkpoint (.pt, up to {switching.UPLOAD_LIMIT_MB} MB)",
        type=["pt", "pth"],
        key="upload",
        on_change=toasting(switching.on_upload, "upload_message"),
        max_upload_size=switching.UPLOAD_LIMIT_MB,
        disabled=refreshing,
        help="Checked before use: never unpickled, settings and weight shapes verified. "
        "A bad file leaves the current model in place.",
    )
    upload_message = st.session_state.get("upload_message")
    if upload_message:
        kind, text = upload_message
        (st.error if kind == "error" else st.success)(text)

# ---------------------------------------------------------------- earlier models
earlier = models.earlier_models()
if earlier:
    st.subheader("Models in this session")
    st.caption(
        "A new run or an upload replaces the current model; "
        f"the session keeps up to {models.EARLIER_MODELS_MAX} earlier ones "
        f"({models.EARLIER_MODELS_BYTES // 2**20} MB of weights) to compare and to go back to. "
        "They go when the tab closes: download a model to keep it."
    )
    # During a run its live panel shows the current model; a row here would fall behind it.
    rows = (
        [] if refreshing else [views.model_summary("current", model.name, model.pipeline, caches.model_quality(model))]
    )
    rows += [
        views.model_summary(f"earlier {i}", m.name, m.pipeline, caches.model_quality(m))
        for i, m in enumerate(earlier, 1)
    ]
    st.table(rows)
    e1, e2 = st.columns([2, 1], vertical_alignment="bottom")
    labels = {
        m.id: f"earlier {i}: {m.name} · T = {m.pipeline.T}, width {m.pipeline.config.width}"
        for i, m in enumerate(earlier, 1)
    }
    e1.selectbox("Earlier model", options=list(labels), format_func=labels.get, key="earlier_choice")
    e2.button(
        "Make it the current model",
        on_click=switching.use_earlier_model,
        key="use_earlier",
        disabled=refreshing,
        width="stretch",
        help="The sidebar takes its settings; the current model joins the earlier ones.",
    )
    earlier_message = st.session_state.get("earlier_message")
    if earlier_message:
        kind, text = earlier_message
        (st.error if kind == "error" else st.success)(text)
