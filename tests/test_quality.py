"""The quality bar of the tutorial's figure, guarded at a budget CI can afford.

Bar: sliced W1 <= 0.025 and chamfer <= 0.08 with 5,000 samples against 5,000 fresh roll points.
benchmarks/bench_training.py measures the same thing in seconds; here the budget is in steps so
the result does not depend on how busy the machine is.
"""

from pathlib import Path

import pytest

from diffusion.checkpoint import load_checkpoint
from diffusion.config import DiffusionConfig
from diffusion.metrics import QUALITY_CHAMFER, QUALITY_SW1
from diffusion.pipeline import DiffusionPipeline
from diffusion.train import Trainer

ASSETS = Path(__file__).resolve().parents[1] / "assets"

# A few seconds of training on a 2-core CPU at the default batch. The default run, seed 0, meets
# the bar for good from about 300 steps; 400 guard that with a margin.
EARLY_STEPS = 400


def _assert_meets_bar(pipeline: DiffusionPipeline) -> None:
    quality = pipeline.quality(5000, seed=0)
    assert quality.sw1 <= QUALITY_SW1, f"sliced W1 {quality.sw1:.4f} above the bar {QUALITY_SW1}"
    assert quality.chamfer <= QUALITY_CHAMFER, f"chamfer {quality.chamfer:.4f} above the bar {QUALITY_CHAMFER}"


def test_default_recipe_meets_the_bar_within_its_first_seconds():
    """A default run, cut after the steps that fit in ~4.5 s, already draws the tutorial's figure."""
    trainer = Trainer(DiffusionConfig(device="cpu"))
    trainer.train(should_stop=lambda: trainer.step_count >= EARLY_STEPS)
    assert trainer.step_count == EARLY_STEPS
    _assert_meets_bar(DiffusionPipeline.from_trainer(trainer))


def test_untrained_model_does_not_meet_the_bar():
    """The bar can fail: a fresh network draws a blob."""
    quality = DiffusionPipeline.untrained(DiffusionConfig(device="cpu")).quality(5000, seed=0)
    assert not quality.passes


def test_shipped_default_model_loads_and_meets_the_bar():
    pipeline = load_checkpoint(ASSETS / "default_model.pt", device="cpu")
    assert pipeline.config.model_key() == DiffusionConfig().model_key()
    assert pipeline.steps_trained > 0
    _assert_meets_bar(pipeline)


@pytest.mark.parametrize("seed", [1, 2])
def test_shipped_default_model_bound_is_near_the_best_possible(seed):
    """K at unit variance well above 0 bits: the reverse kernels are close to the posteriors."""
    pipeline = load_checkpoint(ASSETS / "default_model.pt", device="cpu")
    bound = pipeline.bound(5000, seed=1000 + seed)
    assert bound.bits_unit_variance > 1.0
