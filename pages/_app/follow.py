"""Follow points on the Forward and Reverse animations: "follow N random points", a box or lasso
drawn on the chart, and Clear.

The choice lives in the session (`{prefix}_follow`), not in the chart: a new figure (the paths
drawn, a new snapshot, another speed) is a new chart for Streamlit and starts with no selection,
so the chart's selection is read once, by its on_select callback, and kept here until Clear, a
new selection, a new N to follow, or another N or seed of the page (other points).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import streamlit as st

from diffusion import inside
from diffusion.figures import FOLLOW_MAX

HOW = (
    "Drag a box over the points to follow them (the lasso is in the chart's toolbar), or follow random "
    "points. Each path is drawn through every frame; the dot moves with ▶ and the slider, the ring marks "
    "where the path ends. Selecting on another frame follows the points where they are at that t."
)


@dataclass(frozen=True)
class Chosen:
    """Points picked on the chart: their indices (all of them, before the cap), for N points and a seed."""

    indices: tuple[int, ...]
    n: int
    seed: int


def selected_indices(selection, trace: int) -> np.ndarray:
    """Indices (k,) int64, increasing, of the points of trace `trace` in a plotly_chart selection
    (its "points", each with the "curve_number" of its trace and its "point_index"). A point's
    index is the same in every frame (the frames move the points, not their order), so the
    selection names the same points at whatever t it was drawn."""
    points = (selection or {}).get("points") or []
    idx = [int(p["point_index"]) for p in points if p.get("curve_number") == trace and "point_index" in p]
    return np.unique(np.asarray(idx, dtype=np.int64))


def capped(indices, seed: int) -> np.ndarray:
    """At most FOLLOW_MAX of `indices`, increasing: all of them, or FOLLOW_MAX drawn with `seed`."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size <= FOLLOW_MAX:
        return idx
    return idx[inside.random_indices(idx.size, FOLLOW_MAX, seed)]


def _state(prefix: str) -> str:
    return f"{prefix}_follow"


def _on_select(prefix: str, chart_key: str, trace: int, n: int, seed: int) -> None:
    """The chart's selection changed: keep its points. An empty one (a double click, or the reset
    of a redrawn chart) keeps the points followed: Clear is the way to stop."""
    event = st.session_state.get(chart_key)
    idx = selected_indices(event.get("selection") if event else None, trace)
    if idx.size or _has_region(event):
        st.session_state[_state(prefix)] = Chosen(tuple(idx.tolist()), n, seed)


def _has_region(event) -> bool:
    selection = (event or {}).get("selection") or {}
    return bool(selection.get("box") or selection.get("lasso"))


def _clear(prefix: str) -> None:
    st.session_state.pop(_state(prefix), None)
    st.session_state[f"{prefix}_follow_k"] = 0


def _random_changed(prefix: str) -> None:
    st.session_state.pop(_state(prefix), None)  # the number typed last is the choice


def on_select(prefix: str, chart_key: str, trace: int, n: int, seed: int):
    """The callback for the chart's on_select: `trace` is the points' trace in the figure; n and
    seed are the page's, so a selection is dropped when they change (other points)."""
    return functools.partial(_on_select, prefix, chart_key, trace, n, seed)


def controls(prefix: str, n: int, seed: int) -> tuple[int, ...]:
    """The "Follow N random points" input, Clear and a line on what is followed; returns the
    indices (at most FOLLOW_MAX, increasing) of the points to follow, () for none."""
    c1, c2, c3 = st.columns([1.2, 0.5, 3.3], vertical_alignment="bottom")
    k = c1.number_input(
        "Follow N random points",
        min_value=0,
        max_value=FOLLOW_MAX,
        value=0,
        step=1,
        key=f"{prefix}_follow_k",
        persist_state="session",
        on_change=_random_changed,
        args=(prefix,),
        help=f"0 = none. Up to {FOLLOW_MAX} points, drawn with the page's seed, so the same seed follows the "
        "same points. A box or lasso on the chart replaces them.",
    )
    c2.button("Clear", key=f"{prefix}_follow_clear", on_click=_clear, args=(prefix,), help="Follow no points.")
    chosen = st.session_state.get(_state(prefix))
    if chosen is not None and (chosen.n, chosen.seed) != (n, seed):
        st.session_state.pop(_state(prefix), None)  # drawn on other points
        chosen = None
    if chosen is not None:
        if not chosen.indices:
            c3.warning("The box or lasso holds none of the points: draw it over them.", icon=":material/info:")
            return ()
        idx = capped(chosen.indices, seed)
        if idx.size < len(chosen.indices):
            c3.caption(
                f"{len(chosen.indices):,} points selected: following {idx.size} of them, drawn at random "
                f"with the seed (more would hide one another). {HOW}"
            )
        else:
            c3.caption(f"Following the {idx.size} selected point{'s' * (idx.size != 1)}. {HOW}")
        return tuple(idx.tolist())
    k = min(int(k), n)
    if k == 0:
        c3.caption(HOW)
        return ()
    c3.caption(f"Following {k} random point{'s' * (k != 1)} (seed {seed}). {HOW}")
    return tuple(inside.random_indices(n, k, seed).tolist())
