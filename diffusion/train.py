"""Training with the 2015 objective, one step at a time, so that a caller can drive, pause and stop it.

The loss is the paper's: sum over t of KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)), averaged.
What makes it fast without leaving the model family (measured in benchmarks/bench_training.py):
  * every t = 2..T in every batch, all heads at once (`ReverseNet.forward_grouped`);
  * the paper's parameterisation of the reverse kernel (`MeanParameterization.PAPER`);
  * stratified roll points: each row of a batch covers the roll in equal slices;
  * Adam with a cosine-decayed learning rate over the run and an exponential moving average of
    the weights, which is what sampling and the bound use;
  * on a CPU, a network that skips the trunk's dead units (`diffusion.live_units`).
The tutorial's recipe (one t per batch, raw mean and log-variance, constant lr) stays selectable.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from . import datasets
from .config import DiffusionConfig, LRSchedule, Network, TimestepSampling, resolve_device
from .datasets import DataSet
from .gaussian_diffusion import GaussianDiffusion, LearnedBetas
from .live_units import LiveUnitsNet
from .model import ReverseNet
from .rbf import RBFNet
from .schedule import NoiseSchedule

LR_FLOOR = 0.02  # cosine decay ends at 2% of the peak rate, not 0, so a longer run can resume
WARMUP_STEPS = 20  # Adam's first moments are noisy; a short ramp keeps the first steps sane
ADAM_BETAS = (0.9, 0.999)
# A KL of a million nats per point is no model of a unit-scale roll (a fresh network starts near
# 10): the weights have blown up even if every number is still finite.
DIVERGED_LOSS = 1e6
# Learned betas move at this fraction of the network's learning rate: while the network is still
# poor, the full rate would bend the schedule around its errors rather than the data.
BETA_LR_SCALE = 0.1


class TrainingDiverged(RuntimeError):
    """The loss or its gradient became NaN or inf; the last good weights have been restored."""


@dataclass
class TrainingHistory:
    """Loss curve (nats per point, averaged over t = 2..T) and the latest loss per t.

    To keep memory bounded on long runs, the curve keeps every `stride`-th step and doubles the
    stride (dropping every other point) whenever it reaches `max_points`.
    """

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    kl_per_t: list[float] = field(default_factory=list)  # t = 2..T, smoothed over recent steps
    stride: int = 1
    max_points: int = 5000

    def record(self, step: int, loss: float, seconds: float) -> None:
        if step % self.stride:
            return
        self.steps.append(step)
        self.loss.append(loss)
        self.seconds.append(seconds)
        if len(self.steps) >= self.max_points:
            self.steps, self.loss, self.seconds = self.steps[::2], self.loss[::2], self.seconds[::2]
            self.stride *= 2

    def update_kl_per_t(self, kl: np.ndarray, t_index: np.ndarray, smoothing: float = 0.9) -> None:
        """Blend this step's per-t KL (values at positions t_index of the t = 2..T array) in."""
        for i, value in zip(t_index.tolist(), kl.tolist()):
            old = self.kl_per_t[i]
            self.kl_per_t[i] = value if math.isnan(old) else smoothing * old + (1 - smoothing) * value

    def to_dict(self) -> dict:
        return {
            "steps": list(self.steps),
            "loss": list(self.loss),
            "seconds": list(self.seconds),
            "kl_per_t": list(self.kl_per_t),
            "stride": self.stride,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TrainingHistory:
        return cls(
            steps=[int(v) for v in data["steps"]],
            loss=[float(v) for v in data["loss"]],
            seconds=[float(v) for v in data["seconds"]],
            kl_per_t=[float(v) for v in data["kl_per_t"]],
            stride=int(data.get("stride", 1)),
        )


def build_model(config: DiffusionConfig, device: str | torch.device = "cpu") -> tuple[ReverseNet, GaussianDiffusion]:
    """A freshly initialised network (seeded by config.seed) and the diffusion maths for it."""
    # On a CPU the fast path that skips the trunk's dead units (diffusion/live_units.py); on a
    # GPU finding them would wait for the device at every call.
    network = LiveUnitsNet if torch.device(device).type == "cpu" else ReverseNet
    if config.network is Network.RBF:
        network = RBFNet
    model = network(config.T, config.width, generator=torch.Generator().manual_seed(config.seed)).to(device)
    diffusion = GaussianDiffusion(NoiseSchedule.from_config(config), config.parameterization, device)
    return model, diffusion


class Trainer:
    """Trains one model. Call `step()` or `train(...)`; read `sampling_model`, `history`, `progress`.

    Not thread-safe: one thread drives it (the CLI's, or the training process of
    `diffusion.worker`, whose snapshot thread only reads copies made between steps).
    """

    def __init__(
        self,
        config: DiffusionConfig,
        model: ReverseNet | None = None,
        history: TrainingHistory | None = None,
        steps_trained: int = 0,
        betas: np.ndarray | None = None,
        dataset: DataSet | None = None,
    ):
        """`model`, `history` and `steps_trained` continue a model trained before: its step count
        and loss curve go on from where they ended (the history is copied, never changed in place).
        `betas` (T,): where learned betas start (a continued run's), instead of the config's schedule.
        `dataset`: the data to learn (needed for a user's own points); by default `config.data`."""
        self.config = config.validate()
        self.dataset = datasets.resolve(config.data) if dataset is None else dataset
        self.device = torch.device(resolve_device(config.device))
        fresh, self._fixed_diffusion = build_model(config, self.device)
        self.model = fresh if model is None else model.to(self.device)
        self.model.train()
        self.ema_model = copy.deepcopy(self.model).requires_grad_(False) if config.ema_decay > 0 else None
        # The paper's learned schedule: beta_2..beta_T trained with the weights (one Adam, one lr).
        self.learned_betas = self.ema_betas = None
        if config.learn_betas:
            start = self._fixed_diffusion.schedule.betas[1:] if betas is None else betas
            self.learned_betas = LearnedBetas(start).to(self.device)
            if config.ema_decay > 0:
                self.ema_betas = copy.deepcopy(self.learned_betas).requires_grad_(False)
        self._params = list(self.model.parameters())
        groups = [{"params": list(self.model.parameters()), "lr_scale": 1.0}]
        if self.learned_betas is not None:
            self._params += list(self.learned_betas.parameters())
            groups.append({"params": list(self.learned_betas.parameters()), "lr_scale": BETA_LR_SCALE})
        self._diffusion_cache: tuple[int, GaussianDiffusion] | None = None
        # The fused kernel is Adam's fastest path on CPU and GPU.
        self.optimizer = torch.optim.Adam(
            groups, lr=config.lr, fused=self.device.type in ("cpu", "cuda"), betas=ADAM_BETAS
        )
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        self._t_sampler = np.random.default_rng(config.seed + 2)  # the tutorial's one-t-per-batch draw
        if history is None or len(history.kl_per_t) != config.T - 1:
            kl_per_t = [math.nan] * (config.T - 1)
        else:
            kl_per_t = list(history.kl_per_t)
        if history is None:
            self.history = TrainingHistory(kl_per_t=kl_per_t)
        else:
            self.history = TrainingHistory.from_dict({**history.to_dict(), "kl_per_t": kl_per_t})
            self.history.max_points = history.max_points
        # A continued run counts on from the model's own steps and seconds: `step_count` and the
        # history (in its snapshots and a checkpoint) are the model's in all. `run_steps` and
        # `train_seconds` are this run's alone, and so are the run's length, its learning-rate
        # warm-up and cosine decay and the moving average's warm-up: Adam's moments start afresh
        # with every run, so a continued run needs its own warm-up, and a run of N more steps
        # decays over those N.
        self.start_step = int(steps_trained)
        self.start_seconds = self.history.seconds[-1] if self.history.seconds else 0.0
        self.run_steps = 0  # this run's steps; `step_count` is the model's in all
        self.train_seconds = 0.0  # this run's time in step(), pauses and evaluation excluded
        self._last_good = [p.detach().clone() for p in self._params]
        self._all_t = range(2, config.T + 1)
        # Our recipe covers the roll evenly in every row of a batch (stratified points: the same
        # expected gradient, less noise); the tutorial's draws i.i.d. points.
        self.stratified = config.timestep_sampling is TimestepSampling.ALL
        self._rate_window: list[tuple[float, int]] = []

    # ------------------------------------------------------------------ state
    @property
    def sampling_model(self) -> ReverseNet:
        """The weights to sample and evaluate with: the moving average when it is on."""
        return self.ema_model if self.ema_model is not None else self.model

    @property
    def diffusion(self) -> GaussianDiffusion:
        """The diffusion maths of the sampling model: for learned betas, of their current values
        (the moving average's when it is on), as a fixed float64 NoiseSchedule."""
        if self.learned_betas is None:
            return self._fixed_diffusion
        if self._diffusion_cache is None or self._diffusion_cache[0] != self.step_count:
            betas = (self.ema_betas or self.learned_betas).values()
            schedule = NoiseSchedule.from_betas(betas, self.config.schedule)
            self._diffusion_cache = (
                self.step_count,
                GaussianDiffusion(schedule, self.config.parameterization, self.device),
            )
        return self._diffusion_cache[1]

    @property
    def step_count(self) -> int:
        """The model's steps in all: those before this run and this run's."""
        return self.start_step + self.run_steps

    @step_count.setter
    def step_count(self, value: int) -> None:
        self.run_steps = value - self.start_step

    @property
    def seconds_trained(self) -> float:
        """The model's training time in all, as its history records it."""
        return self.start_seconds + self.train_seconds

    @property
    def progress(self) -> float:
        """Fraction of the configured length done, by steps or seconds, whichever is further."""
        c = self.config
        parts = []
        if c.steps is not None:
            parts.append(self.run_steps / c.steps)
        if c.max_seconds is not None:
            parts.append(self.train_seconds / c.max_seconds)
        return min(1.0, max(parts))

    @property
    def done(self) -> bool:
        return self.progress >= 1.0

    @property
    def iterations_per_second(self) -> float:
        """Over the last two seconds of stepping (pauses excluded)."""
        w = self._rate_window
        if len(w) < 2 or w[-1][0] <= w[0][0]:
            return 0.0
        return (w[-1][1] - w[0][1]) / (w[-1][0] - w[0][0])

    def learning_rate(self) -> float:
        c = self.config
        warm = min(1.0, (self.run_steps + 1) / WARMUP_STEPS)
        if c.lr_schedule is LRSchedule.CONSTANT:
            return c.lr * warm
        cos = 0.5 * (1.0 + math.cos(math.pi * self.progress))
        return c.lr * warm * (LR_FLOOR + (1.0 - LR_FLOOR) * cos)

    # ------------------------------------------------------------------ one step
    def _batch(self) -> tuple[torch.Tensor, torch.Tensor | range]:
        """x_0 laid out (K, n, 2) with row k at timestep t[k]."""
        c = self.config
        if c.timestep_sampling is TimestepSampling.ALL:
            t = self._all_t
            n = max(1, c.batch_size // (c.T - 1))
        else:
            t_one = int(self._t_sampler.integers(2, c.T + 1))
            t = range(t_one, t_one + 1)
            n = c.batch_size
        x0 = self.dataset.sample_torch(
            (len(t), n), self.generator, self.device, stratified=self.stratified, scale=c.data_scale
        )
        return x0, t

    def step(self) -> float:
        """One optimisation step. Returns the loss (mean KL over t and points, nats per point).

        With learned betas the objective is -K / (T - 1): the mean KL less the entropy terms of
        eq. 14, H_q(X_T|X_0) - H_q(X_1|X_0) - H_p(X_T), which depend on the betas through
        alpha_bar_T; the loss returned and recorded stays the mean KL, comparable across runs.

        Raises TrainingDiverged, with the last good weights restored, if the loss or a gradient
        is not finite.
        """
        started = time.perf_counter()
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate() * group["lr_scale"]
        x0, t = self._batch()
        noise = torch.randn(x0.shape, generator=self.generator, device=self.device)
        if self.learned_betas is None:
            diffusion = self._fixed_diffusion
        else:  # rebuilt from the betas' current values, so the gradient reaches them
            diffusion = GaussianDiffusion.from_betas_tensor(self.learned_betas(), self.config.parameterization)
        kl = diffusion.kl_terms(self.model, x0, t, noise)  # (K, n)
        kl_per_row = kl.mean(dim=1)
        loss = kl_per_row.mean()
        objective = loss if self.learned_betas is None else loss - diffusion.entropy_nats / (self.config.T - 1)
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        loss_value = float(loss.detach())
        grads = [p.grad for p in self._params if p.grad is not None]
        grad_norm = float(torch.stack(torch._foreach_norm(grads)).norm()) if grads else 0.0
        if not (math.isfinite(loss_value) and math.isfinite(grad_norm)) or loss_value > DIVERGED_LOSS:
            self._restore_last_good()
            bad_grad = math.isfinite(loss_value) and not math.isfinite(grad_norm)
            what = "a gradient is not finite" if bad_grad else f"loss is {loss_value:.3g}"
            raise TrainingDiverged(
                f"training diverged at step {self.step_count + 1} ({what}); the last good "
                f"weights are kept. Try a smaller learning rate (now {self.config.lr:g}) or a schedule "
                "whose beta_T is further from 1."
            )
        # These weights produced a finite loss and gradient: they are the new fallback.
        torch._foreach_copy_(self._last_good, [p.detach() for p in self._params])
        if self.ema_model is not None:
            self._update_ema()
        self.optimizer.step()

        self.run_steps += 1
        now = time.perf_counter()
        self.train_seconds += now - started
        self._rate_window.append((self.train_seconds, self.step_count))
        while len(self._rate_window) > 2 and self._rate_window[-1][0] - self._rate_window[0][0] > 2.0:
            self._rate_window.pop(0)
        self.history.record(self.step_count, loss_value, self.seconds_trained)
        self.history.update_kl_per_t(kl_per_row.detach().cpu().numpy(), np.arange(t.start - 2, t.stop - 2))
        return loss_value

    def _update_ema(self) -> None:
        # Warm-up form of the decay: early on the average follows the weights closely, so the
        # sampling model is useful after a few dozen steps instead of a few thousand.
        n = self.run_steps
        decay = min(self.config.ema_decay, (1.0 + n) / (10.0 + n))
        ema_params = list(self.ema_model.parameters())
        if self.ema_betas is not None:
            ema_params += list(self.ema_betas.parameters())
        torch._foreach_lerp_(ema_params, self._last_good, 1.0 - decay)

    def _restore_last_good(self) -> None:
        with torch.no_grad():
            for p, good in zip(self._params, self._last_good):
                p.copy_(good)
        if self.ema_model is not None and not all(torch.isfinite(p).all() for p in self.ema_model.parameters()):
            self.ema_model.load_state_dict(self.model.state_dict())
        self.optimizer.state.clear()

    # ------------------------------------------------------------------ a whole run
    def train(
        self,
        should_stop: Callable[[], bool] | None = None,
        on_step: Callable[[Trainer, float], None] | None = None,
    ) -> Trainer:
        """Step until the configured length (steps or seconds) is reached or should_stop() is true."""
        while not self.done:
            if should_stop is not None and should_stop():
                break
            loss = self.step()
            if on_step is not None:
                on_step(self, loss)
        return self

    def snapshot_model(self) -> ReverseNet:
        """A detached copy of the sampling weights, safe to use while training goes on."""
        snap = copy.deepcopy(self.sampling_model).requires_grad_(False)
        return snap.eval()
