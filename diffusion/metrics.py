"""The paper's likelihood bound K (eq. 14) and sample-quality distances.

K, in nats per point (d = 2):
    K = - sum_{t=2..T} E_q[ KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) ]
        + H_q(X_T | X_0) - H_q(X_1 | X_0) - H_p(X_T)
with H_q(X_T | X_0) = d/2 log(2 pi e (1 - alpha_bar_T)), H_q(X_1 | X_0) = d/2 log(2 pi e beta_1) and
H_p(X_T) = d/2 log(2 pi e). Reported in bits (divide by ln 2) at data scale, and at unit variance
as the paper's Table 1 does: rescaling x by 1/s per axis adds sum_d log2(s_d) bits per point. Data
at the "unit" scale (`diffusion.data`) is already Table 1's: there the two numbers are the same.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from .config import DataScale
from .data import DATA_SCALE, data_std, to_tutorial, unit_transform
from .gaussian_diffusion import GaussianDiffusion
from .losses import gaussian_entropy
from .memory import chunk_points
from .model import ReverseNet
from .schedule import NoiseSchedule

LN2 = math.log(2.0)
D = 2
L_NULL_BITS = -math.log2(2.0 * math.pi * math.e)  # a unit Gaussian's log-likelihood of unit-variance data, 2-D
PAPER_K_BITS = 2.35  # Table 1, Swiss roll
PAPER_K_MINUS_NULL_BITS = 6.45

# The quality bar (`SampleQuality.passes`), for 5,000 samples against 5,000 fresh data points:
# - precision >= QUALITY_PRECISION: that share of the samples lies on the data;
# - recall >= QUALITY_RECALL: the samples cover that share of the data;
# - SW1 <= QUALITY_SW1: the density along the data is about right (precision and recall do not
#   see a model that puts too many samples on one end of the roll).
# "On the data" means within a data point's radius: the larger of the distance to its
# QUALITY_NEIGHBOURS-th nearest data point (Kynkaanniemi et al. 2019; it adapts to the density of
# an area such as the checkerboard, or a Gaussian's tail) and ON_DATA_TOLERANCE. The tolerance is
# needed for a curve: 5,000 points on the noise-free roll lie about 0.002 apart, so a pure k-NN
# radius would call a sample 0.01 off the curve "off the data", finer than any figure shows.
# Calibration (tests/test_quality.py): the tutorial's figure, digitised, has 0.5% of its red pixels
# more than 0.12 from the curve and the eye calls it clean; short runs, whose samples show a cloud
# inside the roll, put 3-16% there. Fresh data against fresh data scores precision and recall 1
# and SW1 0.009-0.025 (`noise_floor`), so SW1's bar sits at twice the top of that: a bar at the
# floor fails perfect samples. The digitised figure's SW1 is near its bar because pixels lose the
# density (overlapping points are one pixel); its precision and recall are what it measures.
# Both lengths are the roll's (tutorial scale); for another data set they scale with its spread
# (sqrt of the mean per-axis variance) over the roll's, so one rule serves a curve, a noisy band
# and an area alike.
QUALITY_PRECISION = 0.99
QUALITY_RECALL = 0.99
QUALITY_SW1 = 0.05
ON_DATA_TOLERANCE = 0.12
QUALITY_NEIGHBOURS = 5
# A sample is tested against its PRECISION_CANDIDATES nearest data points (each with its own
# radius): a farther one would need a radius larger than 8 nearer points' distances.
PRECISION_CANDIDATES = 8
# Two draws of 5,000 samples from the same model differ in score (in bars, see SampleQuality.score)
# by up to about this; a model is only worse than another when its score is higher by more.
QUALITY_NOISE_BARS = 0.25


@dataclass(frozen=True)
class Bound:
    """K and its parts, in bits per point."""

    bits: float  # K at data scale
    bits_unit_variance: float  # K with the data rescaled to unit variance (Table 1's convention)
    minus_null_bits: float  # K - L_null, at unit variance
    kl_per_t_bits: np.ndarray  # E_q KL term for t = 2..T, shape (T - 1,)
    entropy_bits: float  # H_q(X_T|X_0) - H_q(X_1|X_0) - H_p(X_T)

    def to_dict(self) -> dict:
        return {
            "bound_bits": self.bits,
            "bound_bits_unit_variance": self.bits_unit_variance,
            "bound_minus_null_bits": self.minus_null_bits,
            "kl_per_t_bits": [float(v) for v in self.kl_per_t_bits],
            "entropy_terms_bits": self.entropy_bits,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Bound:
        """The inverse of to_dict (a snapshot sends its bound through a pipe as plain numbers)."""
        return cls(
            bits=float(data["bound_bits"]),
            bits_unit_variance=float(data["bound_bits_unit_variance"]),
            minus_null_bits=float(data["bound_minus_null_bits"]),
            kl_per_t_bits=np.asarray(data["kl_per_t_bits"], dtype=np.float64),
            entropy_bits=float(data["entropy_terms_bits"]),
        )


def entropy_terms_nats(schedule: NoiseSchedule) -> float:
    """H_q(X_T | X_0) - H_q(X_1 | X_0) - H_p(X_T) of eq. 14, in nats per point."""
    s = schedule
    return gaussian_entropy(1.0 - s.alpha_bars[-1], D) - gaussian_entropy(s.betas[1], D) - gaussian_entropy(1.0, D)


def unit_variance_offset_bits(scale: np.ndarray | None = None, data_scale: DataScale | str = DATA_SCALE) -> float:
    """Bits to add to a data-scale log-likelihood to express it at unit variance: sum_d log2 s_d.

    `scale`: the per-axis standard deviations s_d (default: the roll's at `data_scale`). Data at the
    "unit" scale is Table 1's already (centred, divided by one constant): no offset.
    """
    if scale is None and DataScale(data_scale) is DataScale.UNIT:
        return 0.0
    s = data_std() if scale is None else np.asarray(scale, dtype=np.float64)
    return float(np.log2(s).sum())


@torch.no_grad()
def kl_per_t_nats(
    diffusion: GaussianDiffusion,
    model: ReverseNet,
    x0: np.ndarray | torch.Tensor,
    seed: int = 0,
    chunk: int | None = None,
) -> np.ndarray:
    """E_q KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) for t = 2..T over the points x0 (N, 2), nats.

    Every point is used at every t with one draw of x_t, so N points cost N (T - 1) head passes.
    `chunk` points at a time; by default as many as keep one chunk's (T - 1, chunk, width) layers
    under diffusion.memory.CHUNK_BYTES, so a long, wide uploaded model costs time, not memory.
    """
    x0 = torch.as_tensor(x0, dtype=torch.float32).to(diffusion.device)
    T = diffusion.T
    if chunk is None:
        chunk = chunk_points(T, model.width)
    t = range(2, T + 1)
    g = torch.Generator().manual_seed(int(seed))
    total = torch.zeros(T - 1, dtype=torch.float64, device=diffusion.device)
    for start in range(0, x0.shape[0], chunk):
        part = x0[start : start + chunk]
        batch = part.unsqueeze(0).expand(T - 1, -1, -1)
        noise = torch.randn(batch.shape, generator=g).to(diffusion.device)
        total += diffusion.kl_terms(model, batch, t, noise).sum(dim=1, dtype=torch.float64)
    return (total / x0.shape[0]).cpu().numpy()


def likelihood_bound(
    diffusion: GaussianDiffusion,
    model: ReverseNet,
    x0: np.ndarray | torch.Tensor,
    seed: int = 0,
    data_scale: DataScale | str = DATA_SCALE,
) -> Bound:
    """The bound K of eq. 14 on held-out points x0 (N, 2) in data coordinates at `data_scale`."""
    kl = kl_per_t_nats(diffusion, model, x0, seed=seed)
    entropy = entropy_terms_nats(diffusion.schedule)
    k_nats = -kl.sum() + entropy
    bits = float(k_nats / LN2)
    unit = bits + unit_variance_offset_bits(data_scale=data_scale)
    return Bound(
        bits=bits,
        bits_unit_variance=unit,
        minus_null_bits=unit - L_NULL_BITS,
        kl_per_t_bits=kl / LN2,
        entropy_bits=entropy / LN2,
    )


def sliced_wasserstein1(a: np.ndarray, b: np.ndarray, n_directions: int = 180) -> float:
    """Sliced Wasserstein-1 between point sets a (N, 2) and b (M, 2).

    Directions are evenly spaced angles in [0, pi) (deterministic, no seed to vary); each 1-D W1
    compares quantiles on a common grid, so N and M may differ.

    Written with element-wise products and row sorts, which numpy runs without the GIL: a training
    process measures its snapshots with this in a second thread beside the training thread, and a
    matrix product with an inner dimension of 2 (not BLAS) would hold the GIL (tests/test_metrics.py
    checks this form against scipy's exact 1-D W1).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    angles = np.arange(n_directions) * (math.pi / n_directions)
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    pa = np.sort(cos * a[:, 0] + sin * a[:, 1], axis=1)  # (P, N): one row per direction
    pb = np.sort(cos * b[:, 0] + sin * b[:, 1], axis=1)
    if pa.shape[1] != pb.shape[1]:
        q = (np.arange(max(len(a), len(b))) + 0.5) / max(len(a), len(b))
        pa, pb = _quantiles(pa.T, q), _quantiles(pb.T, q)
    return float(np.abs(pa - pb).mean())


def _quantiles(sorted_columns: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Linear-interpolation quantiles q of each (already sorted) column; np.quantile's default rule.

    Written out because np.quantile would sort every column again.
    """
    pos = q * (sorted_columns.shape[0] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, sorted_columns.shape[0] - 1)
    frac = (pos - lo)[:, None]
    return sorted_columns[lo] * (1.0 - frac) + sorted_columns[hi] * frac


def chamfer_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean nearest-neighbour distance a -> b plus b -> a (Euclidean, data units)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d_ab, _ = cKDTree(b).query(a, k=1)
    d_ba, _ = cKDTree(a).query(b, k=1)
    return float(d_ab.mean() + d_ba.mean())


@dataclass(frozen=True)
class SampleQuality:
    """How samples compare with fresh data points (see the bar's constants above).

    precision: share of samples within some data point's radius ("on the data"), in [0, 1];
    recall: share of data points with a sample within their radius ("covered"), in [0, 1];
    sw1: sliced Wasserstein-1 to the data points, data units; chamfer: mean nearest-neighbour
    distance both ways, data units (reported, not part of the bar: its mean hides a few percent of
    outliers); tolerance and sw1_bar: the data set's ON_DATA_TOLERANCE and QUALITY_SW1, scaled.
    """

    precision: float
    recall: float
    sw1: float
    chamfer: float
    tolerance: float = ON_DATA_TOLERANCE
    sw1_bar: float = QUALITY_SW1

    @property
    def passes(self) -> bool:
        """Meets the bar: precision and recall high enough, SW1 small enough."""
        return self.precision >= QUALITY_PRECISION and self.recall >= QUALITY_RECALL and self.sw1 <= self.sw1_bar

    @property
    def score(self) -> float:
        """How far from the data, in bars: the largest of the share off the data over the bar's
        (1 - precision) / (1 - QUALITY_PRECISION), the same for recall, and sw1 / sw1_bar. At most 1
        passes; inf for samples that are not finite."""
        if not math.isfinite(self.sw1):
            return math.inf
        return max(
            (1.0 - self.precision) / (1.0 - QUALITY_PRECISION),
            (1.0 - self.recall) / (1.0 - QUALITY_RECALL),
            self.sw1 / self.sw1_bar,
        )

    def near_bar(self, factor: float) -> bool:
        """Misses the bar, but by at most `factor` bars (factor >= 1; see `score`)."""
        return not self.passes and self.score <= factor

    def worse_than(self, other: SampleQuality) -> bool:
        """Clearly worse than `other`: misses the bar and scores more than the noise of a
        measurement above it. Samples that are not finite are worse than any finite ones."""
        if not math.isfinite(self.score):
            return math.isfinite(other.score)
        return not self.passes and self.score > other.score + QUALITY_NOISE_BARS

    def to_dict(self) -> dict:
        """Plain numbers (the CLI's `evaluate`, a snapshot through a pipe); `from_dict` inverts it."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "sw1": self.sw1,
            "chamfer": self.chamfer,
            "tolerance": self.tolerance,
            "sw1_bar": self.sw1_bar,
            "passes_quality_bar": self.passes,
        }

    @classmethod
    def from_dict(cls, data: dict) -> SampleQuality:
        return cls(**{f: float(data[f]) for f in ("precision", "recall", "sw1", "chamfer", "tolerance", "sw1_bar")})


def better_model(candidate: SampleQuality | None, current: SampleQuality | None) -> bool:
    """Whether a run's model (quality `candidate`) may replace the current one (`current`) without
    asking: it is not clearly worse. A run with no measured model never replaces one; any measured
    model replaces none (`current` None)."""
    if candidate is None:
        return False
    if current is None:
        return True
    return not candidate.worse_than(current)


@dataclass(frozen=True, eq=False)
class QualityReference:
    """The data points a quality is measured against, with what every measurement reuses: their
    k-d tree and each point's radius (the larger of its k-NN distance and the tolerance)."""

    points: np.ndarray  # (M, 2) float64, read-only
    tree: cKDTree
    radius: np.ndarray  # (M,)
    tolerance: float
    sw1_bar: float

    @classmethod
    def of(cls, points: np.ndarray, spread: float | None = None) -> QualityReference:
        """`points` (M, 2) of the data; `spread` its sqrt mean per-axis variance (default: measured
        from the points), which scales the roll's tolerance and SW1 bar to this data."""
        points = np.array(points, dtype=np.float64)
        points.setflags(write=False)
        if spread is None:
            spread = float(np.sqrt(points.var(axis=0).mean()))
        relative = spread / roll_spread() if spread > 0 else 1.0
        tolerance = ON_DATA_TOLERANCE * relative
        tree = cKDTree(points)
        k = min(QUALITY_NEIGHBOURS + 1, len(points))  # + 1: a point is its own nearest neighbour
        d, _ = tree.query(points, k=k)
        knn = d[:, -1] if k > 1 else np.zeros(len(points))
        return cls(points, tree, np.maximum(knn, tolerance), tolerance, QUALITY_SW1 * relative)


def roll_spread() -> float:
    """The tutorial's roll's spread, sqrt of its mean per-axis variance (about 0.68)."""
    return unit_transform()[1]


def _dataset(data):
    """A data set from a name or a `diffusion.datasets.DataSet` (imported here: it imports sklearn)."""
    from . import datasets

    return datasets.get(data) if isinstance(data, str) else data


@functools.lru_cache(maxsize=8)
def _reference(data, n: int, seed: int) -> QualityReference:
    """The reference of a data set (a name or a DataSet), made once per process: sklearn's
    generators hold the GIL, which a training thread beside a snapshot's measurement would wait for."""
    dataset = _dataset(data)
    points, _ = dataset.sample(n, seed)
    return QualityReference.of(points, spread=float(dataset.own_to_unit.scale))


def quality_reference(data=None, n: int = 5000, seed: int = 2024) -> QualityReference:
    """n held-out points of `data` (a data set's name or a DataSet; default the tutorial's roll) in
    the data's own coordinates, drawn with numpy's generator and its own seed, never a training draw."""
    return _reference("swiss_roll" if data is None else data, int(n), int(seed))


def measure_quality(samples: np.ndarray, reference: QualityReference) -> SampleQuality:
    """SampleQuality of samples (N, 2) against a reference, both in the same coordinates.

    k-d tree queries and sorts only: scipy's queries and numpy's sorts run without the GIL, so a
    training process measures its snapshots in a second thread beside the training thread.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if len(samples) == 0 or not np.isfinite(samples).all():
        return SampleQuality(0.0, 0.0, math.inf, math.inf, reference.tolerance, reference.sw1_bar)
    k = min(PRECISION_CANDIDATES, len(reference.points))
    d, idx = reference.tree.query(samples, k=k)
    d, idx = d.reshape(len(samples), k), idx.reshape(len(samples), k)
    precision = float((d <= reference.radius[idx]).any(axis=1).mean())
    d_back, _ = cKDTree(samples).query(reference.points, k=1)
    recall = float((d_back <= reference.radius).mean())
    return SampleQuality(
        precision=precision,
        recall=recall,
        sw1=sliced_wasserstein1(samples, reference.points),
        chamfer=float(d[:, 0].mean() + d_back.mean()),
        tolerance=reference.tolerance,
        sw1_bar=reference.sw1_bar,
    )


def sample_quality(
    samples: np.ndarray,
    n_reference: int = 5000,
    reference_seed: int = 2024,
    data_scale: DataScale | str = DATA_SCALE,
    data=None,
    reference: np.ndarray | None = None,
) -> SampleQuality:
    """Precision, recall, SW1 and chamfer of a model's samples (N, 2) at `data_scale`.

    Against `reference` (M, 2) when given, in the samples' own coordinates (nothing is moved; the
    tolerance scales with the reference's spread). Otherwise against n_reference held-out points of
    `data` (a name of `diffusion.datasets` or a DataSet; default the tutorial's roll), with the
    samples moved to the data's own coordinates first, so the bar means the same whatever scale a
    model was trained at.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if reference is not None:
        return measure_quality(samples, QualityReference.of(reference))
    if data is None:
        samples = to_tutorial(samples, data_scale)
    else:
        samples = _dataset(data).to_own(samples, data_scale)
    return measure_quality(samples, quality_reference(data, n_reference, reference_seed))


@functools.lru_cache(maxsize=16)
def _noise_floor(data, n: int, seed: int, n_reference: int, reference_seed: int) -> SampleQuality:
    points, _ = _dataset(data).sample(n, seed)
    return measure_quality(points, quality_reference(data, n_reference, reference_seed))


def noise_floor(data=None, n: int = 5000, seed: int = 7, n_reference: int = 5000, reference_seed: int = 2024):
    """The quality of n fresh data points (a perfect model's samples) against the reference every
    model is measured with: the best a measurement of this data can show (cached per process)."""
    return _noise_floor(
        "swiss_roll" if data is None else data, int(n), int(seed), int(n_reference), int(reference_seed)
    )
