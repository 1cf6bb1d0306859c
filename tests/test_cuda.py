"""The engine and a dashboard training job on a GPU.

Skipped where torch sees no CUDA device (CI has none): run it on a machine with one,
`.venv/bin/python -m pytest tests/test_cuda.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion.checkpoint import checkpoint_bytes, load_checkpoint, save_checkpoint
from diffusion.config import DiffusionConfig
from diffusion.jobs import JobState, TrainingJob, TrainingSlots
from diffusion.pipeline import DiffusionPipeline
from diffusion.train import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

# cuda draws other random numbers than the CPU for the same seed, so seed 0 there is another run,
# one that reaches the bar later than the CPU's: the GPU run gets a longer budget.
GPU_STEPS = 600


def test_default_recipe_on_the_gpu_meets_the_bar_within_600_steps():
    trainer = Trainer(DiffusionConfig(device="cuda"))
    assert all(p.is_cuda for p in trainer.model.parameters())
    trainer.train(should_stop=lambda: trainer.step_count >= GPU_STEPS)
    pipeline = DiffusionPipeline.from_trainer(trainer)
    assert pipeline.device.type == "cuda"
    quality = pipeline.quality(5000, seed=0)
    assert quality.passes, quality


def test_gpu_and_cpu_compute_the_same_model():
    """Same weights, same seed: the reverse chain and the training loss agree across devices
    (float32 on both; torch does not use TF32 for float32 matmuls unless asked)."""
    cpu = DiffusionPipeline.untrained(DiffusionConfig(device="cpu", seed=5))
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        for p in cpu.model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)  # non-zero readouts: the heads matter
    gpu = load_checkpoint(checkpoint_bytes(cpu), device="cuda")
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.reverse_trajectory(1000, seed=3), cpu.reverse_trajectory(1000, seed=3), atol=2e-4)
    x0 = torch.randn(39, 64, 2, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(39, 64, 2, generator=torch.Generator().manual_seed(2))
    t = range(2, 41)
    kl_cpu = cpu.diffusion.kl_terms(cpu.model, x0, t, noise)
    kl_gpu = gpu.diffusion.kl_terms(gpu.model, x0.cuda(), t, noise.cuda()).cpu()
    torch.testing.assert_close(kl_gpu, kl_cpu, rtol=1e-4, atol=1e-5)


def test_a_checkpoint_made_on_the_gpu_loads_on_the_cpu_with_the_same_samples(tmp_path):
    trainer = Trainer(DiffusionConfig(device="cuda", steps=150, seed=4)).train()
    on_gpu = DiffusionPipeline.from_trainer(trainer)
    path = save_checkpoint(on_gpu, tmp_path / "model.pt")
    on_cpu = load_checkpoint(path, device="cpu")
    assert on_cpu.device.type == "cpu" and on_cpu.steps_trained == 150
    np.testing.assert_allclose(on_cpu.samples(2000, seed=3), on_gpu.samples(2000, seed=3), atol=2e-4)


def test_a_dashboard_job_trains_on_the_gpu_after_the_server_has_used_it():
    """The server process has a CUDA context (the pages draw a GPU model) before Start: the job's
    child comes from the fork server, which never touched CUDA, so it can."""
    torch.zeros(1, device="cuda")
    config = DiffusionConfig(device="cuda", steps=300, seed=2)
    job = TrainingJob(config, slots=TrainingSlots(capacity=1), snapshot_seconds=0.5).start()
    job.join(180)
    status = job.status()
    assert status.state is JobState.FINISHED, status.error
    assert status.step == 300 and status.pipeline.steps_trained == 300
    assert status.pipeline.device.type == "cuda"
    measured_again = status.pipeline.quality()
    assert abs(measured_again.sw1 - status.quality.sw1) < 1e-3
    assert abs(measured_again.chamfer - status.quality.chamfer) < 1e-3
