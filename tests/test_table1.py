"""The `table1` preset: the paper's Swiss-roll experiment from the CLI."""

from __future__ import annotations

import pytest
import torch

from diffusion.checkpoint import load_checkpoint
from diffusion.cli import build_parser, main
from diffusion.config import DataScale, DiffusionConfig, table1_config
from diffusion.pipeline import DiffusionPipeline


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def config(*flags: str) -> DiffusionConfig:
    from diffusion.cli import _config_from_args

    return _config_from_args(build_parser().parse_args(["train", *flags, "--out", "x", "--device", "cpu"]))


def test_preset_is_the_paper_setup_and_later_flags_override_it():
    c = config("--preset", "table1")
    assert c == table1_config(device="cpu")
    assert c.data_scale is DataScale.UNIT and c.learn_betas and c.T == 40 and c.beta_start == 1e-5
    assert config("--preset", "table1", "--data-scale", "tutorial").data_scale is DataScale.TUTORIAL
    assert config("--preset", "table1", "--no-learn-betas").learn_betas is False
    assert config("--preset", "table1", "--network", "rbf", "--width", "16").network.value == "rbf"


@pytest.mark.parametrize(
    "flags, where",
    [(["--preset", "table2"], "--preset"), (["--preset", "table1", "--network", "cnn"], "network")],
)
def test_bad_presets_and_values_are_one_line(tmp_path, capsys, flags, where):
    status = main(["train", *flags, "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status in (1, 2) and len(err) == 1 and where in err[0], err
    if where == "--preset":
        assert status == 2 and "table1" in err[0]


def test_a_short_table1_run_beats_an_untrained_model(tmp_path, capsys):
    args = ["train", "--preset", "table1", "--T", "10", "--width", "32", "--max-seconds", "4"]
    assert main([*args, "--device", "cpu", "--quiet", "--out", str(tmp_path)]) == 0
    trained = load_checkpoint(tmp_path / "model.pt", device="cpu")
    assert trained.config.learn_betas and trained.config.data_scale is DataScale.UNIT
    untrained = DiffusionPipeline.untrained(trained.config).bound(5000)
    assert trained.bound(5000).bits > untrained.bits + 1.0
