"""The settings in session state: the sidebar's model settings (mirrored in the URL) and the Train
page's training settings, read as a validated config, and written back from a model's config."""

from __future__ import annotations

import re

import streamlit as st

from diffusion.config import (
    PRESET_NOTES,
    PRESETS,
    T_MAX,
    WIDTH_MAX,
    BetaSchedule,
    ConfigError,
    DataScale,
    DiffusionConfig,
    MeanParameterization,
    Network,
    available_devices,
    schedule_uses,
)
from diffusion.memory import check_training
from pages._app import data
from pages._app.display import literal
from pages._app.models import current_model

DEFAULTS = DiffusionConfig()
REVERSE_N, REVERSE_SEED = 2000, 0  # the Reverse page's default number of points and seed
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
    BetaSchedule.GEOMETRIC.value: "geometric (equal ratios from β start to β end)",
}


# The widgets' labels for the config's field names: an error on the page names the control to
# change, not the code's name for it (the CLI keeps its flag names).
FIELD_LABELS = {
    "T": "T (diffusion steps)",
    "beta_start": "β start",
    "beta_end": "β end",
    "width": "Network width",
    "lr": "Learning rate",
    "batch_size": "Batch size",
    "steps": "Steps",
    "max_seconds": "Seconds",
    "seed": "Seed",
    "ema_decay": "EMA decay",
}
# Inside a message only the names that are no English word: "steps" or "width" in a sentence is prose.
_CODE_NAMES = re.compile(r"\b(beta_start|beta_end|lr|batch_size|max_seconds|ema_decay)\b")


def user_message(exc: ConfigError | str) -> str:
    """A ConfigError's one line with the widgets' labels in place of the field names."""
    text = str(exc)
    field, sep, rest = text.partition(": ")
    if sep and field in FIELD_LABELS:
        text = FIELD_LABELS[field] + sep + rest
    return _CODE_NAMES.sub(lambda m: FIELD_LABELS[m.group(1)], text)


def ignored_betas(schedule: str) -> list[str]:
    """The β range fields that `schedule` does not read (their sidebar controls are disabled)."""
    uses = schedule_uses(schedule)
    return [name for name in ("beta_start", "beta_end") if name not in uses]


def noise_advice(schedule: str) -> str:
    """What to change when the chain does not reach noise: only the settings that act on it."""
    return "Raise β end or T." if "beta_end" in schedule_uses(schedule) else "Raise T."


def fmt_beta(v: float) -> str:
    return f"{v:g}"


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
            data_scale=ss.get("data_scale", DEFAULTS.data_scale.value),
            learn_betas=bool(ss.get("learn_betas", DEFAULTS.learn_betas)),
            network=ss.get("network", DEFAULTS.network.value),
            data=ss.get("data", DEFAULTS.data),
        )
        return cfg.validate(check_device=False), None
    except ConfigError as exc:
        return None, user_message(exc)


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
            steps=None if by_seconds else ss.get("steps", DEFAULTS.steps or 3000),
            max_seconds=ss.get("max_seconds", 10.0) if by_seconds else None,
            seed=ss.get("seed", DEFAULTS.seed),
            device=ss.get("device", DEFAULTS.device),
            timestep_sampling=ss.get("timestep_sampling", DEFAULTS.timestep_sampling.value),
            lr_schedule=ss.get("lr_schedule", DEFAULTS.lr_schedule.value),
            ema_decay=ss.get("ema_decay", DEFAULTS.ema_decay),
        )
        # a run too big for the server's per-run memory is refused here, before Start is offered
        return check_training(cfg.validate()), None
    except ConfigError as exc:
        return None, user_message(exc)


def apply_model_settings(cfg: DiffusionConfig) -> list[str]:
    """Set the sidebar to `cfg`'s model settings (in a callback); returns fields it could not set."""
    ss = st.session_state
    skipped = []
    ss["T"] = cfg.T
    ss["width"] = cfg.width
    ss["schedule"] = cfg.schedule.value
    ss["parameterization"] = cfg.parameterization.value
    ss["data_scale"] = cfg.data_scale.value
    ss["learn_betas"] = cfg.learn_betas
    ss["network"] = cfg.network.value
    if cfg.data in data.options():
        ss["data"] = cfg.data
    else:
        skipped.append("data set = your own points (this session has none)")
    for key, options in (("beta_start", BETA_START_OPTIONS), ("beta_end", BETA_END_OPTIONS)):
        value = getattr(cfg, key)
        if value in options:
            ss[key] = value
        else:
            skipped.append(f"{key} = {value:g}")
    return skipped


def apply_training_settings(cfg: DiffusionConfig) -> None:
    """Set the Train page's training widgets to `cfg`'s training settings (in a callback)."""
    ss = st.session_state
    ss["lr"] = cfg.lr
    ss["batch_size"] = cfg.batch_size
    if cfg.steps is not None:
        ss["length_mode"], ss["steps"] = "steps", cfg.steps
    else:
        ss["length_mode"], ss["max_seconds"] = "seconds", cfg.max_seconds
    ss["seed"] = cfg.seed
    if cfg.device in available_devices():
        ss["device"] = cfg.device
    ss["timestep_sampling"] = cfg.timestep_sampling.value
    ss["lr_schedule"] = cfg.lr_schedule.value
    ss["ema_decay"] = cfg.ema_decay


def preset_note(name: str) -> str:
    return PRESET_NOTES.get(name, name)


def apply_preset() -> None:
    """Button callback: the sidebar's model settings and the training settings from the chosen
    preset (the CLI's `train --preset`)."""
    cfg = PRESETS[st.session_state.get("preset", "default")]
    skipped = apply_model_settings(cfg)
    apply_training_settings(cfg)
    if skipped:
        st.session_state["train_message"] = (
            "Could not set " + ", ".join(skipped) + " in the sidebar (not among its choices)."
        )


def restore_model_settings() -> None:
    """Button callback: put the current model's settings back in the sidebar (and its own points,
    for a model of a user's points)."""
    pipeline = current_model().pipeline
    if pipeline.data.is_custom:
        st.session_state[data.CUSTOM_KEY] = pipeline.data
    skipped = apply_model_settings(pipeline.config)
    if skipped:
        st.session_state["train_message"] = (
            "Could not set " + ", ".join(skipped) + " in the sidebar (not among its choices)."
        )


# The sidebar's settings projector mode can hide (as pages/_app/projector.SIDEBAR names them).
HIDEABLE = frozenset({"data", "T", "beta_start", "beta_end", "schedule", "width", "advanced"})


def sidebar_settings(hidden: frozenset[str] = frozenset()) -> None:
    """The model settings every page shares, mirrored in the URL (a link reproduces them).

    `hidden`: settings projector mode leaves out (pages/_app/projector.py). They are drawn all the
    same, and hidden by its style sheet: a widget left undrawn would lose its value. Only their
    captions, and the header when all are hidden, are left out here."""
    if not hidden >= HIDEABLE:
        st.sidebar.header("Model settings")
    choices = data.options()
    if st.session_state.get("data") not in choices:  # "custom" with no points (a session restored)
        st.session_state["data"] = DEFAULTS.data
    st.sidebar.selectbox(
        "Data set",
        options=choices,
        index=choices.index(DEFAULTS.data),
        key="data",
        format_func=data.label,
        help="What the model learns. Every set has the roll's spread, so a schedule acts alike on each; "
        "your own points (a CSV or a drawing, on the Train page) keep their units in samples and downloads.",
    )
    if st.session_state.get("data") == "custom" and data.custom_caption() and "data" not in hidden:
        st.sidebar.caption(literal(data.custom_caption()))
    st.sidebar.number_input(
        "T (diffusion steps)",
        min_value=2,
        max_value=T_MAX,
        value=DEFAULTS.T,
        step=1,
        key="T",
        help="Number of steps of the forward and reverse chains.",
    )
    # The schedule's widget comes below the betas, so read its value before it is drawn (on a
    # session's first run, url.read_url has put the link's schedule in session state).
    schedule = st.session_state.get("schedule", DEFAULTS.schedule.value)
    try:
        ignored = ignored_betas(schedule)
    except ValueError:  # a bad schedule in the URL: the schedule widget reports it
        ignored = []
    st.sidebar.select_slider(
        "β start (log scale)",
        options=BETA_START_OPTIONS,
        value=DEFAULTS.beta_start,
        key="beta_start",
        format_func=fmt_beta,
        disabled="beta_start" in ignored,
        help="β₁, the noise added at the first step.",
    )
    if "beta_start" in ignored and "beta_start" not in hidden:
        st.sidebar.caption(f"(ignored by the {schedule} schedule)")
    st.sidebar.select_slider(
        "β end (log scale)",
        options=BETA_END_OPTIONS,
        value=DEFAULTS.beta_end,
        key="beta_end",
        format_func=fmt_beta,
        disabled="beta_end" in ignored,
        help="β_T, the noise added at the last step.",
    )
    if "beta_end" in ignored and "beta_end" not in hidden:
        st.sidebar.caption(f"(ignored by the {schedule} schedule)")
    st.sidebar.selectbox(
        "Schedule",
        options=[s.value for s in BetaSchedule],
        index=[s.value for s in BetaSchedule].index(DEFAULTS.schedule.value),
        key="schedule",
        format_func=lambda v: SCHEDULE_LABELS.get(v, v),
    )
    st.sidebar.number_input(
        "Network width",
        min_value=1,
        max_value=WIDTH_MAX,
        value=DEFAULTS.width,
        step=16,
        key="width",
        help="Hidden units of the trunk and of each per-t head.",
    )
    with st.sidebar.expander("Advanced", key="sidebar_advanced"):
        params = [p.value for p in MeanParameterization]
        st.selectbox(
            "Reverse-mean parameterisation",
            options=params,
            index=params.index(DEFAULTS.parameterization.value),
            key="parameterization",
            help="paper: μ = x√(1−β) + f√β (fast to train); tutorial: the network outputs μ and log σ² directly.",
        )
        scales = [d.value for d in DataScale]
        st.selectbox(
            "Data scale",
            options=scales,
            index=scales.index(DEFAULTS.data_scale.value),
            key="data_scale",
            help="tutorial: the roll divided by 10, as the tutorial trains it; unit: the roll scaled to variance 1 "
            "per axis, the paper's Table 1 protocol (its K compares with the paper's without conversion).",
        )
        st.checkbox(
            "Learn β₂…β_T",
            value=DEFAULTS.learn_betas,
            key="learn_betas",
            help="The paper's method: β₂…β_T are trained with the network, starting from the schedule above "
            "(β₁ stays fixed).",
        )
        nets = [m.value for m in Network]
        st.selectbox(
            "Network",
            options=nets,
            index=nets.index(DEFAULTS.network.value),
            key="network",
            help="mlp: the tutorial's ReLU network with a head per t; rbf: the paper's radial basis functions "
            "with a readout per t.",
        )
