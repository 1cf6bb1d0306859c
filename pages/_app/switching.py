"""Callbacks that make another model the current one: an uploaded checkpoint, or one of the
session's earlier models. Both are refused while a run trains (its snapshots would replace the
model again), and both set the sidebar to the new model's settings."""

from __future__ import annotations

import hashlib
import re

import streamlit as st

from diffusion import views
from diffusion.checkpoint import MAX_CHECKPOINT_BYTES, CheckpointError, load_checkpoint
from pages._app import display
from pages._app.models import ModelId, ModelRef, earlier_models, set_current_model
from pages._app.settings import apply_model_settings
from pages._app.training import holder

UPLOAD_LIMIT_MB = MAX_CHECKPOINT_BYTES // 2**20


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&$:])")


def safe_name(name: str) -> str:
    """An uploaded file's name as literal text in a Markdown message: every character Markdown or
    HTML would act on is backslash-escaped, so `**x**` or `<b>x</b>` shows as typed. (The model's
    note keeps the raw name: the captions that show it escape it as HTML.)"""
    return _MARKDOWN.sub(r"\\\1", str(name))


def on_upload() -> None:
    """Checkpoint uploader changed: validate (never unpickled); on any problem keep the current model."""
    up = st.session_state.get("upload")
    # Every attempt starts clean: a message about the previous file, a model switch or a refused
    # Start is about a state this upload replaces, and beside the new result it would contradict it.
    st.session_state["upload_message"] = st.session_state["earlier_message"] = None
    st.session_state["train_message"] = None
    if up is None:
        return
    if holder().active():
        st.session_state["upload_message"] = ("error", "Stop or finish the training run before loading another model.")
        return
    data = up.getvalue()
    name = safe_name(up.name)
    try:
        pipeline = load_checkpoint(data, device="cpu")
    except CheckpointError as exc:
        st.session_state["upload_message"] = ("error", f"Could not load {name}: {exc}. The current model is kept.")
        return
    model_id = ModelId.of_upload(hashlib.sha1(data).hexdigest()[:16])
    set_current_model(ModelRef(pipeline, model_id, views.UPLOADED, f"{up.name}, {pipeline.steps_trained:,} steps"))
    skipped = apply_model_settings(pipeline.config)
    note = f" (sidebar could not show {', '.join(skipped)})" if skipped else ""
    st.session_state["upload_message"] = (
        "success",
        f"Loaded {name}: T = {pipeline.T}, width {pipeline.config.width}, "
        f"{pipeline.steps_trained:,} steps. The sidebar now shows its settings{note}.",
    )


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
        f"The current model is again the {ref.source} model ({display.literal(ref.note)}); "
        f"the sidebar shows its settings{note}.",
    )
