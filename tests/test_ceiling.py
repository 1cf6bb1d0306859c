"""The ceiling of K: closed form where the roll looks straight, and a bound no trained model passes."""

import math
from pathlib import Path

import pytest

from diffusion.ceiling import best_kl_per_t_nats, best_possible_bound
from diffusion.checkpoint import load_checkpoint
from diffusion.config import DiffusionConfig
from diffusion.schedule import NoiseSchedule

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def straight_line_kl(s: NoiseSchedule, t: int) -> float:
    """Best diagonal-Gaussian KL at t when, locally, x_0 lies uniformly on straight lines at angles
    spread evenly over [0, pi) (the spiral turns 1.5 times).

    Along a line at angle theta, x_0 | x_t ~ N(x_t / sqrt(ab_t), (1 - ab_t)/ab_t); across it x_0 is
    known. With r = c0^2 (1 - ab_t)/(ab_t pv), the moment-matched diagonal p has variances
    pv (1 + r cos^2 theta) and pv (1 + r sin^2 theta), and its expected KL is
    0.5 ln(1 + r cos^2) + 0.5 ln(1 + r sin^2); averaged over theta that is 2 ln((1 + sqrt(1 + r)) / 2).
    (A covariance aligned with the line would reach 0.5 ln(1 + r); the axis-aligned family pays more.)
    """
    ab, c0, pv = s.alpha_bars[t], s.posterior_coef_x0[t], s.posterior_variance[t]
    r = c0 * c0 * (1.0 - ab) / (ab * pv)
    return 2.0 * math.log((1.0 + math.sqrt(1.0 + r)) / 2.0)


def test_low_t_ceiling_matches_the_straight_line_closed_form():
    """While the noise (std <= 0.02) is far below the roll's curvature radius (>= 0.47)."""
    first_steps = NoiseSchedule.from_betas(NoiseSchedule.from_config(DiffusionConfig()).betas[1:9])
    kl = best_kl_per_t_nats(first_steps, n=3000, seed=0)
    for t in range(2, 9):
        assert kl[t - 2] == pytest.approx(straight_line_kl(first_steps, t), rel=0.06), t


def test_ceiling_terms_are_nonnegative_and_vanish_where_the_steps_are_pure_noise():
    s = NoiseSchedule.from_config(DiffusionConfig())
    kl = best_kl_per_t_nats(s, n=1000, seed=1)
    assert (kl >= 0).all()
    assert kl[-1] < 0.01 * kl.max()  # at t = T, x_{T-1} is already noise: its reverse is Gaussian


def test_shipped_model_does_not_pass_the_ceiling():
    pipeline = load_checkpoint(ASSETS / "default_model.pt", device="cpu")
    ceiling = best_possible_bound(pipeline.diffusion.schedule, n=4000, seed=2)
    bound = pipeline.bound(8000, seed=3)
    # Both are Monte Carlo estimates (about +-0.06 bits at these sizes); the model may only touch it.
    assert bound.bits_unit_variance <= ceiling.bits_unit_variance + 0.12
    assert bound.bits_unit_variance > ceiling.bits_unit_variance - 0.5  # and is close to it


def test_the_ceiling_is_differentiable_in_the_betas():
    """gradcheck of the per-t ceiling KL through both grids (local at small t, the whole roll later)."""
    import numpy as np
    import torch

    from diffusion.ceiling import _best_kl_nats, _diffusion_of
    from diffusion.config import DataScale

    betas = torch.tensor([1e-5, 1e-4, 3e-3, 0.08, 0.4], dtype=torch.float64, requires_grad=True)

    def kl(b):
        return _best_kl_nats(_diffusion_of(b), 16, np.random.default_rng(3), DataScale.UNIT)

    assert torch.autograd.gradcheck(kl, (betas,), eps=1e-8, atol=1e-5, rtol=1e-3)


def test_best_betas_lift_the_ceiling_to_one_optimum_from_either_side():
    """From betas too large (beta_T = 0.9) and too small (0.05) at T = 6, the search lands on
    schedules of the same ceiling, higher than either start's (estimates on other points)."""
    from diffusion.ceiling import best_betas

    found = {}
    for end in (0.9, 0.05):
        start = NoiseSchedule.from_config(DiffusionConfig(T=6, schedule="geometric", beta_start=1e-5, beta_end=end))
        best = best_betas(start, data_scale="unit", iterations=40, n=100, lr=0.3, seed=0)
        assert best.T == 6 and best.betas[1] == start.betas[1]  # beta_1 stays fixed
        assert ((best.betas[1:] > 0) & (best.betas[1:] < 1)).all()
        before = best_possible_bound(start, n=1000, seed=7, data_scale="unit").bits_unit_variance
        found[end] = best_possible_bound(best, n=1000, seed=7, data_scale="unit").bits_unit_variance
        assert found[end] > before + 0.04, (end, before, found[end])  # same points: the noise is shared
    assert abs(found[0.9] - found[0.05]) < 0.04, found
