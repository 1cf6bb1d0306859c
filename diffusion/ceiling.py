"""The best bound K that any model of this family can reach for a given schedule: its ceiling.

The family: p(x_{t-1} | x_t) Gaussian with a mean and a *diagonal* covariance that may be any
function of x_t. For fixed x_t, the p minimising E_q[KL(q(x_{t-1} | x_t, x_0) || p)] matches the
first two moments of q(x_{t-1} | x_t) = E_{x_0 | x_t} q(x_{t-1} | x_t, x_0):
    m(x_t)       = c0_t E[x_0 | x_t] + c1_t x_t
    Sigma_d(x_t) = posterior_variance_t + c0_t^2 Var[x_0,d | x_t]
and because the roll is a known 1-D curve, E[x_0 | x_t] is a weighted average over a dense grid of
curve points (weights q(x_t | x_0)). So the smallest possible KL per t, and hence the largest K, is
a Monte Carlo estimate with no training at all. A trained model's K can approach it, never pass it
(up to the estimate's Monte Carlo noise, which shrinks as 1/sqrt(n)): for the default schedule its
seeds spread about 0.1 bits at n = 2000 (five seeds: standard deviation 0.03 bits, max - min 0.09),
and the per-point KL has a heavy tail, so below n ~ 500 one seed can be a bit off.

The estimate is a torch function of the betas, so `best_betas` can search beta_2..beta_T for the
highest ceiling at a given T and beta_1: what no schedule of that T can lift the family past.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .config import DataScale, MeanParameterization
from .data import DATA_SCALE, ROLL_MAX, ROLL_MIN, roll_at, to_scale, unit_transform
from .gaussian_diffusion import GaussianDiffusion, LearnedBetas
from .metrics import L_NULL_BITS, LN2, Bound, entropy_terms_nats, unit_variance_offset_bits
from .schedule import NoiseSchedule

ROLL_LENGTH = 8.9  # arc length of the tutorial's roll, for choosing the grid spacing
# Below this noise scale of x_0 given x_t (tutorial units) the posterior of x_0 lives on a short
# piece of the roll: the next arm is 0.63 away, beyond 12 standard deviations. There a local grid
# of the curve around each point's own position replaces the whole roll's.
LOCAL_SIGMA = 0.05
LOCAL_SPAN = 10.0  # the local grid covers +-10 noise scales along the roll
LOCAL_POINTS = 161


def _kl_at_t(d: GaussianDiffusion, t: int, s, noise, data_scale: DataScale) -> torch.Tensor:
    """Mean over the points of the smallest E KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) at step t,
    nats; x_0 = r(s) at `data_scale` (s: (m,)), x_t ~ q(x_t | x_0) with `noise`. `d` holds float64
    tensors (GaussianDiffusion.from_betas_tensor), so the result is differentiable in the betas."""
    c = 1.0 if data_scale is DataScale.TUTORIAL else unit_transform()[1]
    pv, c0 = d.posterior_variance[t], d.posterior_coef_x0[t]
    sqrt_ab, sqrt_1m_ab = d.sqrt_alpha_bars[t], d.sqrt_one_minus_alpha_bars[t]
    ab, one_minus_ab = sqrt_ab * sqrt_ab, sqrt_1m_ab * sqrt_1m_ab
    x0 = to_scale(roll_at(s), data_scale)
    xt = sqrt_ab * x0 + sqrt_1m_ab * noise
    sigma = math.sqrt(float((one_minus_ab / ab).detach()))  # of x_0 given x_t, data units; it only sizes the grid
    if sigma * c < LOCAL_SIGMA:
        speed = torch.sqrt(1.0 + s * s) / (10.0 * c)  # |dr/ds| at data scale
        offsets = torch.linspace(-LOCAL_SPAN, LOCAL_SPAN, LOCAL_POINTS, dtype=s.dtype)
        grid_s = s[:, None] + offsets[None, :] * (sigma / speed[:, None])  # (m, G), uniform in s as the data
        grid = to_scale(roll_at(grid_s), data_scale)  # (m, G, 2)
        logits = -((xt[:, None, :] - sqrt_ab * grid) ** 2).sum(-1) / (2.0 * one_minus_ab)
        w = torch.softmax(logits.masked_fill((grid_s < ROLL_MIN) | (grid_s > ROLL_MAX), -math.inf), dim=1)
        mean_x0 = (w[..., None] * grid).sum(1)
        second = (w[..., None] * grid * grid).sum(1)
    else:
        # the whole roll, spaced a fifth of the noise scale so the weights are resolved
        length = ROLL_LENGTH / c
        size = int(np.clip(length / (0.2 * sigma), 2000, 40_000))
        grid = to_scale(roll_at(torch.linspace(ROLL_MIN, ROLL_MAX, size, dtype=s.dtype)), data_scale)
        scaled = sqrt_ab * grid
        d2 = (xt * xt).sum(1, keepdim=True) - 2.0 * xt @ scaled.T + (scaled * scaled).sum(1)
        w = torch.softmax(-d2 / (2.0 * one_minus_ab), dim=1)
        mean_x0 = w @ grid
        second = w @ (grid * grid)
    var_x0 = (second - mean_x0 * mean_x0).clamp_min(0.0)
    p_var = pv + c0 * c0 * var_x0
    q_minus_p = c0 * (x0 - mean_x0)  # the means differ by c0 (x_0 - E[x_0 | x_t])
    kl = 0.5 * (torch.log(p_var / pv) + pv / p_var + q_minus_p**2 / p_var - 1.0)
    return kl.sum(-1).mean()


def _diffusion_of(betas_1_to_T: torch.Tensor) -> GaussianDiffusion:
    # float64 throughout: the posterior variance at t = 2 is ~beta_1 and loses digits in float32
    return GaussianDiffusion.from_betas_tensor(betas_1_to_T, MeanParameterization.PAPER, dtype=torch.float64)


def _best_kl_nats(d: GaussianDiffusion, n: int, rng, data_scale: DataScale, chunk: int = 1000) -> torch.Tensor:
    """(T - 1,) float64 tensor of the per-t ceiling KL, t = 2..T, differentiable in d's betas."""
    out = []
    for t in range(2, d.T + 1):
        total = 0.0
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            s = torch.from_numpy(rng.uniform(ROLL_MIN, ROLL_MAX, m))
            noise = torch.from_numpy(rng.standard_normal((m, 2)))
            total = total + _kl_at_t(d, t, s, noise, data_scale) * m
        out.append(total / n)
    return torch.stack(out)


def best_kl_per_t_nats(
    schedule: NoiseSchedule, n: int = 2000, seed: int = 0, chunk: int = 1000, data_scale: DataScale | str = DATA_SCALE
) -> np.ndarray:
    """min over the family of E_q KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) for t = 2..T, nats, (T-1,),
    for the roll at `data_scale`."""
    betas = torch.from_numpy(np.asarray(schedule.betas[1:], dtype=np.float64))
    with torch.no_grad():
        kl = _best_kl_nats(_diffusion_of(betas), n, np.random.default_rng(seed), DataScale(data_scale), chunk)
    return kl.numpy()


def best_betas(
    schedule: NoiseSchedule,
    data_scale: DataScale | str = DATA_SCALE,
    iterations: int = 120,
    n: int = 500,
    lr: float = 0.05,
    seed: int = 0,
) -> NoiseSchedule:
    """The schedule of this T and beta_1 whose ceiling is highest, found by gradient ascent from
    `schedule`: beta_2..beta_T through `LearnedBetas` (each stays in (0, 1)), Adam on a Monte Carlo
    ceiling with n fresh points per t every iteration, the learning rate decaying to 0 (cosine).
    It shows how far any betas can lift the family's K on this data, which a trained model's K
    can then be held to."""
    scale = DataScale(data_scale)
    learned = LearnedBetas(schedule.betas[1:])
    optimizer = torch.optim.Adam(learned.parameters(), lr=lr)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations)
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        d = _diffusion_of(learned())
        loss = _best_kl_nats(d, n, rng, scale).sum() - d.entropy_nats  # -K in nats
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        decay.step()
    return NoiseSchedule.from_betas(learned.values(), schedule.schedule)


def best_possible_bound(
    schedule: NoiseSchedule, n: int = 2000, seed: int = 0, data_scale: DataScale | str = DATA_SCALE
) -> Bound:
    """The ceiling of K (eq. 14) for this schedule and data scale, in the units of metrics.likelihood_bound."""
    kl = best_kl_per_t_nats(schedule, n=n, seed=seed, data_scale=data_scale)
    entropy = entropy_terms_nats(schedule)
    bits = float((entropy - kl.sum()) / LN2)
    unit = bits + unit_variance_offset_bits(data_scale=data_scale)
    return Bound(
        bits=bits,
        bits_unit_variance=unit,
        minus_null_bits=unit - L_NULL_BITS,
        kl_per_t_bits=kl / LN2,
        entropy_bits=entropy / LN2,
    )
