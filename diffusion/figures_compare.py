"""The Compare page's figures: pure functions of `diffusion.compare`'s views, no Streamlit.

The chains share one figure (a panel per model) so that one Play button and one slider drive them
all: plotly.js animates the frames of a figure together, never two figures at once. Unlike the
other figures' float32 (`diffusion.figures`), the chains' points go out as int16 counts (`COUNTS`).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .compare import Compared, frame_fractions
from .datasets import Affine
from .figures import (
    ARROWS_FIXED,
    CONTROLS_MARGIN,
    DRIFT_COLOR,
    FRAME_MS,
    TEMPLATE,
    _animation_controls,
    _frame_arrows,
    _grid_spacing,
    _points,
    _square,
    arrow_segments,
    drift_scales,
    f32,
    log_ticks,
    to_bits,
)
from .views import ReverseView

# One colour per model, the same in every chart of the page (its legend names the model).
MODEL_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")
PANEL_HEIGHT = 330  # the squares' side for two panels across a wide page
PAGE_WIDTH = 880  # px: the plot area of the page at 1400 px beside the sidebar, shared by the panels


# The chains' coordinates go out as int16 counts of 1/COUNTS of a panel's half-side, not float32: the
# points are most of the figure's bytes, and this halves them (benchmarks/bench_compare.py) at a
# resolution far finer than a pixel. Points beyond twice the half-side are clipped (off the axes).
COUNTS = 16_000


def _counts(values: np.ndarray, per_unit: float) -> np.ndarray:
    return np.clip(np.rint(np.asarray(values, dtype=np.float64) * per_unit), -32_767, 32_767).astype(np.int16)


def _panel_title(label: str, t: int, T: int) -> str:
    return f"<b>{label}</b><br>t = {t} of {T}"


def compare_animation(
    labels: list[str], chains: list[ReverseView], Ts: list[int], frame_ms: int = FRAME_MS
) -> go.Figure:
    """The reverse chains side by side: panel i shows chains[i] (built by `compare.compare_view`
    with one frame count for all), each on its own fixed square axes, with its drift arrows at one
    scale for every t. The slider runs over t/T; each panel's title says its own t.

    Traces per panel i: 3i arrows (animated), 3i + 1 the arrows' tails, 3i + 2 the points (animated).
    """
    m = len(chains)
    frames_n = len(chains[0].t)
    if any(len(c.t) != frames_n for c in chains):
        raise ValueError("every chain of a comparison needs the same number of frames")
    fig = make_subplots(
        rows=1, cols=m, subplot_titles=[_panel_title(lb, int(c.t[0]), T) for lb, c, T in zip(labels, chains, Ts)]
    )
    scales = [drift_scales(c.drift, _grid_spacing(c.grid), ARROWS_FIXED) for c in chains]
    # panel i is drawn in counts: model coordinates times per_unit[i]; its ticks still read in the
    # model's own units (those of its data, as on the Reverse page)
    per_unit = [COUNTS / c.extent for c in chains]
    for i, c in enumerate(chains):
        q = np.float32(per_unit[i])
        ax, ay = arrow_segments(c.grid, c.drift[0], scales[i][0])
        fig.add_trace(
            go.Scattergl(
                x=ax * q, y=ay * q, mode="lines", line=dict(color=DRIFT_COLOR, width=1), opacity=0.55, hoverinfo="skip"
            ),
            row=1,
            col=i + 1,
        )
        fig.add_trace(
            go.Scattergl(
                x=f32(c.grid[:, 0]) * q,
                y=f32(c.grid[:, 1]) * q,
                mode="markers",
                marker=dict(color=DRIFT_COLOR, size=3),
                opacity=0.7,
                hoverinfo="skip",
            ),
            row=1,
            col=i + 1,
        )
        points = _points(c.points[0], c.color, labels[i])
        points.update(x=_counts(c.points[0, :, 0], q), y=_counts(c.points[0, :, 1], q))
        fig.add_trace(points, row=1, col=i + 1)
        units = c.units if c.units is not None else Affine(np.zeros(2), 1.0)
        _square(fig, row=1, col=i + 1, extent=COUNTS, units=Affine(units.offset, units.scale / per_unit[i]))
    titles = [a.to_plotly_json() for a in fig.layout.annotations]
    fractions = frame_fractions(frames_n)
    # The frames and the slider as plain dicts, set without plotly's validation: validating 41
    # frames of 4 x 2 traces and 41 slider steps took most of the build (benchmarks/bench_compare.py).
    frames = []
    for k in range(frames_n):
        data, traces, notes = [], [], []
        for i, c in enumerate(chains):
            q = np.float32(per_unit[i])
            ax, ay = _frame_arrows(c.grid, c.drift[k], scales[i][k])
            data += [
                dict(type="scattergl", x=ax * q, y=ay * q),
                dict(type="scattergl", x=_counts(c.points[k, :, 0], q), y=_counts(c.points[k, :, 1], q)),
            ]
            traces += [3 * i, 3 * i + 2]
            notes.append(titles[i] | {"text": _panel_title(labels[i], int(c.t[k]), Ts[i])})
        frames.append(dict(name=str(k), data=data, traces=traces, layout=dict(annotations=notes)))
    names = [str(k) for k in range(frames_n)]
    fig.update_layout(
        template=TEMPLATE,
        # the panels are squares: four across a wide page are narrower than two, and so lower
        height=int(min(PANEL_HEIGHT, PAGE_WIDTH / m)) + 60 + CONTROLS_MARGIN,
        margin=dict(l=40, r=20, t=60, b=CONTROLS_MARGIN),
        showlegend=False,
    )
    fig.update_annotations(font_size=13)
    for frame in frames:
        for note in frame["layout"]["annotations"]:
            note["font"] = dict(size=13)
    spec = fig.to_dict()
    spec["layout"].update(
        _animation_controls(names, [f"{f:.2f}" for f in fractions], prefix="t/T = ", frame_ms=frame_ms)
    )
    out = go.Figure(spec, _validate=False)
    out.frames = frames  # unvalidated too, as `out` was made
    return out


def _legend(fig: go.Figure) -> None:
    """The legend on one row between the title and the plot (room made by a top margin of 90)."""
    fig.update_layout(
        legend=dict(orientation="h", x=0, xanchor="left", y=1.02, yanchor="bottom"),
        margin=dict(t=90),
        title=dict(y=0.98, yanchor="top"),
    )


def schedules_figure(models: list[Compared]) -> go.Figure:
    """beta_t, alpha_bar_t and SNR_t of every model against t/T, overlaid (a colour per model)."""
    fig = make_subplots(
        rows=1, cols=3, subplot_titles=("β<sub>t</sub>", "ᾱ<sub>t</sub>", "SNR<sub>t</sub>"), horizontal_spacing=0.08
    )
    betas, snrs = [], []
    for i, m in enumerate(models):
        s = m.schedule
        x = f32(s.t / s.t[-1])
        for col, y in enumerate((s.beta, s.alpha_bar, s.snr)):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=f32(y),
                    mode="lines",
                    name=m.label,
                    legendgroup=str(i),
                    showlegend=col == 0,
                    line=dict(color=MODEL_COLORS[i % len(MODEL_COLORS)], width=2),
                ),
                row=1,
                col=col + 1,
            )
        betas.append(s.beta)
        snrs.append(s.snr)
    for col in range(1, 4):
        fig.update_xaxes(title_text="t / T", range=[0, 1], row=1, col=col)
    fig.update_yaxes(type="log", **log_ticks(np.concatenate(betas)), row=1, col=1)
    fig.update_yaxes(type="log", **log_ticks(np.concatenate(snrs)), row=1, col=3)
    fig.update_layout(template=TEMPLATE, height=300, margin=dict(l=40, r=20, t=70, b=40))
    # above the panels' titles (annotations at the top of the plot area), not over them
    fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=1.14, yanchor="bottom"))
    return fig


def kl_figure(models: list[Compared]) -> go.Figure:
    """The bound's KL term of each step t = 2..T against t/T (bits), a line per model; a model
    whose bound is not measured yet is left out."""
    fig = go.Figure()
    for i, m in enumerate(models):
        if m.bound is None:
            continue
        kl = f32(m.bound.kl_per_t_bits)
        T = m.config.T
        fig.add_trace(
            go.Scatter(
                x=f32(np.arange(2, T + 1) / T),
                y=kl,
                mode="lines+markers",
                marker=dict(size=4),
                name=m.label,
                line=dict(color=MODEL_COLORS[i % len(MODEL_COLORS)], width=2),
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        height=320,
        margin=dict(l=50, r=10, t=70, b=40),
        title=dict(text="KL term per step (bits per point)"),
    )
    fig.update_xaxes(title_text="t / T", range=[0, 1])
    fig.update_yaxes(title_text="bits")
    _legend(fig)
    return fig


def losses_figure(models: list[Compared]) -> go.Figure:
    """Each model's training loss (mean KL over t, bits per point) against its step, log y."""
    fig = go.Figure()
    every = []
    for i, m in enumerate(models):
        loss = to_bits(m.loss_nats)
        every.append(loss)
        fig.add_trace(
            go.Scatter(
                x=f32(m.loss_steps),
                y=loss,
                mode="lines",
                name=m.label,
                line=dict(color=MODEL_COLORS[i % len(MODEL_COLORS)], width=1.5),
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        height=320,
        margin=dict(l=50, r=10, t=70, b=40),
        title=dict(text="Training loss: mean KL per t (bits per point)"),
    )
    fig.update_xaxes(title_text="step", type="log")
    values = np.concatenate(every) if every else np.zeros(0)
    if values.size and np.all(values > 0):
        fig.update_yaxes(type="log", **log_ticks(values))
    fig.update_yaxes(title_text="bits per point")
    _legend(fig)
    return fig


def comparison_html(title: str, figures: list[go.Figure], table_html: str) -> bytes:
    """One self-contained HTML file: plotly.js inlined once, every figure, and the settings table."""
    parts = []
    for k, fig in enumerate(figures):
        parts.append(fig.to_html(include_plotlyjs=k == 0, full_html=False, auto_play=False))
    style = (
        "body{font-family:sans-serif;margin:24px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}td.differs{background:#fff3b0}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style></head>"
        f"<body><h1>{title}</h1>{''.join(parts)}{table_html}</body></html>"
    ).encode()


def table_html(rows: list[str], columns: dict[str, list[str]], differ: list[str]) -> str:
    """The settings table as HTML, the cells of settings that differ highlighted."""
    from html import escape

    head = "<tr><th>setting</th>" + "".join(f"<th>{escape(c)}</th>" for c in columns) + "</tr>"
    body = []
    for r, row in enumerate(rows):
        cls = " class='differs'" if row in differ else ""
        cells = "".join(f"<td{cls}>{escape(col[r])}</td>" for col in columns.values())
        body.append(f"<tr><td{cls}>{escape(row)}</td>{cells}</tr>")
    return "<table>" + head + "".join(body) + "</table>"
