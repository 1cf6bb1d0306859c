"""`python -m diffusion`: its contract (outputs, JSON keys, one-line errors)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from diffusion.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--steps", "20", "--width", "16", "--batch-size", "390", "--T", "10", "--device", "cpu", "--quiet"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "diffusion", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    result = cli("train", *TINY, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "final loss" in result.stdout and "it/s" in result.stdout
    return out / "model.pt"


def test_train_writes_a_loadable_checkpoint_with_the_settings(checkpoint):
    pipeline = load_checkpoint(checkpoint, device="cpu")
    assert (pipeline.config.T, pipeline.config.width, pipeline.steps_trained) == (10, 16, 20)


def test_sample_writes_n_by_2_float32(checkpoint, tmp_path):
    out = tmp_path / "s.npy"
    result = cli("sample", "--checkpoint", str(checkpoint), "--n", "123", "--seed", "4", "--out", str(out))
    assert result.returncode == 0, result.stderr
    samples = np.load(out)
    assert samples.shape == (123, 2) and samples.dtype == np.float32 and np.isfinite(samples).all()
    again = tmp_path / "t.npy"
    cli("sample", "--checkpoint", str(checkpoint), "--n", "123", "--seed", "4", "--out", str(again))
    np.testing.assert_array_equal(np.load(again), samples)


def test_evaluate_prints_one_json_object_with_the_bound_and_quality(checkpoint):
    result = cli("evaluate", "--checkpoint", str(checkpoint), "--n", "500")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("bound_bits", "bound_bits_unit_variance", "bound_minus_null_bits", "sw1", "chamfer"):
        assert np.isfinite(data[key]), key
    assert len(data["kl_per_t_bits"]) == 10 - 1
    assert data["bound_minus_null_bits"] == pytest.approx(data["bound_bits_unit_variance"] + np.log2(2 * np.pi * np.e))
    # what the bound is measured against: the data's scale, the model's own schedule and its ceiling
    from diffusion.ceiling import best_possible_bound

    pipeline = load_checkpoint(checkpoint, device="cpu")
    assert data["data_scale"] == "tutorial"
    assert data["schedule"] == pipeline.config.schedule.value == data["config"]["schedule"]
    assert data["beta_1"] == pytest.approx(pipeline.diffusion.schedule.betas[1], rel=1e-12)
    ceiling = best_possible_bound(pipeline.diffusion.schedule, n=1000).bits_unit_variance
    assert data["ceiling_bits_unit_variance"] == pytest.approx(ceiling, abs=1e-9)
    assert data["bound_bits_unit_variance"] < data["ceiling_bits_unit_variance"]


def test_figure_writes_self_contained_html(checkpoint, tmp_path):
    out = tmp_path / "fig.html"
    result = cli("figure", "--checkpoint", str(checkpoint), "--n", "300", "--out", str(out))
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert "Plotly.newPlot" in html or "plotly" in html.lower()
    assert '<script src="http' not in html  # the library is embedded, so the file opens offline
    assert len(html) > 1_000_000


@pytest.mark.parametrize(
    "args, word",
    [
        (["train", "--T", "1", "--out", "x"], "T"),
        (["train", "--beta-start", "0.5", "--beta-end", "0.1", "--out", "x"], "beta_start"),
        (["train", "--beta-end", "1.5", "--out", "x"], "beta_end"),
        (["train", "--width", "0", "--out", "x"], "width"),
        (["train", "--schedule", "zigzag", "--out", "x"], "schedule"),
        (["train", "--device", "tpu", "--out", "x"], "device"),
        (["train", "--lr", "-1", "--out", "x"], "lr"),
        (["train", "--steps", "0", "--out", "x"], "steps"),
        (["train", "--steps", "5", "--max-seconds", "5", "--out", "x"], "not allowed"),
        (["train", "--T", "forty", "--out", "x"], "invalid int"),
        (["sample", "--checkpoint", "missing.pt", "--out", "s.npy"], "no such checkpoint"),
        (["fly"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_nonzero_with_one_line(cli_here, args, word):
    result = cli(*args) if args == ["fly"] else cli_here(*args)  # one through a real process
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert word in lines[0]
    assert "Traceback" not in result.stderr


def test_cuda_when_absent_is_a_clear_error(cli_here):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = cli_here("train", "--device", "cuda", "--out", "x")
    assert result.returncode != 0 and "cuda" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04 truncated zip"])
def test_bad_checkpoint_files_exit_nonzero_with_one_line(cli_here, tmp_path, content):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    result = (cli if content else cli_here)("evaluate", "--checkpoint", str(bad))
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_sample_rejects_a_bad_n(cli_here, checkpoint, tmp_path):
    result = cli_here("sample", "--checkpoint", str(checkpoint), "--n", "0", "--out", str(tmp_path / "s.npy"))
    assert result.returncode != 0 and "--n" in result.stderr


def test_divergence_exits_nonzero_and_keeps_the_last_good_model(tmp_path):
    args = ["--width", "16", "--batch-size", "390", "--T", "10", "--device", "cpu", "--quiet"]
    result = cli(
        "train",
        *args,
        "--lr",
        "100",
        "--lr-schedule",
        "constant",
        "--steps",
        "200",
        "--ema-decay",
        "0",
        "--out",
        str(tmp_path),
    )
    assert result.returncode != 0
    assert "diverged" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    pipeline = load_checkpoint(tmp_path / "model.pt", device="cpu")
    assert np.isfinite(pipeline.samples(50)).all()


def test_train_preset_sets_the_recipe_and_later_flags_override_it():
    from diffusion.cli import _config_from_args, build_parser
    from diffusion.config import DiffusionConfig, tutorial_config

    def config(*argv: str) -> DiffusionConfig:
        return _config_from_args(build_parser().parse_args(["train", *argv, "--device", "cpu", "--out", "x"]))

    assert config("--preset", "tutorial") == tutorial_config(device="cpu")
    assert config("--preset", "default") == config() == DiffusionConfig(device="cpu")
    after = config("--preset", "tutorial", "--lr", "0.01", "--T", "12")
    assert after == tutorial_config(device="cpu", lr=0.01, T=12)
    assert config("--lr", "0.01", "--preset", "tutorial").lr == tutorial_config().lr  # flags before it are replaced
    by_time = config("--preset", "tutorial", "--max-seconds", "5")
    assert (by_time.steps, by_time.max_seconds, by_time.batch_size) == (None, 5.0, tutorial_config().batch_size)


def test_train_unknown_preset_is_one_line_and_exit_2(tmp_path, capsys):
    from diffusion.cli import main

    assert main(["train", "--preset", "fast", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--preset" in err[0] and "default, tutorial" in err[0], err
    assert not (tmp_path / "model.pt").exists()


# ---------------------------------------------------------------------- stopping a run, and where it goes
def train_until_it_has_trained(tmp_path: Path):
    """A real `train` of 60 s with a tiny network, returned once its progress bar shows a loss (the
    bar's postfix appears at step 25), with the file that collects its stderr."""
    import time

    err = tmp_path / "stderr.txt"
    with err.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "diffusion", "train", "--max-seconds", "60"]
            + ["--width", "8", "--T", "10", "--batch-size", "128", "--device", "cpu", "--out", str(tmp_path / "run")],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    deadline = time.monotonic() + 120
    while "loss=" not in err.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the run did not start training: {err.read_text()[-500:]}")
        time.sleep(0.1)
    return process, err


@pytest.mark.parametrize("signal_name, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_saves_the_model_so_far_then_exits_non_zero(tmp_path, signal_name, status):
    import signal

    process, err = train_until_it_has_trained(tmp_path)
    try:
        process.send_signal(getattr(signal, signal_name))
        assert process.wait(timeout=60) == status
    finally:
        if process.poll() is None:
            process.kill()
    saved = tmp_path / "run" / "model.pt"
    last = [line for line in err.read_text().replace("\r", "\n").splitlines() if line.strip()][-1]
    assert last.startswith(f"error: interrupted by {signal_name} after ") and last.endswith(f"saved to {saved}")
    assert "Traceback" not in err.read_text()
    pipeline = load_checkpoint(saved, device="cpu")
    assert pipeline.steps_trained >= 25 and f"after {pipeline.steps_trained:,} steps" in last
    assert pipeline.history.steps[-1] == pipeline.steps_trained and np.isfinite(pipeline.samples(50)).all()
    assert not [p for p in saved.parent.iterdir() if p.name != "model.pt"]  # no temporary files left


@pytest.mark.parametrize(
    "out, word",
    [("/dev/null/x", "Not a directory"), ("", "the path is empty"), ("   ", "the path is empty")],
)
def test_out_is_checked_before_training(cli_here, out, word):
    result = cli_here(
        "train", "--steps", "10000000", "--width", "8", "--T", "10", "--device", "cpu", "--quiet", "--out", out
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: usage error: --out: ") and word in lines[0], result.stderr


def test_out_that_is_a_file_is_refused_before_training(cli_here, tmp_path):
    taken = tmp_path / "file"
    taken.write_text("not a folder")
    result = cli_here(
        "train", "--steps", "10000000", "--width", "8", "--T", "10", "--device", "cpu", "--quiet", "--out", str(taken)
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and str(taken) in result.stderr
    assert taken.read_text() == "not a folder"


def test_an_io_error_is_one_line_with_the_file_in_balanced_parentheses(tmp_path, capsys):
    from diffusion.cli import main

    (tmp_path / "blocker").write_text("a file where the folder should be")
    out = tmp_path / "blocker" / "samples.npy"
    rc = main(["sample", "--checkpoint", str(ROOT / "assets" / "default_model.pt"), "--n", "10", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1, err
    assert str(out.parent) in err and err.count("(") == err.count(")") and err.endswith(")"), err
