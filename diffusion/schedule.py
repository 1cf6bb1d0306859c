"""The forward process's noise schedule: beta_t and every quantity derived from it, computed once.

Arrays are indexed by the paper's t and have length T + 1: entry t belongs to step t, entry 0 is
the data (beta_0 = 0, alpha_bar_0 = 1). So `alpha_bar[t]` reads as alpha_bar_t. Computed in float64
(the posterior variance at t = 2 is ~1e-5 and loses digits in float32), then handed to torch once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import BetaSchedule, DiffusionConfig


def make_betas(schedule: BetaSchedule, T: int, beta_start: float, beta_end: float) -> np.ndarray:
    """beta_1..beta_T as a float64 array of shape (T,).

    paper: beta_t = 1/linspace(T, 2, T)_t for t = 2..T and beta_1 = min(beta_start, 1/T) (see paper_betas).
    """
    schedule = BetaSchedule(schedule)
    if schedule is BetaSchedule.SIGMOID:
        # The tutorial: almost no noise for the first ~25 steps, most of it in the last ~15.
        s = 1.0 / (1.0 + np.exp(-np.linspace(-18.0, 10.0, T)))
        return s * (beta_end - beta_start) + beta_start
    if schedule is BetaSchedule.LINEAR:
        return np.linspace(beta_start, beta_end, T)
    if schedule is BetaSchedule.COSINE:
        # Nichol & Dhariwal (2021): alpha_bar(t) = cos^2((t/T + s)/(1 + s) pi/2), betas capped at
        # 0.999 as in diffusers' squaredcos_cap_v2. The beta range is not used.
        s = 0.008
        steps = np.arange(T + 1, dtype=np.float64) / T
        f = np.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        return np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
    if schedule is BetaSchedule.PAPER:
        return paper_betas(T, beta_start)
    if schedule is BetaSchedule.GEOMETRIC:
        return beta_start * (beta_end / beta_start) ** (np.arange(T, dtype=np.float64) / max(1, T - 1))
    raise ValueError(f"unknown schedule {schedule!r}")  # pragma: no cover - enum is exhaustive


def paper_betas(T: int, beta_start: float) -> np.ndarray:
    """Sohl-Dickstein et al.'s fixed schedule, float64 of shape (T,):

        beta_t = 1 / (T - (t - 1) (T - 2) / (T - 1)),  t = 2..T   (1/linspace(T, 2, T): beta_T = 1/2)
        beta_1 = min(beta_start, 1/T)

    The paper's footnote writes beta_t = 1/(T - t + 1), which ends at beta_T = 1; we take the authors'
    code instead (Diffusion-Probabilistic-Models, model.py, generate_beta_arr: "NOTE 2 below means a
    fraction ~1/T of the variance will be left"), because beta_T = 1 makes alpha_bar_T and SNR_T
    exactly 0: the SNR plot's log axis and the ceiling's E[x_0 | x_T] grid (spacing ~ sqrt(1/alpha_bar))
    have no value there. The two differ only near t = T and their ceilings agree to 0.02 bits at T = 40.

    beta_1: the authors add a small step1_beta to their beta_1 = 1/T; we use beta_start, capped at
    1/T so that beta_1 <= beta_2. A small beta_1 costs the bound nothing: below beta_2, a factor in
    beta_1 costs its log in the t = 2 KL and gains the same log in -H_q(X_1|X_0) (ceiling at T = 40,
    unit variance: -2.3 bits for beta_1 = 1e-5 or 1e-7, -3.6 bits for beta_1 = 1/T); what limits K is
    beta_2 ~ 1/T, which the t = 2 Gaussian must undo on a curved roll. beta_end is not used.
    """
    betas = 1.0 / np.linspace(T, 2.0, T)
    betas[0] = min(beta_start, 1.0 / T)
    return betas


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """beta_t and its derived quantities, arrays of shape (T + 1,) indexed by t.

    For t >= 1:
      alpha_t = 1 - beta_t,  alpha_bar_t = prod_{s <= t} alpha_s
      q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)
      q(x_{t-1} | x_t, x_0) = N(coef_x0_t x_0 + coef_xt_t x_t, posterior_variance_t I)
      snr_t = alpha_bar_t / (1 - alpha_bar_t)
    The posterior entries are defined for t >= 2 (at t = 1 the posterior is a point mass at x_0);
    entry 0 and 1 hold 0 for the variance and NaN-free placeholders.
    """

    T: int
    betas: np.ndarray
    alphas: np.ndarray
    alpha_bars: np.ndarray
    alpha_bars_prev: np.ndarray
    posterior_variance: np.ndarray
    posterior_log_variance: np.ndarray
    posterior_coef_x0: np.ndarray
    posterior_coef_xt: np.ndarray
    snr: np.ndarray
    schedule: BetaSchedule

    @classmethod
    def from_config(cls, config: DiffusionConfig) -> NoiseSchedule:
        return cls.from_betas(
            make_betas(config.schedule, config.T, config.beta_start, config.beta_end), config.schedule
        )

    @classmethod
    def from_betas(cls, betas_1_to_T: np.ndarray, schedule: BetaSchedule = BetaSchedule.SIGMOID) -> NoiseSchedule:
        betas_1_to_T = np.asarray(betas_1_to_T, dtype=np.float64)
        T = int(betas_1_to_T.shape[0])
        betas = np.concatenate([[0.0], betas_1_to_T])
        alphas = 1.0 - betas
        alpha_bars = np.cumprod(alphas)
        alpha_bars_prev = np.concatenate([[1.0], alpha_bars[:-1]])
        one_minus_ab = 1.0 - alpha_bars
        with np.errstate(divide="ignore", invalid="ignore"):
            # DDPM form of the posterior (equal to the tutorial's precision-weighted form; tested).
            posterior_variance = np.where(one_minus_ab > 0, betas * (1.0 - alpha_bars_prev) / one_minus_ab, 0.0)
            posterior_coef_x0 = np.where(one_minus_ab > 0, betas * np.sqrt(alpha_bars_prev) / one_minus_ab, 1.0)
            posterior_coef_xt = np.where(
                one_minus_ab > 0, (1.0 - alpha_bars_prev) * np.sqrt(alphas) / one_minus_ab, 0.0
            )
            snr = np.where(one_minus_ab > 0, alpha_bars / one_minus_ab, np.inf)
        # log of a zero variance (t = 0, 1) is clipped to the t = 2 value so the array stays finite.
        floor = posterior_variance[2] if T >= 2 else 1e-12
        posterior_log_variance = np.log(np.maximum(posterior_variance, floor))
        return cls(
            T=T,
            betas=betas,
            alphas=alphas,
            alpha_bars=alpha_bars,
            alpha_bars_prev=alpha_bars_prev,
            posterior_variance=posterior_variance,
            posterior_log_variance=posterior_log_variance,
            posterior_coef_x0=posterior_coef_x0,
            posterior_coef_xt=posterior_coef_xt,
            snr=snr,
            schedule=BetaSchedule(schedule),
        )

    @property
    def alpha_bar_T(self) -> float:
        """How much signal survives to x_T: near 0 means the chain ends in noise."""
        return float(self.alpha_bars[-1])

    def reaches_noise(self, tolerance: float = 0.05) -> bool:
        """True when x_T is close to N(0, I): alpha_bar_T below `tolerance`."""
        return self.alpha_bar_T < tolerance

    def table(self) -> dict[str, np.ndarray]:
        """The per-t quantities the UI plots, t = 0..T."""
        return {
            "t": np.arange(self.T + 1),
            "beta": self.betas,
            "alpha_bar": self.alpha_bars,
            "snr": self.snr,
            "posterior_variance": self.posterior_variance,
        }
