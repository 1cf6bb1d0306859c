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
from .data import DATA_SCALE, data_std, swiss_roll, to_tutorial
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

# The quality bar: samples a viewer cannot tell from the tutorial's figure (5,000 vs 5,000 points).
QUALITY_SW1 = 0.025
QUALITY_CHAMFER = 0.08
# Two draws of 5,000 samples from the same perfect model differ in SW1 by about a sixth of the bar;
# a model is only worse than another when its score (in bars) is higher by more than this.
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
    sw1: float
    chamfer: float

    @property
    def passes(self) -> bool:
        """Meets the tutorial-figure bar (for 5,000 samples against 5,000 roll points)."""
        return self.sw1 <= QUALITY_SW1 and self.chamfer <= QUALITY_CHAMFER

    def near_bar(self, factor: float) -> bool:
        """Misses the bar, but by at most `factor` times on both numbers (factor >= 1)."""
        return not self.passes and self.sw1 <= factor * QUALITY_SW1 and self.chamfer <= factor * QUALITY_CHAMFER

    @property
    def score(self) -> float:
        """How far from the data, in bars: the larger of sw1 / QUALITY_SW1 and chamfer / QUALITY_CHAMFER
        (at most 1 passes; inf for samples that are not finite)."""
        return max(self.sw1 / QUALITY_SW1, self.chamfer / QUALITY_CHAMFER)

    def worse_than(self, other: SampleQuality) -> bool:
        """Clearly worse than `other`: misses the bar and scores more than the noise of a
        measurement above it. Samples that are not finite are worse than any finite ones."""
        if not math.isfinite(self.score):
            return math.isfinite(other.score)
        return not self.passes and self.score > other.score + QUALITY_NOISE_BARS

    def to_dict(self) -> dict:
        return {"sw1": self.sw1, "chamfer": self.chamfer, "passes_quality_bar": self.passes}


def better_model(candidate: SampleQuality | None, current: SampleQuality | None) -> bool:
    """Whether a run's model (quality `candidate`) may replace the current one (`current`) without
    asking: it is not clearly worse. A run with no measured model never replaces one; any measured
    model replaces none (`current` None)."""
    if candidate is None:
        return False
    if current is None:
        return True
    return not candidate.worse_than(current)


@functools.lru_cache(maxsize=4)
def _reference_roll(n: int, seed: int) -> np.ndarray:
    """The reference points of sample_quality, made once per process: sklearn's generator holds
    the GIL, which a training thread beside a snapshot's measurement would wait for."""
    reference = swiss_roll(n, seed=seed)
    reference.setflags(write=False)
    return reference


def sample_quality(
    samples: np.ndarray, n_reference: int = 5000, reference_seed: int = 2024, data_scale: DataScale | str = DATA_SCALE
) -> SampleQuality:
    """SW1 and chamfer of samples (N, 2) against n_reference roll points (held out: sklearn's
    generator with its own seed, never a training draw).

    Samples at `data_scale` are compared at the tutorial's scale (moved back), so the bar means
    the same whatever scale a model was trained at.
    """
    samples = to_tutorial(np.asarray(samples), data_scale)
    finite = np.isfinite(samples).all(axis=1)
    if not finite.all():
        return SampleQuality(sw1=math.inf, chamfer=math.inf)
    reference = _reference_roll(n_reference, reference_seed)
    return SampleQuality(sw1=sliced_wasserstein1(samples, reference), chamfer=chamfer_distance(samples, reference))
