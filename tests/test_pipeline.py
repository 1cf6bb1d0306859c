"""diffusion/pipeline.py: the views the pages use, in numpy, consistent with the maths underneath."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion.config import ConfigError, DiffusionConfig
from diffusion.data import swiss_roll
from diffusion.pipeline import PLOT_EXTENT, DiffusionPipeline
from diffusion.train import Trainer


@pytest.fixture(scope="module")
def untrained() -> DiffusionPipeline:
    return DiffusionPipeline.untrained(DiffusionConfig(T=12, width=8, device="cpu"))


def test_untrained_pipeline(untrained):
    p = untrained
    assert p.T == 12 and p.device == torch.device("cpu") and p.steps_trained == 0
    assert not p.model.training
    assert len(p.history.kl_per_t) == 11 and all(np.isnan(p.history.kl_per_t))
    with pytest.raises(ConfigError, match="^T:"):
        DiffusionPipeline.untrained(DiffusionConfig(T=1))


def test_weight_bytes_counts_every_float32_weight(untrained):
    # T = 12, width 8: trunk 2*8 + 8 + 8*8 + 8, 11 heads of 8*8 + 8 + 8*4 + 4, four bytes each
    assert untrained.weight_bytes == 4 * (2 * 8 + 8 + 8 * 8 + 8 + 11 * (8 * 8 + 8 + 8 * 4 + 4))


def test_forward_trajectory(untrained):
    traj, position = untrained.forward_trajectory(300, seed=4)
    assert traj.shape == (13, 300, 2) and traj.dtype == np.float32
    assert position.shape == (300,) and position.min() >= 0 and position.max() <= 1
    np.testing.assert_array_equal(traj[0], swiss_roll(300, seed=4))
    again, _ = untrained.forward_trajectory(300, seed=4)
    np.testing.assert_array_equal(traj, again)
    other, _ = untrained.forward_trajectory(300, seed=5)
    assert not np.array_equal(traj[-1], other[-1])
    # the chain ends near N(0, alpha_bar_T-scaled data + (1 - alpha_bar_T) I): spread about 1
    assert 0.7 < traj[-1].std() < 1.3


def test_reverse_trajectory_and_samples(untrained):
    traj = untrained.reverse_trajectory(200, seed=1)
    assert traj.shape == (13, 200, 2) and traj.dtype == np.float32 and np.isfinite(traj).all()
    np.testing.assert_array_equal(traj, untrained.reverse_trajectory(200, seed=1))
    np.testing.assert_array_equal(untrained.samples(200, seed=1), traj[0])
    assert not np.array_equal(untrained.samples(200, seed=2), traj[0])


@pytest.mark.parametrize("call", ["forward_trajectory", "reverse_trajectory", "samples", "bound", "quality"])
@pytest.mark.parametrize("n", [0, -1, 100_001, 2.5])
def test_point_counts_are_checked(untrained, call, n):
    with pytest.raises(ConfigError, match="^n:"):
        getattr(untrained, call)(n)


@pytest.mark.parametrize("call", ["forward_trajectory", "reverse_trajectory"])
def test_seeds_are_checked(untrained, call):
    with pytest.raises(ConfigError, match="^seed:"):
        getattr(untrained, call)(10, seed=-1)


def test_drift_field_matches_the_single_step_drift(trained_pipeline):
    p = trained_pipeline
    grid, drift = p.drift_field(grid_n=7)
    assert grid.shape == (49, 2) and drift.shape == (p.T + 1, 49, 2) and drift.dtype == np.float32
    assert grid.min() == -PLOT_EXTENT and grid.max() == PLOT_EXTENT
    assert len(np.unique(grid[:, 0])) == 7 and len(np.unique(grid[:, 1])) == 7
    assert np.all(drift[0] == 0)
    points = torch.from_numpy(grid)
    for t in (1, 2, p.T // 2, p.T):
        expected = p.diffusion.drift(p.model, points, t).numpy()
        np.testing.assert_allclose(drift[t], expected, rtol=1e-4, atol=1e-5)
    assert np.abs(drift[p.T]).max() > 0


def test_bound_and_quality_are_finite(trained_pipeline):
    b = trained_pipeline.bound(n=500)
    assert b.kl_per_t_bits.shape == (trained_pipeline.T - 1,)
    assert np.isfinite([b.bits, b.bits_unit_variance, b.minus_null_bits]).all()
    q = trained_pipeline.quality(n=5000)
    assert np.isfinite([q.sw1, q.chamfer]).all()


def test_training_improves_bound_and_samples(trained_pipeline):
    fresh = DiffusionPipeline.untrained(trained_pipeline.config)
    assert trained_pipeline.bound(n=1000).bits > fresh.bound(n=1000).bits + 1.0
    assert trained_pipeline.quality(n=5000).sw1 < fresh.quality(n=5000).sw1


def test_from_trainer_is_a_frozen_copy(make_config):
    tr = Trainer(make_config(T=8, width=8, steps=10))
    tr.train(should_stop=lambda: tr.step_count >= 3)
    p = DiffusionPipeline.from_trainer(tr)
    # it holds the sampling (EMA) weights, not the raw ones
    for a, b in zip(p.model.parameters(), tr.ema_model.parameters()):
        assert torch.equal(a, b) and a is not b
    assert not all(torch.equal(a, raw) for a, raw in zip(p.model.parameters(), tr.model.parameters()))
    assert p.steps_trained == 3 and p.config == tr.config and p.diffusion is tr.diffusion
    assert p.history.loss == tr.history.loss and p.history is not tr.history
    before = [v.clone() for v in p.model.state_dict().values()]
    samples = p.samples(50, seed=0)
    tr.train()
    assert tr.step_count == 10 and len(p.history.loss) == 3
    assert all(torch.equal(a, b) for a, b in zip(before, p.model.state_dict().values()))
    np.testing.assert_array_equal(samples, p.samples(50, seed=0))
