"""The views of a model that the pages show, cached, and built ahead while a run trains.

Keyed on the model's `ModelId` (or, for views of the settings alone, the config's model key):
sessions with the same model share, others never collide. The pipeline arguments start with an
underscore, so Streamlit does not hash them: the id names them.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from diffusion import figures, inside, memory, views
from diffusion.config import DataScale, DiffusionConfig
from diffusion.datasets import DataSet
from diffusion.jobs import PREVIEW_POINTS, JobStatus
from diffusion.metrics import Bound, SampleQuality, sample_quality
from diffusion.pipeline import DiffusionPipeline
from diffusion.schedule import NoiseSchedule
from pages._app.models import ModelId, ModelRef

if TYPE_CHECKING:
    from pages._app.training import JobHolder

CEILING_POINTS = 1000
# The ceiling's work grows with T (one Monte Carlo estimate per step): the Forward page offers it up to here.
CEILING_T_MAX = 200
BOUND_POINTS = 20_000  # DiffusionPipeline.bound's default: what the Bound page computes


def bound_refusal(config: DiffusionConfig) -> str | None:
    """Why the Bound page does not compute this model's bound, or None: a model so long and wide
    (an upload) that its bound would hold the shared server's memory or CPUs for minutes."""
    work = memory.bound_work(config, BOUND_POINTS)
    if work > memory.BOUND_WORK_MAX:
        return (
            f"This model (T = {config.T:,}, width {config.width:,}) is too large to compute its bound on this "
            f"shared server: {BOUND_POINTS:,} points through its {config.T - 1:,} heads take "
            f"{work:.1e} multiply-adds, the limit is {memory.BOUND_WORK_MAX:.1e}. A model with a smaller T or "
            "width can be measured here; the CLI computes this one on your own machine."
        )
    try:
        memory.check(memory.bound_bytes(config, BOUND_POINTS), "the bound of this model", "Lower T or the width.")
    except memory.MemoryBudgetError as exc:
        return _sentence(str(exc).removeprefix("memory: "))
    return None


def _sentence(text: str) -> str:
    """The first letter upper case; str.capitalize would lower the rest ("T = 40", "MB")."""
    return text[:1].upper() + text[1:]


def view_refusal(config: DiffusionConfig, n: int, kind: str) -> str | None:
    """Why the Forward (kind "forward") or Reverse ("reverse") page does not build its view of n
    points, or None: its memory estimate is over the per-run budget."""
    try:
        memory.check(
            memory.views_bytes(config, n, kind=kind),
            f"the animation of {n:,} points over T = {config.T:,} steps",
            "Lower the number of points N or T.",
        )
    except memory.MemoryBudgetError as exc:
        return _sentence(str(exc).removeprefix("memory: "))
    return None


def worth_prefetching(config: DiffusionConfig) -> bool:
    """Small enough that building its views ahead costs the server a few seconds, not minutes."""
    return memory.bound_work(config, BOUND_POINTS) <= memory.PREFETCH_WORK_MAX


def schedule_key(schedule: NoiseSchedule) -> str:
    """A digest of the schedule's betas: what a view of a learned schedule is cached on (its
    config's model key names only the schedule the betas started from)."""
    return hashlib.sha256(np.ascontiguousarray(schedule.betas, dtype=np.float64).tobytes()).hexdigest()[:32]


def forward_figure(
    config: DiffusionConfig,
    n: int,
    seed: int,
    frame_ms: int = figures.FRAME_MS,
    learned: NoiseSchedule | None = None,
    dataset: DataSet | None = None,
    follow: tuple[int, ...] = (),
):
    """The Forward page's animation for the settings in `config`, or, given `learned` (a model's
    learned schedule, for settings that match that model), by the learned betas, with the
    schedule they started from beside them. `dataset`: a user's own points (config.data "custom").
    `follow`: indices of points whose paths the animation draws (through the same frames)."""
    key = config.model_key() if learned is None else (config.model_key(), schedule_key(learned))
    if dataset is not None:
        key = (key, dataset.key)
    if follow:
        return _forward_followed(key, n, seed, config, frame_ms, learned, dataset, tuple(follow))
    return _forward_figure(key, n, seed, config, frame_ms, learned, dataset)


@st.cache_resource(max_entries=24, show_spinner="Drawing the forward process…")
def _forward_figure(
    key: tuple,
    n: int,
    seed: int,
    _config: DiffusionConfig,
    frame_ms: int,
    _learned: NoiseSchedule | None,
    _dataset: DataSet | None = None,
):
    view = views.forward_view(_config, n, seed, schedule=_learned, dataset=_dataset)
    if _learned is None:
        sched, starting = views.schedule_view(_config), None
    else:
        sched, starting = views.schedule_view_of(_learned), views.schedule_view(_config)
    return figures.forward_animation(view, sched, frame_ms=frame_ms, starting=starting), view, sched


@st.cache_resource(max_entries=8, show_spinner="Drawing the paths…")
def _forward_followed(
    key: tuple,
    n: int,
    seed: int,
    _config: DiffusionConfig,
    frame_ms: int,
    _learned: NoiseSchedule | None,
    _dataset: DataSet | None,
    follow: tuple[int, ...],
):
    """The same animation with the paths of points `follow`, taken from the very view it animates."""
    _, view, sched = _forward_figure(key, n, seed, _config, frame_ms, _learned, _dataset)
    starting = None if _learned is None else views.schedule_view(_config)
    paths = inside.select_paths(view.points, np.asarray(follow, dtype=np.int64))
    return figures.forward_animation(view, sched, frame_ms=frame_ms, starting=starting, follow=paths), view, sched


# No spinners of their own (reverse_figure, figure1, bound_numbers): ViewPrefetch calls them from a
# thread that has no page to show one on; the pages wrap their calls in st.spinner.
@st.cache_resource(max_entries=24, show_spinner=False)
def reverse_view(model_id: ModelId, n: int, seed: int, _pipeline: DiffusionPipeline) -> views.ReverseView:
    """Sampled once per model, N and seed: the figure's options (arrows, speed) only redraw it."""
    return views.reverse_view(_pipeline, n, seed)


def reverse_figure(
    model_id: ModelId,
    n: int,
    seed: int,
    pipeline: DiffusionPipeline,
    arrows: str = figures.ARROWS_FIXED,
    frame_ms: int = figures.FRAME_MS,
    follow: tuple[int, ...] = (),
):
    """The Reverse page's animation and its view; `follow`: indices of points whose paths it draws.
    Every argument is passed on by position, so a call that leaves the defaults out (ViewPrefetch)
    and one that names them find the same cached figure."""
    if follow:
        return _reverse_followed(model_id, n, seed, pipeline, arrows, frame_ms, tuple(follow))
    return _reverse_figure(model_id, n, seed, pipeline, arrows, frame_ms)


@st.cache_resource(max_entries=24, show_spinner=False)
def _reverse_figure(model_id: ModelId, n: int, seed: int, _pipeline: DiffusionPipeline, arrows: str, frame_ms: int):
    view = reverse_view(model_id, n, seed, _pipeline)
    return figures.reverse_animation(view, arrows=arrows, frame_ms=frame_ms), view


@st.cache_resource(max_entries=8, show_spinner="Drawing the paths…")
def _reverse_followed(
    model_id: ModelId,
    n: int,
    seed: int,
    _pipeline: DiffusionPipeline,
    arrows: str,
    frame_ms: int,
    follow: tuple[int, ...],
):
    """The same animation with the paths of points `follow`, taken from the very view it animates
    (the same noise seed gives the same paths)."""
    view = reverse_view(model_id, n, seed, _pipeline)
    paths = inside.select_paths(view.points, np.asarray(follow, dtype=np.int64))
    return figures.reverse_animation(view, arrows=arrows, frame_ms=frame_ms, follow=paths), view


@st.cache_resource(max_entries=24, show_spinner=False)
def figure1(model_id: ModelId, _pipeline: DiffusionPipeline):
    return figures.figure1(views.figure1_view(_pipeline))


@st.cache_data(max_entries=64, show_spinner=False)
def bound_numbers(model_id: ModelId, _pipeline: DiffusionPipeline) -> Bound:
    return _pipeline.bound()


# No spinner: only ever called inside another cached function, where Streamlit shows none.
@st.cache_data(max_entries=16, show_spinner=False)
def model_samples(model_id: ModelId, _pipeline: DiffusionPipeline) -> np.ndarray:
    """The model's 5,000 samples at seed 0: what its quality line measures and what the Train page
    draws before a run, so both show the same points."""
    return _pipeline.samples(PREVIEW_POINTS, seed=0)


@st.cache_data(max_entries=64, show_spinner=False)
def _quality_numbers(model_id: ModelId, _pipeline: DiffusionPipeline) -> SampleQuality:
    return sample_quality(
        model_samples(model_id, _pipeline), data_scale=_pipeline.config.data_scale, data=_pipeline.quality_data
    )


def model_quality(model: ModelRef) -> SampleQuality:
    """SW1 and chamfer of the model's 5,000 samples: a snapshot brings them (computed in its
    training process); otherwise computed here once per model."""
    return model.quality if model.quality is not None else _quality_numbers(model.id, model.pipeline)


@st.cache_resource(max_entries=8, show_spinner=False)
def model_chart(model_id: ModelId, _pipeline: DiffusionPipeline) -> figures.LiveFigures:
    """The Train page's live figures for a model that is not training: its loss curve and loss per t
    as its checkpoint recorded them, and its samples. Shown before a run, so a user sees what the
    current model is (and the browser has loaded its charting code before a run needs it)."""
    h = _pipeline.history
    return figures.live_training_figures(
        np.asarray(h.steps, np.int64),
        np.asarray(h.loss, np.float32),
        np.asarray(h.kl_per_t, np.float32),
        views.sample_density(
            model_samples(model_id, _pipeline),
            extent=_pipeline.plot_extent,
            units=views.own_units(_pipeline.data, _pipeline.config.data_scale),
        ),
        views.roll_curve(scale=_pipeline.config.data_scale, data=_pipeline.config.data),
        f"Model's samples ({_pipeline.steps_trained:,} steps)",
    )


def live_chart(h: JobHolder, s: JobStatus) -> figures.LiveFigures | None:
    """The Train page's live panels (loss curve, loss per t, the snapshot's samples), rebuilt once
    per snapshot, not at every redraw of the panel: between snapshots the chart is unchanged, and
    building and serialising it again would only cost the server time. Kept on the session's job
    holder, as only that session shows it."""
    if s.pipeline is None or s.preview is None or s.pipeline.steps_trained == 0:
        return None
    key = ModelId.of_snapshot(h.uid, s.snapshot_id)
    cached = h.chart
    if cached is None or cached[0] != key:
        steps, loss = s.losses
        # all 5,000 samples of the snapshot, the ones its quality line measures
        cached = h.chart = (
            key,
            figures.live_training_figures(
                steps,
                loss,
                s.kl_per_t,
                views.sample_density(
                    s.preview,
                    extent=s.pipeline.plot_extent,
                    units=views.own_units(s.pipeline.data, s.pipeline.config.data_scale),
                ),
                views.roll_curve(scale=s.pipeline.config.data_scale, data=s.pipeline.config.data),
                f"Fresh samples (step {s.pipeline.steps_trained:,})",
                bound=s.snapshot_bound,
            ),
        )
    return cached[1]


def ceiling_numbers(schedule: NoiseSchedule, data_scale: DataScale | str) -> Bound:
    """The best K any model of this family reaches for `schedule` (a model's, learned betas and
    all, or the sidebar's settings') on the roll at `data_scale`."""
    return _ceiling_numbers(schedule_key(schedule), schedule, DataScale(data_scale).value)


@st.cache_data(max_entries=16, show_spinner="Computing the best bound this schedule allows…")
def _ceiling_numbers(key: str, _schedule: NoiseSchedule, data_scale: str) -> Bound:
    """Cached on the betas' digest and the data's scale: the ceiling depends on nothing else."""
    from diffusion.ceiling import best_possible_bound

    return best_possible_bound(_schedule, n=CEILING_POINTS, seed=0, data_scale=data_scale)


class ViewPrefetch:
    """A run's `on_update` hook (diffusion.jobs): builds views ahead, so that opening a page only
    has to draw it. Each build runs in a thread of its own, started the moment the snapshot
    arrives, whichever page the user is on (built from the Train page's redraw instead, it started
    later and held up the page switch that followed):

    - the run's first snapshot that meets the quality bar: its Reverse animation (where a user
      goes next, with the N and seed they left on that page);
    - the final model: its Reverse animation, then its bound on 20,000 points (what the Bound page
      waits for) and its Figure 1 (the Overview's), the pages a user opens after a run.

    Not for every snapshot: each build costs the server time (benchmarks/bench_ui_paths.py), and
    the pages take the newest snapshot when they open."""

    def __init__(self, uid: str, n: int, seed: int):
        self.uid, self.n, self.seed = uid, n, seed  # the Reverse page's N and seed when the run started
        self._lock = threading.Lock()
        self._started: set[str] = set()
        self.threads: list[threading.Thread] = []

    def __call__(self, s: JobStatus) -> None:
        if s.pipeline is None or s.pipeline.steps_trained == 0 or s.snapshot_id == 0:
            return
        if not worth_prefetching(s.pipeline.config):
            return  # a long, wide model: its page builds what the user asks for, when asked
        ended = not s.state.active
        if not ended and (s.quality is None or not s.quality.passes):
            return
        which = "final" if ended else "first passing"
        with self._lock:
            if which in self._started:
                return
            self._started.add(which)
            thread = threading.Thread(
                target=self._build, args=(s, ended), name=f"view-prefetch-{self.uid}", daemon=True
            )
            self.threads.append(thread)
        thread.start()

    def _build(self, s: JobStatus, final: bool) -> None:
        model_id = ModelId.of_snapshot(self.uid, s.snapshot_id)
        builds = [lambda: reverse_figure(model_id, self.n, self.seed, s.pipeline)]
        if final:
            builds += [lambda: bound_numbers(model_id, s.pipeline), lambda: figure1(model_id, s.pipeline)]
        for build in builds:
            try:
                build()
            except Exception:
                pass  # only a head start: the page builds it itself and says what went wrong
