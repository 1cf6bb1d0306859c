"""Every Plotly figure of the dashboard: pure functions from view data (numpy) to `go.Figure`.

No Streamlit here, so the same figures go into the app, into a downloaded HTML file and into tests.
Conventions: point clouds are Scattergl, every array is float32 (sent as base64 typed arrays, half
the bytes of float64), the data axes are fixed to the tutorial's [-2, 2] and square, and
animations carry their own play/pause buttons and t slider.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .views import ChainView, DensityView, Figure1View, ReverseView, ScheduleView

if TYPE_CHECKING:  # not at run time: metrics imports torch, which the figures do without
    from .datasets import Affine
    from .metrics import Bound

EXTENT = 2.0
AXIS_RANGE = [-EXTENT, EXTENT]
COLORSCALE = "Viridis"  # position along the roll: 0 (inner end) .. 1 (outer end)
DRIFT_COLOR = "#d62728"
MARK_COLOR = "#d62728"
TEMPLATE = "plotly_white"
# Per frame: 41 frames play in about 8 s. A browser without a GPU draws WebGL in software and
# cannot show a frame of the animations much faster than this, so a shorter duration would
# promise a pace that such a laptop never reaches (it plays at its drawing speed whatever is set).
FRAME_MS = 200
# The pages' animation speed choices, milliseconds per frame ("fast": as fast as the browser draws).
SPEEDS = {"slow": 400, "normal": FRAME_MS, "fast": 50}
POINT_SIZE = 3
FOLLOW_COLOR = "#ff7f0e"  # followed points: orange stands out on Viridis and beside the red drift
FOLLOW_END_COLOR = "#7f2704"  # the rings where the followed paths end: darker, read over the lines
FOLLOW_MAX = 50  # paths on one animation: more hide one another, and each adds to every frame
FAINT_POINTS = 600
LN2 = math.log(2.0)  # as diffusion.metrics, without importing torch into the figures


def f32(a) -> np.ndarray:
    """float32 copy-free where possible: what goes into a chart."""
    return np.ascontiguousarray(a, dtype=np.float32)


def to_bits(nats) -> np.ndarray:
    """Nats to bits, float32: the charts speak the paper's unit."""
    return f32(np.asarray(nats, dtype=np.float64) / LN2)


# ---------------------------------------------------------------------- pieces
def _points(
    xy: np.ndarray, color: np.ndarray | None, name: str, showscale: bool = False, size: int = POINT_SIZE, **kw
) -> go.Scattergl:
    marker = dict(size=size, opacity=0.75)
    if color is not None:
        marker.update(color=f32(color), colorscale=COLORSCALE, cmin=0.0, cmax=1.0)
        if showscale:
            marker.update(showscale=True, colorbar=dict(title=dict(text="where on<br>the data"), thickness=12, len=0.5))
    return go.Scattergl(
        x=f32(xy[:, 0]), y=f32(xy[:, 1]), mode="markers", marker=marker, name=name, hoverinfo="skip", **kw
    )


def own_unit_ticks(extent: float, offset: float, scale: float, count: int = 5) -> dict:
    """Tick marks for a model's axis [-extent, extent] labelled in the data's own units
    (own = model * scale + offset): round values at a 1-2-2.5-5 step, placed where they fall."""
    lo, hi = -extent * scale + offset, extent * scale + offset
    raw = (hi - lo) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9) + (1 if round(step / magnitude, 6) == 2.5 else 0))
    ticks = np.arange(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1) * step
    text = [f"{v:.{decimals}f}".replace("-", "−") if abs(v) > step * 1e-9 else "0" for v in ticks]
    return dict(tickmode="array", tickvals=((ticks - offset) / scale).tolist(), ticktext=text)


def _square(
    fig: go.Figure,
    row: int | None = None,
    col: int | None = None,
    title: bool = False,
    extent: float = EXTENT,
    units: Affine | None = None,
) -> None:
    """Fixed [-extent, extent] axes (the tutorial's [-2, 2] by default) with equal scale, so frames
    and panels compare. `units`: the data's own coordinates, where a model trains at another scale
    (a user's points, the paper's unit variance): the points stay where the model put them and the
    ticks read in the data's units (own = model * scale + offset)."""
    kw = {} if row is None else dict(row=row, col=col)
    axis_range = [-extent, extent]
    ticks = [{}, {}]
    if units is not None and not units.is_identity:
        ticks = [own_unit_ticks(extent, float(units.offset[i]), units.scale) for i in (0, 1)]
    fig.update_xaxes(
        range=axis_range, autorange=False, constrain="domain", zeroline=False, showgrid=False, **ticks[0], **kw
    )
    # The y labels stand a little off the axis, or the two "-2" labels overlap in the bottom-left corner.
    fig.update_yaxes(
        range=axis_range,
        autorange=False,
        constrain="domain",
        zeroline=False,
        showgrid=False,
        ticklabelstandoff=12,
        **ticks[1],
        **kw,
    )
    # scaleanchor needs the concrete axis names of that panel.
    sub = fig.get_subplot(row, col) if row is not None else None
    if sub is None:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    else:
        fig.update_yaxes(scaleanchor=sub.xaxis.plotly_name.replace("axis", ""), scaleratio=1, row=row, col=col)


def drift_scale(drift: np.ndarray, spacing: float) -> float:
    """Factor that draws the 95th-percentile drift arrow 0.9 grid spacings long (0 when there is no drift)."""
    length = np.linalg.norm(np.asarray(drift, dtype=np.float64), axis=-1)
    length = length[np.isfinite(length) & (length > 0)]
    if length.size == 0:
        return 0.0
    return float(0.9 * spacing / np.percentile(length, 95))


ARROW_POINTS = 6  # points per arrow in its line trace: tail, tip, one wing, tip, other wing, break
HEAD_LENGTH = 0.3  # of the arrow's length
HEAD_ANGLE = np.deg2rad(25.0)  # between the shaft and each wing


def arrow_segments(grid: np.ndarray, drift: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """One line trace for all arrows: x, y of shape (6G,), each arrow tail, tip, wing, tip, wing, NaN.

    The head is two short strokes from the tip back along the shaft, drawn by the same line as
    the shaft (it goes out to one wing and back to the tip), so an arrow costs one break, not
    two. Arrows of zero length (scale 0) are all NaN, so nothing is drawn.
    """
    start = f32(grid)
    shaft = f32(drift) * np.float32(scale)
    tip = start + shaft
    back = -HEAD_LENGTH * shaft
    c, s = np.float32(np.cos(HEAD_ANGLE)), np.float32(np.sin(HEAD_ANGLE))
    left = tip + np.stack([c * back[:, 0] - s * back[:, 1], s * back[:, 0] + c * back[:, 1]], axis=1)
    right = tip + np.stack([c * back[:, 0] + s * back[:, 1], -s * back[:, 0] + c * back[:, 1]], axis=1)
    gap = np.full_like(start, np.nan)
    seg = np.stack([start, tip, left, tip, right, gap], axis=1)  # (G, 6, 2)
    if scale == 0:
        seg[:] = np.nan
    seg = seg.reshape(-1, 2)
    return f32(seg[:, 0]), f32(seg[:, 1])


def _frame_arrows(grid: np.ndarray, drift: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """A frame's arrows: as arrow_segments, but nothing at all where there are none to draw (t <= 1),
    rather than a full set of NaN that only adds to the payload."""
    if scale == 0:
        return f32([]), f32([])
    return arrow_segments(grid, drift, scale)


ARROWS_FIXED = "same for every t"
ARROWS_PER_FRAME = "per frame"
ARROW_SCALES = (ARROWS_FIXED, ARROWS_PER_FRAME)


def drift_scales(drift: np.ndarray, spacing: float, arrows: str = ARROWS_FIXED) -> list[float]:
    """The arrows' scale factor of each frame of `drift` (frames, G, 2). ARROWS_FIXED: one factor
    for all, from the drift of every frame, so arrow lengths compare across t (the drift of a step
    grows with sqrt(beta_t): small near the data, large near the noise); ARROWS_PER_FRAME: each
    frame its own, so the small arrows of the late steps show their direction too."""
    if arrows == ARROWS_PER_FRAME:
        return [drift_scale(d, spacing) for d in drift]
    if arrows != ARROWS_FIXED:
        raise ValueError(f"arrows: {arrows!r}; allowed: {', '.join(ARROW_SCALES)}")
    scale = drift_scale(np.reshape(drift, (-1, 2)), spacing)
    return [scale if np.any(np.asarray(d) != 0) else 0.0 for d in drift]


def log_ticks(values) -> dict:
    """Explicit ticks for a log axis over `values`: plotly's own put labels on minor ticks that
    collided ("10" beside "2" and "5") when an axis spans a few decades. Powers of ten when the
    data spans two decades or more (every second or third one on a long axis), else 1-2-5 steps
    (finer on an axis shorter than a decade);
    no minor ticks or labels beyond these."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    minor = dict(ticks="", showgrid=False)
    if v.size == 0:
        return dict(tickmode="auto", dtick=1, exponentformat="power", minor=minor)
    low, high = np.log10(v.min()), np.log10(v.max())
    if high - low >= 2:
        step = max(1, int(np.ceil((np.ceil(high) - np.floor(low)) / 6)))
        powers = np.arange(np.floor(low), np.ceil(high) + 1, step)
        vals = [float(10.0**p) for p in powers]
        text = [f"10<sup>{int(p)}</sup>".replace("-", "−") for p in powers]
    else:
        decades = np.arange(np.floor(low) - 1, np.ceil(high) + 1)
        # a short axis needs finer steps, or a loss curve within one factor of 2 shows a single label
        span = high - low
        mantissas = (1, 2, 5) if span >= 1 else (1, 2, 3, 5) if span >= 0.5 else (1, 1.5, 2, 3, 4, 5, 6, 8)
        cand = sorted(m * 10.0**d for d in decades for m in mantissas)
        lo, hi = 10.0**low, 10.0**high
        inside = [c for c in cand if lo / 1.5 <= c <= hi * 1.5]
        vals = [float(c) for c in inside] or [float(10.0 ** np.round(low))]
        text = [f"{c:g}" for c in vals]
    return dict(tickmode="array", tickvals=vals, ticktext=text, exponentformat="power", minor=minor)


def _grid_spacing(grid: np.ndarray) -> float:
    xs = np.unique(np.asarray(grid)[:, 0])
    return float(np.min(np.diff(xs))) if xs.size > 1 else 2 * EXTENT


CONTROLS_PAD = 30  # px from the plot area's bottom to the buttons: room for the x tick labels
CONTROLS_MARGIN = CONTROLS_PAD + 38 + 50  # the bottom margin that holds the x ticks, buttons and slider


def _animation_controls(names: list[str], labels: list[str], prefix: str = "t = ", frame_ms: int = FRAME_MS) -> dict:
    """Play / pause buttons and a slider over frames (Plotly's own, so it plays in the browser)."""
    play = dict(
        label="▶ Play",
        method="animate",
        args=[
            None,
            dict(
                frame=dict(duration=frame_ms, redraw=True),
                transition=dict(duration=0),
                fromcurrent=True,
                mode="immediate",
            ),
        ],
    )
    pause = dict(
        label="❚❚ Pause",
        method="animate",
        args=[[None], dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")],
    )
    steps = [
        dict(
            label=label,
            method="animate",
            args=[[name], dict(frame=dict(duration=0, redraw=True), transition=dict(duration=0), mode="immediate")],
        )
        for name, label in zip(names, labels)
    ]
    # Buttons on their own row above a full-width slider: beside it, on a phone they covered half
    # of it. No current-value text on the slider: plotly.js moves the slider as it starts a frame
    # but draws the frame a moment later, so that text ran a frame ahead of the points during
    # playback, while the title's t is drawn with them.
    return dict(
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                showactive=False,
                x=0.0,
                y=0,
                xanchor="left",
                yanchor="top",
                pad=dict(r=8, t=CONTROLS_PAD),
                buttons=[play, pause],
            )
        ],
        sliders=[
            dict(
                active=0,
                steps=steps,
                x=0.0,
                y=0,
                len=1.0,
                xanchor="left",
                yanchor="top",
                pad=dict(t=CONTROLS_PAD + 38, b=0, l=0, r=0),
                currentvalue=dict(prefix=prefix, visible=False),
                transition=dict(duration=0),
            )
        ],
    )


# ---------------------------------------------------------------------- forward process
def forward_animation(
    view: ChainView,
    schedule: ScheduleView,
    title: str = "Forward process q: data → noise",
    frame_ms: int = FRAME_MS,
    starting: ScheduleView | None = None,
    follow: np.ndarray | None = None,
) -> go.Figure:
    """Points x_t of q (left) and beta_t, alpha_bar_t, SNR_t (right) with the frame's t marked.

    `starting`: for a learned `schedule`, the schedule it started from, drawn dashed beside it.
    `follow`: paths (F, k, 2) of k chosen points through the view's F frames, in frame order
    (`diffusion.inside.select_paths(view.points, indices)`), drawn over the points (follow_traces).
    Traces: 0 points (animated), 1-3 schedule curves, 4-6 the current-t markers (animated), then
    7-9 the starting schedule's curves when given (after the animated ones, so frames keep their
    indices), then with `follow` the paths, their ends (x_T) and their current points (animated).
    """
    fig = make_subplots(
        rows=3,
        cols=2,
        specs=[[{"rowspan": 3}, {}], [None, {}], [None, {}]],
        column_widths=[0.62, 0.38],
        horizontal_spacing=0.1,
        vertical_spacing=0.13,
        subplot_titles=(
            "",
            # short: on a phone these panels are about 100 px wide, and a longer title ran off the screen
            "β<sub>t</sub>: noise added",
            "ᾱ<sub>t</sub>: signal kept",
            "SNR<sub>t</sub> = ᾱ<sub>t</sub>/(1−ᾱ<sub>t</sub>)",
        ),
    )
    fig.add_trace(_points(view.points[0], view.color, "x_t"), row=1, col=1)
    for i, name in enumerate(("β_t", "ᾱ_t", "SNR_t")):
        t_curve, y = _schedule_curve(schedule, i)
        fig.add_trace(
            go.Scatter(x=t_curve, y=y, mode="lines", name=name, line=dict(color="#1f77b4", width=2), showlegend=False),
            row=i + 1,
            col=2,
        )
    markers = [_schedule_marker(schedule, int(view.t[0]), i) for i in range(3)]
    for i, m in enumerate(markers):
        fig.add_trace(m, row=i + 1, col=2)
    if starting is not None:
        for i, name in enumerate(("β_t at the start", "ᾱ_t at the start", "SNR_t at the start")):
            t_curve, y = _schedule_curve(starting, i)
            fig.add_trace(
                go.Scatter(
                    x=t_curve,
                    y=y,
                    mode="lines",
                    name=name,
                    line=dict(color="#7f7f7f", width=1.5, dash="dash"),
                    showlegend=False,
                ),
                row=i + 1,
                col=2,
            )
    animated = [0, 4, 5, 6]
    paths = _follow_paths(follow, view)
    if paths is not None:
        _follow_into(fig, paths, 0, row=1, col=1)
        animated.append(len(fig.data) - 1)

    frames = []
    for k, t in enumerate(view.t.tolist()):
        data = [dict(type="scattergl", x=f32(view.points[k, :, 0]), y=f32(view.points[k, :, 1]))]
        data += [dict(type="scatter", x=xs, y=ys) for xs, ys in (_marker_at(schedule, t, i) for i in range(3))]
        if paths is not None:
            data.append(dict(type="scattergl", x=f32(paths[k, :, 0]), y=f32(paths[k, :, 1])))
        frames.append(dict(name=str(t), data=data, traces=animated, layout=dict(title=dict(text=f"{title} · t = {t}"))))
    fig.frames = frames

    _square(fig, 1, 1, extent=view.extent, units=view.units)
    fig.update_xaxes(title_text="t", row=3, col=2)
    both = [schedule] if starting is None else [schedule, starting]
    fig.update_yaxes(type="log", **log_ticks(np.concatenate([s.beta for s in both])), row=1, col=2)
    fig.update_yaxes(range=[-0.05, 1.05], row=2, col=2)
    fig.update_yaxes(type="log", **log_ticks(np.concatenate([s.snr for s in both])), row=3, col=2)
    # from -0.5: the marker at t = 0 (on alpha_bar) is drawn whole, not cut by the panel edge
    for r in (1, 2, 3):
        fig.update_xaxes(range=[-0.5, max(1, schedule.t[-1]) + 0.5], row=r, col=2)
    fig.update_layout(
        template=TEMPLATE,
        title=dict(text=f"{title} · t = {int(view.t[0])}"),
        height=600,
        margin=dict(l=40, r=20, t=60, b=CONTROLS_MARGIN),
        showlegend=False,
        **_animation_controls([str(t) for t in view.t.tolist()], [str(t) for t in view.t.tolist()], frame_ms=frame_ms),
    )
    return fig


def _follow_paths(follow, view: ChainView) -> np.ndarray | None:
    """`follow` checked against the view: (F, k, 2) float32 with F the view's frames, or None."""
    if follow is None:
        return None
    paths = f32(follow)
    frames = view.t.shape[0]
    if paths.ndim != 3 or paths.shape[0] != frames or paths.shape[2] != 2:
        raise ValueError(f"follow must be paths of shape ({frames}, k, 2) through the view's frames, got {paths.shape}")
    if not 1 <= paths.shape[1] <= FOLLOW_MAX:
        raise ValueError(f"follow must hold 1 to {FOLLOW_MAX} paths, got {paths.shape[1]}")
    return paths


def follow_traces(paths: np.ndarray) -> list[go.Scattergl]:
    """The followed points of paths (F, k, 2), in frame order: their paths through every frame as one
    line trace with a NaN break after each path, the last frame's positions (where each path ends)
    as open rings, and the first frame's positions as dots, the trace the frames move.

    The lines are not in the frames, so playing and scrubbing keep them; only the dots move.
    """
    frames, k, _ = paths.shape
    lines = np.full((k, frames + 1, 2), np.nan, dtype=np.float32)
    lines[:, :frames] = paths.transpose(1, 0, 2)
    lines = lines.reshape(-1, 2)
    return [
        go.Scattergl(
            x=lines[:, 0],
            y=lines[:, 1],
            mode="lines",
            line=dict(color=FOLLOW_COLOR, width=1),
            opacity=0.6,  # near the noise the paths cross a lot: the cloud shows through them
            connectgaps=False,
            name="paths followed",
            hoverinfo="skip",
        ),
        go.Scattergl(
            x=f32(paths[-1, :, 0]),
            y=f32(paths[-1, :, 1]),
            mode="markers",
            marker=dict(symbol="circle-open", color=FOLLOW_END_COLOR, size=8, line=dict(width=1.5)),
            name="where they end",
            hoverinfo="skip",
        ),
        go.Scattergl(
            x=f32(paths[0, :, 0]),
            y=f32(paths[0, :, 1]),
            mode="markers",
            marker=dict(color=FOLLOW_COLOR, size=9, line=dict(color="black", width=1)),
            name="followed points",
            hoverinfo="skip",
        ),
    ]


def _follow_into(fig: go.Figure, paths: np.ndarray, cloud: int, **where) -> None:
    """Add follow_traces after the existing traces (their indices stay), and fade the cloud (trace
    `cloud`) under them: at full strength the 2,000 points hid the thin lines."""
    fig.data[cloud].marker.opacity = 0.35
    for trace in follow_traces(paths):
        fig.add_trace(trace, **where)


def _schedule_curve(schedule: ScheduleView, which: int) -> tuple[np.ndarray, np.ndarray]:
    """(t, value) of curve `which` (0 beta, 1 alpha_bar, 2 SNR). alpha_bar starts at t = 0, where it
    is 1 (nothing added yet); beta_0 does not exist and SNR_0 is infinite, so those start at t = 1."""
    y = (schedule.beta, schedule.alpha_bar, schedule.snr)[which]
    if which == 1:
        return f32(np.concatenate([[0], schedule.t])), f32(np.concatenate([[1.0], y]))
    return f32(schedule.t), f32(y)


def _marker_at(schedule: ScheduleView, t: int, which: int) -> tuple[list[float], list[float]]:
    """(x, y) of the marker at t on curve `which`: one point, or none where the curve has no value at t.

    Plain numbers, not arrays: plotly.py turns every numpy array of a figure into a base64 typed
    array each time the figure is serialised (Streamlit does so at every script run that draws it),
    at a fixed cost per array that 123 one-point markers made most of the Forward figure's.
    """
    t_curve, y = _schedule_curve(schedule, which)
    at = np.flatnonzero(t_curve == t)
    return ([], []) if at.size == 0 else ([float(t)], [float(y[at[0]])])


def _schedule_marker(schedule: ScheduleView, t: int, which: int) -> go.Scatter:
    """The red dot at the frame's t on curve `which` (0 beta, 1 alpha_bar, 2 SNR): at t = 0 only on
    alpha_bar, the one that has a value there."""
    xs, ys = _marker_at(schedule, t, which)
    return go.Scatter(
        x=xs,
        y=ys,
        mode="markers",
        marker=dict(color=MARK_COLOR, size=11, line=dict(color="white", width=1)),
        showlegend=False,
        hoverinfo="skip",
    )


def schedule_figure(schedule: ScheduleView, t: int | None = None) -> go.Figure:
    """beta_t, alpha_bar_t and SNR_t against t (three rows), with t marked when given."""
    fig = make_subplots(
        rows=1, cols=3, subplot_titles=("β<sub>t</sub>", "ᾱ<sub>t</sub>", "SNR<sub>t</sub>"), horizontal_spacing=0.08
    )
    for i in range(3):
        t_curve, y = _schedule_curve(schedule, i)
        fig.add_trace(
            go.Scatter(x=t_curve, y=y, mode="lines", line=dict(color="#1f77b4", width=2), showlegend=False),
            row=1,
            col=i + 1,
        )
        if t is not None:
            fig.add_trace(_schedule_marker(schedule, t, i), row=1, col=i + 1)
        fig.update_xaxes(title_text="t", row=1, col=i + 1)
    fig.update_yaxes(type="log", **log_ticks(schedule.beta), row=1, col=1)
    fig.update_yaxes(type="log", **log_ticks(schedule.snr), row=1, col=3)
    fig.update_layout(template=TEMPLATE, height=260, margin=dict(l=40, r=20, t=40, b=40))
    return fig


# ---------------------------------------------------------------------- reverse process
def reverse_animation(
    view: ReverseView,
    title: str = "Reverse process p: noise → data",
    arrows: str = ARROWS_FIXED,
    frame_ms: int = FRAME_MS,
    follow: np.ndarray | None = None,
) -> go.Figure:
    """Generated points x_t from t = T down to 0 and the drift f_mu(x, t) - x as arrows.

    Traces: 0 arrows with their heads as one line trace with NaN breaks (animated), 1 the arrows'
    tails (fixed), 2 points (animated), then with `follow` 3 the paths, 4 their ends (the samples
    x_0) and 5 their current points (animated). `arrows` (drift_scales): one scale for every t, or
    each frame rescaled; the factor is in the title either way. `follow`: paths (F, k, 2) through
    the view's F frames in playing order (T first), as `diffusion.inside.select_paths(view.points,
    indices)` gives them.
    """
    spacing = _grid_spacing(view.grid)
    fig = go.Figure()
    scales = drift_scales(view.drift, spacing, arrows)
    ax, ay = arrow_segments(view.grid, view.drift[0], scales[0])
    # Arrows under the points: they are context, the points are the subject.
    fig.add_trace(
        go.Scattergl(
            x=ax,
            y=ay,
            mode="lines",
            line=dict(color=DRIFT_COLOR, width=1),
            opacity=0.55,
            name="drift",
            connectgaps=False,
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scattergl(
            x=f32(view.grid[:, 0]),
            y=f32(view.grid[:, 1]),
            mode="markers",
            marker=dict(color=DRIFT_COLOR, size=3.5),
            opacity=0.7,
            name="arrow tails",
            hoverinfo="skip",
        )
    )
    fig.add_trace(_points(view.points[0], view.color, "x_t", showscale=True))
    animated = [0, 2]
    paths = _follow_paths(follow, view)
    if paths is not None:
        _follow_into(fig, paths, 2)
        animated.append(len(fig.data) - 1)

    frames = []
    for k, t in enumerate(view.t.tolist()):
        ax, ay = _frame_arrows(view.grid, view.drift[k], scales[k])
        data = [go.Scattergl(x=ax, y=ay), go.Scattergl(x=f32(view.points[k, :, 0]), y=f32(view.points[k, :, 1]))]
        if paths is not None:
            data.append(go.Scattergl(x=f32(paths[k, :, 0]), y=f32(paths[k, :, 1])))
        frames.append(
            go.Frame(
                name=str(t),
                data=data,
                traces=animated,
                layout=dict(title=dict(text=_reverse_title(title, t, scales[k], arrows))),
            )
        )
    fig.frames = frames
    _square(fig, extent=view.extent, units=view.units)
    # On a narrow screen the square is narrower than the figure is high: it sits on the controls,
    # and the spare height goes above it, under the title, not between the points and Play.
    fig.update_yaxes(constraintoward="bottom")
    fig.update_layout(
        template=TEMPLATE,
        title=dict(text=_reverse_title(title, int(view.t[0]), scales[0], arrows)),
        # with the page above it (and the banner of changed settings), Play and the slider stay in
        # view on a 1000 px high screen
        height=520,
        margin=dict(l=40, r=20, t=60, b=CONTROLS_MARGIN),
        showlegend=False,
        **_animation_controls([str(t) for t in view.t.tolist()], [str(t) for t in view.t.tolist()], frame_ms=frame_ms),
    )
    return fig


def _reverse_title(title: str, t: int, scale: float, arrows: str = ARROWS_PER_FRAME) -> str:
    if t <= 1:
        note = (
            "no drift: no step leaves x₀, and the last step (t = 1) is fixed"
            if t == 0
            else "the last step (t = 1) is fixed: x₀ ~ N(√α₁ x₁, β₁ I)"
        )
    else:
        same = " (the same for every t)" if arrows == ARROWS_FIXED else ""
        note = f"arrows: f<sub>μ</sub>(x, t) − x × {scale:.3g}{same}"
    return f"{title} · t = {t}<br><sup>{note}</sup>"


# ---------------------------------------------------------------------- Figure 1
def figure1(view: Figure1View) -> go.Figure:
    """The paper's Figure 1 for the current model: rows q(x_t), p(x_t), drift; columns t = 0, T/2, T."""
    T = view.t[-1]
    col_titles = ["t = 0", f"t = T/2 = {view.t[1]}", f"t = T = {T}"]
    fig = make_subplots(
        rows=3,
        cols=3,
        horizontal_spacing=0.03,
        vertical_spacing=0.05,
        column_titles=col_titles,
        row_titles=[
            "q(x<sub>t</sub>) data → noise",
            "p(x<sub>t</sub>) noise → data",
            "drift f<sub>μ</sub>(x<sub>t</sub>, t) − x<sub>t</sub>",
        ],
    )
    spacing = _grid_spacing(view.grid)
    for c in range(3):
        fig.add_trace(_points(view.q[c], view.q_color, "q", size=2), row=1, col=c + 1)
        fig.add_trace(_points(view.p[c], view.p_color, "p", size=2), row=2, col=c + 1)
        # a few samples behind the arrows show where the roll is (more would only slow the browser)
        fig.add_trace(
            _points(view.p[c, :FAINT_POINTS], None, "p (faint)", size=2, opacity=0.3).update(marker_color="#9aa5b1"),
            row=3,
            col=c + 1,
        )
        scale = drift_scale(view.drift[c], spacing)
        ax, ay = arrow_segments(view.grid, view.drift[c], scale)
        fig.add_trace(
            go.Scatter(
                x=ax,
                y=ay,
                mode="lines",
                line=dict(color=DRIFT_COLOR, width=1),
                connectgaps=False,
                hoverinfo="skip",
                name="drift",
            ),
            row=3,
            col=c + 1,
        )
        fig.add_trace(
            go.Scatter(
                x=f32(view.grid[:, 0]),
                y=f32(view.grid[:, 1]),
                mode="markers",
                marker=dict(color=DRIFT_COLOR, size=2),
                hoverinfo="skip",
                name="tails",
            ),
            row=3,
            col=c + 1,
        )
        label = (
            f"step t = {view.drift_t[c]} (last learned step)"
            if view.t[c] != view.drift_t[c]
            else f"step t = {view.drift_t[c]}"
        )
        fig.add_annotation(
            text=f"{label}, arrows × {scale:.3g}",
            x=0,
            y=-view.extent * 0.97,
            showarrow=False,
            font=dict(size=10),
            xanchor="center",
            yanchor="bottom",
            bgcolor="rgba(255,255,255,0.7)",
            row=3,
            col=c + 1,
        )
        for r in (1, 2, 3):
            _square(fig, r, c + 1, extent=view.extent, units=view.units)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(template=TEMPLATE, height=760, showlegend=False, margin=dict(l=10, r=40, t=40, b=10))
    return fig


# ---------------------------------------------------------------------- training
def loss_figure(steps: np.ndarray, loss: np.ndarray) -> go.Figure:
    """Training loss (mean KL over t; given in nats per point, drawn in bits) against step, log y."""
    loss = to_bits(loss)
    fig = go.Figure(go.Scatter(x=f32(steps), y=loss, mode="lines", line=dict(color="#1f77b4", width=1.5), name="loss"))
    fig.update_layout(
        template=TEMPLATE,
        height=300,
        margin=dict(l=50, r=10, t=40, b=40),
        title=dict(text="Loss: mean KL per t (bits per point)"),
    )
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="bits per point")
    if len(loss) and np.all(np.asarray(loss) > 0):
        fig.update_yaxes(type="log", **log_ticks(loss))
    return fig


def kl_per_t_figure(
    kl: np.ndarray, unit: str = "bits", title: str | None = None, ceiling: np.ndarray | None = None
) -> go.Figure:
    """Bar chart of the KL term of each step t = 2..T (kl has shape (T - 1,)), drawn as given, in `unit`.

    `ceiling`, same shape, draws the smallest KL any Gaussian kernel with diagonal covariance can
    reach at each t (diffusion.ceiling) as a line over the bars: the part of a bar above it is
    what more training could still gain.
    """
    kl = f32(kl)
    t = np.arange(2, len(kl) + 2, dtype=np.float32)
    fig = go.Figure(go.Bar(x=t, y=np.nan_to_num(kl, nan=0.0), marker_color="#1f77b4", name="KL of this model"))
    if ceiling is not None:
        fig.add_trace(
            go.Scatter(
                x=t,
                y=f32(ceiling),
                mode="lines+markers",
                name="best possible (ceiling)",
                line=dict(color="#d62728", width=2),
                marker=dict(size=4),
            )
        )
        fig.update_layout(legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"))
    fig.update_layout(
        template=TEMPLATE,
        height=300,
        margin=dict(l=50, r=10, t=40, b=40),
        bargap=0.1,
        title=dict(
            text=title
            or f"KL(q(x<sub>t−1</sub>|x<sub>t</sub>,x<sub>0</sub>) ‖ p(x<sub>t−1</sub>|x<sub>t</sub>)) per t ({unit})"
        ),
    )
    fig.update_xaxes(title_text="t")
    fig.update_yaxes(title_text=unit)
    return fig


# Empty bins transparent (the roll shows through), one sample a clear blue, crowded bins dark.
DENSITY_COLORSCALE = [[0.0, "rgba(255,255,255,0)"], [1e-6, "rgba(255,255,255,0)"], [1e-6, "#6baed6"], [1.0, "#08306b"]]


class LiveFigures(NamedTuple):
    """The Train page's three live panels, each its own figure: on a phone Streamlit stacks the
    columns that hold them, so each is drawn at the screen's full width."""

    loss: go.Figure
    per_t: go.Figure
    samples: go.Figure


LIVE_HEIGHT = 280  # px: low enough that during a run most of it is in view on a 1000 px high screen
_LIVE_MARGIN = dict(l=50, r=10, t=30, b=45)


def _live_layout(fig: go.Figure, title: str, margin: dict = _LIVE_MARGIN) -> go.Figure:
    # Fixed margins and no automargin: plotly.js need not measure the tick labels and lay the figure
    # out again at every update.
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    fig.update_layout(
        template=TEMPLATE,
        height=LIVE_HEIGHT,
        margin=margin,
        showlegend=False,
        bargap=0.1,
        # One line, just above the plot area: plotly.js anchors a title of several lines by its
        # first, and the others then fell on the plot.
        title=dict(
            text=title, x=0.5, xanchor="center", yref="paper", y=1, yanchor="bottom", pad=dict(b=6), font_size=12
        ),
    )
    return fig


def live_training_figures(
    steps: np.ndarray,
    loss: np.ndarray,
    kl: np.ndarray,
    density: DensityView,
    curve: np.ndarray | None,
    samples_title: str,
    bound: Bound | None = None,
) -> LiveFigures:
    """The Train page's three live panels: loss curve (log y), loss per t (bars) and the snapshot's
    samples as a 2-D histogram image over the roll. Training measures its losses in nats; they are
    drawn in bits, the unit of the paper and of the Bound page.

    With `bound` (the snapshot's K on held-out points), the middle panel's bars are its KL per t and
    its title gives K; the training loss per t is then a line over them.
    `samples_title`: the third panel's, one short line like the others' (each panel is at least
    about 300 px wide: a third of a laptop's page, or a phone's whole width).

    Three light figures, side by side on a laptop and stacked on a phone (one figure of three
    subplots left each a third of a phone's width, titles over each other). The samples are an
    image, not thousands of WebGL markers: Streamlit rebuilds a chart from scratch whenever its
    data changes (every snapshot), and a browser without a GPU draws one image far more cheaply.
    The axis ranges are set here and the margins are fixed.
    """
    steps, loss, kl = f32(steps), to_bits(loss), to_bits(kl)
    loss_fig = go.Figure(go.Scatter(x=steps, y=loss, mode="lines", line=dict(color="#1f77b4", width=1.5), name="loss"))
    loss_fig.update_xaxes(title_text="step")
    loss_fig.update_yaxes(title_text="bits")
    finite = loss[np.isfinite(loss)]
    if len(finite):
        loss_fig.update_xaxes(range=[float(steps[0]), float(max(steps[-1], steps[0] + 1))], autorange=False)
    if len(finite) and np.all(finite > 0):
        low, high = np.log10(float(finite.min())), np.log10(float(finite.max()))
        pad = 0.05 * max(high - low, 0.1)
        loss_fig.update_yaxes(type="log", **log_ticks(finite), range=[low - pad, high + pad], autorange=False)
    _live_layout(loss_fig, "Loss (mean KL), bits per point")

    t = np.arange(2, len(kl) + 2, dtype=np.float32)
    per_t = go.Figure()
    if bound is None:
        bars = np.nan_to_num(f32(kl), nan=0.0)
        per_t.add_trace(go.Bar(x=t, y=bars, marker_color="#1f77b4", name="KL per t"))
    else:
        bars = np.nan_to_num(f32(bound.kl_per_t_bits), nan=0.0)
        per_t.add_trace(go.Bar(x=t, y=bars, marker_color="#1f77b4", name="held-out KL per t"))
        line = dict(color="#ff7f0e", width=1.5)
        per_t.add_trace(go.Scatter(x=t, y=kl, mode="lines", line=line, name="training loss per t"))
        bars = np.concatenate([bars, np.nan_to_num(kl, nan=0.0)])
    per_t.update_xaxes(title_text="t", range=[1.5, len(kl) + 1.5], autorange=False)
    per_t.update_yaxes(title_text="bits")
    top_bar = float(bars.max()) if len(bars) else 0.0
    if np.isfinite(top_bar) and top_bar > 0:
        per_t.update_yaxes(range=[min(0.0, float(bars.min())), 1.05 * top_bar], autorange=False)
    _live_layout(
        per_t,
        "Recent loss per t, bits per point" if bound is None else f"Held-out KL per t, bits · K = {bound.bits:+.2f}",
    )

    samples = go.Figure()
    _density_panel(samples, density, curve)
    _live_layout(samples, samples_title, margin=dict(_LIVE_MARGIN, l=40))
    return LiveFigures(loss_fig, per_t, samples)


def _density_panel(
    fig: go.Figure, density: DensityView, curve: np.ndarray | None, row: int | None = None, col: int | None = None
) -> None:
    """Samples as a 2-D histogram image on the fixed square plot area, under a faint roll."""
    if curve is not None:  # Plotly draws images below lines: a thin see-through roll, over the samples
        fig.add_trace(
            go.Scatter(
                x=f32(curve[:, 0]),
                y=f32(curve[:, 1]),
                mode="lines",
                line=dict(color="rgba(120,130,145,0.35)", width=3),
                name="the roll",
                hoverinfo="skip",
            ),
            row=row,
            col=col,
        )
    counts = density.counts
    top = max(1.0, float(np.percentile(counts[counts > 0], 95))) if counts.any() else 1.0
    centre0 = density.edge0 + density.width / 2
    fig.add_trace(
        go.Heatmap(
            z=f32(counts),
            x0=centre0,
            dx=density.width,
            y0=centre0,
            dy=density.width,
            zmin=0.0,
            zmax=top,
            colorscale=DENSITY_COLORSCALE,
            showscale=False,
            hoverinfo="skip",
            zsmooth=False,
            name="samples",
        ),
        row=row,
        col=col,
    )
    _square(fig, row=row, col=col, extent=-density.edge0, units=density.units)


def samples_side_by_side(panels: list[tuple[str, DensityView]], curve: np.ndarray | None) -> go.Figure:
    """Several models' samples in a row of panels, each titled (which model, how good): images,
    not WebGL markers, so six models cost one light figure."""
    fig = make_subplots(
        rows=1, cols=len(panels), horizontal_spacing=0.03, subplot_titles=[title for title, _ in panels]
    )
    for col, (_, density) in enumerate(panels, 1):
        _density_panel(fig, density, curve, row=1, col=col)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_annotations(font_size=12)
    fig.update_layout(template=TEMPLATE, height=260, margin=dict(l=10, r=10, t=50, b=10), showlegend=False)
    return fig


def to_html(fig: go.Figure) -> bytes:
    """A self-contained HTML file (plotly.js inlined): opens offline and still animates."""
    return fig.to_html(include_plotlyjs=True, full_html=True, auto_play=False).encode()
