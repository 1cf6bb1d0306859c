"""diffusion/metrics.py: the bound K where its answer is known in closed form, and the sample distances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import wasserstein_distance

from diffusion.config import DiffusionConfig
from diffusion.data import data_std, swiss_roll
from diffusion.gaussian_diffusion import GaussianDiffusion
from diffusion.metrics import (
    L_NULL_BITS,
    LN2,
    QUALITY_CHAMFER,
    QUALITY_NOISE_BARS,
    QUALITY_SW1,
    SampleQuality,
    better_model,
    chamfer_distance,
    entropy_terms_nats,
    kl_per_t_nats,
    likelihood_bound,
    sample_quality,
    sliced_wasserstein1,
    unit_variance_offset_bits,
)
from diffusion.model import ReverseNet
from diffusion.schedule import NoiseSchedule


def make_diffusion(parameterization="paper", **changes) -> GaussianDiffusion:
    config = DiffusionConfig(parameterization=parameterization, **changes)
    return GaussianDiffusion(NoiseSchedule.from_config(config), config.parameterization, "cpu")


# ---------------------------------------------------------------------- entropy terms and conversions
@pytest.mark.parametrize("schedule", ["sigmoid", "linear", "cosine", "paper"])
def test_entropy_terms_closed_form(schedule):
    d = make_diffusion(schedule=schedule)
    s = d.schedule
    two_pi_e = 2 * math.pi * math.e
    expected = math.log(two_pi_e * (1 - s.alpha_bars[-1])) - math.log(two_pi_e * s.betas[1]) - math.log(two_pi_e)
    assert entropy_terms_nats(d.schedule) == pytest.approx(expected, rel=1e-12)


def test_default_entropy_terms_value():
    s = NoiseSchedule.from_config(DiffusionConfig())
    d = make_diffusion()
    # d/2 log(2 pi e (1 - ab_T)) - d/2 log(2 pi e beta_1) - d/2 log(2 pi e) with d = 2
    expected = math.log(1 - s.alpha_bar_T) - math.log(s.betas[1]) - math.log(2 * math.pi * math.e)
    assert entropy_terms_nats(d.schedule) == pytest.approx(expected, rel=1e-12)
    assert entropy_terms_nats(d.schedule) / LN2 == pytest.approx(12.51, abs=0.05)


def test_null_model_and_unit_variance_offset():
    assert L_NULL_BITS == pytest.approx(-4.094, abs=1e-3)
    assert unit_variance_offset_bits() == pytest.approx(-1.117, abs=0.005)
    assert unit_variance_offset_bits(np.array([2.0, 0.5])) == pytest.approx(0.0)
    assert unit_variance_offset_bits(np.array([2.0, 4.0])) == pytest.approx(3.0)
    assert unit_variance_offset_bits() == pytest.approx(float(np.log2(data_std()).sum()))


# ---------------------------------------------------------------------- the bound where KL is known
def exact_posterior_model(
    d: GaussianDiffusion, x0_point: np.ndarray, mean_offset=(0.0, 0.0), logvar_offset=0.0
) -> ReverseNet:
    """A ReverseNet whose p(x_{t-1} | x_t) is q(x_{t-1} | x_t, x_0 = x0_point) with its mean moved by
    sqrt(beta_t) * mean_offset and its log-variance by logvar_offset, at every t.

    Width 4: the trunk and first head layer pass (relu(x1), relu(-x1), relu(x2), relu(-x2)) through,
    so the readout can form any affine function of x_t exactly.
    """
    T = d.T
    s = d.schedule
    model = ReverseNet(T, 4)
    enc = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    with torch.no_grad():
        model.trunk[0].weight.copy_(enc)
        model.trunk[0].bias.zero_()
        model.trunk[2].weight.copy_(torch.eye(4))
        model.trunk[2].bias.zero_()
        model.head_w1.copy_(torch.eye(4).expand(T - 1, 4, 4))
        model.head_b1.zero_()
        w2 = torch.zeros(T - 1, 4, 4, dtype=torch.float64)
        b2 = torch.zeros(T - 1, 4, dtype=torch.float64)
        for t in range(2, T + 1):
            i = t - 2
            sb = math.sqrt(s.betas[t])
            if d.parameterization.value == "paper":
                # mean = sqrt(a_t) x_t + sqrt(b_t) f
                #   ->  f = (coef_xt - sqrt(a_t))/sqrt(b_t) x_t + coef_x0 x0/sqrt(b_t) + c
                slope = (s.posterior_coef_xt[t] - math.sqrt(s.alphas[t])) / sb
                intercept = [s.posterior_coef_x0[t] * x0_point[k] / sb + mean_offset[k] for k in range(2)]
                # variance = sigmoid(z + logit(pv)); want pv e^d, so z = logit(pv e^d) - logit(pv)
                pv = s.posterior_variance[t]
                target = pv * math.exp(logvar_offset)
                logvar = math.log(target / (1 - target)) - math.log(pv / (1 - pv))
            else:
                slope = s.posterior_coef_xt[t]
                intercept = [s.posterior_coef_x0[t] * x0_point[k] + sb * mean_offset[k] for k in range(2)]
                logvar = s.posterior_log_variance[t] + logvar_offset
            w2[i, 0, 0], w2[i, 1, 0], w2[i, 2, 1], w2[i, 3, 1] = slope, -slope, slope, -slope
            b2[i, 0], b2[i, 1] = intercept
            b2[i, 2] = b2[i, 3] = logvar
        model.head_w2.copy_(w2.float())
        model.head_b2.copy_(b2.float())
    return model.eval()


def known_kl_nats(s: NoiseSchedule, mean_offset, logvar_offset) -> np.ndarray:
    """KL(N(mu, v) || N(mu + sqrt(b_t) c, v e^d)) summed over 2 dimensions, for t = 2..T."""
    out = []
    for t in range(2, s.T + 1):
        total = 0.0
        for c in mean_offset:
            total += 0.5 * (
                logvar_offset
                + math.exp(-logvar_offset)
                - 1
                + s.betas[t] * c**2 / (s.posterior_variance[t] * math.exp(logvar_offset))
            )
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("parameterization", ["paper", "tutorial"])
def test_bound_is_entropy_when_p_is_the_exact_posterior(parameterization):
    d = make_diffusion(parameterization)
    point = np.array([0.4, -0.9])
    model = exact_posterior_model(d, point)
    x0 = np.tile(point.astype(np.float32), (300, 1))
    kl = kl_per_t_nats(d, model, x0, seed=1)
    assert kl.shape == (39,)
    np.testing.assert_allclose(kl, 0.0, atol=2e-4)
    bound = likelihood_bound(d, model, x0, seed=1)
    assert bound.bits == pytest.approx(entropy_terms_nats(d.schedule) / LN2, abs=5e-3)


@pytest.mark.parametrize("parameterization", ["paper", "tutorial"])
@pytest.mark.parametrize("schedule", ["sigmoid", "linear"])
def test_bound_with_known_kl_per_t(parameterization, schedule):
    d = make_diffusion(parameterization, schedule=schedule, T=20)
    s = d.schedule
    point = np.array([-0.3, 0.7])
    offset, dlogvar = (0.1, -0.2), 0.3
    model = exact_posterior_model(d, point, offset, dlogvar)
    x0 = np.tile(point.astype(np.float32), (500, 1))
    expected_kl = known_kl_nats(s, offset, dlogvar)
    b = likelihood_bound(d, model, x0, seed=2)

    np.testing.assert_allclose(b.kl_per_t_bits, expected_kl / LN2, rtol=2e-3, atol=1e-4)
    entropy = math.log(1 - s.alpha_bar_T) - math.log(s.betas[1]) - math.log(2 * math.pi * math.e)
    assert b.entropy_bits == pytest.approx(entropy / LN2, rel=1e-9)
    expected_bits = (-expected_kl.sum() + entropy) / LN2
    assert b.bits == pytest.approx(expected_bits, abs=2e-3 * max(1.0, expected_kl.sum()))
    # Table 1's conventions: unit variance adds sum_d log2(std_d); K - L_null adds log2(2 pi e)
    assert b.bits_unit_variance - b.bits == pytest.approx(float(np.log2(data_std()).sum()), abs=1e-9)
    assert b.bits_unit_variance - b.bits == pytest.approx(-1.117, abs=0.005)
    assert b.minus_null_bits == pytest.approx(b.bits_unit_variance + math.log2(2 * math.pi * math.e), abs=1e-9)
    d_out = b.to_dict()
    assert d_out["bound_bits"] == b.bits and len(d_out["kl_per_t_bits"]) == 19
    assert {"bound_bits_unit_variance", "bound_minus_null_bits", "entropy_terms_bits"} <= set(d_out)


def test_kl_per_t_is_seeded_and_nonnegative(trained_pipeline):
    p = trained_pipeline
    x0 = swiss_roll(500, seed=3)
    a = kl_per_t_nats(p.diffusion, p.model, x0, seed=1)
    b = kl_per_t_nats(p.diffusion, p.model, x0, seed=1)
    c = kl_per_t_nats(p.diffusion, p.model, x0, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all(a >= 0) and np.all(np.isfinite(a))


def test_kl_per_t_chunking_agrees_with_one_chunk_in_expectation(trained_pipeline):
    p = trained_pipeline
    x0 = swiss_roll(4000, seed=4)
    whole = kl_per_t_nats(p.diffusion, p.model, x0, seed=5, chunk=4096)
    chunked = kl_per_t_nats(p.diffusion, p.model, x0, seed=5, chunk=333)
    assert chunked.sum() == pytest.approx(whole.sum(), rel=0.05)


# ---------------------------------------------------------------------- sliced W1
def direction_grid(n=180):
    angles = np.arange(n) * math.pi / n
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_sliced_w1_of_identical_sets_is_zero():
    a = np.random.default_rng(0).normal(size=(700, 2))
    assert sliced_wasserstein1(a, a) == 0.0
    assert sliced_wasserstein1(a, a[::-1].copy()) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("shift", [(0.3, 0.0), (0.1, -0.2), (-1.0, 2.0)])
def test_sliced_w1_of_a_translation_is_the_mean_projected_shift(shift):
    a = np.random.default_rng(1).normal(size=(500, 2))
    shift = np.array(shift)
    expected = np.abs(direction_grid() @ shift).mean()
    got = sliced_wasserstein1(a, a + shift)
    assert got == pytest.approx(expected, rel=1e-9)
    # and the continuous average over directions, 2 |shift| / pi, to within the grid's error
    assert got == pytest.approx(2 * np.linalg.norm(shift) / math.pi, rel=1e-3)


def test_sliced_w1_equals_mean_of_exact_1d_w1_for_equal_sizes():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) * [1.5, 0.5] + 0.2
    dirs = direction_grid()
    exact = np.mean([wasserstein_distance(a @ u, b @ u) for u in dirs])
    assert sliced_wasserstein1(a, b) == pytest.approx(exact, rel=1e-9)
    assert sliced_wasserstein1(a, b) == pytest.approx(sliced_wasserstein1(b, a), rel=1e-12)


def test_sliced_w1_with_different_sizes_is_close_to_exact():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(400, 2)), rng.normal(size=(150, 2)) + [0.5, 0.0]
    dirs = direction_grid(36)
    exact = np.mean([wasserstein_distance(a @ u, b @ u) for u in dirs])
    assert sliced_wasserstein1(a, b, n_directions=36) == pytest.approx(exact, rel=0.05)


# ---------------------------------------------------------------------- chamfer
def test_chamfer_of_identical_sets_is_zero():
    a = np.random.default_rng(4).uniform(size=(200, 2))
    assert chamfer_distance(a, a) == 0.0


@pytest.mark.parametrize("delta", [(0.01, 0.0), (0.02, -0.03), (0.0, 0.049)])
def test_chamfer_of_a_translated_grid(delta):
    h = 0.1
    axis = np.arange(20) * h
    grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    delta = np.array(delta)
    # every point's nearest neighbour in the shifted grid is its own image, |delta| away, both ways
    assert chamfer_distance(grid, grid + delta) == pytest.approx(2 * np.linalg.norm(delta), rel=1e-9)


def test_chamfer_equals_brute_force():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(120, 2)), rng.normal(size=(90, 2)) + 0.3
    dist = cdist(a, b)
    assert chamfer_distance(a, b) == pytest.approx(dist.min(1).mean() + dist.min(0).mean(), rel=1e-12)


# ---------------------------------------------------------------------- sample quality
def test_sample_quality_of_roll_points_passes_and_a_blob_fails():
    good = sample_quality(swiss_roll(5000, seed=99))
    assert good.sw1 < QUALITY_SW1 and good.chamfer < QUALITY_CHAMFER and good.passes
    blob = np.random.default_rng(6).normal(size=(5000, 2)).astype(np.float32) * 0.7
    bad = sample_quality(blob)
    assert bad.sw1 > QUALITY_SW1 and not bad.passes
    d = good.to_dict()
    assert d == {"sw1": good.sw1, "chamfer": good.chamfer, "passes_quality_bar": True}


@pytest.mark.parametrize(
    "sw1, chamfer, near",
    [
        (QUALITY_SW1, QUALITY_CHAMFER, False),  # on the bar: it passes, so it is not a near miss
        (1.1 * QUALITY_SW1, 0.5 * QUALITY_CHAMFER, True),
        (1.2 * QUALITY_SW1, 1.2 * QUALITY_CHAMFER, True),
        (1.21 * QUALITY_SW1, QUALITY_CHAMFER, False),
        (QUALITY_SW1, 1.21 * QUALITY_CHAMFER, False),
        (math.inf, math.inf, False),
    ],
)
def test_near_bar_is_a_miss_by_at_most_the_factor_on_both_numbers(sw1, chamfer, near):
    assert SampleQuality(sw1=sw1, chamfer=chamfer).near_bar(1.2) is near


def test_score_is_the_larger_miss_in_bars():
    assert SampleQuality(sw1=QUALITY_SW1, chamfer=0.5 * QUALITY_CHAMFER).score == pytest.approx(1.0)
    assert SampleQuality(sw1=QUALITY_SW1, chamfer=3 * QUALITY_CHAMFER).score == pytest.approx(3.0)
    assert SampleQuality(sw1=math.inf, chamfer=math.inf).score == math.inf


def q(score_sw1: float, score_chamfer: float = 0.0) -> SampleQuality:
    return SampleQuality(sw1=score_sw1 * QUALITY_SW1, chamfer=score_chamfer * QUALITY_CHAMFER)


@pytest.mark.parametrize(
    "candidate, current, replaces",
    [
        (q(4.0), q(1.5), False),  # a run stopped after a handful of steps, against a trained model
        (q(1.5), q(4.0), True),  # better
        (q(1.5 + QUALITY_NOISE_BARS / 2), q(1.5), True),  # worse by less than a measurement's noise
        (q(1.5 + 2 * QUALITY_NOISE_BARS), q(1.5), False),
        (q(0.9), q(0.2), True),  # both pass the bar: no one could tell them apart in the figure
        (q(1.0, 2.0), q(1.0, 1.0), False),  # chamfer counts as much as SW1
        (q(math.inf, math.inf), q(50.0), False),  # samples that are not finite never replace a model
        (q(50.0), q(math.inf, math.inf), True),
        (q(math.inf, math.inf), q(math.inf, math.inf), True),  # nothing to lose
        (None, q(3.0), False),  # a run that never published a measured model
        (q(3.0), None, True),  # no model to lose
    ],
)
def test_better_model_keeps_a_model_from_being_replaced_by_a_clearly_worse_one(candidate, current, replaces):
    assert better_model(candidate, current) is replaces
    if candidate is not None and current is not None:
        assert candidate.worse_than(current) is not replaces


def test_sample_quality_compares_with_the_held_out_reference_every_time():
    """The reference roll is made once per process; each call still compares with exactly it."""
    samples = swiss_roll(3000, seed=5)
    reference = swiss_roll(5000, seed=2024)
    expected = (sliced_wasserstein1(samples, reference), chamfer_distance(samples, reference))
    first, again = sample_quality(samples), sample_quality(samples)
    assert (first.sw1, first.chamfer) == expected and first == again
    other = sample_quality(samples, n_reference=2000, reference_seed=3)
    assert other.sw1 == sliced_wasserstein1(samples, swiss_roll(2000, seed=3))


def test_sample_quality_of_non_finite_samples_is_infinite():
    x = swiss_roll(100, seed=1)
    x[3, 0] = np.nan
    q = sample_quality(x)
    assert q.sw1 == math.inf and q.chamfer == math.inf and not q.passes
    x[3, 0] = np.inf
    assert sample_quality(x).sw1 == math.inf


def test_sample_quality_bar_is_the_issue_bar():
    assert (QUALITY_SW1, QUALITY_CHAMFER) == (0.025, 0.08)
