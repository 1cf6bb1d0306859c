"""diffusion/losses.py: Gaussian KL and entropy against closed forms, torch.distributions and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from diffusion.losses import LOG_2PI_E, gaussian_entropy, normal_kl


def test_kl_of_equal_gaussians_is_zero():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(100, 2, generator=g)
    logvar = torch.randn(100, 2, generator=g) * 3
    kl = normal_kl(mean, logvar, mean, logvar)
    assert kl.shape == (100, 2)
    assert torch.all(kl.abs() < 1e-6)


def test_kl_matches_closed_form_in_float64():
    rng = np.random.default_rng(1)
    m1, m2 = rng.normal(size=200), rng.normal(size=200)
    s1, s2 = np.exp(rng.normal(size=200)), np.exp(rng.normal(size=200))
    closed = np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    got = normal_kl(*(torch.tensor(a) for a in (m1, 2 * np.log(s1), m2, 2 * np.log(s2))))
    np.testing.assert_allclose(got.numpy(), closed, rtol=1e-10, atol=1e-12)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(2)
    m1, m2 = torch.randn(50, 2, generator=g), torch.randn(50, 2, generator=g)
    lv1, lv2 = torch.randn(50, 2, generator=g), torch.randn(50, 2, generator=g)
    p = torch.distributions.Normal(m1, torch.exp(0.5 * lv1))
    q = torch.distributions.Normal(m2, torch.exp(0.5 * lv2))
    torch.testing.assert_close(
        normal_kl(m1, lv1, m2, lv2), torch.distributions.kl_divergence(p, q), rtol=1e-5, atol=1e-6
    )


def test_kl_monte_carlo():
    m1, lv1, m2, lv2 = 0.3, math.log(0.5), -0.4, math.log(2.0)
    g = torch.Generator().manual_seed(3)
    x = m1 + math.sqrt(0.5) * torch.randn(400_000, generator=g, dtype=torch.float64)
    logp = torch.distributions.Normal(m1, math.sqrt(0.5)).log_prob(x)
    logq = torch.distributions.Normal(m2, math.sqrt(2.0)).log_prob(x)
    estimate = float((logp - logq).mean())
    stderr = float((logp - logq).std()) / math.sqrt(x.numel())
    exact = float(normal_kl(*(torch.tensor(v, dtype=torch.float64) for v in (m1, lv1, m2, lv2))))
    assert abs(estimate - exact) < 5 * stderr


def test_kl_is_nonnegative_and_not_symmetric():
    g = torch.Generator().manual_seed(4)
    args = [torch.randn(10_000, generator=g) * s for s in (2, 3, 2, 3)]
    kl = normal_kl(*args)
    assert torch.all(kl >= -1e-6)
    reverse = normal_kl(args[2], args[3], args[0], args[1])
    assert not torch.allclose(kl, reverse)


def test_kl_broadcasts_and_sums_over_dimensions():
    mean1 = torch.zeros(5, 1, 2)
    kl = normal_kl(mean1, torch.zeros(2), torch.ones(3, 2), torch.zeros(()))
    assert kl.shape == (5, 3, 2)
    # each dimension: mean offset 1, unit variances -> 1/2 nat; the diagonal 2-D KL is the sum
    torch.testing.assert_close(kl.sum(-1), torch.ones(5, 3))


def test_kl_is_differentiable():
    mean = torch.zeros(3, requires_grad=True)
    logvar = torch.zeros(3, requires_grad=True)
    normal_kl(torch.ones(3), torch.zeros(3), mean, logvar).sum().backward()
    torch.testing.assert_close(mean.grad, -torch.ones(3))
    torch.testing.assert_close(logvar.grad, -0.5 * torch.ones(3))  # d/dlv of 0.5 (lv + (1+1) e^-lv)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("variance", [1e-5, 0.3, 1.0, 4.0])
def test_gaussian_entropy_closed_form(variance, d):
    expected = multivariate_normal(mean=np.zeros(d), cov=variance * np.eye(d)).entropy()
    assert gaussian_entropy(variance, d) == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert gaussian_entropy(variance, d) == pytest.approx(0.5 * d * math.log(2 * math.pi * math.e * variance))


def test_default_dimension_is_two_and_constant():
    assert gaussian_entropy(1.0) == pytest.approx(math.log(2 * math.pi * math.e))
    assert LOG_2PI_E == pytest.approx(math.log(2 * math.pi) + 1)
