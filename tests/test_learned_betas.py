"""The paper's learned schedule: beta_2..beta_T trained by gradient ascent on K, beta_1 fixed."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from diffusion.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint
from diffusion.config import ConfigError, DiffusionConfig
from diffusion.gaussian_diffusion import GaussianDiffusion, LearnedBetas
from diffusion.metrics import entropy_terms_nats
from diffusion.model import ReverseNet
from diffusion.pipeline import DiffusionPipeline
from diffusion.schedule import NoiseSchedule, make_betas
from diffusion.train import Trainer

TENSORS = (
    "sqrt_alphas",
    "sqrt_betas",
    "sqrt_alpha_bars",
    "sqrt_one_minus_alpha_bars",
    "posterior_coef_x0",
    "posterior_coef_xt",
    "posterior_variance",
    "posterior_log_variance",
    "posterior_logit_variance",
)


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tiny(**changes) -> DiffusionConfig:
    return DiffusionConfig(**{"T": 6, "width": 8, "steps": 5, "device": "cpu", "learn_betas": True, **changes})


@pytest.mark.parametrize("schedule", ["sigmoid", "linear", "cosine", "paper"])
def test_starts_exactly_at_the_configured_schedule(schedule):
    betas = make_betas(schedule, 40, 1e-5, 0.3)
    learned = LearnedBetas(betas)
    assert torch.equal(learned(), torch.from_numpy(betas))
    fixed = GaussianDiffusion(NoiseSchedule.from_betas(betas), "paper")
    differentiable = GaussianDiffusion.from_betas_tensor(learned(), "paper")
    for name in TENSORS:
        assert torch.equal(getattr(fixed, name), getattr(differentiable, name)), name
    assert differentiable.entropy_nats.item() == pytest.approx(float(fixed.entropy_nats), rel=1e-12)


def test_betas_stay_in_the_open_unit_interval_and_beta_1_is_fixed():
    learned = LearnedBetas(make_betas("sigmoid", 10, 1e-5, 0.3))
    with torch.no_grad():
        for value in (-1e3, -30.0, 30.0, 1e3):
            learned.u.fill_(value)
            b = learned()
            assert torch.all(b > 0) and torch.all(b < 1), value
            assert b[0] == make_betas("sigmoid", 10, 1e-5, 0.3)[0]
    with pytest.raises(ValueError):
        LearnedBetas(np.array([1e-5, 1.0]))


def test_entropy_terms_match_the_schedule_of_the_current_betas():
    learned = LearnedBetas(make_betas("sigmoid", 12, 1e-5, 0.3))
    with torch.no_grad():
        learned.u.copy_(torch.linspace(-2.0, 3.0, 11, dtype=torch.float64))
    d = GaussianDiffusion.from_betas_tensor(learned(), "paper", dtype=torch.float64)
    schedule = NoiseSchedule.from_betas(learned.values())
    assert d.entropy_nats.item() == pytest.approx(entropy_terms_nats(schedule), rel=1e-12, abs=1e-12)
    assert d.schedule.alpha_bar_T == pytest.approx(schedule.alpha_bar_T, rel=1e-12)


def test_gradcheck_of_the_bound_with_respect_to_the_betas():
    """-K = sum_t KL_t - entropy terms, float64, tiny T and width: the analytic gradient in u is right."""
    torch.manual_seed(0)
    T = 4
    model = ReverseNet(T, 3, generator=torch.Generator().manual_seed(1)).double()
    with torch.no_grad():
        for p in (model.head_w2, model.head_b2):
            p.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(2))
    x0 = torch.randn(T - 1, 5, 2, dtype=torch.float64)
    noise = torch.randn(T - 1, 5, 2, dtype=torch.float64)
    learned = LearnedBetas(make_betas("linear", T, 1e-3, 0.4))

    def minus_k(u):
        moved = learned.span * (torch.sigmoid(learned.offset + u) - torch.sigmoid(learned.offset))
        betas = torch.cat([learned.beta_1, learned.base + moved])
        d = GaussianDiffusion.from_betas_tensor(betas, "paper", dtype=torch.float64)
        return d.kl_terms(model, x0, range(2, T + 1), noise).mean(1).sum() - d.entropy_nats

    u = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(minus_k, (u,))


def test_training_moves_the_betas_and_views_use_them():
    trainer = Trainer(tiny(steps=30))
    start = trainer.diffusion.schedule.betas.copy()
    np.testing.assert_array_equal(start, NoiseSchedule.from_config(trainer.config).betas)
    trainer.train()
    now = trainer.diffusion.schedule.betas
    assert now[1] == start[1] and not np.array_equal(now[2:], start[2:])
    assert np.all((now[1:] > 0) & (now[1:] < 1))
    pipeline = DiffusionPipeline.from_trainer(trainer)
    np.testing.assert_array_equal(pipeline.diffusion.schedule.betas, now)
    assert np.isfinite(pipeline.bound(500).bits)
    # fixed betas stay the config's
    fixed = Trainer(tiny(learn_betas=False)).train()
    np.testing.assert_array_equal(fixed.diffusion.schedule.betas, start)


def test_learn_betas_is_a_validated_model_field():
    assert DiffusionConfig().learn_betas is False
    assert tiny().model_key() != tiny(learn_betas=False).model_key()
    with pytest.raises(ConfigError, match=r"^learn_betas:"):
        tiny(learn_betas="yes").validate()


def test_checkpoint_keeps_the_learned_betas():
    pipeline = DiffusionPipeline.from_trainer(Trainer(tiny(steps=20)).train())
    loaded = load_checkpoint(checkpoint_bytes(pipeline), device="cpu")
    np.testing.assert_array_equal(loaded.diffusion.schedule.betas, pipeline.diffusion.schedule.betas)
    assert loaded.bound(500).bits == pytest.approx(pipeline.bound(500).bits, abs=1e-6)
    payload = torch.load(io.BytesIO(checkpoint_bytes(pipeline)), weights_only=True)
    for bad in (None, payload["betas"][:-1], payload["betas"].float(), payload["betas"] * 0 + 1.0):
        broken = dict(payload, betas=bad)
        buffer = io.BytesIO()
        torch.save(broken, buffer)
        with pytest.raises(CheckpointError, match="learned betas"):
            load_checkpoint(buffer.getvalue(), device="cpu")
    fixed = DiffusionPipeline.from_trainer(Trainer(tiny(learn_betas=False)).train())
    assert "betas" not in torch.load(io.BytesIO(checkpoint_bytes(fixed)), weights_only=True)
