"""diffusion/metrics.py: the bound K where its answer is known in closed form, and the sample distances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import wasserstein_distance

from diffusion import datasets
from diffusion.config import DiffusionConfig
from diffusion.data import data_std, swiss_roll
from diffusion.gaussian_diffusion import GaussianDiffusion
from diffusion.metrics import (
    L_NULL_BITS,
    LN2,
    ON_DATA_TOLERANCE,
    QUALITY_NEIGHBOURS,
    QUALITY_NOISE_BARS,
    QUALITY_PRECISION,
    QUALITY_RECALL,
    QUALITY_SW1,
    QualityReference,
    SampleQuality,
    better_model,
    chamfer_distance,
    entropy_terms_nats,
    kl_per_t_nats,
    likelihood_bound,
    measure_quality,
    noise_floor,
    quality_reference,
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
def roll_parameter(points: np.ndarray) -> np.ndarray:
    """s of points on the roll r(s) = s (sin s, -cos s) / 10: |r| = s / 10."""
    return 10.0 * np.linalg.norm(points, axis=1)


def test_fresh_roll_points_score_at_the_noise_floor():
    floor = noise_floor()
    assert floor.precision == 1.0 and floor.recall == 1.0  # every point of a noise-free roll is on it
    assert floor.sw1 < 0.6 * QUALITY_SW1 and floor.passes
    assert floor.score < 0.6
    for seed in (99, 100):
        fresh = sample_quality(swiss_roll(5000, seed=seed))
        assert fresh.precision == 1.0 and fresh.recall == 1.0 and fresh.passes
        assert fresh.sw1 < QUALITY_SW1 / 1.5  # the SW1 bar sits well above the sampling noise


@pytest.mark.parametrize("shift", [(0.2, 0.0), (0.0, -0.25)])
def test_a_shifted_roll_fails_precision(shift):
    quality = sample_quality(swiss_roll(5000, seed=3) + np.array(shift, dtype=np.float32))
    assert quality.precision < 0.9 and not quality.passes


def test_a_blurred_roll_fails_precision_and_a_slight_blur_passes():
    """Gaussian blur of std sigma puts exp(-tol^2 / (2 sigma^2)) of the points beyond tol of their
    own curve point (2-D, isotropic), fewer beyond tol of the curve: precision tracks it."""
    x = swiss_roll(5000, seed=4).astype(np.float64)
    noise = np.random.default_rng(4).normal(size=x.shape)
    blurred = sample_quality(x + 0.08 * noise)
    assert blurred.precision < QUALITY_PRECISION - 0.02 and not blurred.passes
    assert blurred.precision > 1.0 - math.exp(-(ON_DATA_TOLERANCE**2) / (2 * 0.08**2))
    slight = sample_quality(x + 0.02 * noise)  # 6 sigma inside the tolerance
    assert slight.precision == 1.0 and slight.passes


def test_a_half_covering_sample_fails_recall_only():
    x = swiss_roll(20_000, seed=5)
    outer = x[roll_parameter(x) > 3.0 * math.pi][:5000]  # the outer half of the roll's parameter range
    quality = sample_quality(outer)
    assert quality.precision == 1.0  # every sample lies on the roll
    # sklearn's s is uniform, so about half the reference points lie on the missing half
    assert 0.4 < quality.recall < 0.6 and not quality.passes


def test_a_cloud_inside_the_roll_fails_in_proportion():
    """5% of the samples spread over the roll's middle: precision about 95%."""
    rng = np.random.default_rng(6)
    x = swiss_roll(4750, seed=6)
    cloud = rng.uniform(-0.3, 0.3, size=(250, 2)).astype(np.float32)
    near = quality_reference().tree.query_ball_point(cloud, ON_DATA_TOLERANCE, return_length=True)
    off = near == 0
    quality = sample_quality(np.concatenate([x, cloud]))
    assert quality.precision == pytest.approx(1.0 - off.sum() / 5000, abs=1e-9)
    assert not quality.passes


def test_precision_and_recall_equal_the_brute_force_definition():
    """On small sets, against a full distance matrix: a sample is on the data when some data
    point's ball (radius max(k-NN distance, tolerance)) holds it; a data point is covered when a
    sample lies in its ball."""
    rng = np.random.default_rng(7)
    ref = rng.uniform(-2, 2, size=(300, 2))  # an area: the k-NN radius beats the tolerance here
    samples = rng.normal(size=(200, 2))
    reference = QualityReference.of(ref)
    quality = measure_quality(samples, reference)
    knn = np.sort(cdist(ref, ref), axis=1)[:, QUALITY_NEIGHBOURS]
    radius = np.maximum(knn, reference.tolerance)
    assert (knn > reference.tolerance).any() and (knn < reference.tolerance).any()
    dist = cdist(samples, ref)
    assert quality.precision == pytest.approx((dist <= radius).any(axis=1).mean(), abs=1e-12)
    assert quality.recall == pytest.approx((dist <= radius).any(axis=0).mean(), abs=1e-12)
    assert quality.chamfer == pytest.approx(chamfer_distance(samples, ref), rel=1e-12)
    assert quality.sw1 == sliced_wasserstein1(samples, ref)


def test_the_tolerance_and_sw1_bar_scale_with_the_data_spread():
    """One rule for any data: the same shapes at twice the size score the same."""
    x = swiss_roll(5000, seed=8).astype(np.float64)
    ref = swiss_roll(5000, seed=9).astype(np.float64)
    blurred = x + 0.08 * np.random.default_rng(8).normal(size=x.shape)
    small, large = sample_quality(blurred, reference=ref), sample_quality(2 * blurred, reference=2 * ref)
    assert small.tolerance == pytest.approx(ON_DATA_TOLERANCE, rel=0.02)
    assert large.tolerance == pytest.approx(2 * small.tolerance, rel=1e-9)
    assert large.sw1_bar == pytest.approx(2 * small.sw1_bar, rel=1e-9)
    assert (large.precision, large.recall) == (small.precision, small.recall)
    assert large.score == pytest.approx(small.score, rel=1e-9)


@pytest.mark.parametrize("name", ["moons", "gaussians", "checkerboard", "noisy_roll"])
def test_every_data_set_passes_its_own_fresh_points_and_fails_a_blob(name):
    floor = noise_floor(name)
    assert floor.passes and floor.precision > 0.995 and floor.recall > 0.995, floor
    blob = np.random.default_rng(9).normal(size=(5000, 2)) * 0.3
    assert not sample_quality(blob, data=name).passes


def test_the_unit_scale_is_measured_in_the_data_own_coordinates():
    dataset = datasets.get("moons")
    points, _ = dataset.sample_model(5000, 11, "unit")
    assert sample_quality(points, data="moons", data_scale="unit").passes
    assert not sample_quality(points, data="moons").passes  # read at the tutorial scale: wrong size


def test_sample_quality_compares_with_the_held_out_reference_every_time():
    samples = swiss_roll(5000, seed=7)
    reference = swiss_roll(5000, seed=2024)
    first, again = sample_quality(samples), sample_quality(samples)
    assert first.sw1 == sliced_wasserstein1(samples, reference)
    assert first.chamfer == pytest.approx(chamfer_distance(samples, reference), rel=1e-12)
    assert first == again
    other = sample_quality(samples, n_reference=2000, reference_seed=3)
    assert other.sw1 == sliced_wasserstein1(samples, swiss_roll(2000, seed=3))


def test_sample_quality_of_non_finite_samples_is_infinite():
    x = swiss_roll(100, seed=0).copy()
    x[3, 1] = np.nan
    q = sample_quality(x)
    assert q.sw1 == math.inf and q.score == math.inf and q.precision == 0.0 and not q.passes
    x[3, 1] = np.inf
    assert sample_quality(x).sw1 == math.inf


def test_to_dict_and_from_dict_round_trip():
    good = sample_quality(swiss_roll(5000, seed=99))
    d = good.to_dict()
    assert {"precision", "recall", "sw1", "chamfer", "passes_quality_bar"} <= set(d)
    assert d["passes_quality_bar"] is True
    assert SampleQuality.from_dict(d) == good


def q(score_precision: float, score_sw1: float = 0.0, score_recall: float = 0.0) -> SampleQuality:
    """A quality scoring the given number of bars on each part."""
    return SampleQuality(
        precision=1.0 - score_precision * (1.0 - QUALITY_PRECISION),
        recall=1.0 - score_recall * (1.0 - QUALITY_RECALL),
        sw1=score_sw1 * QUALITY_SW1,
        chamfer=0.01,
    )


def test_the_score_is_the_worst_part_in_bars():
    assert q(1.0, 0.5).score == pytest.approx(1.0) and q(1.0, 0.5).passes
    assert q(0.5, 3.0).score == pytest.approx(3.0) and not q(0.5, 3.0).passes
    assert q(0.2, 0.2, 2.0).score == pytest.approx(2.0) and not q(0.2, 0.2, 2.0).passes
    assert SampleQuality(0.0, 0.0, math.inf, math.inf).score == math.inf


@pytest.mark.parametrize(
    "quality, near",
    [(q(1.0), False), (q(1.1, 0.5), True), (q(1.2, 1.2), True), (q(1.21), False), (q(0.5, 1.21), False)],
)
def test_near_bar_is_a_miss_by_at_most_the_factor(quality, near):
    assert quality.near_bar(1.2) is near


@pytest.mark.parametrize(
    "candidate, current, replaces",
    [
        (q(0.5), q(0.2), True),  # both pass: never clearly worse
        (q(1.5 + QUALITY_NOISE_BARS / 2), q(1.5), True),  # worse by less than a measurement's noise
        (q(1.5 + 2 * QUALITY_NOISE_BARS), q(1.5), False),
        (q(3.0), q(0.5), False),
        (q(1.0, 2.0), q(1.0, 1.0), False),  # SW1 counts as much as precision
        (q(0.0, 0.0, 3.0), q(0.5), False),  # and recall
        (SampleQuality(0.0, 0.0, math.inf, math.inf), q(5.0), False),
        (q(5.0), SampleQuality(0.0, 0.0, math.inf, math.inf), True),
        (None, q(0.5), False),
        (q(5.0), None, True),
    ],
)
def test_better_model_keeps_a_model_from_being_replaced_by_a_clearly_worse_one(candidate, current, replaces):
    assert better_model(candidate, current) is replaces
    if candidate is not None and current is not None:
        assert candidate.worse_than(current) is not replaces


def test_the_noise_of_a_measurement_is_within_the_noise_margin():
    """Two draws of samples from one distribution (a roll with 4% of points in a cloud, near the
    bar) differ in score by less than QUALITY_NOISE_BARS."""
    rng = np.random.default_rng(12)
    scores = []
    for seed in range(4):
        x = swiss_roll(4900, seed=20 + seed)
        cloud = rng.uniform(-0.25, 0.25, size=(100, 2)).astype(np.float32)
        scores.append(sample_quality(np.concatenate([x, cloud])).score)
    assert max(scores) - min(scores) < QUALITY_NOISE_BARS


def test_the_bar_in_words():
    """The README's sentence: 99% of samples lie on the roll, the samples cover 99% of it."""
    assert (QUALITY_PRECISION, QUALITY_RECALL, ON_DATA_TOLERANCE) == (0.99, 0.99, 0.12)
