"""Divergences and entropies of diagonal Gaussians, in nats; one copy for training and evaluation."""

from __future__ import annotations

import math

import torch

LOG_2PI_E = math.log(2.0 * math.pi * math.e)


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))) per dimension, in nats.

    Shapes broadcast. Summing over the last axis gives the KL of the diagonal Gaussians.
    """
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1.0)


def gaussian_entropy(variance: float, d: int = 2) -> float:
    """H(N(mu, variance I_d)) = d/2 log(2 pi e variance), in nats."""
    return 0.5 * d * (LOG_2PI_E + math.log(variance))
