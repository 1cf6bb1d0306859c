"""A training run in a child process, for a UI: start, pause, resume, stop, and read snapshots.

Why a process and not a thread in the server: the GIL. Every torch call releases and re-takes it,
so a training thread beside a script thread busy in Python (building a figure, serialising it)
waits up to the switch interval (5 ms) for each of the ~100 calls of a step. Measured with
benchmarks/bench_gil.py (2 cores, one torch thread): 47 it/s alone, 0.4 it/s in a thread beside
such a script thread, 40 it/s in a child process beside it. A child process also gives its memory
back to the system when it ends, and a run that will not stop can be killed.

The child comes from a fork server that has torch and this module imported already (a fresh
interpreter would spend 2-5 s importing them at every Start). It sends what the UI shows through a
pipe: progress about 5 times a second (step, losses since the last message, loss per t) and, every
`snapshot_seconds`, the sampling weights with fresh samples and their quality (a snapshot). These are messages
between this package's own processes, never user data. A monitor thread in the server receives
them; `TrainingJob.status()` is an immutable view taken under the job's lock, and a server-wide
`TrainingSlots` caps how many runs train at once (by default one per CPU core); a run started
beyond the cap waits in line and its status says how many are ahead of it.
"""

from __future__ import annotations

import io
import math
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from multiprocessing import forkserver, popen_forkserver, spawn, util
from multiprocessing.context import reduction, set_spawning_popen

import numpy as np
import torch

from .config import DiffusionConfig, resolve_device
from .metrics import SampleQuality, sample_quality
from .model import ReverseNet
from .pipeline import DiffusionPipeline
from .train import Trainer, TrainingDiverged, TrainingHistory, build_model, keep_freed_memory

SNAPSHOT_SECONDS = 2.0  # how often the child publishes a model and fresh samples for the UI
FIRST_SNAPSHOT_SECONDS = 1.0  # the first one sooner: the user sees the run take shape at once
NEAR_BAR_FACTOR = 1.2  # a snapshot this close to the quality bar (and better than the last) brings the next one sooner
PROGRESS_SECONDS = 0.2  # how often the child reports its step and losses
STOP_GRACE_SECONDS = 10.0  # after Stop, a child that has not ended by then is terminated
PREVIEW_POINTS = 5000  # also the sample-quality measurement of the snapshot (5,000 vs 5,000)
# The training process yields the CPU to the pages (the server's script runs, and a browser on the
# same machine drawing them): training is background work, a page switch or a click is not.
TRAINING_NICENESS = 10

# torch._dynamo: the first optimiser a process builds imports it (2 s); the fork server pays once.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["torch", "torch._dynamo", "diffusion.jobs"])


class _Popen(popen_forkserver.Popen):
    """The fork server's launch (CPython 3.11's `_launch`), minus one step: multiprocessing makes
    each child re-run the parent's `__main__` so that functions defined there can be found. Inside
    Streamlit, `__main__` is the app script (dashboard.py): every child would run the app. Our
    child's function lives in this module, so it needs no main module."""

    def _launch(self, process_obj):
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)  # the child watches it to notice a dead parent
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _TrainingProcess(_CONTEXT.Process):
    @staticmethod
    def _Popen(process_obj):
        return _Popen(process_obj)


def warm_up() -> None:
    """Start the fork server now (it imports torch in the background), so the first Start is quick."""
    forkserver.ensure_running()


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
    eta_seconds: float | None  # training time left, while running or paused; None before and after
    losses: tuple[np.ndarray, np.ndarray]  # (steps, loss in nats per point)
    kl_per_t: np.ndarray  # latest smoothed KL per t = 2..T, nats
    pipeline: DiffusionPipeline | None  # the latest published model
    preview: (
        np.ndarray | None
    )  # fresh samples from that model, (PREVIEW_POINTS, 2): its samples(PREVIEW_POINTS, seed=0)
    quality: SampleQuality | None  # of those samples: the same numbers as pipeline.quality()
    snapshot_id: int  # increases with each published model
    error: str | None
    queue_position: int  # 1 = next to start when a slot frees; 0 = not waiting


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
    ):
        """`on_update(status)` is called from the supervising thread after each published snapshot
        and once when the run has ended: for work that should start the moment a model exists,
        wherever the user is looking. It must return quickly (start a thread for anything slow);
        an exception in it is ignored (it must not end the run)."""
        self.config = config.validate()  # fail fast, in the caller's thread, with the UI's message
        self._on_update = on_update
        self._resume_from = resume_from
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
        self._error: str | None = None
        self._pipeline: DiffusionPipeline | None = resume_from
        self._preview: np.ndarray | None = None
        self._quality: SampleQuality | None = None
        self._snapshot_id = 0
        # what the child last reported
        self._history = TrainingHistory(kl_per_t=[float("nan")] * (self.config.T - 1))
        self._step = 0
        self._progress = 0.0
        self._seconds = 0.0
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
                total_steps=self.config.steps,
                progress=self._progress,
                seconds=self._seconds,
                iterations_per_second=self._rate,
                eta_seconds=_eta(self.config, self._step, self._seconds, self._rate)
                if self._state in _TRAINING
                else None,
                losses=(np.asarray(h.steps, dtype=np.int64), np.asarray(h.loss, dtype=np.float32)),
                kl_per_t=np.asarray(h.kl_per_t, dtype=np.float32),
                pipeline=self._pipeline,
                preview=self._preview,
                quality=self._quality,
                snapshot_id=self._snapshot_id,
                error=self._error,
                queue_position=self._slots.position(self._ticket) if self._state is JobState.QUEUED else 0,
            )

    # ------------------------------------------------------------------ supervisor (a thread in the server)
    def _run(self) -> None:
        if not self._slots.acquire(self._ticket, self._stop):
            with self._lock:
                self._state = JobState.STOPPED
            self._notify()
            return
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
        weights = None if self._resume_from is None else _to_numpy(self._resume_from.model.state_dict())
        receiver, child_end = _CONTEXT.Pipe(duplex=True)
        process = _TrainingProcess(
            target=_child_main,
            name=f"training-{self._ticket}",
            daemon=True,
            args=(self.config, weights, child_end, self._snapshot_seconds, torch.get_num_threads()),
        )
        process.start()
        self.pid = process.pid
        child_end.close()  # the child holds the other end: EOF here when it exits
        with self._send_lock:
            self._conn = receiver
        if self._stop.is_set():  # Stop clicked while the process started
            self._send("stop")
        outcome = None
        try:
            while outcome is None:
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

    def _receive(self, kind: str, payload) -> str | None:
        """Apply one message from the child; returns how the run ended, if this message says so."""
        if kind == "started":
            with self._lock:
                if self._state is JobState.QUEUED:
                    self._state = JobState.RUNNING
        elif kind == "progress":
            with self._lock:
                for step, loss, seconds in payload["points"]:
                    self._history.record(step, loss, seconds)
                self._history.kl_per_t = payload["kl_per_t"]
                self._step, self._progress = payload["step"], payload["progress"]
                self._seconds, self._rate = payload["seconds"], payload["rate"]
        elif kind == "snapshot":
            pipeline = _pipeline_from_snapshot(self.config, payload)
            with self._lock:
                self._pipeline = pipeline
                self._preview = payload["preview"]
                self._quality = SampleQuality(**payload["quality"])
                self._snapshot_id += 1
            self._notify()
        elif kind == "failed":
            with self._lock:
                self._state = JobState.FAILED
                self._error = payload
            return "failed"
        elif kind == "ended":
            return payload  # "finished" or "stopped"
        return None


# ---------------------------------------------------------------------- the child process
def autogroup(pid: int | str = "self") -> tuple[str, int] | None:
    """The autogroup process `pid` is in, as (name, niceness), or None where it has none of its own.

    None without autogroups (not Linux, no /proc) and also in the default autogroup: a process
    whose ancestors never started a session since boot (CI's runner starts its jobs so) shares the
    root task group with init, and the kernel leaves its /proc/PID/autogroup empty.
    """
    try:
        with open(f"/proc/{pid}/autogroup") as f:
            fields = f.read().split()  # "/autogroup-588 nice 0"
    except OSError:
        return None
    if len(fields) != 3 or fields[1] != "nice":
        return None
    return fields[0], int(fields[2])


def lower_priority(niceness: int = TRAINING_NICENESS) -> bool:
    """Make this process background work: nice `niceness`, in a session and autogroup of its own.

    Niceness only ranks threads within one autogroup. Linux with `sched_autogroup` (on by default
    in most distributions' kernels, this VM's included) gives every session an autogroup and first
    shares the CPU fairly between autogroups. A browser started from a desktop or by Playwright is
    in another session than the server, so a training process at nice 10 in the server's session
    still took half of the CPU from it. Here the process starts a session (so an autogroup) of its
    own and gives the group the same niceness: it yields to the browser as well as to the server.
    It still ends with the server: it polls its pipe after every step and stops at EOF. Returns
    whether an autogroup took the niceness (False where none applies, see `autogroup`; the plain
    niceness still does).
    """
    try:
        os.setsid()
    except OSError:
        pass  # already a session leader
    try:
        os.nice(niceness)
    except OSError:
        pass  # not allowed here: train at the server's priority
    for _ in range(3):
        try:
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(niceness))
            return True
        except BlockingIOError:
            time.sleep(0.11)  # unprivileged writes are rate-limited to one per 0.1 s, machine-wide
        except OSError:
            return False  # no autogroups here (or init's default one, whose niceness is fixed)
    return False


class SnapshotClock:
    """When the training process takes its next snapshot: `first` s into the run, then every
    `interval` s; after a resume, `interval` s on (the paused snapshot is the newest model).

    Sooner, `interval / 2` after a snapshot whose samples missed the quality bar by at most
    NEAR_BAR_FACTOR on both numbers and beat the snapshot measured before it: the run is closing in
    on the bar, so the first model that meets it shows up to half an interval sooner. With the
    default 2 s the default run's snapshots at 1, 3, 5, 7 s met the bar at 5 s or, when the one at
    5 s fell just short of it, at 7 s; a near miss now brings the next at +1 s (README, issue 4's
    speed section, measures it). A run that hovers near the bar without getting better keeps the
    full interval, so it is not measured twice as often for its whole length.

    The training thread calls `due` and `taken`; the thread that measures a snapshot calls
    `measured` (hence the lock). Times are `time.perf_counter()` seconds.
    """

    def __init__(self, interval: float, first: float, now: float):
        self.interval, self._first = interval, min(first, interval)
        self._lock = threading.Lock()
        self._next = now + self._first
        self._taken_at: float | None = None  # the newest snapshot's time
        self._last_sw1 = math.inf  # the SW1 of the snapshot measured last

    def due(self, now: float) -> bool:
        with self._lock:
            return now >= self._next

    def taken(self, now: float) -> None:
        """A snapshot was taken at `now` (its measurement follows)."""
        with self._lock:
            self._taken_at, self._next = now, now + self.interval

    def measured(self, taken_at: float, quality: SampleQuality) -> None:
        """The snapshot taken at `taken_at` measured `quality`: the next one comes sooner if the run
        is closing in on the bar (and that snapshot is still the newest)."""
        with self._lock:
            closing_in = quality.near_bar(NEAR_BAR_FACTOR) and quality.sw1 < self._last_sw1
            self._last_sw1 = quality.sw1
            if closing_in and taken_at == self._taken_at:
                self._next = min(self._next, taken_at + self.interval / 2)

    def restart(self, now: float) -> None:
        """Resumed after a pause: the next snapshot a full interval on (`first` s if none was taken)."""
        with self._lock:
            self._next = now + (self.interval if self._taken_at is not None else self._first)


def _child_main(config: DiffusionConfig, weights: dict | None, conn, snapshot_seconds: float, threads: int) -> None:
    """Train and report through `conn` until done, stopped, or the server is gone."""
    torch.set_num_threads(threads)
    keep_freed_memory()
    lower_priority()
    try:
        _child_train(config, weights, conn, snapshot_seconds)
    except (BrokenPipeError, EOFError, ConnectionResetError):
        pass  # the server went away: nobody to train for
    finally:
        conn.close()


def _child_train(config, weights, conn, snapshot_seconds) -> None:
    try:
        model = None
        if weights is not None:
            model = ReverseNet(config.T, config.width)
            model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
        trainer = Trainer(config, model=model)
    except Exception as exc:
        conn.send(("failed", f"training failed: {type(exc).__name__}: {exc}"))
        return
    conn.send(("started", None))
    points: list[tuple[int, float, float]] = []  # every step since the last progress message
    control = {"paused": False, "stop": False}
    send_lock = threading.Lock()  # the training thread and the evaluating thread both send
    # A snapshot's 5,000 samples and their quality (~0.3 s at one torch thread) are measured in a
    # second thread while training goes on, one snapshot at a time; the final snapshot waits for
    # it. bench_start_to_quality.py, interleaved runs: median 8.4-8.5 s from Start to a passing
    # snapshot's reverse view, against 9.5-10.6 s with the measurement in the training thread.
    evaluator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot")
    pending: list[Future] = []
    frozen_at = {"step": -1}  # the step count of the newest snapshot
    clock = SnapshotClock(snapshot_seconds, FIRST_SNAPSHOT_SECONDS, time.perf_counter())

    def send(message) -> None:
        with send_lock:
            conn.send(message)

    def read_control(timeout: float = 0.0) -> None:
        while conn.poll(timeout):
            command = conn.recv()
            control["paused"] = {"pause": True, "resume": False}.get(command, control["paused"])
            control["stop"] = control["stop"] or command == "stop"
            timeout = 0.0

    def progress() -> None:
        send(
            (
                "progress",
                {
                    "points": points.copy(),
                    "kl_per_t": list(trainer.history.kl_per_t),
                    "step": trainer.step_count,
                    "progress": trainer.progress,
                    "seconds": trainer.train_seconds,
                    "rate": trainer.iterations_per_second,
                },
            )
        )
        points.clear()

    def publish(pipeline: DiffusionPipeline, taken_at: float) -> None:
        # Measured here, in the training process, not in the server: there it would take the GIL
        # from every other session's page for ~0.3 s per snapshot.
        samples = pipeline.samples(PREVIEW_POINTS, seed=0)
        quality = sample_quality(samples)
        clock.measured(taken_at, quality)
        send(
            (
                "snapshot",
                {
                    "weights": _to_numpy(pipeline.model.state_dict()),
                    "history": pipeline.history.to_dict(),
                    "steps": pipeline.steps_trained,
                    "preview": samples,
                    "quality": {"sw1": quality.sw1, "chamfer": quality.chamfer},
                },
            )
        )

    def snapshot(background: bool) -> bool:
        """Freeze the sampling weights now and publish them; False when the previous snapshot is
        still being measured (tried again after the next step)."""
        if background and pending and not pending[-1].done():
            return False
        progress()  # the status never shows a model newer than its step count
        pipeline = DiffusionPipeline.from_trainer(trainer)  # a copy: training goes on
        frozen_at["step"] = trainer.step_count
        taken_at = time.perf_counter()
        clock.taken(taken_at)
        if pending:
            pending.pop().result()  # in order; its errors (a server gone) surface here
        if background:
            pending.append(evaluator.submit(publish, pipeline, taken_at))
        else:
            publish(pipeline, taken_at)
        return True

    try:
        next_progress = time.perf_counter() + PROGRESS_SECONDS
        while True:
            read_control()
            if control["stop"] or trainer.done:
                break
            if control["paused"]:
                if points:
                    progress()  # the steps done before the pause, so the UI shows where it stopped
                if 0 < trainer.step_count != frozen_at["step"]:
                    snapshot(background=False)  # the paused model itself: what the pages show and save
                read_control(timeout=0.5)  # EOF here when the server has gone
                if not control["paused"]:
                    # Resumed: the paused snapshot is the newest model, so the clock starts again
                    # here rather than publishing a model one step newer at once.
                    clock.restart(time.perf_counter())
                continue
            try:
                loss = trainer.step()
            except TrainingDiverged as exc:
                snapshot(background=False)
                send(("failed", str(exc)))
                return
            points.append((trainer.step_count, loss, trainer.train_seconds))
            now = time.perf_counter()
            if now >= next_progress:
                progress()
                next_progress = now + PROGRESS_SECONDS
            if clock.due(now):
                snapshot(background=True)  # or, while the last one is still being measured, after the next step
        snapshot(background=False)
        send(("ended", "finished" if trainer.done else "stopped"))
    finally:
        evaluator.shutdown(wait=False, cancel_futures=True)


def _to_numpy(state: dict) -> dict:
    return {k: v.detach().cpu().numpy().copy() for k, v in state.items()}


def _pipeline_from_snapshot(config: DiffusionConfig, payload: dict) -> DiffusionPipeline:
    """The snapshot's weights in a fresh network (on the config's device), for the views."""
    model, diffusion = build_model(config, resolve_device(config.device))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in payload["weights"].items()})
    return DiffusionPipeline(
        config,
        model.requires_grad_(False).eval(),
        diffusion,
        TrainingHistory.from_dict(payload["history"]),
        int(payload["steps"]),
    )


def _eta(config: DiffusionConfig, step: int, seconds: float, rate: float) -> float | None:
    left = []
    if config.steps is not None and rate > 0:
        left.append((config.steps - step) / rate)
    if config.max_seconds is not None:
        left.append(config.max_seconds - seconds)
    return max(0.0, min(left)) if left else None
