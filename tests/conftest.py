"""Shared fixtures for the engine tests: small configs and one small trained model per session.

Everything here is sized for a 2-core CPU shared with other work: tiny widths, short runs.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the package is used from the checkout, not installed
    sys.path.insert(0, str(ROOT))

from diffusion.config import DiffusionConfig  # noqa: E402
from diffusion.gaussian_diffusion import GaussianDiffusion  # noqa: E402
from diffusion.pipeline import DiffusionPipeline  # noqa: E402
from diffusion.schedule import NoiseSchedule  # noqa: E402
from diffusion.train import Trainer  # noqa: E402

# On a 2-core machine shared with other work, torch's two intra-op threads spin against each other
# and slow short runs many times over. The engine tests use one thread; other test files
# (the lead's CLI and quality tests) keep torch's default.
ENGINE_TEST_FILES = {
    "test_config.py",
    "test_schedule.py",
    "test_data.py",
    "test_model.py",
    "test_live_units.py",
    "test_losses.py",
    "test_gaussian_diffusion.py",
    "test_train.py",
    "test_metrics.py",
    "test_pipeline.py",
    "test_checkpoint.py",
    "test_jobs.py",
    "test_sweep.py",
    "test_properties.py",
}


def pytest_collection_modifyitems(config, items):
    """The suite runs on two pytest-xdist workers (pyproject.toml); the browser tests share one of
    them, one after another, while the other runs the rest: two servers and two chromiums at once
    would fight over a 2-core machine's cores and miss the browser tests' generous time limits."""
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.xdist_group("browser"))


@contextmanager
def one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def _engine_tests_use_one_thread(request):
    if request.node.path.name in ENGINE_TEST_FILES:
        with one_torch_thread():
            yield
    else:
        yield


def small_config(**changes) -> DiffusionConfig:
    """A config that trains in well under a second: width 16, batch 256, 30 steps, on the CPU."""
    base = dict(width=16, batch_size=256, steps=30, device="cpu")
    base.update(changes)
    return DiffusionConfig(**base)


def randomize_readout(model, seed: int = 0, scale: float = 0.3) -> None:
    """Give every head a non-zero readout, so tests see the heads' outputs differ by t."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (model.head_w2, model.head_b2):
            p.copy_(torch.randn(p.shape, generator=g) * scale)


@pytest.fixture
def make_config():
    """small_config as a fixture: `make_config(T=10, steps=5)`."""
    return small_config


@pytest.fixture
def randomize():
    """randomize_readout as a fixture: `randomize(model, seed=0)`."""
    return randomize_readout


@pytest.fixture(scope="session")
def default_diffusion() -> GaussianDiffusion:
    """The tutorial's schedule (T = 40, sigmoid 1e-5..0.3), paper parameterisation, CPU."""
    config = DiffusionConfig(device="cpu")
    return GaussianDiffusion(NoiseSchedule.from_config(config), config.parameterization, "cpu")


@pytest.fixture(scope="session")
def trained_trainer() -> Trainer:
    """The tutorial's schedule with a small network, trained for 300 steps (about a second)."""
    config = DiffusionConfig(width=32, batch_size=1024, steps=300, seed=3, device="cpu")
    with one_torch_thread():
        return Trainer(config).train()


@pytest.fixture(scope="session")
def trained_pipeline(trained_trainer) -> DiffusionPipeline:
    return DiffusionPipeline.from_trainer(trained_trainer)


@pytest.fixture(scope="session")
def tiny_pipeline() -> DiffusionPipeline:
    """A 10-step model of width 8, trained 20 steps: small enough to save and load many times."""
    config = small_config(T=10, width=8, steps=20, seed=1)
    with one_torch_thread():
        return DiffusionPipeline.from_trainer(Trainer(config).train())


@pytest.fixture
def cli_here(capsys, monkeypatch):
    """`python -m diffusion ARGS` run in this process: (exit status, stdout, stderr).

    For the refusals, which end before any work: a fresh interpreter per case spends its time
    importing torch. Each test file keeps one case through a real `python -m diffusion` process,
    for the exit status and the missing traceback that only a process shows."""
    from types import SimpleNamespace

    from diffusion.cli import main

    monkeypatch.chdir(ROOT)

    def run(*args: str) -> SimpleNamespace:
        try:
            status = main(list(args))
        except SystemExit as exc:  # argparse's own refusals
            status = exc.code
        out = capsys.readouterr()
        return SimpleNamespace(returncode=status, stdout=out.out, stderr=out.err)

    return run
