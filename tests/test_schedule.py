"""diffusion/schedule.py: each beta schedule's defining formula, and the derived arrays against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit

from diffusion.config import BetaSchedule, DiffusionConfig, schedule_uses
from diffusion.schedule import NoiseSchedule, make_betas

SCHEDULES = list(BetaSchedule)


def schedule_for(kind, T=40, beta_start=1e-5, beta_end=0.3) -> NoiseSchedule:
    return NoiseSchedule.from_config(DiffusionConfig(T=T, beta_start=beta_start, beta_end=beta_end, schedule=kind))


@pytest.mark.parametrize("T, start, end", [(40, 1e-5, 0.3), (2, 1e-4, 0.02), (7, 0.1, 0.1), (300, 1e-6, 0.9)])
def test_sigmoid_betas_are_the_tutorials_formula(T, start, end):
    expected = expit(np.linspace(-18, 10, T)) * (end - start) + start
    np.testing.assert_allclose(make_betas("sigmoid", T, start, end), expected, rtol=1e-12, atol=0)


def test_default_schedule_numbers():
    s = NoiseSchedule.from_config(DiffusionConfig())
    assert s.T == 40
    assert s.betas[1] == pytest.approx(1e-5, rel=1e-3)
    assert s.betas[40] == pytest.approx(0.3, abs=2e-5)
    assert s.alpha_bar_T == pytest.approx(0.0064, rel=0.03)
    assert s.reaches_noise()
    assert s.alpha_bar_T == pytest.approx(
        np.prod(1 - (expit(np.linspace(-18, 10, 40)) * (0.3 - 1e-5) + 1e-5)), rel=1e-12
    )
    # "most noise arrives in the last ~15 steps": after 20 steps nearly all the signal is still there.
    assert s.alpha_bars[20] > 0.95
    assert np.all(np.diff(s.betas[1:]) > 0)


@pytest.mark.parametrize("T, start, end", [(40, 1e-5, 0.3), (5, 0.01, 0.5)])
def test_linear_schedule_is_evenly_spaced_from_start_to_end(T, start, end):
    b = make_betas("linear", T, start, end)
    assert b[0] == pytest.approx(start) and b[-1] == pytest.approx(end)
    np.testing.assert_allclose(np.diff(b), (end - start) / (T - 1), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("T", [2, 10, 40, 1000])
def test_cosine_schedule_follows_nichol_dhariwal_alpha_bar(T):
    def f(t):
        return math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2

    b = make_betas("cosine", T, 1e-5, 0.3)
    assert b.shape == (T,)
    assert np.all(b > 0) and np.all(b <= 0.999)
    s = NoiseSchedule.from_betas(b, BetaSchedule.COSINE)
    for t in range(1, T + 1):
        raw_beta = 1 - f(t) / f(t - 1)
        if raw_beta < 0.999:  # uncapped steps: alpha_bar_t is exactly f(t)/f(0)
            assert b[t - 1] == pytest.approx(raw_beta, rel=1e-9, abs=1e-15)
        else:
            assert b[t - 1] == 0.999
    uncapped = [t for t in range(1, T + 1) if all(1 - f(u) / f(u - 1) < 0.999 for u in range(1, t + 1))]
    for t in uncapped:
        assert s.alpha_bars[t] == pytest.approx(f(t) / f(0), rel=1e-9)
    # squaredcos_cap_v2 ignores the beta range
    np.testing.assert_array_equal(b, make_betas("cosine", T, 1e-3, 0.9))


@pytest.mark.parametrize("T", [2, 3, 40, 100])
def test_paper_schedule_is_one_over_linspace_with_beta_1_from_beta_start(T):
    b = make_betas("paper", T, 1e-5, 0.3)
    expected = 1.0 / np.linspace(T, 2, T)
    assert b[0] == 1e-5
    np.testing.assert_allclose(b[1:], expected[1:], rtol=1e-12)
    assert b[-1] == pytest.approx(0.5)
    if T > 2:
        assert b[1] == pytest.approx(1.0 / (T - (T - 2) / (T - 1)))
        assert np.all(np.diff(b) > 0)
    # beta_end plays no part
    np.testing.assert_array_equal(b, make_betas("paper", T, 1e-5, 0.9))


def test_paper_schedule_by_hand():
    # T = 3: linspace(3, 2, 3) = (3, 5/2, 2); T = 5: (5, 17/4, 7/2, 11/4, 2).
    np.testing.assert_allclose(make_betas("paper", 3, 1e-5, 0.3), [1e-5, 2 / 5, 1 / 2], rtol=1e-12)
    np.testing.assert_allclose(make_betas("paper", 5, 1e-3, 0.3), [1e-3, 4 / 17, 2 / 7, 4 / 11, 1 / 2], rtol=1e-12)
    # beta_1 is capped at the formula's own 1/T, so the schedule never starts above beta_2.
    np.testing.assert_allclose(make_betas("paper", 3, 0.9, 0.95), [1 / 3, 2 / 5, 1 / 2], rtol=1e-12)
    np.testing.assert_allclose(make_betas("paper", 5, 0.25, 0.3)[0], 1 / 5, rtol=1e-12)


@pytest.mark.parametrize("T", [2, 3, 10, 40, 1000])
@pytest.mark.parametrize("beta_start", [1e-8, 1e-5, 0.3, 0.99])
def test_paper_schedule_starts_at_or_below_beta_2(T, beta_start):
    b = make_betas("paper", T, beta_start, 0.995)
    assert 0 < b[0] <= b[1] and b[0] == min(beta_start, 1.0 / T)


def test_paper_ceiling_rises_as_beta_1_falls():
    """The docstring's claim: a small beta_1 costs the ceiling nothing (t = 2's KL is repaid by
    -H_q(X_1|X_0)), while beta_1 at the formula's 1/T loses more than a bit."""
    from diffusion.ceiling import best_possible_bound

    def ceiling(beta_start: float) -> float:
        s = NoiseSchedule.from_betas(make_betas("paper", 40, beta_start, 0.3), BetaSchedule.PAPER)
        return best_possible_bound(s, n=500, seed=0).bits_unit_variance

    tiny, small, large = ceiling(1e-7), ceiling(1e-5), ceiling(1.0)
    assert abs(tiny - small) < 0.2
    assert small > large + 0.8  # measured 1.3 bits; the n = 500 estimate spreads about 0.2


@pytest.mark.parametrize("kind", SCHEDULES)
def test_schedule_uses_names_exactly_the_fields_that_change_the_betas(kind):
    uses = schedule_uses(kind)
    assert uses <= {"beta_start", "beta_end"}
    base = make_betas(kind, 40, 1e-4, 0.2)
    changed = {
        "beta_start": make_betas(kind, 40, 1e-3, 0.2),
        "beta_end": make_betas(kind, 40, 1e-4, 0.3),
    }
    for field, betas in changed.items():
        assert (not np.array_equal(betas, base)) == (field in uses), field
    assert schedule_uses(BetaSchedule(kind).value) == uses


@pytest.mark.parametrize("kind", SCHEDULES)
def test_derived_arrays_are_indexed_by_t(kind):
    s = schedule_for(kind)
    T = s.T
    for name in (
        "betas",
        "alphas",
        "alpha_bars",
        "alpha_bars_prev",
        "posterior_variance",
        "posterior_log_variance",
        "posterior_coef_x0",
        "posterior_coef_xt",
        "snr",
    ):
        arr = getattr(s, name)
        assert arr.shape == (T + 1,) and arr.dtype == np.float64, name
    assert s.betas[0] == 0 and s.alpha_bars[0] == 1 and s.alpha_bars_prev[0] == 1
    np.testing.assert_array_equal(s.betas[1:], make_betas(kind, T, 1e-5, 0.3))
    np.testing.assert_allclose(s.alphas, 1 - s.betas, rtol=0, atol=0)
    running = 1.0
    for t in range(1, T + 1):
        running *= 1 - s.betas[t]
        assert s.alpha_bars[t] == pytest.approx(running, rel=1e-12)
        assert s.alpha_bars_prev[t] == s.alpha_bars[t - 1]


@pytest.mark.parametrize("T", [2, 12, 40])
@pytest.mark.parametrize("kind", SCHEDULES)
def test_posterior_equals_the_tutorials_precision_weighted_form(kind, T):
    """DDPM coefficients in the schedule == the tutorial's cov1/cov2/lam form, for every t >= 2."""
    s = schedule_for(kind, T=T)
    for t in range(2, T + 1):
        a_t, ab_t, b_t = s.alphas[t], s.alpha_bars[t], s.betas[t]
        cov1 = 1 - ab_t / a_t
        cov2 = b_t / a_t
        lam = 1 / cov1 + 1 / cov2
        coef_x0 = math.sqrt(ab_t / a_t) / cov1 / lam
        coef_xt = 1 / math.sqrt(a_t) / cov2 / lam
        assert s.posterior_variance[t] == pytest.approx(1 / lam, rel=1e-9), t
        assert s.posterior_coef_x0[t] == pytest.approx(coef_x0, rel=1e-9), t
        assert s.posterior_coef_xt[t] == pytest.approx(coef_xt, rel=1e-9), t
        # the same mean for concrete points
        x0, xt = 0.37, -1.21
        tutorial_mean = (x0 * math.sqrt(ab_t / a_t) / cov1 + xt / math.sqrt(a_t) / cov2) / lam
        assert s.posterior_coef_x0[t] * x0 + s.posterior_coef_xt[t] * xt == pytest.approx(tutorial_mean, rel=1e-9)
        assert s.posterior_log_variance[t] == pytest.approx(math.log(1 / lam), rel=1e-12)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_posterior_variance_lies_between_zero_and_beta(kind):
    s = schedule_for(kind)
    v = s.posterior_variance[2:]
    assert np.all(v > 0)
    assert np.all(v <= s.betas[2:] * (1 + 1e-12))
    assert np.all(np.isfinite(s.posterior_log_variance))
    # entries 0 and 1 (no learned step) are clipped to the t = 2 value, not -inf
    assert s.posterior_log_variance[0] == s.posterior_log_variance[1] == pytest.approx(math.log(v[0]))


@pytest.mark.parametrize("kind", SCHEDULES)
def test_snr(kind):
    s = schedule_for(kind)
    t = np.arange(1, s.T + 1)
    np.testing.assert_allclose(s.snr[t], s.alpha_bars[t] / (1 - s.alpha_bars[t]), rtol=1e-12)
    assert s.snr[0] == np.inf
    assert np.all(np.diff(s.snr[1:]) < 0)


def test_reaches_noise_and_alpha_bar_T():
    weak = schedule_for("linear", T=10, beta_start=1e-4, beta_end=1e-3)
    assert weak.alpha_bar_T == pytest.approx(np.prod(1 - np.linspace(1e-4, 1e-3, 10)))
    assert not weak.reaches_noise()
    assert weak.reaches_noise(tolerance=1.0)
    assert schedule_for("cosine").alpha_bar_T < 1e-5


def test_table_for_the_ui():
    s = schedule_for("sigmoid")
    table = s.table()
    assert set(table) == {"t", "beta", "alpha_bar", "snr", "posterior_variance"}
    np.testing.assert_array_equal(table["t"], np.arange(41))
    assert all(len(v) == 41 for v in table.values())
    np.testing.assert_array_equal(table["beta"], s.betas)


def test_from_config_uses_the_config_schedule():
    c = DiffusionConfig(T=9, beta_start=1e-3, beta_end=0.2, schedule="linear")
    s = NoiseSchedule.from_config(c)
    assert s.schedule is BetaSchedule.LINEAR and s.T == 9
    np.testing.assert_array_equal(s.betas[1:], np.linspace(1e-3, 0.2, 9))


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log")
@pytest.mark.parametrize("kind", ["linear", "paper"])
def test_a_valid_config_gives_a_finite_posterior(kind):
    from diffusion.config import ConfigError

    config = DiffusionConfig(beta_start=1e-17, schedule=kind)
    try:
        config.validate(check_device=False)
    except ConfigError:
        return  # rejecting it would be fine too
    s = NoiseSchedule.from_config(config)
    assert np.all(np.isfinite(s.posterior_log_variance))
    assert np.all(s.posterior_variance[2:] > 0)


def test_geometric_schedule_has_equal_ratios_from_beta_start_to_beta_end():
    from diffusion.schedule import make_betas

    betas = make_betas("geometric", 40, 1e-5, 0.5)
    assert betas.shape == (40,) and betas[0] == pytest.approx(1e-5) and betas[-1] == pytest.approx(0.5)
    ratios = betas[1:] / betas[:-1]
    assert np.allclose(ratios, (0.5 / 1e-5) ** (1 / 39))
    assert make_betas("geometric", 3, 1e-4, 1e-2) == pytest.approx([1e-4, 1e-3, 1e-2])
