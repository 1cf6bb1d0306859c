"""Models side by side: their reverse chains on one noise, aligned over the fraction of the chain,
and the table of their settings. Plain numpy; `diffusion.figures_compare` draws it.

Two models of different T play together when each frame is the same fraction t/T of the chain:
frame k of F shows t = round((1 - k / (F - 1)) T) of each model, from x_T (noise) to x_0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import MODEL_FIELDS, DataScale, DiffusionConfig
from .metrics import Bound, SampleQuality
from .pipeline import DiffusionPipeline
from .views import MAX_FRAMES, ReverseView, own_units

MODELS_MIN, MODELS_MAX = 2, 4
# Fewer arrows than the Reverse page's 15 x 15: a panel is a quarter as wide, and the arrows are
# a fifth of four panels' payload (benchmarks/bench_compare.py).
COMPARE_GRID = 11
# The settings the table lists: the model's, then the training recipe's.
TRAINING_FIELDS = ("lr", "batch_size", "timestep_sampling", "lr_schedule", "ema_decay", "steps", "max_seconds", "seed")
TABLE_FIELDS = MODEL_FIELDS + TRAINING_FIELDS


def frame_count(Ts: list[int], max_frames: int = MAX_FRAMES) -> int:
    """Frames of the comparison: every step of the longest chain, at most `max_frames`."""
    return min(max_frames, max(Ts) + 1)


def aligned_times(T: int, frames: int) -> np.ndarray:
    """The t of each of `frames` frames for a chain of T steps, in playing order: frame k is the
    fraction 1 - k / (frames - 1) of the chain, so the first is T and the last 0 (int, (frames,))."""
    if frames < 2:
        raise ValueError("a comparison needs at least two frames")
    fraction = 1.0 - np.arange(frames) / (frames - 1)
    return np.rint(fraction * T).astype(int)


def frame_fractions(frames: int) -> np.ndarray:
    """t/T of each frame, from 1 down to 0."""
    return 1.0 - np.arange(frames) / (frames - 1)


def reverse_chain(pipeline: DiffusionPipeline, n: int, seed: int) -> np.ndarray:
    """x_T..x_0 of p, (T + 1, n, 2) float32 indexed by t, with x_T the same n draws for every T.

    The Reverse page's chain draws all its noise as one (T + 1, n, 2) block, so its x_T depends on
    T; here x_T comes first from the seeded generator and each step's noise after it, so models of
    different T start from the same points.
    """
    diffusion, model = pipeline.diffusion, pipeline.model
    g = torch.Generator().manual_seed(int(seed))
    x = torch.randn((n, 2), generator=g).to(diffusion.device)
    traj = torch.empty((pipeline.T + 1, n, 2), device=diffusion.device)
    traj[pipeline.T] = x
    with torch.inference_mode():
        for t in range(pipeline.T, 1, -1):
            mean, logvar = diffusion.p_mean_variance(model, x, t)
            x = mean + torch.exp(0.5 * logvar) * torch.randn((n, 2), generator=g).to(diffusion.device)
            traj[t - 1] = x
        noise = torch.randn((n, 2), generator=g).to(diffusion.device)
        traj[0] = diffusion.sqrt_alphas[1] * x + diffusion.sqrt_betas[1] * noise
    return traj.cpu().numpy().astype(np.float32)


def compare_view(
    pipeline: DiffusionPipeline, frames: int, n: int = 2000, seed: int = 0, grid_n: int = COMPARE_GRID
) -> ReverseView:
    """One model's panel: its chain at the aligned times (`aligned_times(T, frames)`), in playing
    order, with the drift of each frame's step and points coloured by where they end."""
    traj = reverse_chain(pipeline, n, seed)
    grid, drift = pipeline.drift_field(grid_n)
    t = aligned_times(pipeline.T, frames)
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
class Compared:
    """One model of a comparison, as the figures and the table need it."""

    label: str  # its name in the legend and the panel title: "preset: T10", "current"
    config: DiffusionConfig
    steps_trained: int
    seconds_trained: float
    loss_steps: np.ndarray  # (L,) the training curve
    loss_nats: np.ndarray  # (L,)
    schedule: object  # views.ScheduleView of the model's own schedule (a learned one where learned)
    bound: Bound | None = None
    quality: SampleQuality | None = None


def compared(label: str, pipeline: DiffusionPipeline, bound: Bound | None = None, quality=None) -> Compared:
    from .views import schedule_view_of

    h = pipeline.history
    return Compared(
        label=label,
        config=pipeline.config,
        steps_trained=int(pipeline.steps_trained),
        seconds_trained=float(h.seconds[-1]) if h.seconds else 0.0,
        loss_steps=np.asarray(h.steps, dtype=np.float32),
        loss_nats=np.asarray(h.loss, dtype=np.float32),
        schedule=schedule_view_of(pipeline.diffusion.schedule),
        bound=bound,
        quality=quality,
    )


def differing_fields(configs: list[DiffusionConfig], fields: tuple[str, ...] = TABLE_FIELDS) -> list[str]:
    """The fields of `fields` whose values are not all the same across `configs`, in that order."""
    dicts = [c.to_dict() for c in configs]
    return [f for f in fields if len({repr(d[f]) for d in dicts}) > 1]


def k_protocol(config: DiffusionConfig) -> str:
    """How K was measured, as the Bound page says it."""
    if config.data_scale is DataScale.UNIT and config.data == "swiss_roll":
        return "the paper's (roll at variance 1)"
    if config.data_scale is DataScale.UNIT:
        return "data at variance 1"
    return "converted to variance 1 from the tutorial's scale"


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(quality: SampleQuality | None) -> str:
    if quality is None:
        return "not measured"
    return "meets the bar" if quality.passes else "misses the bar"


def settings_table(models: list[Compared]) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """The comparison table: (row names, {column label: cells}, rows whose settings differ).

    Rows: every setting of TABLE_FIELDS, then steps and seconds trained, K at unit variance and
    its protocol, and the quality verdict. Labels that repeat get a number, so columns stay apart.
    """
    differ = differing_fields([m.config for m in models])
    rows = list(TABLE_FIELDS) + ["steps trained", "seconds trained", "K (bits, unit variance)", "K protocol", "quality"]
    columns: dict[str, list[str]] = {}
    for m in models:
        d = m.config.to_dict()
        cells = [_cell(d[f]) for f in TABLE_FIELDS]
        k = m.bound.bits_unit_variance if m.bound is not None else None
        cells += [
            f"{m.steps_trained:,}",
            f"{m.seconds_trained:.1f}",
            "—" if k is None else f"{k:.2f}",
            k_protocol(m.config),
            verdict(m.quality),
        ]
        name, i = m.label, 2
        while name in columns:
            name, i = f"{m.label} ({i})", i + 1
        columns[name] = cells
    return rows, columns, differ
