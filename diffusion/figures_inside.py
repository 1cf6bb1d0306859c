"""The figures of the "Inside the chains" page: pure functions from `diffusion.inside` data to `go.Figure`.

Same conventions as `diffusion.figures`: float32 arrays (sent as base64 typed arrays), fixed square
data axes, animations with their own play button and t slider. Kept apart from figures.py so the
page's figures change without touching the others'.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .figures import COLORSCALE, FRAME_MS, TEMPLATE, _animation_controls, f32
from .inside import ChainDensityView, KernelProbe

EXTENT = 2.0  # the tutorial's [-2, 2]^2, as every data chart of the app
PATH_COLOR = "rgba(70,80,95,0.45)"
CLOUD_COLOR = "rgba(150,160,175,0.35)"
LEARNED_COLOR = "#d62728"
TRUE_COLOR = "#1f77b4"
# Empty bins transparent, the rest from light to dark: both panels share one colour range.
DENSITY_COLORSCALE = [[0.0, "rgba(255,255,255,0)"], [1e-6, "rgba(255,255,255,0)"], [1e-6, "#c6dbef"], [1.0, "#08306b"]]
COMPONENTS_SHOWN = 400  # the heaviest mixture components drawn; the rest carry almost no weight


def square_axes(fig: go.Figure, extent: float = EXTENT, row: int | None = None, col: int | None = None) -> None:
    """Fixed [-extent, extent] axes with equal scale, so frames and panels compare."""
    kw = {} if row is None else dict(row=row, col=col)
    rng = [-float(extent), float(extent)]
    fig.update_xaxes(range=rng, autorange=False, constrain="domain", zeroline=False, showgrid=False, **kw)
    fig.update_yaxes(
        range=rng, autorange=False, constrain="domain", zeroline=False, showgrid=False, ticklabelstandoff=12, **kw
    )
    sub = fig.get_subplot(row, col) if row is not None else None
    anchor = "x" if sub is None else sub.xaxis.plotly_name.replace("axis", "")
    fig.update_yaxes(scaleanchor=anchor, scaleratio=1, **kw)


def _polylines(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paths (T + 1, k, 2) as one line trace's x and y: each path's T + 1 points, then a NaN break."""
    k = paths.shape[1]
    xy = np.full((k, paths.shape[0] + 1, 2), np.nan, dtype=np.float32)
    xy[:, :-1] = np.swapaxes(paths, 0, 1)
    return xy[..., 0].ravel(), xy[..., 1].ravel()


def chain_paths_animation(
    paths: np.ndarray,
    frame_t: np.ndarray,
    color: np.ndarray | None = None,
    cloud: np.ndarray | None = None,
    title: str = "",
    extent: float = EXTENT,
    frame_ms: int = FRAME_MS,
) -> go.Figure:
    """Chosen points' paths through a chain, with where they are at the frame's t.

    paths (T + 1, k, 2), indexed by t: every path is drawn as a line through all T + 1 steps
    (fixed), its start at paths[frame_t[0]] as a ring, and its position at each frame's t as a
    dot (animated). frame_t (F,) are the frames' t in playing order (0..T for q, T..0 for p).
    color (k,) in [0, 1] colours the dots (position along the roll); cloud (F, n, 2), when
    given, is the whole chain at each frame, drawn faintly under the paths (animated).

    Traces: 0 cloud (animated, empty without one), 1 lines, 2 starts, 3 current positions (animated).
    """
    paths = f32(paths)
    if paths.ndim != 3 or paths.shape[2] != 2:
        raise ValueError(f"paths must have shape (T + 1, k, 2), got {paths.shape}")
    frame_t = np.asarray(frame_t, dtype=np.int64)
    if cloud is not None and np.asarray(cloud).shape[0] != frame_t.size:
        raise ValueError(f"cloud must have one frame per t, got {np.asarray(cloud).shape[0]} for {frame_t.size}")
    marker = dict(size=7, line=dict(color="white", width=0.8))
    if color is not None:
        marker.update(color=f32(color), colorscale=COLORSCALE, cmin=0.0, cmax=1.0)
    else:
        marker.update(color=LEARNED_COLOR)

    def cloud_xy(f: int) -> tuple[np.ndarray, np.ndarray]:
        if cloud is None:
            return f32([]), f32([])
        c = np.asarray(cloud)[f]
        return f32(c[:, 0]), f32(c[:, 1])

    def now(f: int) -> tuple[np.ndarray, np.ndarray]:
        p = paths[frame_t[f]]
        return f32(p[:, 0]), f32(p[:, 1])

    fig = go.Figure()
    cx, cy = cloud_xy(0)
    fig.add_trace(
        go.Scattergl(x=cx, y=cy, mode="markers", marker=dict(size=3, color=CLOUD_COLOR), name="chain", hoverinfo="skip")
    )
    lx, ly = _polylines(paths)
    fig.add_trace(
        go.Scattergl(
            x=lx,
            y=ly,
            mode="lines",
            line=dict(color=PATH_COLOR, width=1.2),
            connectgaps=False,
            name="paths",
            hoverinfo="skip",
        )
    )
    start = paths[frame_t[0]]
    fig.add_trace(
        go.Scattergl(
            x=f32(start[:, 0]),
            y=f32(start[:, 1]),
            mode="markers",
            marker=dict(size=8, color="rgba(0,0,0,0)", line=dict(color="#333", width=1.2)),
            name="start",
            hoverinfo="skip",
        )
    )
    nx, ny = now(0)
    fig.add_trace(go.Scattergl(x=nx, y=ny, mode="markers", marker=marker, name="x_t", hoverinfo="skip"))

    names = [str(int(t)) for t in frame_t]
    frames = []
    for f, name in enumerate(names):
        cx, cy = cloud_xy(f)
        nx, ny = now(f)
        frames.append(
            go.Frame(
                name=name,
                data=[go.Scattergl(x=cx, y=cy), go.Scattergl(x=nx, y=ny)],
                traces=[0, 3],
                layout=dict(title=dict(text=f"{title} · t = {name}")),
            )
        )
    fig.frames = frames
    square_axes(fig, extent)
    fig.update_layout(
        template=TEMPLATE,
        title=dict(text=f"{title} · t = {names[0]}"),
        height=560,
        margin=dict(l=40, r=20, t=60, b=130),
        showlegend=False,
        **_animation_controls(names, names, frame_ms=frame_ms),
    )
    return fig


def selection_figure(
    roll: np.ndarray, samples: np.ndarray, chosen_roll: np.ndarray, chosen_samples: np.ndarray, extent: float = EXTENT
) -> go.Figure:
    """Where to choose points: the forward chain's x_0 (roll points) and the reverse chain's x_0
    (samples), with the chosen ones of each ringed. Box and lasso select on it.

    Traces: 0 roll points, 1 samples, 2 chosen roll points, 3 chosen samples."""
    fig = go.Figure()
    for xy, name, colour in ((roll, "roll points x₀ (q)", "#7f8c9d"), (samples, "samples x₀ (p)", "#e6a23c")):
        fig.add_trace(
            go.Scattergl(
                x=f32(xy[:, 0]),
                y=f32(xy[:, 1]),
                mode="markers",
                marker=dict(size=3, color=colour, opacity=0.6),
                name=name,
            )
        )
    for xy, name, colour in ((chosen_roll, "followed (q)", "#222"), (chosen_samples, "followed (p)", "#b35900")):
        fig.add_trace(
            go.Scattergl(
                x=f32(xy[:, 0]),
                y=f32(xy[:, 1]),
                mode="markers",
                marker=dict(size=8, color="rgba(0,0,0,0)", line=dict(color=colour, width=1.2)),
                name=name,
                hoverinfo="skip",
            )
        )
    square_axes(fig, extent)
    fig.update_layout(
        template=TEMPLATE,
        height=420,
        margin=dict(l=40, r=20, t=30, b=30),
        dragmode="lasso",
        legend=dict(orientation="h", y=1.08, x=0),
    )
    return fig


def density_pair_figure(view: ChainDensityView, frame: int) -> go.Figure:
    """q(x_t) and p(x_t) at frame `frame` of the view as two heatmaps, one colour range for both."""
    q, p = view.q[frame], view.p[frame]
    t = int(view.t[frame])
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.06,
        subplot_titles=(f"q(x<sub>t</sub>), forward, t = {t}", f"p(x<sub>t</sub>), reverse, t = {t}"),
    )
    both = np.concatenate([q.ravel(), p.ravel()])
    positive = both[both > 0]
    top = float(np.percentile(positive, 99)) if positive.size else 1.0
    centre0 = view.edge0 + view.width / 2
    extent = -view.edge0
    for col, z in ((1, q), (2, p)):
        fig.add_trace(
            go.Heatmap(
                z=f32(z),
                x0=centre0,
                dx=view.width,
                y0=centre0,
                dy=view.width,
                zmin=0.0,
                zmax=max(top, 1e-6),
                colorscale=DENSITY_COLORSCALE,
                showscale=col == 2,
                colorbar=dict(title=dict(text="density"), thickness=12, len=0.8),
                zsmooth=False,
                hovertemplate="x %{x:.2f}, y %{y:.2f}: %{z:.3g}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        square_axes(fig, extent, row=1, col=col)
    fig.update_annotations(font_size=14)
    fig.update_layout(template=TEMPLATE, height=430, margin=dict(l=40, r=20, t=40, b=30), showlegend=False)
    return fig


def divergence_figure(view: ChainDensityView, frame: int | None = None) -> go.Figure:
    """SW1(q(x_t), p(x_t)) against t, with the noise floor (q against an independent q) as a dashed
    line and the frame's t marked: where the curve leaves the floor, the reverse chain drifts."""
    t = f32(view.t)
    div = f32(np.where(np.isfinite(view.divergence), view.divergence, np.nan))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=t,
            y=f32(view.noise_floor),
            mode="lines",
            line=dict(color="#888", dash="dash", width=1.5),
            name="noise floor",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=t,
            y=div,
            mode="lines+markers",
            line=dict(color=TRUE_COLOR, width=2),
            marker=dict(size=4),
            name="SW1(q, p)",
        )
    )
    if frame is not None and np.isfinite(div[frame]):
        fig.add_trace(
            go.Scatter(
                x=[float(t[frame])],
                y=[float(div[frame])],
                mode="markers",
                marker=dict(color=LEARNED_COLOR, size=11, line=dict(color="white", width=1)),
                name="this t",
            )
        )
    fig.update_xaxes(title_text="t", range=[-0.5, float(t[-1]) + 0.5], autorange=False)
    fig.update_yaxes(title_text="SW1 (data units)", rangemode="tozero")
    fig.update_layout(
        template=TEMPLATE, height=300, margin=dict(l=50, r=20, t=30, b=40), legend=dict(orientation="h", y=1.12, x=0)
    )
    return fig


def kernel_probe_figure(
    probe: KernelProbe,
    weights: np.ndarray,
    means: np.ndarray,
    data: np.ndarray,
    extent: float = EXTENT,
    components: int = COMPONENTS_SHOWN,
) -> go.Figure:
    """One step from x_t = x: the learned p(x_{t-1} | x_t) (red: mean and 2-sigma ellipse) beside
    the true q(x_{t-1} | x_t) (blue: its moments' mean and ellipse, and its mixture components'
    means as faint dots sized by weight), the drift arrow from x to the learned mean, over the data.

    weights (N,) and means (N, 2) are the true step's components; only the `components` heaviest
    are drawn. data (m, 2) is drawn as a faint cloud.
    """
    fig = go.Figure()
    fig.add_trace(
        go.Scattergl(
            x=f32(data[:, 0]), y=f32(data[:, 1]), mode="markers", marker=dict(size=3, color=CLOUD_COLOR), name="data x₀"
        )
    )
    w = np.asarray(weights, dtype=np.float64)
    top = np.argsort(w)[::-1][: max(0, int(components))]
    top = top[w[top] > 0]
    if top.size:
        size = 2.0 + 10.0 * np.sqrt(w[top] / w[top[0]])
        fig.add_trace(
            go.Scattergl(
                x=f32(means[top, 0]),
                y=f32(means[top, 1]),
                mode="markers",
                marker=dict(size=f32(size), color=TRUE_COLOR, opacity=0.25, line=dict(width=0)),
                name="true step's components",
                hoverinfo="skip",
            )
        )
    for ellipse, mean, colour, name in (
        (probe.true_ellipse, probe.true_mean, TRUE_COLOR, "true q(x<sub>t−1</sub> | x<sub>t</sub>)"),
        (probe.learned_ellipse, probe.learned_mean, LEARNED_COLOR, "learned p(x<sub>t−1</sub> | x<sub>t</sub>)"),
    ):
        fig.add_trace(
            go.Scatter(
                x=f32(ellipse[:, 0]), y=f32(ellipse[:, 1]), mode="lines", line=dict(color=colour, width=2), name=name
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[float(mean[0])],
                y=[float(mean[1])],
                mode="markers",
                marker=dict(color=colour, size=9, symbol="diamond"),
                showlegend=False,
                name=name + " mean",
            )
        )
    x = probe.x
    fig.add_trace(
        go.Scatter(
            x=[float(x[0])],
            y=[float(x[1])],
            mode="markers",
            marker=dict(color="black", size=11, symbol="x"),
            name="x<sub>t</sub> = x",
        )
    )
    fig.add_annotation(
        x=float(probe.learned_mean[0]),
        y=float(probe.learned_mean[1]),
        ax=float(x[0]),
        ay=float(x[1]),
        xref="x",
        yref="y",
        axref="x",
        ayref="y",
        showarrow=True,
        arrowhead=3,
        arrowsize=1.2,
        arrowwidth=2,
        arrowcolor=LEARNED_COLOR,
        text="",
    )
    square_axes(fig, extent)
    fig.update_layout(
        template=TEMPLATE,
        height=560,
        margin=dict(l=40, r=20, t=40, b=30),
        title=dict(text=f"One step from x<sub>t</sub> = ({x[0]:.2f}, {x[1]:.2f}) at t = {probe.t}"),
        legend=dict(orientation="h", y=-0.08, x=0),
    )
    return fig
