"""The quality bar against what the eye sees: the tutorial's figure and the shipped model pass,
short runs (whose samples show a cloud inside the roll) fail.

Bar (diffusion/metrics.py): at least 99% of 5,000 samples within 0.12 of a fresh roll point, those
samples covering 99% of 5,000 roll points, SW1 at most 0.05. benchmarks/bench_start_to_quality.py
measures the training seconds to it; here every check is in steps or fixed points, so the result
does not depend on how busy the machine is.
"""

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from diffusion.checkpoint import load_checkpoint
from diffusion.config import DiffusionConfig
from diffusion.data import ROLL_MAX, ROLL_MIN, roll_at
from diffusion.metrics import ON_DATA_TOLERANCE, QUALITY_PRECISION, QUALITY_RECALL, sample_quality
from diffusion.pipeline import DiffusionPipeline
from diffusion.train import Trainer

ASSETS = Path(__file__).resolve().parents[1] / "assets"
# The tutorial's figure, bottom-left panel (p at t = 0, axes [-2, 2]), digitised: the centre of
# every red pixel (red >= 200, green and blue < 180) of the 149 x 149-pixel plot area, shifted by
# the one-pixel registration that best fits the roll's curve. Pixels, not samples: overlapping
# points are one pixel, so the density along the curve (SW1) is only roughly the figure's.
FIGURE = Path(__file__).resolve().parent / "data" / "tutorial_figure_points.csv"
SHORT_STEPS = 300  # a full default run (cosine decay and all) cut to a few seconds on 2 cores


def _off_curve(points: np.ndarray) -> float:
    """Share of points more than ON_DATA_TOLERANCE from the roll's curve (exact, not sampled)."""
    curve = cKDTree(roll_at(np.linspace(ROLL_MIN, ROLL_MAX, 200_000)))
    d, _ = curve.query(points)
    return float((d > ON_DATA_TOLERANCE).mean())


def test_the_digitised_tutorial_figure_passes():
    points = np.loadtxt(FIGURE, delimiter=",", skiprows=1)
    assert 1000 < len(points) < 2000 and np.abs(points).max() < 2.0
    off = _off_curve(points)
    assert 0.003 < off < 0.007  # the figure's own stray points: about 0.5% of its pixels
    quality = sample_quality(points)
    assert quality.precision == pytest.approx(1.0 - off, abs=0.002)  # precision is "on the curve"
    assert quality.recall >= QUALITY_RECALL
    assert quality.passes, quality


def test_the_shipped_default_model_passes():
    pipeline = load_checkpoint(ASSETS / "default_model.pt", device="cpu")
    assert pipeline.config.model_key() == DiffusionConfig().model_key()
    for seed in (0, 1):
        samples = pipeline.samples(5000, seed)
        quality = sample_quality(samples)
        assert quality.passes, quality
        assert quality.precision == pytest.approx(1.0 - _off_curve(samples), abs=0.002)


def test_a_short_run_fails_on_precision():
    """A few seconds of default training: the samples still hold a cloud inside the roll."""
    trainer = Trainer(DiffusionConfig(device="cpu", steps=SHORT_STEPS))
    trainer.train()
    quality = DiffusionPipeline.from_trainer(trainer).quality(5000, seed=0)
    assert not quality.passes
    assert quality.precision < QUALITY_PRECISION - 0.01, quality


def test_untrained_model_does_not_meet_the_bar():
    """A fresh network draws a blob."""
    quality = DiffusionPipeline.untrained(DiffusionConfig(device="cpu")).quality(5000, seed=0)
    assert not quality.passes and quality.precision < 0.5


@pytest.mark.parametrize("seed", [1, 2])
def test_shipped_default_model_bound_is_near_the_best_possible(seed):
    """K at unit variance well above 0 bits: the reverse kernels are close to the posteriors."""
    pipeline = load_checkpoint(ASSETS / "default_model.pt", device="cpu")
    bound = pipeline.bound(5000, seed=1000 + seed)
    assert bound.bits_unit_variance > 1.0
