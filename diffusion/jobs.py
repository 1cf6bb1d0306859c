"""A training run in a background thread, for a UI: start, pause, resume, stop, and read snapshots.

The worker thread never touches the UI. Everything a page shows comes from `TrainingJob.status()`,
an immutable snapshot taken under the job's lock. A server-wide `TrainingSlots` caps how many runs
train at once (by default one per CPU core); a run started beyond the cap waits in line and its
status says how many are ahead of it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np

from .config import DiffusionConfig
from .pipeline import DiffusionPipeline
from .train import Trainer, TrainingDiverged

SNAPSHOT_SECONDS = 2.0  # how often the worker publishes a model and fresh samples for the UI
PREVIEW_POINTS = 2000


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"  # reached its configured length
    STOPPED = "stopped"  # stopped by the user (the model so far is kept)
    FAILED = "failed"  # diverged or crashed (the last good model is kept)

    @property
    def active(self) -> bool:
        return self in (JobState.QUEUED, JobState.RUNNING, JobState.PAUSED)


class TrainingSlots:
    """At most `capacity` runs train at once; the rest wait in first-come order."""

    def __init__(self, capacity: int | None = None):
        self.capacity = max(1, capacity or os.cpu_count() or 1)
        self._cond = threading.Condition()
        self._running: set[int] = set()
        self._waiting: deque[int] = deque()

    def acquire(self, ticket: int, cancelled: threading.Event) -> bool:
        """Block until `ticket` may run (True) or `cancelled` is set (False)."""
        with self._cond:
            self._waiting.append(ticket)
            try:
                while not (len(self._running) < self.capacity and self._waiting[0] == ticket):
                    if cancelled.is_set():
                        return False
                    self._cond.wait(timeout=0.1)
                self._running.add(ticket)
                return True
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()

    def release(self, ticket: int) -> None:
        with self._cond:
            self._running.discard(ticket)
            self._cond.notify_all()

    def position(self, ticket: int) -> int:
        """1-based place of `ticket` in the waiting line; 0 when it is not waiting."""
        with self._cond:
            try:
                return self._waiting.index(ticket) + 1
            except ValueError:
                return 0

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._running)


DEFAULT_SLOTS = TrainingSlots()
_tickets = iter(range(1, 1 << 62))
_ticket_lock = threading.Lock()


@dataclass(frozen=True)
class JobStatus:
    """What the UI shows; taken under the job's lock, so it is consistent."""

    state: JobState
    step: int
    total_steps: int | None
    progress: float  # 0..1
    seconds: float  # training time so far (pauses excluded)
    iterations_per_second: float
    eta_seconds: float | None
    losses: tuple[np.ndarray, np.ndarray]  # (steps, loss in nats per point)
    kl_per_t: np.ndarray  # latest smoothed KL per t = 2..T, nats
    pipeline: DiffusionPipeline | None  # the latest published model
    preview: np.ndarray | None  # fresh samples from that model, (PREVIEW_POINTS, 2)
    snapshot_id: int  # increases with each published model
    error: str | None
    queue_position: int  # 1 = next to start when a slot frees; 0 = not waiting


class TrainingJob:
    """One training run in a daemon thread. Methods are safe to call from any thread."""

    def __init__(self, config: DiffusionConfig, resume_from: DiffusionPipeline | None = None, slots: TrainingSlots = DEFAULT_SLOTS, snapshot_seconds: float = SNAPSHOT_SECONDS):
        self.config = config.validate()  # fail fast, in the caller's thread, with the UI's message
        self._resume_from = resume_from
        self._slots = slots
        self._snapshot_seconds = snapshot_seconds
        with _ticket_lock:
            self._ticket = next(_tickets)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._thread: threading.Thread | None = None
        self._trainer: Trainer | None = None
        self._state = JobState.QUEUED
        self._error: str | None = None
        self._pipeline: DiffusionPipeline | None = resume_from
        self._preview: np.ndarray | None = None
        self._snapshot_id = 0

    # ------------------------------------------------------------------ control
    def start(self) -> "TrainingJob":
        if self._thread is not None:
            return self  # a second Start click is a no-op, not a second thread
        self._thread = threading.Thread(target=self._run, name=f"training-{self._ticket}", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        with self._lock:
            if self._state is JobState.RUNNING:
                self._state = JobState.PAUSED
                self._resume.clear()

    def resume(self) -> None:
        with self._lock:
            if self._state is JobState.PAUSED:
                self._state = JobState.RUNNING
            self._resume.set()

    def stop(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Ask the worker to end after its current step; the model so far is kept."""
        self._stop.set()
        self._resume.set()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ reading
    def status(self) -> JobStatus:
        with self._lock:
            tr = self._trainer
            if tr is not None:
                h = tr.history
                losses = (np.asarray(h.steps, dtype=np.int64), np.asarray(h.loss, dtype=np.float32))
                kl = np.asarray(h.kl_per_t, dtype=np.float32)
                rate = tr.iterations_per_second
                eta = _eta(tr, rate)
                step, progress, seconds = tr.step_count, tr.progress, tr.train_seconds
            else:
                losses = (np.zeros(0, np.int64), np.zeros(0, np.float32))
                kl = np.full(self.config.T - 1, np.nan, np.float32)
                rate, eta, step, progress, seconds = 0.0, None, 0, 0.0, 0.0
            return JobStatus(
                state=self._state,
                step=step,
                total_steps=self.config.steps,
                progress=progress,
                seconds=seconds,
                iterations_per_second=rate,
                eta_seconds=eta,
                losses=losses,
                kl_per_t=kl,
                pipeline=self._pipeline,
                preview=self._preview,
                snapshot_id=self._snapshot_id,
                error=self._error,
                queue_position=self._slots.position(self._ticket) if self._state is JobState.QUEUED else 0,
            )

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        if not self._slots.acquire(self._ticket, self._stop):
            with self._lock:
                self._state = JobState.STOPPED
            return
        try:
            self._train()
        except Exception as exc:  # anything unexpected: keep the last model, say what happened
            with self._lock:
                self._state = JobState.FAILED
                self._error = f"training failed: {type(exc).__name__}: {exc}"
        finally:
            self._slots.release(self._ticket)

    def _train(self) -> None:
        resume = self._resume_from
        trainer = Trainer(self.config, model=None if resume is None else _copy_model(resume), history=None)
        with self._lock:
            self._trainer = trainer
            if self._state is JobState.QUEUED:
                self._state = JobState.RUNNING
        last_snapshot = time.perf_counter()
        while not trainer.done and not self._stop.is_set():
            if not self._resume.is_set():
                self._resume.wait(0.2)
                continue
            try:
                with self._lock:
                    trainer.step()
            except TrainingDiverged as exc:
                with self._lock:
                    self._state = JobState.FAILED
                    self._error = str(exc)
                self._publish(trainer)
                return
            if time.perf_counter() - last_snapshot >= self._snapshot_seconds:
                self._publish(trainer)
                last_snapshot = time.perf_counter()
        self._publish(trainer)
        with self._lock:
            self._state = JobState.STOPPED if self._stop.is_set() and not trainer.done else JobState.FINISHED

    def _publish(self, trainer: Trainer) -> None:
        """Freeze the current model and draw fresh samples from it, outside the lock."""
        with self._lock:
            pipeline = DiffusionPipeline.from_trainer(trainer)
        preview = pipeline.samples(PREVIEW_POINTS, seed=0)
        with self._lock:
            self._pipeline = pipeline
            self._preview = preview
            self._snapshot_id += 1


def _eta(trainer: Trainer, rate: float) -> float | None:
    c = trainer.config
    left = []
    if c.steps is not None and rate > 0:
        left.append((c.steps - trainer.step_count) / rate)
    if c.max_seconds is not None:
        left.append(c.max_seconds - trainer.train_seconds)
    return max(0.0, min(left)) if left else None


def _copy_model(pipeline: DiffusionPipeline):
    import copy

    return copy.deepcopy(pipeline.model).requires_grad_(True).train()
