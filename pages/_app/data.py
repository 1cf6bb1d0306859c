"""The session's data: the sidebar's data set, and a user's own points from a CSV or a drawing.

A user's points live in session state as a `DataSet` (validated by diffusion.datasets); choosing
them sets the sidebar's data set to "custom". A link carries only a named set: the points stay in
the session, and in any checkpoint trained on them.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from diffusion import datasets
from diffusion.config import DiffusionConfig
from diffusion.datasets import DataSet, PointsError

CUSTOM_KEY = "custom_dataset"
MESSAGE_KEY = "points_message"
UPLOAD_KEY = "points_upload"
CANVAS_KEY = "points_canvas"
CANVAS_PX = 360  # the drawing's side in pixels; it spans [-2, 2]^2, the plots' square
CANVAS_EXTENT = 2.0
_ORIGIN = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}


def custom() -> DataSet | None:
    """The session's own points, if it has any."""
    return st.session_state.get(CUSTOM_KEY)


def options() -> list[str]:
    """The sidebar's choices: every named set, and "custom" once the session has points."""
    return list(datasets.NAMES) + ([datasets.CUSTOM] if custom() is not None else [])


def label(name: str) -> str:
    """A choice's label: fixed text (a widget's labels must not depend on session state)."""
    return datasets.LABELS.get(name, name)


def custom_caption() -> str | None:
    """What the session's own points are, for under the picker; None without them."""
    own = custom()
    return None if own is None else f"Your own points: {own.source}, {len(own.points):,} points."


def dataset_for(config: DiffusionConfig) -> DataSet | None:
    """The data set to hand to the engine for `config`: the session's points for "custom", None
    for a named set (the engine draws it by name)."""
    return custom() if config.data == datasets.CUSTOM else None


def _use(dataset: DataSet, note: str, what: str) -> None:
    st.session_state[CUSTOM_KEY] = dataset
    st.session_state["data"] = datasets.CUSTOM
    text = f"{what}: {len(dataset.points):,} points are the data set now (sidebar: Data set)."
    st.session_state[MESSAGE_KEY] = ("success", f"{text} {note}." if note else text)


def on_upload() -> None:
    """File uploader callback: a valid CSV becomes the session's data; a bad one only a message
    (the data, and every model trained, stay as they were)."""
    file = st.session_state.get(UPLOAD_KEY)
    if file is None:
        return
    name = file.name
    if file.size > datasets.CSV_BYTES_MAX:
        st.session_state[MESSAGE_KEY] = (
            "error",
            f"{name}: the file is {file.size / 2**20:,.1f} MB; the limit is {datasets.CSV_BYTES_MAX // 2**20} MB.",
        )
        return
    try:
        dataset, note = datasets.points_from_csv(file.getvalue(), source=name)
    except PointsError as exc:
        st.session_state[MESSAGE_KEY] = ("error", f"{name}: {exc}. Nothing was changed.")
        return
    _use(dataset, note, name)


def canvas_points(json_data: dict | None) -> np.ndarray:
    """The points drawn on the canvas, (n, 2) in [-2, 2]^2 with y up (the canvas counts y down)."""
    objects = (json_data or {}).get("objects") or []
    half = CANVAS_PX / 2
    out = []
    for obj in objects:
        if str(obj.get("type", "")).lower() != "circle":  # Fabric.js names it "Circle" from version 6
            continue
        # left/top is the point of the circle's box named by originX/originY (Fabric.js 7 defaults
        # to its centre, older versions to its top-left corner)
        size_x = 2 * float(obj.get("radius", 0)) * float(obj.get("scaleX", 1))
        size_y = 2 * float(obj.get("radius", 0)) * float(obj.get("scaleY", 1))
        x = float(obj.get("left", 0)) + (0.5 - _ORIGIN.get(obj.get("originX", "left"), 0.0)) * size_x
        y = float(obj.get("top", 0)) + (0.5 - _ORIGIN.get(obj.get("originY", "top"), 0.0)) * size_y
        out.append(((x - half) / half * CANVAS_EXTENT, (half - y) / half * CANVAS_EXTENT))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def use_drawing(points: np.ndarray) -> None:
    """Button callback: the drawn points become the session's data."""
    try:
        dataset, note = datasets.from_points(points, source="drawing")
    except PointsError as exc:
        st.session_state[MESSAGE_KEY] = ("error", f"Drawing: {exc}. Nothing was changed.")
        return
    _use(dataset, note, "Drawing")


def points_panel() -> None:
    """Upload a CSV or draw points: the widgets, and the message about the last one."""
    up, draw = st.columns([1, 1])
    with up:
        st.file_uploader(
            "Upload a CSV of 2-D points",
            type=["csv", "txt"],
            key=UPLOAD_KEY,
            on_change=on_upload,
            help=f"Columns x and y (or exactly two columns), one point per row; at most "
            f"{datasets.CUSTOM_POINTS_MAX:,} points are used (a seeded subsample of more), up to "
            f"{datasets.CSV_BYTES_MAX // 2**20} MB. Samples and downloads come back in the file's units.",
        )
        message = st.session_state.get(MESSAGE_KEY)
        if message:
            kind, text = message
            (st.success if kind == "success" else st.error)(text)
    with draw:
        _canvas()


def _canvas() -> None:
    try:
        from streamlit_drawable_canvas import st_canvas
    except ImportError:  # pragma: no cover - requirements.txt installs it
        st.caption("Drawing needs streamlit-drawable-canvas (pip install -r requirements.txt).")
        return
    st.caption("Or click points onto the square (it spans [−2, 2]², like the plots):")
    result = st_canvas(
        drawing_mode="point",
        point_display_radius=3,
        stroke_color="#1f77b4",
        fill_color="#1f77b4",
        background_color="#ffffff",
        width=CANVAS_PX,
        height=CANVAS_PX,
        key=CANVAS_KEY,
    )
    points = canvas_points(getattr(result, "json_data", None))
    st.button(
        f"Use these {len(points)} points",
        on_click=use_drawing,
        args=(points,),
        key="use_drawing",
        disabled=len(points) < datasets.CUSTOM_POINTS_MIN,
        help="They become the data set (sidebar: Data set); train a model on them below.",
    )
