"""The memory estimates of diffusion/memory.py against measured peaks, and the budget's refusals.

Each measurement runs in a fresh process: torch imported and warmed up by one tiny training step,
the config built, then the RSS growth from just before the computation to the process's peak
(psutil for the start, the kernel's high-water mark for the peak).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from diffusion import memory
from diffusion.config import DiffusionConfig
from diffusion.jobs import TrainingJob

ROOT = Path(__file__).resolve().parents[1]

MEASURE = r"""
import gc, json, pickle, sys
import psutil, torch
torch.set_num_threads(1)
from diffusion import figures, views
from diffusion.config import DiffusionConfig
from diffusion.pipeline import DiffusionPipeline
from diffusion.train import Trainer, build_model
from diffusion.worker import to_numpy

kind, fields, n = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
cfg = DiffusionConfig(**fields).replace(device="cpu")
Trainer(DiffusionConfig(T=3, width=2, batch_size=8, device="cpu")).step()  # warm torch and Adam up
gc.collect()
proc = psutil.Process()
if kind == "train":
    start = proc.memory_info().rss
    trainer = Trainer(cfg)
    for _ in range(2):
        trainer.step()
    published = pickle.dumps(to_numpy(trainer.snapshot_model().state_dict()))  # what a snapshot sends
else:
    model, diffusion = build_model(cfg, "cpu")  # exists before the computation (an upload, a run's model)
    pipeline = DiffusionPipeline(cfg, model.eval(), diffusion)
    start = proc.memory_info().rss
    if kind == "bound":
        pipeline.bound(n)
    elif kind == "trajectory":
        pipeline.reverse_trajectory(n)
    else:
        figures.reverse_animation(views.reverse_view(pipeline, n)).to_json()
# VmHWM, this process's own peak RSS: ru_maxrss would also count the parent's RSS at the fork
# that started this interpreter (Linux carries it across exec), which a big pytest process sets.
with open("/proc/self/status") as f:
    hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
peak = max(hwm, proc.memory_info().rss)
print(json.dumps({"growth": peak - start}))
"""


def measured_growth(kind: str, fields: dict, n: int = 0) -> int:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, kind, json.dumps(fields), str(n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])["growth"]


def assert_within(estimate: int, measured: int, rel: float = 0.3) -> None:
    assert abs(estimate - measured) <= rel * measured, (
        f"estimate {estimate / 2**20:.0f} MB, measured {measured / 2**20:.0f} MB"
    )


@pytest.mark.parametrize(
    "fields",
    [
        dict(T=40, width=128, batch_size=65536),  # activations of the trunk and heads dominate
        dict(T=4, width=1024, batch_size=32768),  # wide: activations and weight copies
        dict(T=200, width=256, batch_size=20000),  # many heads: the weight copies dominate
    ],
)
def test_training_bytes_matches_a_measured_step(fields):
    cfg = DiffusionConfig(**fields)
    assert_within(memory.training_work_bytes(cfg), measured_growth("train", fields))


@pytest.mark.parametrize(
    "fields, n",
    [(dict(T=40, width=128), 20_000), (dict(T=1000, width=138), 2000), (dict(T=1000, width=64), 5000)],
)
def test_bound_bytes_matches_a_measured_bound(fields, n):
    # the peak of two runs, as for the views: how much malloc hands back before the peak varies
    peak = max(measured_growth("bound", fields, n) for _ in range(2))
    assert_within(memory.bound_bytes(DiffusionConfig(**fields), n), peak)


# Sizes where the estimate is tens of MB, well above the allocator's noise, but quick to compute.
@pytest.mark.parametrize("fields, n", [(dict(T=400, width=128), 10_000), (dict(T=300, width=512), 10_000)])
def test_trajectory_bytes_matches_a_measured_trajectory(fields, n):
    assert_within(memory.trajectory_bytes(DiffusionConfig(**fields), n), measured_growth("trajectory", fields, n))


@pytest.mark.parametrize("fields, n", [(dict(T=400, width=128), 10_000), (dict(T=40, width=128), 10_000)])
def test_views_bytes_matches_a_measured_reverse_view(fields, n):
    # Building and serialising the figure makes many short-lived Python objects: how much of that
    # memory malloc hands back before the peak varies from run to run, so the peak of two runs.
    peak = max(measured_growth("views", fields, n) for _ in range(2))
    assert_within(memory.views_bytes(DiffusionConfig(**fields), n), peak)


def test_bound_chunks_stay_bounded_for_a_long_wide_model():
    """The uploaded T = 1000, width-138 model's bound once held 4,096 points x 999 heads at a time."""
    cfg = DiffusionConfig(T=1000, width=138)
    assert memory.bound_chunk(cfg) < 4096
    assert memory.bound_bytes(cfg, 20_000) < memory.MEMORY_BUDGET_BYTES / 4
    assert memory.bound_chunk(DiffusionConfig()) * (40 - 1) * 128 * 4 * 3 <= memory.CHUNK_BYTES


def test_the_budget_comes_from_the_environment():
    code = "from diffusion import memory; print(memory.MEMORY_BUDGET_BYTES)"
    for value, expected in (("256", 256 * 2**20), ("", 1024 * 2**20), ("lots", 1024 * 2**20), ("nan", 1024 * 2**20)):
        env = {"DIFFUSION_MEMORY_BUDGET_MB": value, "PATH": "/usr/bin"}
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
        assert int(out.stdout) == expected, (value, out.stderr)


def test_a_huge_batch_is_refused_before_anything_starts():
    cfg = DiffusionConfig(T=4, width=2048, batch_size=262_144, device="cpu")
    with pytest.raises(memory.MemoryBudgetError) as err:
        TrainingJob(cfg)
    message = str(err.value)
    assert "GB" in message and "limit per run" in message and "batch size" in message
    TrainingJob(DiffusionConfig(device="cpu"))  # the defaults fit easily
