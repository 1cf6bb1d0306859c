"""diffusion.inside: paths of chosen points, densities of q(x_t) and p(x_t), and the kernel probe,
each against a closed form or the chain the pages animate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion import inside, views
from diffusion.config import DiffusionConfig
from diffusion.data import roll_at, swiss_roll
from diffusion.pipeline import DiffusionPipeline
from diffusion.schedule import NoiseSchedule

N, SEED = 300, 3


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # The machine's two cores are shared: torch's intra-op threads would spin against each other.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def pipeline() -> DiffusionPipeline:
    return DiffusionPipeline.untrained(DiffusionConfig(T=10, width=8, device="cpu"))


@pytest.fixture(scope="module")
def tutorial_schedule() -> NoiseSchedule:
    return NoiseSchedule.from_config(DiffusionConfig(device="cpu"))  # T = 40, sigmoid 1e-5..0.3


# ---------------------------------------------------------------------- paths
def test_forward_paths_start_on_the_chosen_roll_points_and_are_the_animated_chain(pipeline):
    idx = np.array([0, 7, 123, N - 1])
    paths = inside.forward_paths(pipeline, N, SEED, idx)
    assert paths.shape == (pipeline.T + 1, 4, 2) and paths.dtype == np.float32
    np.testing.assert_array_equal(paths[0], swiss_roll(N, seed=SEED)[idx])
    view = views.forward_view(pipeline.config, N, SEED)
    np.testing.assert_array_equal(paths[view.t], view.points[:, idx])


def test_reverse_paths_start_at_the_chosen_noise_and_are_the_animated_chain(pipeline):
    idx = inside.random_indices(N, 5, seed=1)
    paths = inside.reverse_paths(pipeline, N, SEED, idx)
    T = pipeline.T
    # x_T is the last row of the standard normals p_sample_trajectory draws from its seed.
    x_T = torch.randn((T + 1, N, 2), generator=torch.Generator().manual_seed(SEED))[T].numpy()
    np.testing.assert_array_equal(paths[T], x_T[idx])
    view = views.reverse_view(pipeline, N, SEED)
    np.testing.assert_array_equal(paths[view.t], view.points[:, idx])
    np.testing.assert_array_equal(paths, inside.reverse_paths(pipeline, N, SEED, idx))  # same seed, same paths


def test_points_picked_by_a_lasso_at_any_frame_are_followed_through_it(pipeline):
    traj, _ = pipeline.forward_trajectory(N, SEED)
    lasso = np.array([[-1.5, -1.5], [1.5, -1.5], [0.0, 0.0], [1.5, 1.5], [-1.5, 1.5]])
    for t in (0, 5, pipeline.T):
        idx = inside.indices_in_polygon(traj[t], lasso)
        assert 0 < len(idx) < N
        paths = inside.select_paths(traj, idx)
        assert len(inside.indices_in_polygon(paths[t], lasso)) == len(idx)
        np.testing.assert_array_equal(paths[t], traj[t, idx])


def test_random_indices_are_distinct_sorted_and_reproducible():
    a = inside.random_indices(2000, 50, seed=9)
    assert a.shape == (50,) and a.dtype == np.int64 and len(np.unique(a)) == 50
    assert np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 2000
    np.testing.assert_array_equal(a, inside.random_indices(2000, 50, seed=9))
    assert not np.array_equal(a, inside.random_indices(2000, 50, seed=10))
    assert len(inside.random_indices(5, 5)) == 5 and len(inside.random_indices(5, 0)) == 0
    for k in (6, -1, 2.5, True):
        with pytest.raises(ValueError):
            inside.random_indices(5, k)


def test_bad_indices_are_refused(pipeline):
    traj = np.zeros((3, 10, 2), dtype=np.float32)
    for bad in ([10], [-1], [[1, 2]], [0.5]):
        with pytest.raises(ValueError):
            inside.select_paths(traj, bad)
    assert inside.select_paths(traj, np.array([], dtype=np.int64)).shape == (3, 0, 2)


# ---------------------------------------------------------------------- point in polygon
def _uniform(n: int, low: float, high: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=(n, 2))


def test_points_in_a_square_either_orientation_closed_or_not():
    pts = _uniform(5000, -2, 2)
    expected = np.flatnonzero((np.abs(pts) < 1).all(axis=1))
    square = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float)
    np.testing.assert_array_equal(inside.indices_in_polygon(pts, square), expected)
    np.testing.assert_array_equal(inside.indices_in_polygon(pts, square[::-1]), expected)
    np.testing.assert_array_equal(inside.indices_in_polygon(pts, np.vstack([square, square[:1]])), expected)
    np.testing.assert_array_equal(inside.indices_in_polygon(pts, square, chunk=7), expected)
    np.testing.assert_array_equal(inside.indices_in_box(pts, (1, -1), (-1, 1)), expected)


def test_points_in_a_concave_polygon():
    # An L: [0, 2] x [0, 1] joined to [0, 1] x [0, 2]; the notch [1, 2] x [1, 2] is outside.
    ell = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]], dtype=float)
    pts = _uniform(5000, -0.5, 2.5, seed=1)
    x, y = pts[:, 0], pts[:, 1]
    in_ell = ((x > 0) & (x < 2) & (y > 0) & (y < 1)) | ((x > 0) & (x < 1) & (y > 0) & (y < 2))
    np.testing.assert_array_equal(inside.indices_in_polygon(pts, ell), np.flatnonzero(in_ell))
    # A ray from a point level with the notch's vertices crosses the polygon's edges more than once.
    probes = np.array([[0.5, 1.5], [1.5, 1.5], [1.5, 0.5], [0.5, 0.5], [-0.1, 1.5], [np.nan, 0.5], [np.inf, 0.5]])
    np.testing.assert_array_equal(inside.indices_in_polygon(probes, ell), [0, 2, 3])


def test_a_polygon_needs_three_vertices():
    with pytest.raises(ValueError):
        inside.indices_in_polygon(np.zeros((3, 2)), np.array([[0, 0], [1, 1]]))
    with pytest.raises(ValueError):
        inside.indices_in_polygon(np.zeros((3, 3)), np.array([[0, 0], [1, 0], [1, 1]]))


# ---------------------------------------------------------------------- densities
def test_chain_densities_are_normalised_histograms_with_y_as_rows():
    pts = np.array(
        [[[1.5, -1.5], [1.5, -1.5], [0.1, 0.1], [5.0, 0.0]], [[-1.9, 1.9], [0.0, 0.0], [0.1, 0.1], [np.nan, 0]]],
        dtype=np.float32,
    )
    d = inside.chain_densities(pts, bins=4, extent=2.0)
    assert d.shape == (2, 4, 4) and d.dtype == np.float32
    area = 1.0  # bins of width 1 on [-2, 2]
    assert d[0, 0, 3] == pytest.approx(2 / 4 / area)  # x = 1.5 is column 3, y = -1.5 is row 0
    assert d[1, 3, 0] == pytest.approx(1 / 4)
    np.testing.assert_allclose(d.sum(axis=(1, 2)) * area, [0.75, 0.75])  # the outside and NaN points are lost
    cloud = np.random.default_rng(0).normal(0, 0.6, size=(3, 2000, 2))
    dens = inside.chain_densities(cloud, bins=64)
    for f in range(3):
        counts, _, _ = np.histogram2d(cloud[f, :, 1], cloud[f, :, 0], bins=64, range=[[-2, 2], [-2, 2]])
        np.testing.assert_allclose(dens[f] * 2000 * (4 / 64) ** 2, counts, atol=1e-3)


def test_divergence_of_q_against_an_independent_q_sits_on_the_floor_and_a_shifted_p_above(pipeline):
    n = 2000
    floor = inside.noise_floor(pipeline, n, seed=0)
    assert floor.shape == (pipeline.T + 1,) and floor.dtype == np.float32
    assert np.all(floor > 0) and np.all(floor < 0.08)
    q, _ = pipeline.forward_trajectory(n, 0)
    other, _ = pipeline.forward_trajectory(n, 11)
    same = inside.density_divergence(q, other)
    # Another draw of the floor: the same size at every t, frame by frame within its spread.
    assert 0.5 < same.mean() / floor.mean() < 2.0
    assert np.all(same < 3.0 * floor.max())
    shifted = inside.density_divergence(q, other + np.float32(0.3))
    # A shift d moves each projection by |d cos(angle)|: SW1 is about 0.3 * 2 / pi.
    assert np.all(shifted > 0.15) and np.all(shifted > 5 * floor)
    broken = other.copy()
    broken[3, 0, 0] = np.nan
    assert np.isinf(inside.density_divergence(q, broken)[3])


def test_density_view_of_the_animated_chains(pipeline):
    view = inside.density_view(pipeline, n=500, seed=2, bins=32)
    F = pipeline.T + 1
    np.testing.assert_array_equal(view.t, views.frame_times(pipeline.T))
    assert view.q.shape == view.p.shape == (F, 32, 32) and view.q.dtype == view.p.dtype == np.float32
    assert view.divergence.shape == view.noise_floor.shape == (F,)
    assert view.payload_bytes == 2 * F * 32 * 32 * 4 + 2 * F * 4
    q, _ = pipeline.forward_trajectory(500, 2)
    np.testing.assert_array_equal(view.q, inside.chain_densities(q[view.t], bins=32))
    cached = inside.density_view(pipeline, n=500, seed=2, bins=32, q_trajectory=q)
    np.testing.assert_array_equal(cached.noise_floor, view.noise_floor)
    np.testing.assert_array_equal(cached.divergence, view.divergence)


# ---------------------------------------------------------------------- the kernel
def test_true_reverse_step_on_the_data_at_small_t_goes_back_to_the_data(tutorial_schedule):
    s = tutorial_schedule
    data = swiss_roll(20_000, seed=0).astype(np.float64)
    for t in (1, 2, 3):
        for roll_s in (6.0, 9.0, 12.5):
            x = roll_at(np.array(roll_s))  # exactly on the curve
            weights, means, var = inside.true_reverse_step(s, x, t, data)
            assert weights.shape == (20_000,) and means.shape == (20_000, 2)
            assert weights.sum() == pytest.approx(1.0) and var == pytest.approx(s.posterior_variance[t])
            mean, cov = inside.mixture_moments(weights, means, var)
            nearest = data[np.argmin(((data - mean) ** 2).sum(axis=1))]
            # Within a few posterior stds; at t = 1 the posterior is a point mass, so use q(x_1|x_0)'s.
            std = math.sqrt(max(s.posterior_variance[t], s.betas[1]))
            assert np.linalg.norm(mean - nearest) < 3 * std
            assert np.linalg.eigvalsh(cov).max() < 10 * s.betas[: t + 1].sum() < 1e-3


@pytest.mark.parametrize("t", [20, 25, 33, 40])
def test_true_reverse_step_of_gaussian_data_matches_its_closed_form(tutorial_schedule, t):
    s = tutorial_schedule
    m, sd = np.array([0.3, -0.2]), 0.5
    x0 = m + sd * np.random.default_rng(t).standard_normal((20_000, 2))
    x = np.array([0.5, -0.3])
    # q(x_t | x_0) = N(sqrt(ab) x_0, (1 - ab) I) and x_0 ~ N(m, sd^2 I), so q(x_0 | x_t) is Gaussian:
    # precision 1/sd^2 + ab/(1 - ab), mean v (m/sd^2 + sqrt(ab) x_t/(1 - ab)). Averaging the
    # posterior N(c0 x_0 + c1 x_t, pv I) over it: N(c0 E[x_0|x_t] + c1 x_t, (pv + c0^2 v) I).
    ab, c0, c1, pv = s.alpha_bars[t], s.posterior_coef_x0[t], s.posterior_coef_xt[t], s.posterior_variance[t]
    v = 1.0 / (1.0 / sd**2 + ab / (1.0 - ab))
    e_x0 = v * (m / sd**2 + math.sqrt(ab) * x / (1.0 - ab))
    want_mean, want_var = c0 * e_x0 + c1 * x, pv + c0**2 * v
    weights, means, var = inside.true_reverse_step(s, x, t, x0)
    mean, cov = inside.mixture_moments(weights, means, var)
    # Monte Carlo error of a self-normalised weighted average over ess effective points.
    ess = 1.0 / np.square(weights).sum()
    assert ess > 100
    np.testing.assert_allclose(mean, want_mean, atol=5 * c0 * math.sqrt(v / ess) + 1e-12)
    np.testing.assert_allclose(np.diag(cov), want_var, atol=5 * c0**2 * v * math.sqrt(2 / ess) + 1e-12)
    assert abs(cov[0, 1]) < 5 * c0**2 * v / math.sqrt(ess) + 1e-12


def test_true_reverse_step_far_from_the_data_still_has_weights(tutorial_schedule):
    data = swiss_roll(1000, seed=0)
    weights, _, _ = inside.true_reverse_step(tutorial_schedule, np.array([40.0, -40.0]), 2, data)
    assert np.isfinite(weights).all() and weights.sum() == pytest.approx(1.0)
    for bad in ((np.array([0.0, 0.0]), 0), (np.array([0.0, 0.0]), 41), (np.array([np.nan, 0.0]), 2)):
        with pytest.raises(ValueError):
            inside.true_reverse_step(tutorial_schedule, bad[0], bad[1], data)


def test_learned_kernel_is_the_network_step_and_the_fixed_last_step(pipeline):
    x = np.array([0.4, -0.7])
    xt = torch.tensor(x, dtype=torch.float32).view(1, 2)
    for t in (2, 6, pipeline.T):
        mean, var = inside.learned_kernel(pipeline, x, t)
        with torch.inference_mode():
            want_mean, want_logvar = pipeline.diffusion.p_mean_variance(pipeline.model, xt, t)
        assert mean.shape == var.shape == (2,) and mean.dtype == var.dtype == np.float32
        np.testing.assert_allclose(mean, want_mean[0].numpy(), rtol=1e-6)
        np.testing.assert_allclose(var, torch.exp(want_logvar[0]).numpy(), rtol=1e-6)
    s = pipeline.diffusion.schedule
    mean, var = inside.learned_kernel(pipeline, x, 1)
    np.testing.assert_allclose(mean, math.sqrt(s.alphas[1]) * x, rtol=1e-6)
    np.testing.assert_allclose(var, [s.betas[1]] * 2, rtol=1e-6)
    with pytest.raises(ValueError):
        inside.learned_kernel(pipeline, x, 0)


def test_mixture_moments_of_two_components():
    mean, cov = inside.mixture_moments(np.array([0.25, 0.75]), np.array([[0.0, 0.0], [2.0, 4.0]]), 0.1)
    np.testing.assert_allclose(mean, [1.5, 3.0])
    # Spread of the means: 0.25 * 0.75 * d d^T with d = (2, 4).
    np.testing.assert_allclose(cov, 0.1875 * np.array([[4.0, 8.0], [8.0, 16.0]]) + 0.1 * np.eye(2))


def test_covariance_ellipse_is_the_n_std_contour():
    mean, cov = np.array([0.5, -1.0]), np.array([[0.09, 0.05], [0.05, 0.04]])
    ring = inside.covariance_ellipse(mean, cov, n_std=2, points=50)
    assert ring.shape == (50, 2) and ring.dtype == np.float32
    np.testing.assert_allclose(ring[0], ring[-1], atol=1e-6)
    d = ring.astype(np.float64) - mean
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d), 4.0, rtol=1e-4)
    flat = inside.covariance_ellipse(mean, np.zeros((2, 2)))
    np.testing.assert_allclose(flat, np.broadcast_to(mean, flat.shape), atol=1e-7)


def test_probe_kernel_puts_both_steps_side_by_side(pipeline):
    probe = inside.probe_kernel(pipeline, np.array([0.2, 0.9]), 5, n_data=2000)
    assert probe.learned_ellipse.shape == probe.true_ellipse.shape == (64, 2)
    assert probe.true_cov.shape == (2, 2) and 1 <= probe.effective_points <= 2000
    mean, var = inside.learned_kernel(pipeline, np.array([0.2, 0.9]), 5)
    np.testing.assert_array_equal(probe.learned_mean, mean)
    np.testing.assert_array_equal(probe.learned_var, var)
