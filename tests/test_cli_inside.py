"""`python -m diffusion trajectories`: the chains the pages animate, as (T + 1, N, 2) float32 .npy."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from diffusion.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "assets" / "default_model.pt"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "diffusion", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("chain", ["reverse", "forward"])
def test_trajectories_writes_the_chain_the_pages_animate(tmp_path, chain):
    out = tmp_path / f"{chain}.npy"
    args = ("--checkpoint", str(MODEL), "--n", "20", "--seed", "4", "--chain", chain, "--device", "cpu")
    result = cli("trajectories", *args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    traj = np.load(out)
    pipeline = load_checkpoint(MODEL, device="cpu")
    assert traj.shape == (pipeline.T + 1, 20, 2) and traj.dtype == np.float32
    if chain == "forward":
        want = pipeline.forward_trajectory(20, 4)[0]
    else:
        want = pipeline.reverse_trajectory(20, 4)
    np.testing.assert_allclose(traj, want, atol=1e-5)  # another process: the same numbers up to threading


@pytest.mark.parametrize(
    "bad, named",
    [
        (("--n", "0"), "--n"),
        (("--seed", "-1"), "--seed"),
        (("--chain", "sideways"), "--chain"),
        (("--out", "traj.txt"), "--out"),
    ],
)
def test_trajectories_refuses_bad_input_in_one_line(cli_here, tmp_path, bad, named):
    args = {"--checkpoint": str(MODEL), "--out": str(tmp_path / "t.npy"), "--device": "cpu"}
    args.update(dict(zip(bad[::2], bad[1::2])))
    if args["--out"] == "traj.txt":
        args["--out"] = str(tmp_path / "traj.txt")
    run = cli if named == "--n" else cli_here  # one through a real process
    result = run("trajectories", *[part for pair in args.items() for part in pair])
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and named in result.stderr
    assert not list(tmp_path.iterdir())
