"""How much memory each computation the app runs for a user needs, estimated before it starts.

One class shares one small server: a single request (a huge batch, a bound on a huge uploaded
model) must not be able to take it down. Every estimate here is in bytes, counts float32 tensors
from the shapes the code allocates, and is checked against a measured peak (RSS growth in a fresh
process) in tests/test_memory.py. `MEMORY_BUDGET_BYTES` is what one run (or one view) may use;
`check(...)` raises `MemoryBudgetError` (a ConfigError, so every page shows it like any bad
setting) naming the estimate, the budget and what to lower.
"""

from __future__ import annotations

import os

from .config import ConfigError, DiffusionConfig, TimestepSampling

MB = 2**20
F32 = 4


def _budget_from_env() -> int:
    raw = os.environ.get("DIFFUSION_MEMORY_BUDGET_MB", "")
    try:
        mb = float(raw)
    except ValueError:
        mb = 0.0
    # a typo in the environment must not switch the budget off: fall back to the default
    return int(mb * MB) if 16 <= mb < 2**40 else 1024 * MB


# Per run or view: 1 GB, so eight sessions computing at once fit in 8 GB.
MEMORY_BUDGET_BYTES = _budget_from_env()

# What a forked training process holds beyond the server's shared pages: its own interpreter
# state, torch's allocator and thread pools.
TORCH_PROCESS_BYTES = 150 * MB

# One chunk of a computation that works through points in pieces (the bound, the drift field)
# holds at most this much of activations; the chunk count grows instead.
CHUNK_BYTES = 64 * MB

# Above this many multiply-adds (n x (T - 1) x width^2) a view takes more than a few seconds of
# the shared CPUs: ViewPrefetch does not build it ahead (the page builds it when asked).
PREFETCH_WORK_MAX = 5e10
# Above this the Bound page does not compute the bound at all: it would hold the server's CPUs
# for minutes. The shipped model's bound is 1.3e10.
BOUND_WORK_MAX = 2e11

# Activations of the network, counted in (rows, width) float32 layers. Forward and backward of
# one training row: the trunk's two layers, the head's hidden layer and their gradients, not all
# alive at once (fitted to the measured peaks of tests/test_memory.py).
_TRAIN_LAYERS = 4.5
# Inference (no graph kept): the trunk's input and output layer and the head's hidden layer alive at once.
_INFER_LAYERS = 3
# Per row of a batch, the (K, n, 2) and (K, n, 4) tensors of q, the posterior, the kernel and the
# KL, forward and backward.
_TRAIN_POINT_BYTES = 1100
_INFER_POINT_BYTES = 40 * 2 * F32


class MemoryBudgetError(ConfigError):
    """A computation's estimated memory exceeds the budget; the message says what to lower."""


def fmt_bytes(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / MB:,.0f} MB"


def weight_bytes(config: DiffusionConfig) -> int:
    return config.parameter_count() * F32


def _rows(config: DiffusionConfig) -> int:
    """Points in one training batch as the trainer lays it out (K timesteps x n points)."""
    if config.timestep_sampling is TimestepSampling.ALL:
        return (config.T - 1) * max(1, config.batch_size // (config.T - 1))
    return config.batch_size


def training_bytes(config: DiffusionConfig) -> int:
    """Peak memory of one training process for `config`.

    Weights, their gradients, Adam's two moments, the moving average, the last-good copy and the
    live-unit copy of the heads' first layer (forward, and its gradient in backward): 7 copies of
    the weights while stepping, and a snapshot's copy, its numpy form and its pickle (3 more) at
    the moment one is published. Then the batch's activations: the trunk's (batch, width) layers and
    the heads' (T - 1, batch / (T - 1), width) layers, forward and backward; the snapshot's 5,000
    samples; and the process's own torch state.
    """
    w = weight_bytes(config)
    copies = 6 + (1 if config.ema_decay > 0 else 0) + 3
    rows = _rows(config)
    activations = rows * (_TRAIN_LAYERS * config.width * F32 + _TRAIN_POINT_BYTES)
    return int(copies * w + activations) + TORCH_PROCESS_BYTES


def training_work_bytes(config: DiffusionConfig) -> int:
    """training_bytes without the process's constant: what the tests measure in a warm process."""
    return training_bytes(config) - TORCH_PROCESS_BYTES


def chunk_points(T: int, width: int) -> int:
    """Points per chunk of the bound, so that one chunk's (T - 1, chunk, width) layers stay under CHUNK_BYTES."""
    per_point = (T - 1) * (width * F32 * _INFER_LAYERS + _INFER_POINT_BYTES)
    return max(1, min(4096, CHUNK_BYTES // per_point))


def bound_chunk(config: DiffusionConfig) -> int:
    return chunk_points(config.T, config.width)


def bound_bytes(config: DiffusionConfig, n_points: int, chunk: int | None = None) -> int:
    """Peak memory of the bound on n_points held-out points, computed `chunk` points at a time
    (bound_chunk's size when None): the points, and one chunk's (T - 1, chunk, width) layers, of
    which the allocator holds on to several between chunks (fitted to measured peaks), and the
    live-unit copy of the heads' first layer, part of the time."""
    chunk = min(n_points, bound_chunk(config) if chunk is None else chunk)
    rows = (config.T - 1) * chunk
    return int(n_points * 2 * 8 + rows * 6 * config.width * F32 + weight_bytes(config) // 2)


def bound_work(config: DiffusionConfig, n_points: int) -> float:
    """Multiply-adds of the bound: every point through every head."""
    return float(n_points) * (config.T - 1) * config.width * config.width


def trajectory_bytes(config: DiffusionConfig, n: int) -> int:
    """Peak memory of a reverse trajectory of n points: the (T + 1, n, 2) trajectory and its noise,
    one step's (n, width) layers, and part of a copy of the weights (fitted to measured peaks)."""
    chain = (config.T + 1) * n * 2 * F32
    return int(2 * chain + n * (config.width * F32 + _INFER_POINT_BYTES) + 0.3 * weight_bytes(config))


def drift_chunk(config: DiffusionConfig, grid_points: int) -> int:
    """Timesteps per chunk of the drift field, so one chunk's (t, grid, width) layers stay under CHUNK_BYTES."""
    per_t = grid_points * config.width * F32 * _INFER_LAYERS
    return max(1, min(config.T - 1, CHUNK_BYTES // per_t))


def drift_bytes(config: DiffusionConfig, grid_points: int) -> int:
    """One chunk's layers (the trunk's output and the heads' hidden layer) and the (T + 1, grid, 2) result."""
    rows = drift_chunk(config, grid_points) * grid_points
    return rows * 2 * config.width * F32 + 2 * (config.T + 1) * grid_points * 2 * F32


def views_bytes(config: DiffusionConfig, n: int, grid_n: int = 15, frames: int = 41, kind: str = "reverse") -> int:
    """Peak memory of the Reverse page's view and animation (kind "reverse") or the Forward page's
    (kind "forward": the chain, no network). The trajectory is gone by the time the figure is built
    (only its frames stay), so the peak is the larger of the two, plus the drift field. A figure
    holds each frame's points as Python floats on their way to JSON: about 75 bytes a number
    (fitted to measured peaks)."""
    figure = frames * (n + 3 * grid_n * grid_n) * 2 * 75
    kept = frames * n * 2 * F32
    if kind == "forward":
        return max(3 * (config.T + 1) * n * 2 * F32, figure) + kept
    return max(trajectory_bytes(config, n), figure) + drift_bytes(config, grid_n * grid_n) + kept


def what_to_lower(config: DiffusionConfig) -> str:
    return "Lower the batch size, the network width or T."


def check(estimate: int, what: str, advice: str, budget: int | None = None) -> None:
    """Raise MemoryBudgetError when `estimate` bytes exceed the budget."""
    budget = MEMORY_BUDGET_BYTES if budget is None else budget
    if estimate > budget:
        raise MemoryBudgetError(
            f"memory: {what} needs about {fmt_bytes(estimate)}; the limit per run on this shared server is "
            f"{fmt_bytes(budget)}. {advice}"
        )


def check_training(config: DiffusionConfig, budget: int | None = None) -> DiffusionConfig:
    """Raise MemoryBudgetError when a training run of `config` would not fit the budget; return config."""
    check(
        training_bytes(config),
        f"training at batch {config.batch_size:,}, width {config.width:,} and T = {config.T:,}",
        what_to_lower(config),
        budget,
    )
    return config
