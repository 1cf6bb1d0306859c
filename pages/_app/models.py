"""Which model a session shows: the shipped default, a training run's snapshots, an upload.

Every model has a `ModelId`, unique on the server: the view caches key on it, so sessions that show
the same model share its views and other models never collide. The session's current model is
`st.session_state["model"]`, the ones it replaced are `st.session_state["earlier_models"]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import streamlit as st

from diffusion import views
from diffusion.checkpoint import CheckpointError, load_checkpoint
from diffusion.config import DiffusionConfig
from diffusion.metrics import SampleQuality
from diffusion.pipeline import DiffusionPipeline

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "assets" / "default_model.pt"

ModelKind = Literal["default", "run", "upload"]


@dataclass(frozen=True)
class ModelId:
    """A model's server-unique name; hashable, so caches key on it.

    The snapshots a run publishes differ in `snapshot` only: one model at several points of its
    training, which the session counts once (`same_model_as`)."""

    kind: ModelKind
    key: str  # default: "shipped" or "untrained"; run: its uid; upload: the file's digest
    snapshot: int = 0  # a run's published snapshot; 0 for the other kinds

    def __post_init__(self) -> None:
        if self.kind not in get_args(ModelKind):
            raise ValueError(f"unknown model kind {self.kind!r}")

    @classmethod
    def of_snapshot(cls, uid: str, snapshot_id: int) -> ModelId:
        return cls("run", uid, snapshot_id)

    @classmethod
    def of_upload(cls, digest: str) -> ModelId:
        return cls("upload", digest)

    def same_model_as(self, other: ModelId) -> bool:
        """Two snapshots of one run are one model; any other id is only itself."""
        return (self.kind, self.key) == (other.kind, other.key)

    def of_run(self, uid: str) -> bool:
        return self.kind == "run" and self.key == uid


SHIPPED_ID = ModelId("default", "shipped")
UNTRAINED_ID = ModelId("default", "untrained")  # when the shipped checkpoint cannot be read


@dataclass(frozen=True)
class ModelRef:
    """A model as the session holds it: the pipeline, its id and where it came from."""

    pipeline: DiffusionPipeline
    id: ModelId
    source: str  # views.DEFAULT, views.TRAINED or views.UPLOADED
    note: str = ""
    quality: SampleQuality | None = None  # when already computed (a training snapshot comes with it)

    @property
    def name(self) -> str:
        """Where it came from, in a few words: 'trained · 300 steps'."""
        return f"{self.source} · {self.note}"

    def of_run(self, uid: str) -> bool:
        """One of the snapshots of run `uid`."""
        return self.id.of_run(uid)


@st.cache_resource(show_spinner="Loading the shipped model…")
def _load_default() -> DiffusionPipeline:
    # Read-only and shared by every session: views only run it under inference_mode, and training
    # copies it (TrainingJob deep-copies a model it resumes from).
    return load_checkpoint(DEFAULT_CHECKPOINT, device="cpu")


def default_model() -> ModelRef:
    try:
        return ModelRef(_load_default(), SHIPPED_ID, views.DEFAULT, "shipped with the app")
    except (CheckpointError, OSError) as exc:
        # Not cached: once the file is there, the next run loads it.
        return ModelRef(
            DiffusionPipeline.untrained(DiffusionConfig().replace(device="cpu")),
            UNTRAINED_ID,
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


def set_current_model(ref: ModelRef) -> None:
    """Make `ref` the session's current model; the one it replaces joins the earlier models
    (not when it is an older snapshot of the same run)."""
    old = current_model()
    st.session_state["model"] = ref
    earlier = [m for m in st.session_state.get("earlier_models", []) if not m.id.same_model_as(ref.id)]
    if not old.id.same_model_as(ref.id):
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
