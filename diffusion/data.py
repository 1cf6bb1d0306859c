"""The tutorial's 2-D Swiss roll: sklearn's `make_swiss_roll(noise=0)`, columns (z, -x) / 10.

Points lie exactly on the curve r(s) = s (sin s, -cos s) / 10, s uniform in [1.5 pi, 4.5 pi].
`swiss_roll` is sklearn's own generator (held-out sets, references); `swiss_roll_torch` draws the
same distribution with torch on the training device, because a fresh batch every step must not
cost a host round trip.

Two scales (`DiffusionConfig.data_scale`): "tutorial" is the roll above; "unit" is the paper's
Table 1 protocol, x_unit = (x_tutorial - m) / c with m the roll's mean and c one constant, so that
the variance per axis averages 1 (m and c from 200,000 fixed points, `unit_transform`). Every
generator here takes `scale`; `to_tutorial` maps points back for what is measured at the
tutorial's scale (the quality bar).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.datasets import make_swiss_roll

from .config import DataScale

# The default scale: sklearn's roll divided by 10, as the tutorial trains it.
DATA_SCALE = DataScale.TUTORIAL.value
# Plots span [-extent, extent]^2 in the data's own coordinates: the tutorial's figure uses [-2, 2],
# and the unit roll is the tutorial's divided by c ~ 0.68, so its axes grow by about 1/c.
PLOT_EXTENTS = {DataScale.TUTORIAL: 2.0, DataScale.UNIT: 3.0}
ROLL_MIN = 1.5 * math.pi
ROLL_MAX = 4.5 * math.pi


def roll_at(s):
    """The roll's point r(s) = s (sin s, -cos s) / 10 for parameters s (numpy array or torch
    tensor, any shape), shape (*s.shape, 2). sklearn's roll is (s cos s, ., s sin s); the tutorial
    keeps its columns (z, -x) and divides by 10."""
    if isinstance(s, torch.Tensor):
        return torch.stack((s * torch.sin(s), -s * torch.cos(s)), dim=-1) / 10.0
    return np.stack((s * np.sin(s), -s * np.cos(s)), axis=-1) / 10.0


def swiss_roll(n: int, seed: int | None = 0, scale: DataScale | str = DATA_SCALE) -> np.ndarray:
    """(n, 2) float32 points of the roll at `scale`, from sklearn (the reference generator)."""
    return swiss_roll_with_position(n, seed, scale)[0]


def swiss_roll_with_position(
    n: int, seed: int | None = 0, scale: DataScale | str = DATA_SCALE
) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 2) at `scale` and their position along the roll in [0, 1] (for colouring the animation)."""
    x, s = make_swiss_roll(n, noise=0.0, random_state=seed)
    points = x[:, [2, 0]] / 10.0 * np.array([1.0, -1.0])
    if DataScale(scale) is DataScale.UNIT:
        points = to_scale(points, scale)
    return points.astype(np.float32), ((s - ROLL_MIN) / (ROLL_MAX - ROLL_MIN)).astype(np.float32)


_UNIT: tuple[np.ndarray, float] | None = None


def unit_transform() -> tuple[np.ndarray, float]:
    """(m, c) of x_unit = (x_tutorial - m) / c: the roll's mean m (2,) and one constant c
    = sqrt((Var x_1 + Var x_2) / 2), about 0.68, from 200,000 fixed points (float64)."""
    global _UNIT
    if _UNIT is None:
        x, _ = make_swiss_roll(200_000, noise=0.0, random_state=12345)
        x = x[:, [2, 0]] / 10.0 * np.array([1.0, -1.0])
        _UNIT = (x.mean(axis=0), float(np.sqrt(x.var(axis=0).mean())))
    return _UNIT


def to_scale(points_tutorial, scale: DataScale | str):
    """Points (..., 2) given at the tutorial's scale, moved to `scale` (numpy or torch, same type)."""
    if DataScale(scale) is DataScale.TUTORIAL:
        return points_tutorial
    m, c = unit_transform()
    if isinstance(points_tutorial, torch.Tensor):
        m = torch.as_tensor(m, dtype=points_tutorial.dtype, device=points_tutorial.device)
    return (points_tutorial - m) / c


def to_tutorial(points, scale: DataScale | str):
    """Points (..., 2) at `scale`, moved back to the tutorial's scale (numpy or torch, same type)."""
    if DataScale(scale) is DataScale.TUTORIAL:
        return points
    m, c = unit_transform()
    if isinstance(points, torch.Tensor):
        m = torch.as_tensor(m, dtype=points.dtype, device=points.device)
    return points * c + m


def plot_extent(scale: DataScale | str = DATA_SCALE) -> float:
    """Half the side of the square every plot of data at `scale` spans."""
    return PLOT_EXTENTS[DataScale(scale)]


def swiss_roll_torch(
    shape: tuple[int, ...],
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    stratified: bool = False,
    scale: DataScale | str = DATA_SCALE,
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
    return to_scale(roll_at(s), scale)


_DATA_STD: np.ndarray | None = None


def data_std(scale: DataScale | str = DATA_SCALE) -> np.ndarray:
    """Per-axis standard deviation of the roll at `scale` (tutorial: about (0.695, 0.662); unit:
    those over c, about (1.02, 0.98)), from 200,000 fixed points.

    Used to move the bound from the tutorial's scale to unit variance, as the paper's Table 1 reports it.
    """
    global _DATA_STD
    if _DATA_STD is None:
        _DATA_STD = swiss_roll(200_000, seed=12345).astype(np.float64).std(axis=0)
    if DataScale(scale) is DataScale.UNIT:
        return _DATA_STD / unit_transform()[1]
    return _DATA_STD
