"""The training process of one dashboard run: steps a Trainer and reports through a pipe.

`run_worker` is the child's entry point (`diffusion.jobs` starts it through `diffusion.processes`).
Messages to the server, each a (kind, payload) tuple:
    ("started", None)             the trainer is built
    ("progress", {...})           about 5 times a second: the steps since the last one, the
                                  smoothed loss per t, step, progress, seconds, iterations/s
    ("snapshot", {...})           the sampling weights, their history, 5,000 fresh samples and
                                  their quality, the bound K on held-out points and its KL
                                  per t: after FIRST_SNAPSHOT_SECONDS, then every
                                  snapshot interval, when paused, and at the end
    ("diverged", message)         the run diverged (a snapshot of the last good weights came first)
    ("failed", message)           the trainer could not be built
    ("ended", "finished"|"stopped")
Commands from the server: "pause", "resume", "stop", and "wait" and "go" for a sweep's run whose
slot went to another of its runs for a while (it waits as if paused, without a paused snapshot).
These are messages between this package's own processes, never user data.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch

from . import datasets
from .config import DiffusionConfig, resolve_device
from .metrics import sample_quality
from .pipeline import DiffusionPipeline
from .train import Trainer, TrainingDiverged, TrainingHistory, build_model

FIRST_SNAPSHOT_SECONDS = 1.0  # sooner than the interval: the user sees the run take shape at once
PROGRESS_SECONDS = 0.2  # how often the worker reports its step and losses
PREVIEW_POINTS = 5000  # a snapshot's samples, which its quality measures (5,000 vs 5,000)
# Held-out points for a snapshot's bound: enough to show the KL per t and K while the run goes on
# (the Bound page measures 20,000 once the run is over).
SNAPSHOT_BOUND_POINTS = 2000
# Training is background work: the pages that the server draws for every session come first.
TRAINING_NICENESS = 10


def run_worker(
    config: DiffusionConfig,
    resume: dict | None,
    conn,
    snapshot_seconds: float,
    threads: int,
    data_points: np.ndarray | None = None,
) -> None:
    """Entry point of the training process: train and report through `conn` until done, stopped,
    or the server is gone. `resume` continues a model: {"weights": numpy state dict, "history":
    TrainingHistory.to_dict(), "steps": its steps_trained}, or None for a fresh one."""
    torch.set_num_threads(threads)
    try:
        os.nice(TRAINING_NICENESS)
    except OSError:
        pass  # not allowed here: train at the server's priority
    try:
        TrainingWorker(config, resume, conn, snapshot_seconds, data_points).run()
    except (BrokenPipeError, EOFError, ConnectionResetError):
        pass  # the server went away: nobody to train for
    finally:
        conn.close()


def to_numpy(state: dict) -> dict:
    """A state dict as numpy arrays: what a pipe carries without torch's shared-memory handles."""
    return {k: v.detach().cpu().numpy().copy() for k, v in state.items()}


class TrainingWorker:
    """One run's loop: obey the server's commands, step, report progress, publish snapshots.

    A snapshot's samples and their quality are measured in a second thread while training goes
    on, one snapshot at a time, so the steps do not wait for them; the final snapshot is measured
    before the run reports its end.
    """

    def __init__(
        self,
        config: DiffusionConfig,
        resume: dict | None,
        conn,
        snapshot_seconds: float,
        data_points: np.ndarray | None = None,
    ):
        self.config = config
        # a user's own points (config.data "custom"), checked again here as they cross a process
        self.dataset = datasets.from_points(data_points)[0] if data_points is not None else None
        self.conn = conn
        self.snapshot_seconds = snapshot_seconds
        self.trainer: Trainer | None = None
        self._resume = resume
        self.paused = False
        self.waiting = False  # off its turn
        self.stopping = False
        self._send_lock = threading.Lock()  # the training thread and the measuring thread both send
        self._measuring = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot")
        self._pending: Future | None = None
        self._points: list[tuple[int, float, float]] = []  # every step since the last progress message
        self._snapshot_step = -1  # the step count of the newest snapshot
        self._next_snapshot = 0.0
        self._next_progress = 0.0

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        try:
            self.trainer = self._build_trainer()
        except Exception as exc:
            self._send(("failed", f"training failed: {type(exc).__name__}: {exc}"))
            return
        self._send(("started", None))
        now = time.perf_counter()
        self._next_snapshot = now + min(FIRST_SNAPSHOT_SECONDS, self.snapshot_seconds)
        self._next_progress = now + PROGRESS_SECONDS
        try:
            while True:
                self._read_commands()
                if self.stopping or self.trainer.done:
                    break
                if self.paused or self.waiting:
                    self._while_paused()
                    continue
                try:
                    self._step()
                except TrainingDiverged as exc:
                    self._snapshot(background=False)
                    self._send(("diverged", str(exc)))
                    return
            self._snapshot(background=False)
            self._send(("ended", "finished" if self.trainer.done else "stopped"))
        finally:
            self._measuring.shutdown(wait=False, cancel_futures=True)

    def _build_trainer(self) -> Trainer:
        if self._resume is None:
            return Trainer(self.config, dataset=self.dataset)
        model, _ = build_model(self.config, resolve_device(self.config.device))
        model.load_state_dict({k: torch.from_numpy(v) for k, v in self._resume["weights"].items()})
        history = TrainingHistory.from_dict(self._resume["history"])
        betas = self._resume.get("betas")
        return Trainer(
            self.config,
            model=model,
            history=history,
            steps_trained=self._resume["steps"],
            betas=betas,
            dataset=self.dataset,
        )

    def _step(self) -> None:
        loss = self.trainer.step()
        self._points.append((self.trainer.step_count, loss, self.trainer.seconds_trained))
        now = time.perf_counter()
        if now >= self._next_progress:
            self._progress()
            self._next_progress = now + PROGRESS_SECONDS
        if now >= self._next_snapshot:
            # While the last snapshot is still being measured, this one waits for the next step.
            self._snapshot(background=True)

    def _while_paused(self) -> None:
        if self._points:
            self._progress()  # the steps done before the pause, so the UI shows where it stopped
        if self.paused and self.trainer.run_steps > 0 and self.trainer.step_count != self._snapshot_step:
            self._snapshot(background=False)  # the paused model itself: what the pages show and save
        self._read_commands(timeout=0.5)  # EOF here when the server has gone
        if not (self.paused or self.waiting):
            # Resumed: the paused snapshot is the newest model, so the next comes a full interval on.
            self._next_snapshot = time.perf_counter() + self.snapshot_seconds

    def _read_commands(self, timeout: float = 0.0) -> None:
        while self.conn.poll(timeout):
            command = self.conn.recv()
            if command in ("pause", "resume"):
                self.paused = command == "pause"
            elif command in ("wait", "go"):
                self.waiting = command == "wait"
            elif command == "stop":
                self.stopping = True
            timeout = 0.0

    # ------------------------------------------------------------------ reports
    def _send(self, message) -> None:
        with self._send_lock:
            self.conn.send(message)

    def _progress(self) -> None:
        t = self.trainer
        payload = {
            "points": self._points.copy(),
            "kl_per_t": list(t.history.kl_per_t),
            "step": t.step_count,
            "progress": t.progress,
            "seconds": t.seconds_trained,
            "rate": t.iterations_per_second,
        }
        self._send(("progress", payload))
        self._points.clear()

    def _snapshot(self, background: bool) -> None:
        """Freeze the sampling weights now and publish them (measured in the background, or here)."""
        if background and self._pending is not None and not self._pending.done():
            return
        self._progress()  # the status never shows a model newer than its step count
        pipeline = DiffusionPipeline.from_trainer(self.trainer)  # a copy: training goes on
        self._snapshot_step = self.trainer.step_count
        self._next_snapshot = time.perf_counter() + self.snapshot_seconds
        if self._pending is not None:
            self._pending.result()  # in order; its errors (a server gone) surface here
            self._pending = None
        if background:
            self._pending = self._measuring.submit(self._publish, pipeline)
        else:
            self._publish(pipeline)

    def _publish(self, pipeline: DiffusionPipeline) -> None:
        # Measured here, in the training process: in the server it would hold the GIL that every
        # session's pages need.
        samples = pipeline.samples(PREVIEW_POINTS, seed=0)
        quality = sample_quality(samples, data_scale=pipeline.config.data_scale, data=pipeline.quality_data)
        payload = {
            "weights": to_numpy(pipeline.model.state_dict()),
            "history": pipeline.history.to_dict(),
            "steps": pipeline.steps_trained,
            "preview": samples,
            "quality": quality.to_dict(),
            "bound": pipeline.bound(SNAPSHOT_BOUND_POINTS).to_dict(),
            "betas": pipeline.diffusion.schedule.betas[1:].copy() if pipeline.config.learn_betas else None,
        }
        self._send(("snapshot", payload))
