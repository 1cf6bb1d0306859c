"""The tutorial's 2-D Swiss roll: sklearn's `make_swiss_roll(noise=0)`, columns (z, -x) / 10.

Points lie exactly on the curve r(s) = s (sin s, -cos s) / 10, s uniform in [1.5 pi, 4.5 pi].
`swiss_roll` is sklearn's own generator (held-out sets, references); `swiss_roll_torch` draws the
same distribution with torch on the training device, because a fresh batch every step must not
cost a host round trip.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.datasets import make_swiss_roll

# How the roll is scaled: "tutorial" is sklearn's roll divided by 10, the only scale so far.
DATA_SCALE = "tutorial"
ROLL_MIN = 1.5 * math.pi
ROLL_MAX = 4.5 * math.pi


def roll_at(s):
    """The roll's point r(s) = s (sin s, -cos s) / 10 for parameters s (numpy array or torch
    tensor, any shape), shape (*s.shape, 2). sklearn's roll is (s cos s, ., s sin s); the tutorial
    keeps its columns (z, -x) and divides by 10."""
    if isinstance(s, torch.Tensor):
        return torch.stack((s * torch.sin(s), -s * torch.cos(s)), dim=-1) / 10.0
    return np.stack((s * np.sin(s), -s * np.cos(s)), axis=-1) / 10.0


def swiss_roll(n: int, seed: int | None = 0) -> np.ndarray:
    """(n, 2) float32 points of the tutorial's roll, from sklearn (the reference generator)."""
    return swiss_roll_with_position(n, seed)[0]


def swiss_roll_with_position(n: int, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 2) and their position along the roll in [0, 1] (for colouring the animation)."""
    x, s = make_swiss_roll(n, noise=0.0, random_state=seed)
    points = (x[:, [2, 0]] / 10.0 * np.array([1.0, -1.0])).astype(np.float32)
    return points, ((s - ROLL_MIN) / (ROLL_MAX - ROLL_MIN)).astype(np.float32)


def swiss_roll_torch(
    shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str = "cpu", stratified: bool = False
) -> torch.Tensor:
    """Roll points of shape (*shape, 2), float32, drawn with `generator` on `device`.

    stratified: along the last axis, point i is uniform on the i-th of n equal slices of s
    (n = shape[-1]) instead of on the whole roll, so each row covers the roll evenly. A mean over a
    row has the same expectation as with i.i.d. points and a smaller variance: a training batch
    whose loss averages over its rows gets the same gradient on average, with less noise.
    """
    u = torch.rand(shape, generator=generator, device=device)
    if stratified:
        n = shape[-1]
        u = (torch.arange(n, device=u.device, dtype=u.dtype) + u) / n
    s = ROLL_MIN + (ROLL_MAX - ROLL_MIN) * u
    return roll_at(s)


_DATA_STD: np.ndarray | None = None


def data_std() -> np.ndarray:
    """Per-axis standard deviation of the roll (about (0.695, 0.662)), from 200,000 fixed points.

    Used to move the bound from data scale to unit variance, as the paper's Table 1 reports it.
    """
    global _DATA_STD
    if _DATA_STD is None:
        _DATA_STD = swiss_roll(200_000, seed=12345).astype(np.float64).std(axis=0)
    return _DATA_STD
