"""Projector mode: large, high-contrast charts and text, the sidebar settings a teacher picks hidden,
the page's full width for the animation. One switch in the sidebar, and the link carries it
(`?projector=1&hide=T,width`, as TensorFlow Playground hides its controls), so a teacher's link
opens in it.

Every chart goes through `prepare` (display.plot calls it): in projector mode it draws a copy of
the figure with larger fonts, markers and lines; a lesson's scene may also ask the page's animation
to open at a given t (`FRAME_KEY`). The copies are kept per figure, so a redraw of the same figure
costs nothing more. No import from the rest of pages/_app: display imports this module.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import plotly.graph_objects as go
import streamlit as st

PROJECTOR_KEY = "projector"  # the switch's widget key, and the URL's flag
HIDE_KEY = "projector_hide"  # the multiselect's widget key
HIDE_PARAM = "hide"  # the URL's list of hidden settings
READ_FLAG = "_projector_url_read"
LINK_FLAG = "_projector_link"  # the session was opened by a link in projector mode
FRAME_KEY = "_lesson_frame"  # {chart key: t}, set by pages/_app/lesson.py for a scene's animation

# The settings a teacher can hide: URL name -> label. The sidebar's model settings, then the
# controls above the Forward and Reverse pages' animations (hidden, the chart moves up the screen).
# Each is hidden by the class Streamlit gives a keyed element (`st-key-KEY`).
HIDEABLE = {
    "data": "Data set",
    "T": "T (diffusion steps)",
    "beta_start": "β start",
    "beta_end": "β end",
    "schedule": "Schedule",
    "width": "Network width",
    "advanced": "Advanced",
    "points": "Points N (above an animation)",
    "seed": "Seed (above an animation)",
    "speed": "Animation speed",
    "arrows": "Arrow scale",
}
SIDEBAR = ("data", "T", "beta_start", "beta_end", "schedule", "width", "advanced")
# The elements' keys, where they are not the URL name.
ELEMENTS = {
    "advanced": ("sidebar_advanced",),
    "points": ("fwd_n", "rev_n"),
    "seed": ("fwd_seed", "rev_seed"),
    "speed": ("fwd_speed", "rev_speed"),
    "arrows": ("rev_arrows",),
}


def hide_rules(names) -> str:
    """The CSS selectors of the elements `names` hide."""
    return ", ".join(
        f'[data-testid="{"stSidebar" if name in SIDEBAR else "stMain"}"] .st-key-{key}'
        for name in HIDEABLE
        if name in names
        for key in ELEMENTS.get(name, (name,))
    )


# The figures' styling on a projector.
FONT, TITLE_FONT, TICK_FONT = 18, 24, 16
MARKER_SCALE, LINE_SCALE, ANNOTATION_SCALE = 1.8, 2.0, 1.4
INK = "#000000"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

CSS = """
<style>
/* Streamlit sizes its text in rem: a larger root makes every text and widget larger alike. */
html { font-size: 20px; }
/* High contrast: captions, labels and help in black rather than grey. */
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stCaptionContainer"],
[data-testid="stCaptionContainer"] p, [data-testid="stWidgetLabel"] p, [data-testid="stSidebar"] p {
  color: #000000 !important;
}
[data-testid="stCaptionContainer"] { font-size: 0.95rem !important; opacity: 1 !important; }
[data-testid="stMain"] h1 { font-size: 2.1rem !important; padding-top: 0.5rem !important; }
/* The page's whole width for the charts: the wide layout's side padding cut to a margin. */
[data-testid="stMainBlockContainer"] {
  padding-left: 1.5rem !important; padding-right: 1.5rem !important; padding-top: 3.5rem !important;
  max-width: 100% !important;
}
</style>
"""

# In projector mode while a lesson shows a scene: the scene's title and text (the lesson bar) stand
# for the page's title and the caption under it, which are left out to leave the animation room.
LESSON_CSS = """
<style>
[data-testid="stMain"] [data-testid="stElementContainer"]:has(h1),
[data-testid="stMain"] [data-testid="stElementContainer"]:has(h1)
  + [data-testid="stElementContainer"]:has([data-testid="stCaptionContainer"]) { display: none !important; }
</style>
"""


def is_on() -> bool:
    return bool(st.session_state.get(PROJECTOR_KEY, False))


def hidden() -> frozenset[str]:
    """The settings the sidebar leaves out (none outside projector mode)."""
    if not is_on():
        return frozenset()
    return frozenset(k for k in st.session_state.get(HIDE_KEY, []) if k in HIDEABLE)


def parse_flag(text: str) -> bool | None:
    word = text.strip().lower()
    return True if word in _TRUE else False if word in _FALSE else None


def parse_hide(text: str) -> tuple[list[str], list[str]]:
    """The URL's `hide` list: (the known setting names, in the sidebar's order; the unknown ones)."""
    names = [n.strip() for n in text.split(",")[:32] if n.strip()]
    unknown = [n for n in names if n not in HIDEABLE]
    return [k for k in HIDEABLE if k in names], unknown


def read_url(escaped) -> list[str]:
    """On the session's first run: the link's projector flag and hidden settings into session state.
    Returns a warning per value it could not use (`escaped` quotes a value for Markdown)."""
    ss = st.session_state
    if ss.get(READ_FLAG):
        return []
    ss[READ_FLAG] = True
    warnings = []
    if PROJECTOR_KEY in st.query_params:
        flag = parse_flag(st.query_params.get(PROJECTOR_KEY, ""))
        if flag is None:
            warnings.append(
                f"projector: '{escaped(st.query_params.get(PROJECTOR_KEY, ''))}' is not 1 or 0; projector mode is off"
            )
        ss[PROJECTOR_KEY] = bool(flag)
    if HIDE_PARAM in st.query_params:
        names, unknown = parse_hide(st.query_params.get(HIDE_PARAM, ""))
        ss[HIDE_KEY] = names
        for name in unknown:
            warnings.append(
                f"hide: '{escaped(name)}' is not a setting the lab can hide ({', '.join(HIDEABLE)}); it stays shown"
            )
    return warnings


def write_url() -> None:
    """`projector=1` and `hide=...` while projector mode is on; neither when it is off."""
    wanted = {PROJECTOR_KEY: "1" if is_on() else None, HIDE_PARAM: ",".join(sorted(hidden(), key=list(HIDEABLE).index))}
    wanted[HIDE_PARAM] = wanted[HIDE_PARAM] or None
    set_query(wanted)


def set_query(wanted: dict[str, str | None]) -> None:
    """The URL's keys set to these values (None: left out), each written only when it changes.
    The lesson's keys use it too."""
    for key, value in wanted.items():
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value


def opened_in_projector_mode() -> bool:
    """Whether the link that opened the session asks for projector mode: then its pages open with
    the sidebar collapsed, the animation across the whole screen. Read at the session's first run
    and kept: the page config is sent at every run, and a value that changed would fold or unfold
    the sidebar under the teacher's hands."""
    ss = st.session_state
    if LINK_FLAG not in ss:
        ss[LINK_FLAG] = parse_flag(st.query_params.get(PROJECTOR_KEY, "")) is True
    return ss[LINK_FLAG]


def keep_state() -> None:
    """Before a run is cut short (a lesson switching pages): the switch and the hidden settings as
    values of the session's own, so that they outlive a run that drew neither widget."""
    ss = st.session_state
    for key in (PROJECTOR_KEY, HIDE_KEY):
        if key in ss:
            ss[key] = ss[key]


def sidebar_controls() -> None:
    """The switch, and in projector mode the settings to hide; both are kept in the URL."""
    st.sidebar.divider()
    st.sidebar.toggle(
        "Projector mode",
        key=PROJECTOR_KEY,
        help="Large, high-contrast charts and text for a class; the settings you pick below are hidden. "
        "The page's link carries it (?projector=1): open that link on the projector. "
        "Collapse the sidebar (its « button) to give the animation the whole screen.",
    )
    if is_on():
        st.sidebar.multiselect(
            "Hide these settings",
            options=list(HIDEABLE),
            format_func=HIDEABLE.get,
            key=HIDE_KEY,
            help="Settings this step of the lesson does not need: hidden from the sidebar and the pages, "
            "and the link hides them too (?hide=T,width). Their values still apply. A lesson's scene can "
            "name its own.",
        )


def apply_css() -> None:
    """The projector's style and the hidden settings' rules; nothing outside projector mode."""
    if not is_on():
        return
    rules = hide_rules(hidden())
    st.html(CSS + (f"<style>{rules} {{ display: none !important; }}</style>" if rules else ""))


def apply_lesson_css() -> None:
    """In projector mode, under a lesson's bar: the page's own title and caption left out."""
    if is_on():
        st.html(LESSON_CSS)


# ---------------------------------------------------------------------- figures
_LOCK = threading.Lock()
_PREPARED: OrderedDict[tuple, tuple[go.Figure, go.Figure]] = OrderedDict()
_PREPARED_MAX = 16  # figures of a few pages; each entry keeps its original alive, so ids never repeat


def frame_request(key: str | None) -> int | None:
    """The t a lesson's scene opens this chart's animation at, or None."""
    return st.session_state.get(FRAME_KEY, {}).get(key) if key else None


def prepare(fig: go.Figure, key: str | None = None) -> go.Figure:
    """The figure to draw: as built, or a copy styled for the projector and/or opened at the frame
    the scene asks for."""
    big = is_on()
    t = frame_request(key)
    if not big and (t is None or not fig.frames):
        return fig
    variant = (id(fig), big, t if fig.frames else None)
    with _LOCK:
        hit = _PREPARED.get(variant)
        if hit is not None and hit[0] is fig:
            _PREPARED.move_to_end(variant)
            return hit[1]
    out = go.Figure(fig)
    if t is not None and fig.frames:
        at_frame(out, t)
    if big:
        projector_style(out)
    with _LOCK:
        _PREPARED[variant] = (fig, out)
        while len(_PREPARED) > _PREPARED_MAX:
            _PREPARED.popitem(last=False)
    return out


def at_frame(fig: go.Figure, t: int) -> None:
    """Open an animation (frames named by their t) at the frame nearest `t`: its traces, its title
    and the slider's position, so ▶ plays on from there."""
    names = []
    for f in fig.frames:
        try:
            names.append(int(f.name))
        except (TypeError, ValueError):
            return  # not an animation over t
    k = min(range(len(names)), key=lambda i: abs(names[i] - t))
    frame = fig.frames[k]
    for trace_index, data in zip(frame.traces or range(len(frame.data)), frame.data):
        props = data.to_plotly_json()
        props.pop("type", None)
        fig.data[trace_index].update(props)
    if frame.layout is not None and frame.layout.title is not None and frame.layout.title.text is not None:
        fig.update_layout(title_text=frame.layout.title.text)
    if fig.layout.sliders:
        fig.layout.sliders[0].active = k


def _scaled(value, factor: float):
    return value * factor if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def projector_style(fig: go.Figure) -> None:
    """Larger type, markers and lines, black ink: readable from the back of a room."""
    grow = 24  # px more above the plot for the larger title (and below it for the controls, further down)
    fig.update_layout(
        font=dict(size=FONT, color=INK),
        title_font=dict(size=TITLE_FONT, color=INK),
        margin_t=(fig.layout.margin.t or 60) + grow,
    )
    fig.update_xaxes(tickfont=dict(size=TICK_FONT, color=INK), title_font=dict(size=FONT, color=INK), linecolor=INK)
    fig.update_yaxes(tickfont=dict(size=TICK_FONT, color=INK), title_font=dict(size=FONT, color=INK), linecolor=INK)
    for a in fig.layout.annotations:
        a.font.size = _scaled(a.font.size or 16, ANNOTATION_SCALE)
        a.font.color = INK
    for trace in fig.data:
        # bars have no marker size, heatmaps no marker at all: only what a trace has is scaled
        marker = getattr(trace, "marker", None)
        if getattr(marker, "size", None) is not None:
            marker.size = _scaled(marker.size, MARKER_SCALE)
        if isinstance(getattr(marker, "opacity", None), (int, float)):
            marker.opacity = max(marker.opacity, 0.9)
        line = getattr(trace, "line", None)
        if getattr(line, "width", None) is not None:
            line.width = _scaled(line.width, LINE_SCALE)
    if fig.layout.updatemenus:
        for menu in fig.layout.updatemenus:
            menu.font = dict(size=FONT, color=INK)
    if fig.layout.sliders:
        for slider in fig.layout.sliders:
            slider.font = dict(size=TICK_FONT, color=INK)
            slider.pad.t = (slider.pad.t or 0) + 14
        fig.update_layout(margin_b=(fig.layout.margin.b or 80) + 28)
        grow += 28
    if fig.layout.height is not None:
        fig.update_layout(height=fig.layout.height + grow)  # the plot area keeps its size
