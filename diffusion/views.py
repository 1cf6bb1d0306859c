"""The data behind each dashboard view, as plain numpy, with no Streamlit and no Plotly.

Pages call these (through their caches) and hand the result to `diffusion.figures`. Every array
that ends up in a chart is float32. A view picks at most `MAX_FRAMES` timesteps, so an animation
of a long chain (T up to 1,000) stays a few MB in the browser.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from .config import MODEL_FIELDS, DiffusionConfig
from .data import DATA_SCALE, plot_extent, swiss_roll_with_position
from .datasets import LABELS, Affine, DataSet
from .gaussian_diffusion import GaussianDiffusion
from .metrics import Bound, SampleQuality
from .pipeline import DiffusionPipeline
from .schedule import NoiseSchedule

MAX_FRAMES = 41  # T = 40 shows every step
# 15 x 15 arrows (odd: one at the origin), each drawn with its head: 41 frames with 2,000 points fit
# in 2 MB on the wire; 16 x 16 did not.
DRIFT_GRID = 15


def frame_times(T: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Timesteps 0..T to show, increasing, always with 0 and T; all of them when T + 1 <= max_frames."""
    if T + 1 <= max_frames:
        return np.arange(T + 1)
    return np.unique(np.round(np.linspace(0, T, max_frames)).astype(int))


@dataclass(frozen=True)
class ScheduleView:
    """The schedule's per-t quantities for t = 1..T (t = 0 has beta 0 and infinite SNR)."""

    t: np.ndarray  # (T,) int
    beta: np.ndarray  # (T,) float32
    alpha_bar: np.ndarray
    snr: np.ndarray
    alpha_bar_T: float
    reaches_noise: bool


def schedule_view(config: DiffusionConfig) -> ScheduleView:
    return schedule_view_of(NoiseSchedule.from_config(config))


def schedule_view_of(s: NoiseSchedule) -> ScheduleView:
    """The view of any schedule: a learned one (a model's) as well as a config's."""
    tab = s.table()
    return ScheduleView(
        t=tab["t"][1:],
        beta=tab["beta"][1:].astype(np.float32),
        alpha_bar=tab["alpha_bar"][1:].astype(np.float32),
        snr=np.maximum(tab["snr"][1:], 1e-30).astype(np.float32),
        alpha_bar_T=s.alpha_bar_T,
        reaches_noise=s.reaches_noise(),
    )


@dataclass(frozen=True)
class ChainView:
    """Points along a chain at the chosen timesteps."""

    t: np.ndarray  # (F,) the timestep of each frame, in the order the frames play
    points: np.ndarray  # (F, n, 2) float32
    color: np.ndarray  # (n,) float32 in [0, 1]: position along the roll (of x_0 or of the sample)
    extent: float = field(default=plot_extent(DATA_SCALE), kw_only=True)  # axes [-extent, extent]^2
    # the map from the data's own coordinates to the points' (None: the same), for the axes' ticks
    units: Affine | None = field(default=None, kw_only=True)


def own_units(dataset: DataSet, scale) -> Affine | None:
    """How a model's coordinates at `scale` read in the data's own (None where they are the same)."""
    units = dataset.own_to_model(scale)
    return None if units.is_identity else units


def forward_view(
    config: DiffusionConfig,
    n: int = 2000,
    seed: int = 0,
    max_frames: int = MAX_FRAMES,
    schedule: NoiseSchedule | None = None,
    dataset: DataSet | None = None,
) -> ChainView:
    """q from the data (t = 0) to noise (t = T) for the settings in `config`; needs no network.
    `schedule` (a model's learned one) replaces the schedule the config describes; `dataset` the
    named set of `config.data` (a user's own points must be given)."""
    config.validate(check_device=False)
    schedule = NoiseSchedule.from_config(config) if schedule is None else schedule
    diffusion = GaussianDiffusion(schedule, config.parameterization, "cpu")
    # The pipeline's forward trajectory only uses the diffusion maths, so no network is built
    # (a wide, long model would cost memory just to draw q).
    pipeline = DiffusionPipeline(config, None, diffusion, dataset=dataset)
    traj, position = pipeline.forward_trajectory(n, seed)
    t = frame_times(config.T, max_frames)
    return ChainView(
        t=t,
        points=np.ascontiguousarray(traj[t]),
        color=position.astype(np.float32),
        extent=plot_extent(config.data_scale),
        units=own_units(pipeline.data, config.data_scale),
    )


def learned_schedule(pipeline: DiffusionPipeline) -> NoiseSchedule | None:
    """The model's schedule when it learned its betas and they moved from where they started
    (`NoiseSchedule.from_config` of its config); None for a fixed schedule."""
    if not pipeline.config.learn_betas:
        return None
    schedule = pipeline.diffusion.schedule
    start = NoiseSchedule.from_config(pipeline.config)
    if schedule.T == start.T and np.allclose(schedule.betas, start.betas, rtol=1e-9, atol=0.0):
        return None
    return schedule


@dataclass(frozen=True)
class ReverseView(ChainView):
    grid: np.ndarray  # (G, 2) float32: where the drift arrows start
    drift: np.ndarray  # (F, G, 2) float32: f_mu(x, t) - x of the step leaving x_t, per frame


def reverse_view(
    pipeline: DiffusionPipeline, n: int = 2000, seed: int = 0, max_frames: int = MAX_FRAMES, grid_n: int = DRIFT_GRID
) -> ReverseView:
    """p from noise (t = T) to samples (t = 0), frames in playing order (T first), with the drift field.

    Points are coloured by where they end: the colour of the data point nearest each final sample.
    """
    traj = pipeline.reverse_trajectory(n, seed)
    grid, drift = pipeline.drift_field(grid_n)
    t = frame_times(pipeline.T, max_frames)[::-1].copy()
    return ReverseView(
        t=t,
        points=np.ascontiguousarray(traj[t]),
        color=pipeline.data.colour(traj[0], pipeline.config.data_scale),
        grid=grid.astype(np.float32),
        drift=np.ascontiguousarray(drift[t]).astype(np.float32),
        extent=pipeline.plot_extent,
        units=own_units(pipeline.data, pipeline.config.data_scale),
    )


@dataclass(frozen=True)
class Figure1View:
    """The paper's Figure 1: q and p at t = 0, T/2, T, and the drift at the same columns."""

    t: tuple[int, int, int]  # columns: 0, T // 2, T
    drift_t: tuple[int, int, int]  # the step whose drift each column shows (2 for the t = 0 column)
    q: np.ndarray  # (3, n, 2)
    q_color: np.ndarray  # (n,)
    p: np.ndarray  # (3, n, 2)
    p_color: np.ndarray  # (n,)
    grid: np.ndarray  # (G, 2)
    drift: np.ndarray  # (3, G, 2)
    extent: float = plot_extent(DATA_SCALE)  # axes [-extent, extent]^2
    units: Affine | None = None  # as ChainView.units


def figure1_view(pipeline: DiffusionPipeline, n: int = 1500, seed: int = 0, grid_n: int = 17) -> Figure1View:
    T = pipeline.T
    cols = (0, T // 2, T)
    # No step leaves x_0 and the last step (t = 1) is fixed, N(sqrt(alpha_1) x_1, beta_1 I), so the
    # t = 0 column shows the last learned step, t = 2 (the figure says so).
    drift_cols = tuple(max(2, t) for t in cols)
    q_traj, q_pos = pipeline.forward_trajectory(n, seed)
    p_traj = pipeline.reverse_trajectory(n, seed)
    grid, drift = pipeline.drift_field(grid_n)
    return Figure1View(
        t=cols,
        drift_t=drift_cols,
        q=np.ascontiguousarray(q_traj[list(cols)]),
        q_color=q_pos.astype(np.float32),
        p=np.ascontiguousarray(p_traj[list(cols)]),
        p_color=pipeline.data.colour(p_traj[0], pipeline.config.data_scale),
        grid=grid.astype(np.float32),
        drift=np.ascontiguousarray(drift[list(drift_cols)]).astype(np.float32),
        extent=pipeline.plot_extent,
        units=own_units(pipeline.data, pipeline.config.data_scale),
    )


def roll_curve(n: int = 600, scale: str = DATA_SCALE, data: str = "swiss_roll") -> np.ndarray | None:
    """The roll at `scale` as an ordered polyline (n, 2) float32, to draw behind samples; None for
    any other data set (none is one curve)."""
    if data != "swiss_roll":
        return None
    points, position = swiss_roll_with_position(n, seed=1, scale=scale)
    return points[np.argsort(position)].astype(np.float32)


DENSITY_BINS = 120  # 0.033 wide on [-2, 2]: about a marker's size, so the image reads as points


@dataclass(frozen=True)
class DensityView:
    """A point cloud as counts per square bin on the fixed [-extent, extent]^2 plot area."""

    counts: np.ndarray  # (bins, bins) float32, row i = y bin i (the image's orientation)
    edge0: float  # left / bottom edge of the first bin
    width: float  # bin width
    n: int  # points counted (points outside the area are not)
    units: Affine | None = field(default=None, kw_only=True)  # as ChainView.units


def sample_density(
    points: np.ndarray, bins: int = DENSITY_BINS, extent: float = 2.0, units: Affine | None = None
) -> DensityView:
    """A 2-D histogram of (n, 2) points: how a snapshot's samples are shown while training runs.

    One image instead of thousands of WebGL markers, because the chart is rebuilt from scratch each
    time its data changes (see `figures.live_training_figure`).
    """
    pts = np.asarray(points, dtype=np.float64)
    counts, _, _ = np.histogram2d(pts[:, 1], pts[:, 0], bins=bins, range=[[-extent, extent], [-extent, extent]])
    return DensityView(counts.astype(np.float32), -extent, 2 * extent / bins, int(counts.sum()), units=units)


def samples_csv(points: np.ndarray) -> bytes:
    """Samples (n, 2) as CSV with a header x,y."""
    buffer = io.StringIO()
    buffer.write("x,y\n")
    np.savetxt(buffer, np.asarray(points, dtype=np.float64), delimiter=",", fmt="%.6g")
    return buffer.getvalue().encode()


# ---------------------------------------------------------------------- the model's status
DEFAULT = "default"
TRAINING = "training"
TRAINED = "trained"
UPLOADED = "uploaded"
CHANGED = "settings changed since training"


def model_status(source: str, model_config: DiffusionConfig, settings: DiffusionConfig | None, training: bool) -> str:
    """One of default / training / trained / uploaded / settings changed since training.

    `source` is where the current model came from (DEFAULT, TRAINED or UPLOADED); `settings` are
    the model settings now chosen (None when they are invalid, which counts as changed).
    """
    if training:
        return TRAINING
    if settings is None or settings.model_key() != model_config.model_key():
        return CHANGED
    return source


def changed_fields(model_config: DiffusionConfig, settings: DiffusionConfig) -> list[str]:
    """Model settings that differ, as 'T: 40 -> 100' lines."""
    out = []
    for name in MODEL_FIELDS:
        a, b = getattr(model_config, name), getattr(settings, name)
        if a != b:
            a, b = getattr(a, "value", a), getattr(b, "value", b)
            if name == "data":
                out.append(f"data set: {LABELS[a]} → {LABELS[b]}")
                continue
            out.append(f"{name}: {a:g} → {b:g}" if isinstance(a, (int, float)) else f"{name}: {a} → {b}")
    return out


def model_summary(
    role: str, name: str, pipeline: DiffusionPipeline, quality: SampleQuality, bound: Bound | None = None
) -> dict:
    """One row of the table that compares a session's models: what they are and how good (with
    `bound`, K at unit variance and K - L_null, the paper's Table 1 columns)."""
    c = pipeline.config
    row = {
        "": role,
        "model": name,
        "T": c.T,
        "β₁": f"{c.beta_start:g}",
        "β_T": f"{c.beta_end:g}",
        "schedule": c.schedule.value,
        "width": c.width,
        "steps": pipeline.steps_trained,
    }
    if bound is not None:
        row.update(
            {
                "K, unit variance (bits)": f"{bound.bits_unit_variance:+.2f}",
                "K − L_null (bits)": f"{bound.minus_null_bits:+.2f}",
            }
        )
    row.update(
        {
            "SW1": round(quality.sw1, 4),
            "chamfer": round(quality.chamfer, 4),
            "meets the bar": "yes" if quality.passes else "no",
        }
    )
    return row
