"""`python -m diffusion animate` and `figure --out x.png`: files that open, one-line errors."""

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
MODEL = str(ROOT / "assets" / "default_model.pt")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "diffusion", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_animate_reverse_writes_a_gif_of_every_frame(tmp_path):
    out = tmp_path / "sub" / "reverse.gif"
    result = cli(
        "animate", "--checkpoint", MODEL, "--chain", "reverse", "--out", str(out), "--n", "200", "--size", "240"
    )
    assert result.returncode == 0, result.stderr
    assert "41 frames" in result.stdout and str(out) in result.stdout
    frames = iio.imread(out, index=None)
    assert frames.shape == (41, 240, 240, 3)
    assert (frames[0] != frames[-1]).any()


def test_animate_forward_writes_an_mp4(tmp_path):
    out = tmp_path / "forward.mp4"
    result = cli("animate", "--checkpoint", MODEL, "--chain", "forward", "--out", str(out), "--n", "200", "--fps", "5")
    assert result.returncode == 0, result.stderr
    frames = list(iio.imiter(out, plugin="FFMPEG"))
    assert len(frames) == 41 and frames[0].shape == (800, 800, 3)


def test_figure_png_is_slide_sized(tmp_path):
    out = tmp_path / "fig1.png"
    result = cli("figure", "--checkpoint", MODEL, "--n", "200", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (1920, 1080)


@pytest.mark.parametrize(
    "args, word",
    [
        (["animate", "--out", "x.avi"], "must end in .gif or .mp4"),
        (["animate", "--out", "x.gif", "--n", "0"], "--n"),
        (["animate", "--out", "x.gif", "--seed", "-1"], "--seed"),
        (["animate", "--out", "x.gif", "--size", "10"], "--size"),
        (["animate", "--out", "x.mp4", "--fps", "0"], "--fps"),
        (["animate", "--out", "x.gif", "--fps", "ten"], "invalid int"),
        (["animate", "--out", "x.gif", "--chain", "sideways"], "invalid choice"),
        (["figure", "--out", "x.jpg"], "must end in .html or .png"),
        (["figure", "--out", "x.png", "--n", "0"], "--n"),
    ],
)
def test_bad_extension_or_numbers_exit_2_with_one_line(cli_here, tmp_path, args, word):
    command, *rest = args
    rest = [str(tmp_path / a) if a.startswith("x.") else a for a in rest]
    result = (cli if word == "invalid int" else cli_here)(command, "--checkpoint", MODEL, *rest)
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("error: usage error: ") and word in line
    assert not list(tmp_path.iterdir())


def test_out_that_is_a_folder_exits_2(cli_here, tmp_path):
    folder = tmp_path / "taken.gif"
    folder.mkdir()
    result = cli_here("animate", "--checkpoint", MODEL, "--out", str(folder), "--n", "50", "--size", "200")
    assert result.returncode == 2 and "is a folder" in one_error_line(result)


@pytest.mark.parametrize("command, out", [("animate", "a.gif"), ("figure", "f.png")])
def test_bad_checkpoint_exits_1_with_one_line(cli_here, tmp_path, command, out):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    result = cli_here(command, "--checkpoint", str(bad), "--out", str(tmp_path / out), "--n", "50")
    assert result.returncode == 1
    one_error_line(result)
    assert not (tmp_path / out).exists()


def test_animate_compare_writes_the_models_side_by_side(tmp_path):
    other = str(ROOT / "assets" / "presets" / "T10.pt")
    out = tmp_path / "compare.gif"
    args = ("--n", "100", "--size", "200", "--compare", other, "--out", str(out))
    result = cli("animate", "--checkpoint", MODEL, *args)
    assert result.returncode == 0, result.stderr
    assert "2 reverse chains side by side" in result.stdout
    frames = iio.imread(out, index=None)
    assert frames.shape == (41, 200, 400, 3) and (frames[0] != frames[-1]).any()


@pytest.mark.parametrize(
    "extra, word",
    [(("--chain", "forward"), "reverse chains"), (("--compare", MODEL, MODEL, MODEL, MODEL), "at most 4")],
)
def test_animate_compare_refuses_in_one_line(cli_here, tmp_path, extra, word):
    args = ["--compare", MODEL, *extra] if extra[0] != "--compare" else list(extra)
    result = cli_here("animate", "--checkpoint", MODEL, "--out", str(tmp_path / "c.gif"), *args)
    assert result.returncode == 2 and word in one_error_line(result)
    assert not list(tmp_path.iterdir())
