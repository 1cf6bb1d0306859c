"""diffusion/gaussian_diffusion.py: q and p against closed forms, Bayes' rule on a grid, and statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion.config import DiffusionConfig, MeanParameterization
from diffusion.gaussian_diffusion import GaussianDiffusion
from diffusion.losses import normal_kl
from diffusion.model import ReverseNet
from diffusion.schedule import NoiseSchedule


def make_diffusion(parameterization="paper", **changes) -> GaussianDiffusion:
    config = DiffusionConfig(parameterization=parameterization, **changes)
    return GaussianDiffusion(NoiseSchedule.from_config(config), config.parameterization, "cpu")


# ---------------------------------------------------------------------- forward process q
def test_q_sample_moments_for_a_mixed_array_of_t(default_diffusion):
    d = default_diffusion
    s = d.schedule
    N = 200_000
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([0.8, -0.5]).expand(N, 2)
    choices = torch.tensor([0, 5, 25, 33, 40])
    t = choices[torch.randint(0, 5, (N,), generator=g)]
    torch.manual_seed(1)
    xt = d.q_sample(x0, t).double()
    assert xt.shape == (N, 2)
    for tv in choices.tolist():
        sel = xt[t == tv]
        n = sel.shape[0]
        mean = math.sqrt(s.alpha_bars[tv]) * np.array([0.8, -0.5])
        var = 1 - s.alpha_bars[tv]
        if tv == 0:
            np.testing.assert_allclose(sel.numpy(), np.broadcast_to(mean, sel.shape), atol=1e-7)
            continue
        got_mean = sel.mean(0).numpy()
        np.testing.assert_allclose(got_mean, mean, atol=6 * math.sqrt(var / n))
        got_var = sel.var(0).numpy()
        np.testing.assert_allclose(got_var, var, rtol=6 * math.sqrt(2 / n))


def test_q_sample_with_given_noise_is_the_closed_form(default_diffusion):
    s = default_diffusion.schedule
    x0 = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(2))
    noise = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([[2], [17], [40]])
    got = default_diffusion.q_sample(x0, t, noise)
    ab = torch.tensor(s.alpha_bars[[2, 17, 40]], dtype=torch.float64).view(3, 1, 1)
    expected = ab.sqrt() * x0.double() + (1 - ab).sqrt() * noise.double()
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-6)


def test_forward_trajectory_shape_dtype_and_start(default_diffusion):
    x0 = torch.randn(7, 2, generator=torch.Generator().manual_seed(4))
    traj = default_diffusion.forward_trajectory(x0, generator=torch.Generator().manual_seed(0))
    assert traj.shape == (41, 7, 2) and traj.dtype == torch.float32
    torch.testing.assert_close(traj[0], x0)
    again = default_diffusion.forward_trajectory(x0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(traj, again)
    other = default_diffusion.forward_trajectory(x0, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(traj[1:], other[1:])


def test_forward_trajectory_marginals_match_q_xt_given_x0(default_diffusion):
    s = default_diffusion.schedule
    N = 50_000
    point = np.array([0.6, -1.1])
    x0 = torch.tensor(point, dtype=torch.float32).expand(N, 2)
    traj = default_diffusion.forward_trajectory(x0, generator=torch.Generator().manual_seed(5)).double()
    for t in (30, 35, 40):
        var = 1 - s.alpha_bars[t]
        np.testing.assert_allclose(
            traj[t].mean(0).numpy(), math.sqrt(s.alpha_bars[t]) * point, atol=6 * math.sqrt(var / N)
        )
        np.testing.assert_allclose(traj[t].var(0).numpy(), var, rtol=6 * math.sqrt(2 / N))
    # each step is q(x_t | x_{t-1}): the increment has variance beta_t and is uncorrelated with x_{t-1}
    t = 38
    step = traj[t] - math.sqrt(s.alphas[t]) * traj[t - 1]
    np.testing.assert_allclose(step.var(0).numpy(), s.betas[t], rtol=6 * math.sqrt(2 / N))
    corr = np.corrcoef(step[:, 0].numpy(), traj[t - 1][:, 0].numpy())[0, 1]
    assert abs(corr) < 6 / math.sqrt(N)


def bayes_posterior_on_grid(s: NoiseSchedule, t: int, x0: float, xt: float) -> tuple[float, float]:
    """Mean and variance of q(x_{t-1} | x_t, x_0) = q(x_t | x_{t-1}) q(x_{t-1} | x_0) / Z, by brute force in 1-D."""
    a, b, ab_prev = s.alphas[t], s.betas[t], s.alpha_bars[t - 1]
    guess1, var1 = xt / math.sqrt(a), b / a  # where q(x_t | x_{t-1}) puts x_{t-1}
    guess2, var2 = math.sqrt(ab_prev) * x0, 1 - ab_prev  # where q(x_{t-1} | x_0) puts it
    scale = math.sqrt(min(var1, var2))
    y = np.arange(min(guess1, guess2) - 12 * scale, max(guess1, guess2) + 12 * scale, scale / 400)
    log_joint = -((xt - math.sqrt(a) * y) ** 2) / (2 * b) - (y - math.sqrt(ab_prev) * x0) ** 2 / (2 * (1 - ab_prev))
    w = np.exp(log_joint - log_joint.max())
    w /= w.sum()
    mean = float((w * y).sum())
    return mean, float((w * (y - mean) ** 2).sum())


@pytest.mark.parametrize("schedule", ["sigmoid", "paper", "linear", "cosine"])
def test_q_posterior_is_bayes_rule(schedule):
    d = make_diffusion(schedule=schedule)
    s = d.schedule
    rng = np.random.default_rng(6)
    for t in (2, 3, 10, 26, 33, 40):
        x0 = rng.normal(size=2) * 0.7
        # a plausible x_t for this x_0
        xt = math.sqrt(s.alpha_bars[t]) * x0 + math.sqrt(1 - s.alpha_bars[t]) * rng.normal(size=2)
        mean, var, logvar = d.q_posterior(
            torch.tensor(x0, dtype=torch.float32), torch.tensor(xt, dtype=torch.float32), torch.tensor(t)
        )
        for k in range(2):
            m_ref, v_ref = bayes_posterior_on_grid(s, t, x0[k], xt[k])
            assert float(var[k]) == pytest.approx(v_ref, rel=1e-3), (t, k)
            assert float(mean[k]) == pytest.approx(m_ref, abs=max(1e-5, 1e-3 * math.sqrt(v_ref))), (t, k)
            assert float(logvar[k]) == pytest.approx(math.log(v_ref), abs=1e-3)


def test_q_posterior_broadcasts_per_row(default_diffusion):
    x0 = torch.randn(3, 5, 2)
    xt = torch.randn(3, 5, 2)
    t = torch.tensor([2, 20, 40]).view(3, 1)
    mean, var, logvar = default_diffusion.q_posterior(x0, xt, t)
    assert mean.shape == var.shape == logvar.shape == (3, 5, 2)
    for k, tv in enumerate((2, 20, 40)):
        m1, v1, _ = default_diffusion.q_posterior(x0[k], xt[k], torch.tensor(tv))
        torch.testing.assert_close(mean[k], m1)
        torch.testing.assert_close(var[k], v1)


# ---------------------------------------------------------------------- reverse process p
def test_p_mean_variance_paper_parameterization_with_zero_readout(default_diffusion):
    s = default_diffusion.schedule
    model = ReverseNet(40, 16)  # readout starts at zero
    x = torch.randn(25, 2, generator=torch.Generator().manual_seed(7))
    for t in range(2, 41):
        mean, logvar = default_diffusion.p_mean_variance(model, x, t)
        torch.testing.assert_close(mean.double(), math.sqrt(s.alphas[t]) * x.double(), rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(
            logvar.double(), torch.full((25, 2), s.posterior_log_variance[t], dtype=torch.float64), rtol=1e-6, atol=1e-6
        )


def test_p_mean_variance_paper_parameterization_uses_the_heads_outputs(default_diffusion, randomize):
    s = default_diffusion.schedule
    model = ReverseNet(40, 16)
    randomize(model, seed=8)
    x = torch.randn(25, 2, generator=torch.Generator().manual_seed(9))
    for t in (2, 21, 40):
        out = model(x, t).double()
        mean, logvar = default_diffusion.p_mean_variance(model, x, t)
        expected_mean = math.sqrt(s.alphas[t]) * x.double() + math.sqrt(s.betas[t]) * out[:, :2]
        torch.testing.assert_close(mean.double(), expected_mean, rtol=1e-5, atol=1e-6)
        # variance = sigmoid(z + logit(posterior variance)), written out independently of the code
        pv = s.posterior_variance[t]
        expected_var = 1.0 / (1.0 + torch.exp(-(out[:, 2:] + math.log(pv / (1.0 - pv)))))
        torch.testing.assert_close(logvar.double(), torch.log(expected_var), rtol=1e-5, atol=1e-5)
        assert (logvar < 0).all()  # the variance is bounded by 1 whatever the weights


def test_p_mean_variance_tutorial_parameterization_is_the_raw_output(randomize):
    d = make_diffusion("tutorial")
    model = ReverseNet(40, 16)
    randomize(model, seed=10)
    x = torch.randn(10, 2)
    for t in (2, 40):
        out = model(x, t)
        mean, logvar = d.p_mean_variance(model, x, t)
        torch.testing.assert_close(mean, out[:, :2])
        torch.testing.assert_close(logvar, out[:, 2:])


@pytest.mark.parametrize("t", [0, 1, 41, -3])
def test_p_mean_variance_rejects_steps_without_a_learned_kernel(default_diffusion, t):
    with pytest.raises(ValueError):
        default_diffusion.p_mean_variance(ReverseNet(40, 4), torch.zeros(3, 2), t)


@pytest.mark.parametrize("parameterization", ["paper", "tutorial"])
def test_grouped_and_single_t_agree(parameterization, randomize):
    d = make_diffusion(parameterization, T=12)
    model = ReverseNet(12, 10)
    randomize(model, seed=11)
    x = torch.randn(11, 6, 2, generator=torch.Generator().manual_seed(12))
    m_range, lv_range = d.p_mean_variance_grouped(model, x, range(2, 13))
    m_tensor, lv_tensor = d.p_mean_variance_grouped(model, x, torch.arange(2, 13))
    torch.testing.assert_close(m_range, m_tensor)
    torch.testing.assert_close(lv_range, lv_tensor)
    for k, t in enumerate(range(2, 13)):
        m1, lv1 = d.p_mean_variance(model, x[k], t)
        torch.testing.assert_close(m_range[k], m1, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(lv_range[k], lv1, rtol=1e-5, atol=1e-6)
    ts = torch.tensor([12, 3])
    m_mix, _ = d.p_mean_variance_grouped(model, x[:2], ts)
    torch.testing.assert_close(m_mix[0], d.p_mean_variance(model, x[0], 12)[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(m_mix[1], d.p_mean_variance(model, x[1], 3)[0], rtol=1e-5, atol=1e-6)


def test_kl_terms_with_zero_readout_is_the_closed_form(default_diffusion):
    """p = N(sqrt(alpha_t) x_t, posterior variance): the KL is |mu_q - sqrt(alpha_t) x_t|^2 / (2 var)."""
    s = default_diffusion.schedule
    model = ReverseNet(40, 8)
    g = torch.Generator().manual_seed(13)
    x0 = torch.randn(39, 30, 2, generator=g)
    noise = torch.randn(39, 30, 2, generator=g)
    kl = default_diffusion.kl_terms(model, x0, range(2, 41), noise)
    assert kl.shape == (39, 30)
    x0d, nd = x0.double(), noise.double()
    for k, t in enumerate(range(2, 41)):
        xt = math.sqrt(s.alpha_bars[t]) * x0d[k] + math.sqrt(1 - s.alpha_bars[t]) * nd[k]
        mu_q = s.posterior_coef_x0[t] * x0d[k] + s.posterior_coef_xt[t] * xt
        expected = ((mu_q - math.sqrt(s.alphas[t]) * xt) ** 2).sum(-1) / (2 * s.posterior_variance[t])
        torch.testing.assert_close(kl[k].double(), expected, rtol=2e-3, atol=1e-4)


def test_kl_terms_match_normal_kl_of_q_and_p(randomize):
    d = make_diffusion(T=6)
    model = ReverseNet(6, 8)
    randomize(model, seed=14)
    x0 = torch.randn(5, 7, 2)
    noise = torch.randn(5, 7, 2)
    kl = d.kl_terms(model, x0, range(2, 7), noise)
    for k, t in enumerate(range(2, 7)):
        xt = d.q_sample(x0[k], torch.tensor(t), noise[k])
        qm, _, qlv = d.q_posterior(x0[k], xt, torch.tensor(t))
        pm, plv = d.p_mean_variance(model, xt, t)
        torch.testing.assert_close(kl[k], normal_kl(qm, qlv, pm, plv).sum(-1), rtol=1e-5, atol=1e-5)
    assert torch.all(kl >= 0)


def test_reverse_trajectory_shape_seed_and_fixed_last_step(default_diffusion, randomize):
    model = ReverseNet(40, 8)
    randomize(model, seed=15, scale=0.1)
    traj = default_diffusion.p_sample_trajectory(model, 33, seed=4)
    assert traj.shape == (41, 33, 2) and traj.dtype == torch.float32
    assert torch.isfinite(traj).all()
    noise = torch.randn((41, 33, 2), generator=torch.Generator().manual_seed(4))
    s = default_diffusion.schedule
    # t = 1: x_0 = sqrt(alpha_1) x_1 + sqrt(beta_1) z_0, the kernel the bound's -H_q(X_1|X_0) assumes
    torch.testing.assert_close(
        traj[0].double(),
        math.sqrt(s.alphas[1]) * traj[1].double() + math.sqrt(s.betas[1]) * noise[0].double(),
        rtol=0,
        atol=1e-6,
    )
    assert 0 < (traj[0] - traj[1]).abs().max() < 10 * math.sqrt(s.betas[1])
    assert torch.equal(traj, default_diffusion.p_sample_trajectory(model, 33, seed=4))
    assert not torch.equal(traj[0], default_diffusion.p_sample_trajectory(model, 33, seed=5)[0])
    assert torch.equal(traj[40], noise[40])  # x_T ~ N(0, I) from the seed


def test_reverse_trajectory_of_zero_readout_model_is_the_gaussian_chain(default_diffusion):
    """With f = 0 each step is x_{t-1} = sqrt(alpha_t) x_t + sqrt(posterior variance_t) z: rebuild it."""
    s = default_diffusion.schedule
    n, seed = 20, 9
    traj = default_diffusion.p_sample_trajectory(ReverseNet(40, 8), n, seed=seed).double()
    z = torch.randn((41, n, 2), generator=torch.Generator().manual_seed(seed)).double()
    x = z[40]
    for t in range(40, 1, -1):
        x = math.sqrt(s.alphas[t]) * x + math.sqrt(s.posterior_variance[t]) * z[t - 1]
        torch.testing.assert_close(traj[t - 1], x, rtol=1e-4, atol=1e-5)
    x = math.sqrt(s.alphas[1]) * x + math.sqrt(s.betas[1]) * z[0]
    torch.testing.assert_close(traj[0], x, rtol=1e-4, atol=1e-5)


def test_sampler_is_the_chain_the_bound_scores():
    """T = 2, beta = (beta_1, 1), data the point x_0 = 0: q(x_1 | x_2, x_0) = N(0, beta_1 I) does not
    depend on x_2, and the zero-readout network's p(x_1 | x_2) is exactly that, so every KL term is 0
    and K = -H_q(X_1|X_0) = -log(2 pi e beta_1) nats. The sampler must draw from the chain with the
    last step N(sqrt(alpha_1) x_1, beta_1 I) that K assumes: x_0 ~ N(0, beta_1 (2 - beta_1) I), whose
    log-density at the data, -log(2 pi beta_1 (2 - beta_1)), K must not exceed. (With the identity
    as the last step x_0 would be N(0, beta_1 I).)"""
    from diffusion.metrics import likelihood_bound

    beta_1 = 0.01
    d = GaussianDiffusion(NoiseSchedule.from_betas(np.array([beta_1, 1.0])), "paper", "cpu")
    model = ReverseNet(2, 8)
    bound = likelihood_bound(d, model, np.zeros((1000, 2), dtype=np.float32))
    k_nats = -math.log(2 * math.pi * math.e * beta_1)
    assert bound.bits == pytest.approx(k_nats / math.log(2), abs=1e-4)
    assert np.abs(bound.kl_per_t_bits).max() < 1e-5

    x0 = d.p_sample_trajectory(model, 100_000, seed=3)[0].double()
    variance = beta_1 * (2 - beta_1)
    assert x0.mean(0).abs().max() < 5 * math.sqrt(variance / 100_000)
    np.testing.assert_allclose(x0.var(0).numpy(), variance, rtol=0.02)
    assert k_nats <= -math.log(2 * math.pi * variance)


def test_drift_is_mean_minus_x_and_fixed_at_t_1(default_diffusion, randomize):
    model = ReverseNet(40, 8)
    randomize(model, seed=16)
    points = torch.randn(12, 2)
    for t in (2, 20, 40):
        mean, _ = default_diffusion.p_mean_variance(model, points, t)
        drift = default_diffusion.drift(model, points, t)
        assert drift.shape == (12, 2)
        torch.testing.assert_close(drift, mean - points)
    assert torch.equal(default_diffusion.drift(model, points, 0), torch.zeros(12, 2))
    alpha_1 = default_diffusion.schedule.alphas[1]
    torch.testing.assert_close(
        default_diffusion.drift(model, points, 1).double(), (math.sqrt(alpha_1) - 1) * points.double()
    )
    # zero readout, paper parameterisation: drift = (sqrt(alpha_t) - 1) x, pulling toward the origin
    s = default_diffusion.schedule
    fresh = ReverseNet(40, 8)
    torch.testing.assert_close(
        default_diffusion.drift(fresh, points, 40).double(),
        (math.sqrt(s.alphas[40]) - 1) * points.double(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_schedule_arrays_are_float32_tensors_of_the_schedule():
    d = make_diffusion(T=10, schedule="linear")
    s = d.schedule
    assert d.T == 10 and d.parameterization is MeanParameterization.PAPER
    for name, ref in [
        ("sqrt_alphas", np.sqrt(s.alphas)),
        ("sqrt_betas", np.sqrt(s.betas)),
        ("sqrt_alpha_bars", np.sqrt(s.alpha_bars)),
        ("sqrt_one_minus_alpha_bars", np.sqrt(1 - s.alpha_bars)),
        ("posterior_variance", s.posterior_variance),
    ]:
        tensor = getattr(d, name)
        assert tensor.dtype == torch.float32 and tensor.shape == (11,)
        np.testing.assert_allclose(tensor.numpy(), ref, rtol=1e-6)
