"""The paper's protocol as a data scale: the roll centred and divided by one constant ("unit")."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from diffusion.checkpoint import checkpoint_bytes, load_checkpoint
from diffusion.cli import main
from diffusion.config import MODEL_FIELDS, ConfigError, DataScale, DiffusionConfig
from diffusion.data import (
    data_std,
    plot_extent,
    swiss_roll,
    swiss_roll_torch,
    swiss_roll_with_position,
    to_scale,
    to_tutorial,
    unit_transform,
)
from diffusion.metrics import sample_quality, unit_variance_offset_bits
from diffusion.pipeline import DiffusionPipeline
from diffusion.train import Trainer
from diffusion.views import forward_view, reverse_view


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tiny(**changes) -> DiffusionConfig:
    return DiffusionConfig(**{"T": 6, "width": 8, "steps": 3, "device": "cpu", **changes})


def test_unit_roll_is_centred_with_average_variance_one():
    x = swiss_roll(100_000, seed=1, scale="unit").astype(np.float64)
    np.testing.assert_allclose(x.mean(0), 0.0, atol=0.01)
    assert x.var(0).mean() == pytest.approx(1.0, abs=0.01)
    m, c = unit_transform()
    assert c == pytest.approx(0.679, abs=0.002) and unit_transform()[0] is m  # computed once
    # one constant for both axes: the shape of the roll is kept
    np.testing.assert_allclose(data_std("unit"), data_std("tutorial") / c)


def test_scales_map_into_each_other():
    tut = swiss_roll(500, seed=3)
    unit, position = swiss_roll_with_position(500, seed=3, scale="unit")
    np.testing.assert_allclose(to_scale(tut.astype(np.float64), "unit"), unit, atol=1e-6)
    np.testing.assert_allclose(to_tutorial(unit.astype(np.float64), "unit"), tut, atol=1e-6)
    np.testing.assert_array_equal(position, swiss_roll_with_position(500, seed=3)[1])
    assert to_scale(tut, "tutorial") is tut and to_tutorial(tut, "tutorial") is tut
    g = torch.Generator().manual_seed(0)
    points = swiss_roll_torch((4, 20_000), g, scale="unit").reshape(-1, 2).double()
    assert abs(float(points.var(0).mean()) - 1.0) < 0.02 and float(points.mean(0).abs().max()) < 0.02


def test_data_scale_is_a_validated_model_field():
    assert DiffusionConfig().data_scale is DataScale.TUTORIAL
    assert "data_scale" in MODEL_FIELDS
    assert tiny(data_scale="unit").model_key() != tiny().model_key()
    with pytest.raises(ConfigError, match=r"^data_scale: unknown value 'metres'; allowed: tutorial, unit$"):
        DiffusionConfig(data_scale="metres")
    assert DiffusionConfig.from_dict(tiny(data_scale="unit").to_dict()).data_scale is DataScale.UNIT


def test_bound_needs_no_conversion_at_unit_scale():
    assert unit_variance_offset_bits(data_scale="unit") == 0.0
    assert unit_variance_offset_bits() == pytest.approx(float(np.log2(data_std()).sum()))
    unit = DiffusionPipeline.untrained(tiny(data_scale="unit")).bound(2000)
    assert unit.bits_unit_variance == unit.bits
    tut = DiffusionPipeline.untrained(tiny()).bound(2000)
    assert tut.bits_unit_variance - tut.bits == pytest.approx(unit_variance_offset_bits(), abs=1e-9)


def test_quality_bar_is_measured_at_the_tutorial_scale():
    unit_points = swiss_roll(5000, seed=99, scale="unit")
    assert sample_quality(unit_points, data_scale="unit").passes
    assert not sample_quality(unit_points).passes  # read as tutorial points, they are too large
    good = sample_quality(swiss_roll(5000, seed=99))
    assert sample_quality(unit_points, data_scale="unit").sw1 == pytest.approx(good.sw1, abs=1e-6)


def test_training_and_views_use_the_scale():
    pipeline = DiffusionPipeline.from_trainer(Trainer(tiny(data_scale="unit")).train())
    traj, _ = pipeline.forward_trajectory(300, seed=4)
    np.testing.assert_array_equal(traj[0], swiss_roll(300, seed=4, scale="unit"))
    assert pipeline.plot_extent == plot_extent("unit") > plot_extent("tutorial") == 2.0
    grid, _ = pipeline.drift_field(grid_n=5)
    assert grid.max() == plot_extent("unit")
    assert forward_view(pipeline.config, 100).extent == plot_extent("unit")
    assert reverse_view(pipeline, 100, grid_n=5).extent == plot_extent("unit")
    assert np.isfinite(pipeline.quality(500).sw1)


def test_checkpoint_keeps_the_scale_and_old_files_load_as_tutorial():
    pipeline = DiffusionPipeline.from_trainer(Trainer(tiny(data_scale="unit")).train())
    assert load_checkpoint(checkpoint_bytes(pipeline), device="cpu").config.data_scale is DataScale.UNIT
    payload = torch.load(io.BytesIO(checkpoint_bytes(pipeline)), weights_only=True)
    del payload["config"]["data_scale"]  # a file written before the field existed
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    assert load_checkpoint(buffer.getvalue(), device="cpu").config.data_scale is DataScale.TUTORIAL


def test_cli_trains_and_evaluates_at_unit_scale(tmp_path, capsys):
    args = ["train", "--T", "6", "--width", "8", "--steps", "3", "--device", "cpu", "--quiet"]
    assert main([*args, "--data-scale", "unit", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(tmp_path / "model.pt"), "--n", "300", "--device", "cpu"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["data_scale"] == "unit" == data["config"]["data_scale"]
    assert data["bound_bits"] == data["bound_bits_unit_variance"]
    assert main([*args, "--data-scale", "metres", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: data_scale:"), err
