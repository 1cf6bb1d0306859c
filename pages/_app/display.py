"""How the pages draw what the caches built: charts, and a model's quality line."""

from __future__ import annotations

import math
import re

import streamlit as st

from diffusion import figures
from diffusion.metrics import QUALITY_NEIGHBOURS, QUALITY_PRECISION, QUALITY_RECALL, SampleQuality
from pages._app import projector

# One line per number of the quality line (5,000 samples against 5,000 fresh data points).
QUALITY_EXPLAINED = {
    "on the data": "the share of samples that lie on the data: within the tolerance (0.12 on the roll, "
    f"scaled with the spread of other data) of a data point, or of its {QUALITY_NEIGHBOURS}th-nearest "
    "neighbour's distance where the data is sparser (precision)",
    "covers": "the share of the data the samples cover: data points with a sample that near (recall)",
    "SW1": "sliced Wasserstein-1 distance between the samples and the data points (0 = same "
    "distribution): whether the density along the data is right",
    "chamfer": "mean distance from each point to the nearest point of the other set, both ways "
    "(shown, not part of the bar: its mean hides a few stray samples)",
    "the bar": f"at least {QUALITY_PRECISION:.0%} of samples on the data, the samples cover "
    f"{QUALITY_RECALL:.0%} of it, and SW1 below its bar; fresh data against fresh data (the noise "
    "floor) scores 100%, 100% and an SW1 well under its bar",
}
QUALITY_HELP = "; ".join(f"{name}: {text}" for name, text in QUALITY_EXPLAINED.items()) + "."
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


def plot(fig, key: str | None = None, on_select=None) -> None:
    """Every chart goes through here: the figure as built (no theme rewrite), no Plotly logo; in
    projector mode, or opened at a lesson scene's t, a copy made for it (projector.prepare).
    `on_select`: a callback for a box or lasso drawn on the chart (it reads st.session_state[key])."""
    select = {} if on_select is None else dict(on_select=on_select, selection_mode=("box", "lasso"))
    st.plotly_chart(projector.prepare(fig, key), theme=None, key=key, config={"displaylogo": False}, **select)


def quality_line(q: SampleQuality, what: str = "this model", explain: bool = True) -> None:
    """One line: the model's sample quality against the bar, green when it meets it. `explain`
    False leaves out the line that explains the numbers, for a page that gives it further down,
    and what the numbers compare (that line says it): so the box fits one line above a chart."""
    verdict = "meets the quality bar" if q.passes else "does not meet the quality bar yet"
    compared = "5,000 samples vs 5,000 data points: " if explain else ""
    text = f"Sample quality of {what}: {quality_numbers(q)}, {compared}**{verdict}**."
    (st.success if q.passes else st.info)(text, icon=":material/check_circle:" if q.passes else ":material/pending:")
    if explain:
        st.caption(QUALITY_HELP)


def percent(share: float) -> str:
    """A share in [0, 1] as a percentage with one decimal, cut (not rounded) so that a share below
    a bar never shows as the bar: 98.96% is 98.9%."""
    return "100%" if share >= 1.0 else f"{math.floor(share * 1000) / 10:.1f}%"


def quality_numbers(q: SampleQuality) -> str:
    """The quality's numbers with their bars, as one phrase."""
    return (
        f"{percent(q.precision)} on the data (bar ≥ {QUALITY_PRECISION:.0%}), covers {percent(q.recall)} "
        f"(bar ≥ {QUALITY_RECALL:.0%}), SW1 {q.sw1:.4f} (bar ≤ {q.sw1_bar:.3g}), chamfer {q.chamfer:.4f}"
    )


def quality_metrics(q: SampleQuality, floor: SampleQuality | None = None) -> None:
    """The quality's four numbers as metrics, each with its explanation, and the noise floor
    (fresh data against fresh data) under them when given."""
    cells = st.columns(4)
    rows = [
        (
            "On the data (precision)",
            percent(q.precision),
            QUALITY_EXPLAINED["on the data"],
            f"≥ {QUALITY_PRECISION:.0%}",
        ),
        ("Covers (recall)", percent(q.recall), QUALITY_EXPLAINED["covers"], f"≥ {QUALITY_RECALL:.0%}"),
        ("Sliced Wasserstein-1", f"{q.sw1:.4f}", QUALITY_EXPLAINED["SW1"], f"≤ {q.sw1_bar:.3g}"),
        ("Chamfer distance", f"{q.chamfer:.4f}", QUALITY_EXPLAINED["chamfer"], "none"),
    ]
    for cell, (label, value, text, bar) in zip(cells, rows, strict=True):
        cell.metric(label, value, help=f"{text[0].upper()}{text[1:]}. 5,000 samples vs 5,000 data points; bar: {bar}.")
    if floor is not None:
        st.caption(
            f"Noise floor, fresh data against fresh data: {quality_numbers(floor)}. "
            f"The tolerance here is {q.tolerance:.3g} in the data's units."
        )
