"""How the pages draw what the caches built: charts, and a model's quality line."""

from __future__ import annotations

import re

import streamlit as st

from diffusion import figures
from diffusion.metrics import QUALITY_CHAMFER, QUALITY_SW1, SampleQuality

QUALITY_HELP = (
    "SW1: sliced Wasserstein-1 distance between 5,000 samples and 5,000 fresh roll points "
    "(0 = same distribution); chamfer: mean distance from each point to the nearest point of the "
    "other set, both ways; the bar: both small enough that the samples look like the tutorial's figure."
)
PROGRESS_HELP = (
    "it/s: training steps per second, at the run's recent pace; s left: the training time the rest "
    "of the run takes at its average pace so far (pauses not counted)."
)
# What Streamlit's Markdown would act on inside a line: emphasis, code, links, strike, LaTeX, tables.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]~$|])")


def literal(text: str) -> str:
    """A user's text (an uploaded file's name) as typed inside Markdown: `**x**` shows its stars.
    Where a caption allows HTML, escape it as HTML first (html.escape), then pass it here."""
    return _MARKDOWN_INLINE.sub(r"\\\1", text)


def speed_select(column, key: str) -> int:
    """An animation's speed control; returns the frame duration in milliseconds."""
    speed = column.selectbox(
        "Animation speed",
        options=list(figures.SPEEDS),
        index=list(figures.SPEEDS).index("normal"),
        key=key,
        persist_state="session",
        help="How fast ▶ plays the frames: "
        + ", ".join(f"{name} one every {ms / 1000:g} s" for name, ms in figures.SPEEDS.items())
        + ". Without a GPU the browser may take longer to draw each frame.",
    )
    return figures.SPEEDS[speed]


def plot(fig, key: str | None = None) -> None:
    """Every chart goes through here: the figure as built (no theme rewrite), no Plotly logo."""
    st.plotly_chart(fig, theme=None, key=key, config={"displaylogo": False})


def quality_line(q: SampleQuality, what: str = "this model", explain: bool = True) -> None:
    """One line: the model's sample quality against the bar, green when it meets it. `explain`
    False leaves out the line that explains the numbers, for a page that gives it further down,
    and what the numbers compare (that line says it): so the box fits one line above a chart."""
    verdict = "meets the quality bar" if q.passes else "does not meet the quality bar yet"
    compared = "5,000 samples vs 5,000 roll points: " if explain else ""
    text = (
        f"Sample quality of {what}: SW1 {q.sw1:.4f} (bar ≤ {QUALITY_SW1}), chamfer {q.chamfer:.4f} "
        f"(bar ≤ {QUALITY_CHAMFER}), {compared}**{verdict}**."
    )
    (st.success if q.passes else st.info)(text, icon=":material/check_circle:" if q.passes else ":material/pending:")
    if explain:
        st.caption(QUALITY_HELP)
