"""diffusion/data.py: the tutorial's roll, checked against the curve it lies on and its exact moments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from sklearn.datasets import make_swiss_roll

from diffusion.data import ROLL_MAX, ROLL_MIN, data_std, swiss_roll, swiss_roll_torch, swiss_roll_with_position


def exact_moments() -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of (s sin s, -s cos s) / 10 for s uniform on [1.5 pi, 4.5 pi], by quadrature."""
    width = ROLL_MAX - ROLL_MIN

    def expect(f):
        return quad(f, ROLL_MIN, ROLL_MAX, limit=200)[0] / width

    mx = expect(lambda s: s * math.sin(s) / 10)
    my = expect(lambda s: -s * math.cos(s) / 10)
    vx = expect(lambda s: (s * math.sin(s) / 10) ** 2) - mx**2
    vy = expect(lambda s: (s * math.cos(s) / 10) ** 2) - my**2
    return np.array([mx, my]), np.sqrt([vx, vy])


def assert_on_roll(points: np.ndarray, atol: float = 1e-5) -> np.ndarray:
    """Every point is r(s) = s (sin s, -cos s) / 10 for its own s = 10 |p|, s in the roll's range."""
    p = np.asarray(points, dtype=np.float64)
    s = 10 * np.linalg.norm(p, axis=1)
    assert np.all(s >= ROLL_MIN - 1e-4) and np.all(s <= ROLL_MAX + 1e-4)
    np.testing.assert_allclose(p, np.stack([s * np.sin(s), -s * np.cos(s)], axis=1) / 10, atol=atol)
    return s


def test_reference_numbers_from_quadrature():
    mean, std = exact_moments()
    np.testing.assert_allclose(mean, [0.02, -0.20], atol=0.01)
    np.testing.assert_allclose(std, [0.695, 0.662], atol=0.002)


def test_swiss_roll_shape_dtype_and_curve():
    x = swiss_roll(3000, seed=5)
    assert x.shape == (3000, 2) and x.dtype == np.float32
    assert_on_roll(x)


def test_swiss_roll_is_sklearns_columns_z_minus_x_over_10():
    raw, _ = make_swiss_roll(500, noise=0.0, random_state=11)
    expected = np.stack([raw[:, 2] / 10, -raw[:, 0] / 10], axis=1)
    np.testing.assert_allclose(swiss_roll(500, seed=11), expected, rtol=1e-6, atol=1e-7)


def test_swiss_roll_seeded():
    np.testing.assert_array_equal(swiss_roll(100, seed=3), swiss_roll(100, seed=3))
    assert not np.array_equal(swiss_roll(100, seed=3), swiss_roll(100, seed=4))


def test_swiss_roll_moments_match_quadrature():
    mean, std = exact_moments()
    x = swiss_roll(100_000, seed=0).astype(np.float64)
    np.testing.assert_allclose(x.mean(0), mean, atol=0.01)
    np.testing.assert_allclose(x.std(0), std, atol=0.01)


def test_swiss_roll_with_position():
    points, position = swiss_roll_with_position(800, seed=9)
    np.testing.assert_array_equal(points, swiss_roll(800, seed=9))
    assert position.shape == (800,) and position.dtype == np.float32
    assert position.min() >= 0 and position.max() <= 1
    s = assert_on_roll(points)
    np.testing.assert_allclose(position, (s - ROLL_MIN) / (ROLL_MAX - ROLL_MIN), atol=1e-4)


def test_swiss_roll_torch_same_distribution():
    g = torch.Generator().manual_seed(0)
    x = swiss_roll_torch((4, 25_000), g)
    assert x.shape == (4, 25_000, 2) and x.dtype == torch.float32
    flat = x.reshape(-1, 2).double().numpy()
    assert_on_roll(flat, atol=1e-5)
    mean, std = exact_moments()
    np.testing.assert_allclose(flat.mean(0), mean, atol=0.01)
    np.testing.assert_allclose(flat.std(0), std, atol=0.01)
    # position along the roll is uniform: its quartiles sit at 1/4, 1/2, 3/4
    s = 10 * np.linalg.norm(flat, axis=1)
    u = (s - ROLL_MIN) / (ROLL_MAX - ROLL_MIN)
    np.testing.assert_allclose(np.quantile(u, [0.25, 0.5, 0.75]), [0.25, 0.5, 0.75], atol=0.01)


def test_swiss_roll_torch_follows_its_generator():
    a = swiss_roll_torch((10,), torch.Generator().manual_seed(1))
    b = swiss_roll_torch((10,), torch.Generator().manual_seed(1))
    c = swiss_roll_torch((10,), torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def roll_position(points: torch.Tensor) -> np.ndarray:
    """u in [0, 1): where each point sits along the roll (s = 10 |p| mapped from the roll's range)."""
    s = 10 * np.linalg.norm(points.double().numpy(), axis=-1)
    return (s - ROLL_MIN) / (ROLL_MAX - ROLL_MIN)


def test_stratified_rows_put_one_point_in_each_slice_of_the_roll():
    x = swiss_roll_torch((6, 50), torch.Generator().manual_seed(3), stratified=True)
    assert x.shape == (6, 50, 2) and x.dtype == torch.float32
    assert_on_roll(x.reshape(-1, 2).double().numpy(), atol=1e-5)
    u = roll_position(x)
    centre = np.arange(50) + 0.5
    assert np.all(np.abs(u * 50 - centre) <= 0.5 + 1e-4)  # point i lies in slice i of 50 (float32 aside)
    iid = roll_position(swiss_roll_torch((6, 50), torch.Generator().manual_seed(3)))
    assert np.mean(np.abs(iid * 50 - centre) > 0.5 + 1e-4) > 0.5  # i.i.d. points do not


def test_stratified_points_pooled_are_the_roll_and_row_means_vary_less():
    """Unbiased: over many rows the points are the roll's distribution. The point of it: a mean
    over one row (as the training loss is) varies less from row to row than with i.i.d. points."""
    g = torch.Generator().manual_seed(0)
    strat = swiss_roll_torch((4000, 52), g, stratified=True)
    iid = swiss_roll_torch((4000, 52), g)
    flat = strat.reshape(-1, 2).double().numpy()
    mean, std = exact_moments()
    np.testing.assert_allclose(flat.mean(0), mean, atol=0.01)
    np.testing.assert_allclose(flat.std(0), std, atol=0.01)
    np.testing.assert_allclose(
        np.quantile(roll_position(strat).ravel(), [0.1, 0.25, 0.5, 0.75, 0.9]), [0.1, 0.25, 0.5, 0.75, 0.9], atol=0.005
    )
    row_means_strat = strat.double().mean(1).var(0)
    row_means_iid = iid.double().mean(1).var(0)
    assert torch.all(row_means_strat < 0.2 * row_means_iid), (row_means_strat, row_means_iid)


def test_data_std():
    _, std = exact_moments()
    s = data_std()
    assert s.shape == (2,)
    np.testing.assert_allclose(s, std, atol=0.005)
    assert data_std() is s  # computed once
    assert float(np.log2(s).sum()) == pytest.approx(-1.117, abs=0.005)
