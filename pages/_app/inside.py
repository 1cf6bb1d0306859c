"""The "Inside the chains" page's cached views and its selection state.

Cached on the model's `ModelId` and the parameters, like pages/_app/caches.py (the pipeline
arguments start with an underscore, so Streamlit does not hash them: the id names them). The full
chains (every t, not only the animated frames) are what the paths are drawn through.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from diffusion import figures_inside, inside
from diffusion.pipeline import DiffusionPipeline
from diffusion.views import frame_times
from pages._app.models import ModelId

MAX_PATHS = 200  # more would hide one another and grow the chart; a larger selection is thinned evenly
SELECTION_KEY = "inside_selection"  # the session's choice of points: survives reruns, play and scrubbing


@dataclass(frozen=True)
class Choice:
    """Which points to follow: `how` is "random" (k points with `seed`) or "region" (a box or lasso
    `polygon` (m, 2) on the x_0 chart, as a tuple of vertices so it hashes)."""

    how: str
    k: int = 0
    seed: int = 0
    polygon: tuple[tuple[float, float], ...] = ()


@st.cache_resource(max_entries=8, show_spinner="Running the forward chain…")
def forward_chain(model_id: ModelId, n: int, seed: int, _pipeline: DiffusionPipeline) -> np.ndarray:
    """(T + 1, n, 2): the Forward page's chain for this N and seed, at every t."""
    return _pipeline.forward_trajectory(n, seed)[0]


@st.cache_resource(max_entries=8, show_spinner="Sampling the reverse chain…")
def reverse_chain(model_id: ModelId, n: int, seed: int, _pipeline: DiffusionPipeline) -> np.ndarray:
    """(T + 1, n, 2): the Reverse page's chain for this N and seed (same noise), at every t."""
    return _pipeline.reverse_trajectory(n, seed)


def _thin(idx: np.ndarray) -> np.ndarray:
    if idx.size <= MAX_PATHS:
        return idx
    return idx[np.unique(np.linspace(0, idx.size - 1, MAX_PATHS).round().astype(np.int64))]


def chosen_indices(choice: Choice, roll: np.ndarray, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices into the forward chain (its x_0, the roll points) and the reverse chain (its x_0,
    the samples): the same random indices in both, or the points of each inside the region."""
    n = roll.shape[0]
    if choice.how == "random":
        idx = inside.random_indices(n, min(choice.k, n, MAX_PATHS), choice.seed)
        return idx, idx
    polygon = np.asarray(choice.polygon, dtype=np.float64)
    return _thin(inside.indices_in_polygon(roll, polygon)), _thin(inside.indices_in_polygon(samples, polygon))


def region_from_selection(selection) -> tuple[tuple[float, float], ...] | None:
    """The box or lasso of a plotly_chart selection event as polygon vertices; None when there is none."""
    if not selection:
        return None
    for lasso in selection.get("lasso") or []:
        xs, ys = lasso.get("x") or [], lasso.get("y") or []
        if len(xs) >= 3:
            return tuple((float(a), float(b)) for a, b in zip(xs, ys))
    for box in selection.get("box") or []:
        xs, ys = box.get("x") or [], box.get("y") or []
        if len(xs) >= 2:
            (x0, x1), (y0, y1) = (xs[0], xs[-1]), (ys[0], ys[-1])
            return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    return None


@st.cache_resource(max_entries=16, show_spinner="Drawing the paths…")
def path_figures(model_id: ModelId, n: int, seed: int, choice: Choice, frame_ms: int, _pipeline: DiffusionPipeline):
    """The two animated path figures (q: t = 0..T, p: t = T..0), the indices followed in each, and
    the selection chart."""
    q = forward_chain(model_id, n, seed, _pipeline)
    p = reverse_chain(model_id, n, seed, _pipeline)
    fwd_idx, rev_idx = chosen_indices(choice, q[0], p[0])
    t = frame_times(_pipeline.T)
    extent = _pipeline.plot_extent
    fwd_paths, rev_paths = inside.select_paths(q, fwd_idx), inside.select_paths(p, rev_idx)
    fwd = figures_inside.chain_paths_animation(
        fwd_paths,
        t,
        color=_pipeline.data.colour(fwd_paths[0], _pipeline.config.data_scale),
        cloud=q[t],
        title="Forward q: chosen data points → noise",
        extent=extent,
        frame_ms=frame_ms,
    )
    rev_t = t[::-1].copy()
    rev = figures_inside.chain_paths_animation(
        rev_paths,
        rev_t,
        color=_pipeline.data.colour(rev_paths[0], _pipeline.config.data_scale),
        cloud=p[rev_t],
        title="Reverse p: noise → chosen samples",
        extent=extent,
        frame_ms=frame_ms,
    )
    select = figures_inside.selection_figure(q[0], p[0], q[0][fwd_idx], p[0][rev_idx], extent=extent)
    return fwd, rev, select, fwd_paths, rev_paths


@st.cache_resource(max_entries=8, show_spinner="Comparing q(x_t) with p(x_t)…")
def density_view(model_id: ModelId, n: int, seed: int, _pipeline: DiffusionPipeline) -> inside.ChainDensityView:
    return inside.density_view(
        _pipeline,
        n,
        seed,
        extent=_pipeline.plot_extent,
        q_trajectory=forward_chain(model_id, n, seed, _pipeline),
        p_trajectory=reverse_chain(model_id, n, seed, _pipeline),
    )


@st.cache_resource(max_entries=32, show_spinner="Probing the kernel…")
def kernel_probe(model_id: ModelId, x: float, y: float, t: int, _pipeline: DiffusionPipeline):
    """The probe at (x, y) and t, its Gaussian check, and its figure over the data."""
    point = (float(x), float(y))
    probe = inside.probe_kernel(_pipeline, point, int(t))
    weights, means, var = inside.probe_components(_pipeline, point, int(t))
    check = inside.gaussian_check(probe, var)
    data = forward_chain(model_id, 2000, 0, _pipeline)[0]
    fig = figures_inside.kernel_probe_figure(probe, weights, means, data, extent=_pipeline.plot_extent)
    return probe, check, fig


def probe_rows(probe: inside.KernelProbe) -> dict[str, list]:
    """The table under the probe: each kernel's mean and standard deviations along x and y."""
    learned_sd = np.sqrt(probe.learned_var.astype(np.float64))
    true_sd = np.sqrt(np.clip(np.diag(probe.true_cov).astype(np.float64), 0.0, None))
    return {
        "kernel": ["learned p(xₜ₋₁ | xₜ)", "true q(xₜ₋₁ | xₜ)"],
        "mean x": [float(probe.learned_mean[0]), float(probe.true_mean[0])],
        "mean y": [float(probe.learned_mean[1]), float(probe.true_mean[1])],
        "sd x": [float(learned_sd[0]), float(true_sd[0])],
        "sd y": [float(learned_sd[1]), float(true_sd[1])],
    }
