"""A training run for a UI: start, pause, resume, stop, and read an immutable status.

`TrainingJob` is what a page holds. The training itself runs in a child process
(`diffusion.worker`, started from the fork server in `diffusion.processes`), not in a thread of
the server: a thread would share the GIL with every page the server draws, and a Streamlit script
busy in Python holds it long enough at each of a step's torch calls to stall training. A process
also gives its memory back when it ends, and a run that will not stop can be killed.

A supervising thread in the server receives the worker's messages; `TrainingJob.status()` is a
consistent view taken under the job's lock. A server-wide `TrainingSlots` caps how many runs
train at once (by default one per CPU core); a run started beyond the cap waits in line, and its
status says how many are ahead of it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

from . import datasets, processes
from .config import DiffusionConfig, resolve_device
from .datasets import DataSet
from .gaussian_diffusion import GaussianDiffusion
from .memory import check_training
from .metrics import Bound, SampleQuality
from .pipeline import DiffusionPipeline
from .schedule import NoiseSchedule
from .train import TrainingHistory, build_model
from .worker import PREVIEW_POINTS, run_worker, to_numpy

SNAPSHOT_SECONDS = 2.0  # how often the worker publishes a model and fresh samples for the UI
STOP_GRACE_SECONDS = 10.0  # after Stop, a worker that has not ended by then is killed
warm_up = processes.warm_up

__all__ = [
    "DEFAULT_SLOTS",
    "PREVIEW_POINTS",
    "JobState",
    "JobStatus",
    "TrainingJob",
    "TrainingSlots",
    "Turn",
    "warm_up",
]


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


_TRAINING = (JobState.RUNNING, JobState.PAUSED)  # the states in which a run has time left


class TrainingSlots:
    """At most `capacity` runs train at once; the rest wait in first-come order.

    A run that holds a slot may hand it to a waiting run (`swap`) and wait in that run's place:
    that is how the runs of one sweep take turns (`diffusion.sweep`). The line of every other run
    and the cap stay as they were."""

    def __init__(self, capacity: int | None = None):
        self.capacity = max(1, capacity or os.cpu_count() or 1)
        self._cond = threading.Condition()
        self._running: dict[int, float] = {}  # ticket -> when it got its slot (monotonic)
        self._waiting: deque[int] = deque()

    def acquire(self, ticket: int, cancelled: threading.Event) -> bool:
        """Join the line and block until `ticket` holds a slot (True) or `cancelled` is set (False)."""
        with self._cond:
            self._waiting.append(ticket)
            while not self._take(ticket):
                if cancelled.is_set():
                    self._waiting.remove(ticket)
                    self._cond.notify_all()
                    return False
                self._cond.wait(timeout=0.1)
            return True

    def take(self, ticket: int) -> bool:
        """Whether `ticket` holds a slot, taking a free one if it is first in line; never blocks."""
        with self._cond:
            return self._take(ticket)

    def _take(self, ticket: int) -> bool:
        if ticket in self._running:
            return True
        if self._waiting and self._waiting[0] == ticket and len(self._running) < self.capacity:
            self._waiting.popleft()
            self._running[ticket] = time.monotonic()
            self._cond.notify_all()  # the next in line may take a slot too
            return True
        return False

    def swap(self, holder: int, waiter: int) -> bool:
        """`holder`'s slot goes to `waiter`, which is in line; `holder` waits in `waiter`'s place.
        False (and nothing changes) unless `holder` holds a slot and `waiter` waits."""
        with self._cond:
            if holder not in self._running or waiter not in self._waiting:
                return False
            self._waiting[self._waiting.index(waiter)] = holder
            del self._running[holder]
            self._running[waiter] = time.monotonic()
            self._cond.notify_all()
            return True

    def release(self, ticket: int) -> None:
        """`ticket` is done: it leaves its slot, or the line."""
        with self._cond:
            self._running.pop(ticket, None)
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            self._cond.notify_all()

    def held_since(self, ticket: int) -> float | None:
        """When `ticket` got the slot it holds (time.monotonic()); None when it holds none."""
        with self._cond:
            return self._running.get(ticket)

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
    step: int  # the model's steps in all: a continued run counts on from the model it continues
    total_steps: int | None  # the step this run ends at (start_step + the configured steps)
    progress: float  # 0..1, of this run's configured length
    seconds: float  # the model's training time in all (pauses excluded)
    iterations_per_second: float
    eta_seconds: float | None  # training time left, while running or paused; None before and after
    losses: tuple[np.ndarray, np.ndarray]  # (steps, loss in nats per point)
    kl_per_t: np.ndarray  # latest smoothed KL per t = 2..T, nats
    pipeline: DiffusionPipeline | None  # the latest published model
    preview: (
        np.ndarray | None
    )  # fresh samples from that model, (PREVIEW_POINTS, 2): its samples(PREVIEW_POINTS, seed=0)
    quality: SampleQuality | None  # of those samples: the same numbers as pipeline.quality()
    snapshot_bound: Bound | None  # K and its KL per t on held-out points, for that model
    snapshot_id: int  # increases with each published model
    error: str | None
    queue_position: int  # 1 = next to start when a slot frees; 0 = not waiting
    start_step: int = 0  # the steps of the model this run continues (0 for a fresh one)
    # The run's loss blew up (state FAILED): `pipeline` holds its last good weights, which may still
    # be far worse than the model the run started from; compare `quality` with
    # `diffusion.metrics.better_model` before making it the current model.
    diverged: bool = False


@dataclass(frozen=True)
class Turn:
    """Where a run stands in its slots, for a sweep whose runs take turns (`TrainingJob.turn`)."""

    holds_slot: bool
    turn_seconds: float  # since it last got its slot; 0 while it holds none
    started: bool  # it has held a slot: its process is alive, and in line it waits its turn


class TrainingJob:
    """One training run in a child process, supervised by a daemon thread. Methods are safe to call
    from any thread."""

    def __init__(
        self,
        config: DiffusionConfig,
        resume_from: DiffusionPipeline | None = None,
        slots: TrainingSlots = DEFAULT_SLOTS,
        snapshot_seconds: float = SNAPSHOT_SECONDS,
        on_update: Callable[[JobStatus], None] | None = None,
        dataset: DataSet | None = None,
    ):
        """`dataset`: the data to learn (a user's own points must be given; a named set defaults
        to `config.data`, a continued model's to its own).

        `on_update(status)` is called from the supervising thread after each published snapshot
        and once when the run has ended: for work that should start the moment a model exists,
        wherever the user is looking. It must return quickly (start a thread for anything slow);
        an exception in it is ignored (it must not end the run)."""
        self.config = config.validate()  # fail fast, in the caller's thread, with the UI's message
        # and refuse a run that would not fit the server's per-run memory, before a process starts
        check_training(self.config)
        self._on_update = on_update
        self._resume_from = resume_from
        if dataset is None:
            dataset = resume_from.data if resume_from is not None else datasets.resolve(self.config.data)
        self.dataset = dataset
        self._slots = slots
        self._snapshot_seconds = snapshot_seconds
        with _ticket_lock:
            self._ticket = next(_tickets)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_requested_at: float | None = None
        self._conn = None  # the pipe to the child, once it runs
        self.pid: int | None = None  # the child process's, once started (diagnostics, tests)
        self._send_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state = JobState.QUEUED
        self._off_turn = False  # its slot went to another run of its sweep; the process waits
        self._started = False
        self._error: str | None = None
        self._diverged = False
        self._pipeline: DiffusionPipeline | None = resume_from
        self._preview: np.ndarray | None = None
        self._quality: SampleQuality | None = None
        self._snapshot_bound: Bound | None = None
        self._snapshot_id = 0
        # what the child last reported; a continued run starts from its model's count and curve
        self._history = TrainingHistory(kl_per_t=[float("nan")] * (self.config.T - 1))
        self._start_step, self._start_seconds = 0, 0.0
        if resume_from is not None:
            self._history = TrainingHistory.from_dict(resume_from.history.to_dict())
            if len(self._history.kl_per_t) != self.config.T - 1:
                self._history.kl_per_t = [float("nan")] * (self.config.T - 1)
            self._start_step = int(resume_from.steps_trained)
            self._start_seconds = self._history.seconds[-1] if self._history.seconds else 0.0
        self._step = self._start_step
        self._progress = 0.0
        self._seconds = self._start_seconds
        self._rate = 0.0

    # ------------------------------------------------------------------ control
    def start(self) -> TrainingJob:
        if self._thread is not None:
            return self  # a second Start click is a no-op, not a second run
        self._thread = threading.Thread(target=self._run, name=f"training-{self._ticket}", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        with self._lock:
            if self._state is not JobState.RUNNING:
                return
            self._state = JobState.PAUSED
        self._send("pause")

    def resume(self) -> None:
        with self._lock:
            if self._state is not JobState.PAUSED:
                return
            self._state = JobState.RUNNING
        self._send("resume")

    def stop(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Ask the run to end after its current step; the model so far is kept."""
        with self._lock:
            if self._stop_requested_at is None:
                self._stop_requested_at = time.monotonic()
        self._stop.set()
        self._send("stop")
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def turn(self) -> Turn:
        since = self._slots.held_since(self._ticket)
        return Turn(since is not None, 0.0 if since is None else time.monotonic() - since, self._started)

    def hand_slot_to(self, other: TrainingJob) -> bool:
        """Give this run's slot to `other`, which waits in the same line, and wait in its place; the
        process pauses until a slot is this run's again. False when either is not where it should be."""
        if other._slots is not self._slots:
            return False
        with self._lock:  # waiting before the other can take the slot: never one run too many
            if not self._slots.swap(self._ticket, other._ticket):
                return False
            self._off_turn, self._state = True, JobState.QUEUED
        self._send("wait")
        return True

    @property
    def alive(self) -> bool:
        """The supervising thread is running (it outlives the child process)."""
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ reading
    def status(self) -> JobStatus:
        with self._lock:
            h = self._history
            return JobStatus(
                state=self._state,
                step=self._step,
                total_steps=None if self.config.steps is None else self._start_step + self.config.steps,
                progress=self._progress,
                seconds=self._seconds,
                iterations_per_second=self._rate,
                eta_seconds=eta_seconds(self.config, self._step - self._start_step, self._seconds - self._start_seconds)
                if self._state in _TRAINING
                else None,
                losses=(np.asarray(h.steps, dtype=np.int64), np.asarray(h.loss, dtype=np.float32)),
                kl_per_t=np.asarray(h.kl_per_t, dtype=np.float32),
                pipeline=self._pipeline,
                preview=self._preview,
                quality=self._quality,
                snapshot_bound=self._snapshot_bound,
                snapshot_id=self._snapshot_id,
                error=self._error,
                queue_position=self._slots.position(self._ticket) if self._state is JobState.QUEUED else 0,
                start_step=self._start_step,
                diverged=self._diverged,
            )

    # ------------------------------------------------------------------ supervisor (a thread in the server)
    def _run(self) -> None:
        if not self._slots.acquire(self._ticket, self._stop):
            with self._lock:
                self._state = JobState.STOPPED
            self._notify()
            return
        self._started = True
        try:
            self._supervise()
        except Exception as exc:  # anything unexpected: keep the last model, say what happened
            with self._lock:
                self._state = JobState.FAILED
                self._error = f"training failed: {type(exc).__name__}: {exc}"
        finally:
            self._slots.release(self._ticket)
        self._notify()

    def _notify(self) -> None:
        if self._on_update is None:
            return
        try:
            self._on_update(self.status())
        except Exception:  # the caller's hook; the run and its supervisor go on
            pass

    def _send(self, command: str) -> None:
        """A control message to the child ("pause", "resume", "stop"); dropped before the pipe
        exists (pause and resume only act on a running job; a Stop is sent once it exists) and
        after the child has gone."""
        with self._send_lock:
            if self._conn is None:
                return
            try:
                self._conn.send(command)
            except OSError:
                pass  # the child has ended; the supervisor reports how

    def _supervise(self) -> None:
        resume = None
        if self._resume_from is not None:
            resume = {
                "weights": to_numpy(self._resume_from.model.state_dict()),
                "betas": _learned_betas(self._resume_from),
                "history": self._resume_from.history.to_dict(),
                "steps": int(self._resume_from.steps_trained),
            }
        receiver, child_end = processes.pipe()
        process = processes.TrainingProcess(
            target=run_worker,
            name=f"training-{self._ticket}",
            daemon=True,
            args=(
                self.config,
                resume,
                child_end,
                self._snapshot_seconds,
                torch.get_num_threads(),
                self.dataset.points if self.dataset.is_custom else None,
            ),
        )
        process.start()
        self.pid = process.pid
        child_end.close()  # the child holds the other end: EOF here when it exits
        with self._send_lock:
            self._conn = receiver
        if self._stop.is_set():  # Stop clicked while the process started
            self._send("stop")
        if self._off_turn:  # its slot was handed over while the process started
            self._send("wait")
        outcome = None
        try:
            while outcome is None:
                self._follow_turn()
                if receiver.poll(0.1):
                    try:
                        kind, payload = receiver.recv()
                    except EOFError:
                        break
                    outcome = self._receive(kind, payload)
                elif not process.is_alive() and not receiver.poll(0):
                    break
                requested = self._stop_requested_at
                if requested is not None and time.monotonic() - requested > STOP_GRACE_SECONDS and process.is_alive():
                    process.kill()  # a step or snapshot that does not end: the model so far stays
        finally:
            process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join()
            with self._send_lock:
                self._conn = None
                receiver.close()
        with self._lock:
            if outcome == "finished":
                self._state = JobState.FINISHED
            elif outcome == "stopped" or (outcome is None and self._stop.is_set()):
                self._state = JobState.STOPPED
            elif outcome is None:
                self._state = JobState.FAILED
                self._error = (
                    f"the training process ended unexpectedly (exit code {process.exitcode}); "
                    "the last snapshot is kept. Try a smaller network or batch."
                )

    def _follow_turn(self) -> None:
        """A run that handed its slot over (`hand_slot_to`) goes on as soon as it holds one again."""
        with self._lock:
            if not self._off_turn or not self._slots.take(self._ticket):
                return
            self._off_turn, self._state = False, JobState.RUNNING
        self._send("resume")  # a pause from before its turn ended is its sweep's to send again
        self._send("go")
        self._notify()

    def _receive(self, kind: str, payload) -> str | None:
        """Apply one message from the child; returns how the run ended, if this message says so."""
        if kind == "started":
            with self._lock:
                if self._state is JobState.QUEUED and not self._off_turn:
                    self._state = JobState.RUNNING
        elif kind == "progress":
            with self._lock:
                for step, loss, seconds in payload["points"]:
                    self._history.record(step, loss, seconds)
                self._history.kl_per_t = payload["kl_per_t"]
                self._step, self._progress = payload["step"], payload["progress"]
                self._seconds, self._rate = payload["seconds"], payload["rate"]
        elif kind == "snapshot":
            pipeline = _pipeline_from_snapshot(self.config, payload, self.dataset)
            with self._lock:
                self._pipeline = pipeline
                self._preview = payload["preview"]
                self._quality = SampleQuality.from_dict(payload["quality"])
                self._snapshot_bound = Bound.from_dict(payload["bound"])
                self._snapshot_id += 1
            self._notify()
        elif kind in ("failed", "diverged"):
            with self._lock:
                self._state = JobState.FAILED
                self._error = payload
                self._diverged = kind == "diverged"
            return "failed"
        elif kind == "ended":
            return payload  # "finished" or "stopped"
        return None


def _pipeline_from_snapshot(config: DiffusionConfig, payload: dict, dataset: DataSet) -> DiffusionPipeline:
    """The snapshot's weights in a fresh network (on the config's device), for the views."""
    model, diffusion = build_model(config, resolve_device(config.device))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in payload["weights"].items()})
    if payload.get("betas") is not None:  # the views use the snapshot's learned schedule
        schedule = NoiseSchedule.from_betas(payload["betas"], config.schedule)
        diffusion = GaussianDiffusion(schedule, config.parameterization, diffusion.device)
    return DiffusionPipeline(
        config,
        model.requires_grad_(False).eval(),
        diffusion,
        TrainingHistory.from_dict(payload["history"]),
        int(payload["steps"]),
        dataset,
    )


def _learned_betas(pipeline: DiffusionPipeline):
    """beta_1..beta_T (T,) float64 of a model with learned betas, for its snapshots; None otherwise."""
    return pipeline.diffusion.schedule.betas[1:].copy() if pipeline.config.learn_betas else None


def eta_seconds(config: DiffusionConfig, steps_done: int, seconds_done: float) -> float | None:
    """Training time this run has left: its steps to go at its own average pace so far, or the
    seconds to go of a run measured in seconds, whichever ends first.

    The average over the run, not the pace of the last two seconds: that one swings with each
    snapshot measured beside the steps and with the first steps' warm-up, and an estimate that
    jumps by minutes tells a class nothing."""
    left = []
    if config.steps is not None and steps_done > 0 and seconds_done > 0:
        left.append((config.steps - steps_done) * seconds_done / steps_done)
    if config.max_seconds is not None:
        left.append(config.max_seconds - seconds_done)
    return max(0.0, min(left)) if left else None
