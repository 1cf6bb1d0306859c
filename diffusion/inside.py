"""Inside the chains: where chosen points go, how q(x_t) and p(x_t) compare, and what one step does.

Numpy in, numpy out, no Streamlit and no Plotly; float32 for what goes to a chart. Notation is
the paper's: x_0 is data, q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I) is the forward
chain, p(x_{t-1} | x_t) = N(f_mu(x_t, t), diag f_Sigma(x_t, t)) the learned reverse one.
Coordinates are data units (the roll spans about [-1.5, 1.5]^2); trajectories are (T + 1, n, 2)
indexed by t, as everywhere in `diffusion`.

    paths      forward_paths, reverse_paths, select_paths, random_indices, indices_in_polygon,
               indices_in_box: follow chosen points through the chains the pages animate
    densities  chain_densities, density_divergence, noise_floor, density_view: q(x_t) against
               p(x_t) frame by frame, with what "equal" looks like for the same number of points
    the kernel learned_kernel, true_reverse_step, mixture_moments, covariance_ellipse,
               probe_kernel: the learned p(x_{t-1} | x_t = x) beside the true q(x_{t-1} | x_t = x)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from .config import SEED_MAX, DataScale, check_n_points, check_seed
from .datasets import DataSet
from .metrics import sliced_wasserstein1
from .pipeline import PLOT_EXTENT, DiffusionPipeline
from .schedule import NoiseSchedule
from .views import MAX_FRAMES, frame_times

DENSITY_BINS = 64
# SW1 with 32 directions instead of the quality metric's 180: a frame's divergence is read against
# the noise floor, which is measured the same way, so the coarser angle grid costs no comparison.
DIVERGENCE_DIRECTIONS = 32
PROBE_DATA_POINTS = 20_000  # x_0 ~ q(x_0) for the true reverse step's mixture


# ---------------------------------------------------------------------- paths of chosen points
def _check_indices(indices, n: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
        raise ValueError(f"indices must be a 1-D array of whole numbers, got shape {idx.shape} and {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"indices must lie in 0..{n - 1}, got {idx.min()}..{idx.max()}")
    return idx.astype(np.int64)


def select_paths(trajectory: np.ndarray, indices) -> np.ndarray:
    """The paths x_0..x_T of points `indices` (k,) of a chain `trajectory` (T + 1, n, 2): (T + 1, k, 2) float32.

    What the pages call with the chain they have cached already; `forward_paths` and
    `reverse_paths` build the chain first.
    """
    traj = np.asarray(trajectory)
    if traj.ndim != 3 or traj.shape[2] != 2:
        raise ValueError(f"trajectory must have shape (T + 1, n, 2), got {traj.shape}")
    idx = _check_indices(indices, traj.shape[1])
    return np.ascontiguousarray(traj[:, idx], dtype=np.float32)


def forward_paths(pipeline: DiffusionPipeline, n: int, seed: int, indices) -> np.ndarray:
    """Paths through q of points `indices` (k,) of the forward chain of n roll points: (T + 1, k, 2) float32.

    The chain is `pipeline.forward_trajectory(n, seed)`, the one the Forward page animates, so
    path j passes through the animated point indices[j] at every frame; paths[0] are the chosen
    x_0 on the roll and paths[T] their noise.
    """
    traj, _ = pipeline.forward_trajectory(n, seed)
    return select_paths(traj, indices)


def reverse_paths(pipeline: DiffusionPipeline, n: int, seed: int, indices) -> np.ndarray:
    """Paths through p of points `indices` (k,) of the reverse chain of n points: (T + 1, k, 2) float32.

    The chain is `pipeline.reverse_trajectory(n, seed)`, the one the Reverse page animates (the
    same model and seed give the same paths); paths[T] are the chosen x_T ~ N(0, I) and paths[0]
    the samples they become.
    """
    return select_paths(pipeline.reverse_trajectory(n, seed), indices)


def random_indices(n: int, k: int, seed: int = 0) -> np.ndarray:
    """k distinct indices out of 0..n-1, increasing, (k,) int64: "follow k random points".

    From numpy's generator seeded with `seed`, so a page that keeps the seed keeps the points.
    """
    check_n_points(n)
    check_seed(seed)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"k must be a whole number from 0 to n = {n}, got {k!r}")
    return np.sort(np.random.default_rng(seed).choice(n, size=int(k), replace=False)).astype(np.int64)


def _points_2d(points, name: str) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), got {p.shape}")
    return p


def indices_in_polygon(points, polygon, chunk: int = 4096) -> np.ndarray:
    """Indices (k,) int64, increasing, of the points (n, 2) inside the polygon (m, 2), m >= 3.

    The polygon is a box or a lasso, closed from its last vertex back to its first (a repeated
    first vertex is harmless). Even-odd rule by ray casting: a point is inside when a ray from it
    towards +x crosses an odd number of edges, so a concave or self-crossing lasso works too.
    Points that are not finite are never inside. Memory is chunk x m booleans at a time.
    """
    pts = _points_2d(points, "points")
    poly = _points_2d(polygon, "polygon")
    if poly.shape[0] < 3 or not np.isfinite(poly).all():
        raise ValueError(f"polygon needs at least 3 finite vertices, got {poly.shape[0]}")
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    # Edges with y1 == y2 never straddle a horizontal ray; their slope is never used, so the
    # division is guarded rather than special-cased.
    dy = np.where(y2 == y1, 1.0, y2 - y1)
    slope = (x2 - x1) / dy
    inside = np.zeros(pts.shape[0], dtype=bool)
    for start in range(0, pts.shape[0], chunk):
        px = pts[start : start + chunk, 0:1]
        py = pts[start : start + chunk, 1:2]
        straddles = (y1 > py) != (y2 > py)  # half-open in y, so a ray through a vertex counts once
        crossing = straddles & (px < x1 + (py - y1) * slope)
        inside[start : start + chunk] = np.count_nonzero(crossing, axis=1) % 2 == 1
    return np.flatnonzero(inside).astype(np.int64)


def indices_in_box(points, x_range: tuple[float, float], y_range: tuple[float, float]) -> np.ndarray:
    """Indices (k,) int64 of the points (n, 2) with x in x_range and y in y_range (ends included,
    either order): a chart's box selection."""
    pts = _points_2d(points, "points")
    (xa, xb), (ya, yb) = sorted(x_range), sorted(y_range)
    inside = (pts[:, 0] >= xa) & (pts[:, 0] <= xb) & (pts[:, 1] >= ya) & (pts[:, 1] <= yb)
    return np.flatnonzero(inside).astype(np.int64)


# ---------------------------------------------------------------------- densities of q(x_t) and p(x_t)
def chain_densities(points_by_t, bins: int = DENSITY_BINS, extent: float = PLOT_EXTENT) -> np.ndarray:
    """Histogram densities of F frames of points (F, n, 2) on [-extent, extent]^2: (F, bins, bins) float32.

    Entry [f, i, j] is the fraction of frame f's n points in the square bin of row i (y) and
    column j (x), divided by the bin's area (width = 2 extent / bins): an estimate of the density
    of x_t in points per unit area per point, so frames and bin counts compare directly. Points
    outside the area, or not finite, are not counted but stay in n, so a frame's densities sum
    (times the bin area) to the fraction of its points that fall inside. Row 0 is the bottom,
    as in `views.sample_density`.
    """
    pts = np.asarray(points_by_t)
    if pts.ndim != 3 or pts.shape[2] != 2:
        raise ValueError(f"points_by_t must have shape (F, n, 2), got {pts.shape}")
    if not (isinstance(bins, (int, np.integer)) and bins >= 1) or not extent > 0:
        raise ValueError(f"bins must be a whole number >= 1 and extent > 0, got {bins!r}, {extent!r}")
    frames, n = pts.shape[:2]
    width = 2.0 * extent / bins
    # One bincount over all frames instead of F calls to histogram2d (which sorts each frame).
    with np.errstate(invalid="ignore", over="ignore"):
        cell = np.floor((pts.astype(np.float64) + extent) / width)
        ok = np.isfinite(cell).all(axis=2) & (cell >= 0).all(axis=2) & (cell < bins).all(axis=2)
    cell = np.where(ok[..., None], cell, 0).astype(np.int64)
    flat = (np.arange(frames)[:, None] * bins + cell[..., 1]) * bins + cell[..., 0]
    counts = np.bincount(flat[ok], minlength=frames * bins * bins).reshape(frames, bins, bins)
    return (counts / (max(n, 1) * width * width)).astype(np.float32)


def density_divergence(q_points, p_points, n_directions: int = DIVERGENCE_DIRECTIONS) -> np.ndarray:
    """How far p(x_t) is from q(x_t), frame by frame: (F,) float32, in data units.

    q_points (F, n, 2) and p_points (F, m, 2) are samples of the two marginals at the same F
    timesteps. The divergence is the sliced Wasserstein-1 distance (`metrics.sliced_wasserstein1`
    with `n_directions` evenly spaced directions): the mean over directions of the 1-D earth
    mover's distance between the projections, how far on average mass must move to turn one
    cloud into the other. It is symmetric, 0 for identical clouds, and for finite samples never
    0 even when q = p: read it against `noise_floor`. A frame with a point that is not finite
    (a diverged model) gets inf.
    """
    q = np.asarray(q_points)
    p = np.asarray(p_points)
    if q.ndim != 3 or p.ndim != 3 or q.shape[2] != 2 or p.shape[2] != 2 or q.shape[0] != p.shape[0]:
        raise ValueError(f"q_points and p_points must be (F, n, 2) and (F, m, 2), got {q.shape} and {p.shape}")
    out = np.empty(q.shape[0], dtype=np.float32)
    for f in range(q.shape[0]):
        if np.isfinite(q[f]).all() and np.isfinite(p[f]).all():
            out[f] = sliced_wasserstein1(q[f], p[f], n_directions=n_directions)
        else:
            out[f] = np.inf
    return out


def _independent_seed(seed: int) -> int:
    """A seed whose forward chain shares neither data (sklearn) nor noise (torch) with `seed`'s."""
    return (seed + 1) % (SEED_MAX + 1)


def noise_floor(
    pipeline: DiffusionPipeline,
    n: int = 2000,
    seed: int = 0,
    t=None,
    m: int | None = None,
    n_directions: int = DIVERGENCE_DIRECTIONS,
    q_trajectory: np.ndarray | None = None,
) -> np.ndarray:
    """`density_divergence` between two independent forward chains, q against q: (F,) float32.

    The chain of n points with `seed` (or `q_trajectory` (T + 1, n, 2), when it is cached)
    against one of m points (default n) with another seed, at the timesteps t (F,) (default all,
    0..T). Both clouds come from the same q(x_t), so this is what the divergence reads when
    p(x_t) equals q(x_t) exactly, for these sample sizes: a model whose divergence stays near it
    at every t has learned the marginals as well as n points can tell.
    """
    q = pipeline.forward_trajectory(n, seed)[0] if q_trajectory is None else q_trajectory
    n = q.shape[1]
    other, _ = pipeline.forward_trajectory(n if m is None else m, _independent_seed(seed))
    frames = np.arange(pipeline.T + 1) if t is None else np.asarray(t)
    return density_divergence(q[frames], other[frames], n_directions)


@dataclass(frozen=True)
class ChainDensityView:
    """q(x_t) and p(x_t) as density images per frame, and how far apart they are."""

    t: np.ndarray  # (F,) int, increasing (the Reverse page plays them from the last)
    q: np.ndarray  # (F, bins, bins) float32: density of x_t under the forward chain, per unit area
    p: np.ndarray  # (F, bins, bins) float32: the same for the reverse chain
    divergence: np.ndarray  # (F,) float32: SW1(q(x_t), p(x_t)), data units
    noise_floor: np.ndarray  # (F,) float32: SW1 of q(x_t) against an independent q(x_t)
    edge0: float  # left / bottom edge of the first bin
    width: float  # bin width

    @property
    def payload_bytes(self) -> int:
        """Bytes of the arrays a chart is sent (the two image stacks and the two curves)."""
        return int(self.q.nbytes + self.p.nbytes + self.divergence.nbytes + self.noise_floor.nbytes)


def density_view(
    pipeline: DiffusionPipeline,
    n: int = 2000,
    seed: int = 0,
    bins: int = DENSITY_BINS,
    extent: float = PLOT_EXTENT,
    max_frames: int = MAX_FRAMES,
    q_trajectory: np.ndarray | None = None,
    p_trajectory: np.ndarray | None = None,
) -> ChainDensityView:
    """q(x_t) against p(x_t) at the timesteps `views.frame_times(T, max_frames)`.

    The chains are those the pages animate, `pipeline.forward_trajectory(n, seed)` and
    `pipeline.reverse_trajectory(n, seed)`; pass them as q_trajectory / p_trajectory (T + 1, n, 2)
    when they are cached. With one seed and the same n the two frames at any t are still independent
    samples: both chains draw their noise from torch's generator with that seed, but frame t of q
    uses the first t steps' draws and frame t of p the draws for steps t..T.
    """
    if q_trajectory is None:
        q_trajectory, _ = pipeline.forward_trajectory(n, seed)
    if p_trajectory is None:
        p_trajectory = pipeline.reverse_trajectory(n, seed)
    t = frame_times(pipeline.T, max_frames)
    q_frames, p_frames = q_trajectory[t], p_trajectory[t]
    return ChainDensityView(
        t=t,
        q=chain_densities(q_frames, bins, extent),
        p=chain_densities(p_frames, bins, extent),
        divergence=density_divergence(q_frames, p_frames),
        noise_floor=noise_floor(pipeline, n, seed, t, p_trajectory.shape[1], q_trajectory=q_trajectory),
        edge0=-float(extent),
        width=2.0 * float(extent) / bins,
    )


# ---------------------------------------------------------------------- one step of the kernel
def _point(x) -> np.ndarray:
    p = np.asarray(x, dtype=np.float64)
    if p.shape != (2,) or not np.isfinite(p).all():
        raise ValueError(f"x must be one finite point of shape (2,), got {np.asarray(x).shape}")
    return p


def _check_t(t, T: int, low: int) -> int:
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not low <= t <= T:
        raise ValueError(f"t must be a whole number in {low}..{T}, got {t!r}")
    return int(t)


def learned_kernel(pipeline: DiffusionPipeline, x, t: int) -> tuple[np.ndarray, np.ndarray]:
    """The learned step p(x_{t-1} | x_t = x): its mean f_mu(x, t) (2,) and variance f_Sigma(x, t) (2,), float32.

    The variance is the diagonal of the covariance (the paper's kernel is diagonal), in squared
    data units. For t = 2..T from the network (`GaussianDiffusion.p_mean_variance`); at t = 1 the
    fixed last step N(sqrt(alpha_1) x, beta_1 I) that sampling and the bound use.
    """
    point = _point(x)
    t = _check_t(t, pipeline.T, 1)
    if t == 1:
        s = pipeline.diffusion.schedule
        mean = math.sqrt(s.alphas[1]) * point
        return mean.astype(np.float32), np.full(2, s.betas[1], dtype=np.float32)
    xt = torch.as_tensor(point, dtype=torch.float32, device=pipeline.device).view(1, 2)
    with torch.inference_mode():
        mean, logvar = pipeline.diffusion.p_mean_variance(pipeline.model, xt, t)
    return mean[0].cpu().numpy().astype(np.float32), torch.exp(logvar[0]).cpu().numpy().astype(np.float32)


def true_reverse_step(schedule: NoiseSchedule, x, t: int, x0) -> tuple[np.ndarray, np.ndarray, float]:
    """The true reverse step q(x_{t-1} | x_t = x) as a mixture over data points x0 (N, 2) ~ q(x_0).

    q(x_{t-1} | x_t) = E_{q(x_0 | x_t)} q(x_{t-1} | x_t, x_0), and q(x_0 | x_t) is proportional
    to q(x_t | x_0) q(x_0); with q(x_0) replaced by the N points, component i is the posterior

        q(x_{t-1} | x_t = x, x_0 = x0_i) = N(c0_t x0_i + c1_t x, posterior_variance_t I)

    (c0_t, c1_t = `schedule.posterior_coef_x0[t]`, `posterior_coef_xt[t]`), weighted by

        w_i proportional to q(x_t = x | x0_i) = N(x; sqrt(alpha_bar_t) x0_i, (1 - alpha_bar_t) I),

    normalised with log-sum-exp so that a point far from every sqrt(alpha_bar_t) x0_i (tiny
    likelihoods that would all underflow) still gets weights summing to 1.

    Returns weights (N,), component means (N, 2) and the components' shared variance per axis
    (float, squared data units), in float64: the reference the learned kernel is compared with,
    whose variance at small t (~1e-5) float32 would blur. t in 1..T; at t = 1 the posterior is
    a point mass on x0_i (variance 0). The estimate's error falls as the effective number of
    components 1 / sum w_i^2 grows.
    """
    point = _point(x)
    t = _check_t(t, schedule.T, 1)
    data = _points_2d(x0, "x0")
    if data.shape[0] == 0:
        raise ValueError("x0 needs at least one data point")
    a_bar = schedule.alpha_bars[t]
    d2 = ((point - math.sqrt(a_bar) * data) ** 2).sum(axis=1)
    log_w = -0.5 * d2 / (1.0 - a_bar)  # the Gaussian's constant is the same for every i
    log_w -= log_w.max()
    weights = np.exp(log_w)
    weights /= weights.sum()
    means = schedule.posterior_coef_x0[t] * data + schedule.posterior_coef_xt[t] * point
    return weights, means, float(schedule.posterior_variance[t])


def mixture_moments(weights, means, var: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean (2,) and covariance (2, 2) of the mixture sum_i w_i N(means_i, var I), float64.

    mean = sum_i w_i means_i,  cov = var I + sum_i w_i (means_i - mean)(means_i - mean)^T:
    each component's own spread plus the spread of the components (law of total variance).
    `weights` (N,) must sum to 1.
    """
    w = np.asarray(weights, dtype=np.float64)
    mu = _points_2d(means, "means")
    if w.shape != (mu.shape[0],):
        raise ValueError(f"weights must have shape ({mu.shape[0]},), got {w.shape}")
    mean = w @ mu
    centred = mu - mean
    cov = (centred * w[:, None]).T @ centred + float(var) * np.eye(2)
    return mean, 0.5 * (cov + cov.T)


def covariance_ellipse(mean, cov, n_std: float = 2.0, points: int = 64) -> np.ndarray:
    """The ellipse n_std standard deviations around a Gaussian N(mean (2,), cov (2, 2)), as a
    closed polyline (points, 2) float32 (the last vertex repeats the first), data units.

    For a diagonal variance v (2,), pass np.diag(v). The axes are the eigenvectors of cov with
    half-lengths n_std sqrt(eigenvalue); a degenerate cov gives a segment or a point.
    """
    mu = np.asarray(mean, dtype=np.float64)
    c = np.asarray(cov, dtype=np.float64)
    if mu.shape != (2,) or c.shape != (2, 2) or points < 2:
        raise ValueError(f"mean must be (2,), cov (2, 2) and points >= 2, got {mu.shape}, {c.shape}, {points}")
    eigenvalues, eigenvectors = np.linalg.eigh(0.5 * (c + c.T))
    axes = eigenvectors * (n_std * np.sqrt(np.clip(eigenvalues, 0.0, None)))  # columns: the two half-axes
    angle = np.linspace(0.0, 2.0 * math.pi, points)
    circle = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return (mu + circle @ axes.T).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _probe_data_at(dataset: DataSet, scale: str, n: int, seed: int) -> np.ndarray:
    """The data points of the true step's mixture, made once: sklearn's generators are the slow part."""
    data = dataset.sample_model(n, seed, scale)[0].astype(np.float64)
    data.setflags(write=False)
    return data


def _probe_data(pipeline: DiffusionPipeline, n: int, seed: int) -> np.ndarray:
    """The model's data at its scale, n points with `seed`."""
    return _probe_data_at(pipeline.data, DataScale(pipeline.config.data_scale).value, n, seed)


@dataclass(frozen=True)
class KernelProbe:
    """One step from x_t = x, learned against true, with ellipses to draw."""

    x: np.ndarray  # (2,) float32: the probed x_t
    t: int
    learned_mean: np.ndarray  # (2,) float32: f_mu(x, t)
    learned_var: np.ndarray  # (2,) float32: f_Sigma(x, t), the diagonal
    true_mean: np.ndarray  # (2,) float32: E_q[x_{t-1} | x_t = x]
    true_cov: np.ndarray  # (2, 2) float32: Cov_q[x_{t-1} | x_t = x]
    effective_points: float  # 1 / sum w_i^2: how many data points the true step's estimate rests on
    learned_ellipse: np.ndarray  # (points, 2) float32, 2 standard deviations
    true_ellipse: np.ndarray  # (points, 2) float32, 2 standard deviations


def probe_kernel(
    pipeline: DiffusionPipeline, x, t: int, n_data: int = PROBE_DATA_POINTS, seed: int = 0, n_std: float = 2.0
) -> KernelProbe:
    """p(x_{t-1} | x_t = x) beside q(x_{t-1} | x_t = x), t in 1..T, the latter from n_data data points
    (drawn with `seed`): both as mean, covariance and an n_std ellipse."""
    check_n_points(n_data, "n_data")
    check_seed(seed)
    learned_mean, learned_var = learned_kernel(pipeline, x, t)
    weights, means, var = true_reverse_step(pipeline.diffusion.schedule, x, t, _probe_data(pipeline, n_data, seed))
    true_mean, true_cov = mixture_moments(weights, means, var)
    return KernelProbe(
        x=_point(x).astype(np.float32),
        t=int(t),
        learned_mean=learned_mean,
        learned_var=learned_var,
        true_mean=true_mean.astype(np.float32),
        true_cov=true_cov.astype(np.float32),
        effective_points=float(1.0 / np.square(weights).sum()),
        learned_ellipse=covariance_ellipse(learned_mean, np.diag(learned_var), n_std),
        true_ellipse=covariance_ellipse(true_mean, true_cov, n_std),
    )


def probe_components(
    pipeline: DiffusionPipeline, x, t: int, n_data: int = PROBE_DATA_POINTS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, float]:
    """The true step's mixture behind `probe_kernel` (same data points): weights (N,), component
    means (N, 2) and their shared variance, as `true_reverse_step` returns them."""
    check_n_points(n_data, "n_data")
    check_seed(seed)
    return true_reverse_step(pipeline.diffusion.schedule, x, t, _probe_data(pipeline, n_data, seed))


GAUSSIAN_MEAN_GAP = 1.0  # learned mean within one standard deviation of the true one
GAUSSIAN_SIZE_RATIO = 1.5  # ellipse sizes within a factor of 1.5
GAUSSIAN_SPREAD_SHARE = 0.5  # at most half the true step's variance from the spread of its components


@dataclass(frozen=True)
class GaussianCheck:
    """How well one Gaussian describes the true step at a probe, and how close the learned one is."""

    mean_gap: float  # |learned mean - true mean| in true standard deviations (sqrt of half the trace)
    size_ratio: float  # learned over true geometric-mean standard deviation (fourth root of the determinants' ratio)
    spread_share: float  # share of the true variance from the components' spread, not their own width

    @property
    def true_is_gaussian(self) -> bool:
        """The paper's assumption: the true step is (close to) one Gaussian."""
        return self.spread_share <= GAUSSIAN_SPREAD_SHARE

    @property
    def learned_matches(self) -> bool:
        """The learned Gaussian sits where the true step does, about as wide."""
        return self.mean_gap <= GAUSSIAN_MEAN_GAP and 1 / GAUSSIAN_SIZE_RATIO <= self.size_ratio <= GAUSSIAN_SIZE_RATIO


def gaussian_check(probe: KernelProbe, var: float) -> GaussianCheck:
    """Does the paper's Gaussian assumption hold at this probe? `var` is the components' own variance.

    The true step is a mixture of Gaussians of variance `var` each; when most of its variance
    comes from where the components sit (spread_share near 1) its shape is that of the data's
    curve, not a Gaussian's. The learned kernel matches it when its mean is within a standard
    deviation and its ellipse about the same size.
    """
    cov = probe.true_cov.astype(np.float64)
    total = float(np.trace(cov))
    sd = math.sqrt(max(total / 2.0, 1e-30))
    gap = float(np.linalg.norm(probe.learned_mean.astype(np.float64) - probe.true_mean) / sd)
    learned_det = float(np.prod(probe.learned_var.astype(np.float64)))
    true_det = max(float(np.linalg.det(cov)), 1e-300)
    ratio = float((learned_det / true_det) ** 0.25)
    share = float(np.clip(1.0 - 2.0 * var / total, 0.0, 1.0)) if total > 0 else 0.0
    return GaussianCheck(gap, ratio, share)
