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
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .config import DataScale
from .data import DATA_SCALE, ROLL_MAX, ROLL_MIN, roll_at, to_scale, unit_transform
from .metrics import L_NULL_BITS, LN2, Bound, entropy_terms_nats, unit_variance_offset_bits
from .schedule import NoiseSchedule

ROLL_LENGTH = 8.9  # arc length of the tutorial's roll, for choosing the grid spacing


def best_kl_per_t_nats(
    schedule: NoiseSchedule, n: int = 2000, seed: int = 0, chunk: int = 1000, data_scale: DataScale | str = DATA_SCALE
) -> np.ndarray:
    """min over the family of E_q KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) for t = 2..T, nats, (T-1,),
    for the roll at `data_scale`."""
    rng = np.random.default_rng(seed)
    length = ROLL_LENGTH if DataScale(data_scale) is DataScale.TUTORIAL else ROLL_LENGTH / unit_transform()[1]
    out = np.empty(schedule.T - 1)
    for t in range(2, schedule.T + 1):
        ab = schedule.alpha_bars[t]
        c0, c1 = schedule.posterior_coef_x0[t], schedule.posterior_coef_xt[t]
        pv = schedule.posterior_variance[t]
        # Grid spacing a fifth of the noise scale of x_0 given x_t, so the weights are resolved.
        sigma = math.sqrt((1.0 - ab) / ab)
        grid = torch.from_numpy(
            to_scale(
                roll_at(np.linspace(ROLL_MIN, ROLL_MAX, int(np.clip(length / (0.2 * sigma), 2000, 40_000)))), data_scale
            )
        )
        scaled = math.sqrt(ab) * grid
        scaled_sq = (scaled * scaled).sum(1)
        total = 0.0
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            s = torch.from_numpy(rng.uniform(ROLL_MIN, ROLL_MAX, m))
            x0 = to_scale(roll_at(s), data_scale)
            xt = math.sqrt(ab) * x0 + math.sqrt(1.0 - ab) * torch.from_numpy(rng.standard_normal((m, 2)))
            d2 = (xt * xt).sum(1, keepdim=True) - 2.0 * xt @ scaled.T + scaled_sq
            w = torch.softmax(-d2 / (2.0 * (1.0 - ab)), dim=1)
            mean_x0 = w @ grid
            var_x0 = (w @ (grid * grid) - mean_x0 * mean_x0).clamp_min(0.0)
            p_mean = c0 * mean_x0 + c1 * xt
            p_var = pv + c0 * c0 * var_x0
            q_mean = c0 * x0 + c1 * xt
            kl = 0.5 * (torch.log(p_var / pv) + pv / p_var + (q_mean - p_mean) ** 2 / p_var - 1.0)
            total += float(kl.sum())
        out[t - 2] = total / n
    return out


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
