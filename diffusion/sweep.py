"""A sweep: one setting at 2 to 4 values, each value a training run through the server's slots.

`parse_values` reads the user's values for one of `SETTINGS`, `sweep_configs` makes one validated
config per value from a base config, and `Sweep` holds their `TrainingJob`s: start, pause, resume
and stop act on all of them, `statuses()` reads them, `finished()` hands over the models of the
runs that have ended. The runs queue through a `TrainingSlots` like any other (a sweep of four on
a server of two slots trains two at a time); a sweep adds runs to the line, never slots.

Where its runs do not divide evenly among the slots it holds (three on two), whole runs would end
with one run training alone while a slot idles. Its runs then take turns instead (`next_turn`):
the run with the most of its steps left hands its slot to the one waiting every `TURN_SECONDS`, so
the others train straight through and the last ones end together (benchmarks/bench_sweep.py).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from . import datasets
from .config import PRESETS, BetaSchedule, ConfigError, DiffusionConfig
from .datasets import DataSet
from .jobs import DEFAULT_SLOTS, JobState, JobStatus, TrainingJob, TrainingSlots, Turn
from .memory import check_training
from .pipeline import DiffusionPipeline

VALUES_MIN, VALUES_MAX = 2, 4  # a comparison shows 2 to 4 models
SWEEP_STEPS = 1000  # the default length of each run: short, so that a sweep is seconds, not minutes
# How long a run holds its slot before it hands it to another of its sweep's runs: a hand-over
# costs the waiting run a poll of its supervisor's pipe before it steps, so a turn is long beside it.
TURN_SECONDS = 5.0
TURN_CHECK_SECONDS = 0.25


class SweepError(ValueError):
    """The values of a sweep cannot be used. The message is one line, fit for a UI; `run` names the
    value whose config was refused (its ConfigError is the `__cause__`), "" otherwise."""

    def __init__(self, message: str, run: str = ""):
        super().__init__(message)
        self.run = run


@dataclass(frozen=True)
class Setting:
    """A setting a sweep can vary: the config field it sets (or "preset": a whole recipe)."""

    name: str
    label: str  # as the page names it
    kind: type  # int, float or str: how a value is read
    example: str  # the values the page offers first
    choices: tuple[str, ...] = ()  # the allowed values of a setting with a fixed set


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("T", "T (diffusion steps)", int, "10, 20, 40"),
        Setting("schedule", "β schedule", str, "sigmoid, linear, cosine", tuple(b.value for b in BetaSchedule)),
        Setting("beta_end", "β end", float, "0.1, 0.3, 0.5"),
        Setting("width", "Network width", int, "16, 64, 128"),
        Setting("lr", "Learning rate", float, "0.001, 0.01"),
        Setting("data", "Data set", str, "swiss_roll, moons", datasets.NAMES + (datasets.CUSTOM,)),
        Setting("preset", "Preset (a whole recipe)", str, "default, table1", tuple(PRESETS)),
    )
}


def value_text(setting: str, value) -> str:
    """A value as a run's name shows it: `T=10`, `lr=0.001`, `preset=table1`."""
    return f"{setting}={value:g}" if isinstance(value, float) else f"{setting}={value}"


def parse_values(setting: str, text: str) -> list:
    """The comma-separated values of `text` for `setting`, read as the setting's type; SweepError
    for too few or too many, a repeat, or one that is not a value of the setting (its range is
    checked with the config, in `sweep_configs`)."""
    if setting not in SETTINGS:
        raise SweepError(f"unknown setting {setting!r}; a sweep varies one of {', '.join(SETTINGS)}")
    s = SETTINGS[setting]
    parts = [p.strip() for p in str(text).split(",")]
    parts = [p for p in parts if p]
    if not VALUES_MIN <= len(parts) <= VALUES_MAX:
        raise SweepError(f"{s.label}: give {VALUES_MIN} to {VALUES_MAX} values separated by commas (got {len(parts)})")
    values = []
    for part in parts:
        if s.kind is str:
            value = part.lower()
            if value not in s.choices:
                raise SweepError(f"{s.label}: {part!r} is not one of {', '.join(s.choices)}")
        else:
            try:
                number = float(part)
            except ValueError:
                raise SweepError(f"{s.label}: {part!r} is not a number") from None
            if not math.isfinite(number):
                raise SweepError(f"{s.label}: {part!r} is not a finite number")
            if s.kind is int:
                if number != int(number):
                    raise SweepError(f"{s.label}: {part!r} is not a whole number")
                value = int(number)
            else:
                value = number
        if value in values:
            raise SweepError(f"{s.label}: {part!r} is given twice; each value trains once")
        values.append(value)
    return values


def sweep_configs(base: DiffusionConfig, setting: str, values: list, steps: int) -> list[tuple[str, DiffusionConfig]]:
    """(run name, validated config) per value: `base` with the setting at that value, trained for
    `steps` steps. A preset replaces every setting but the device and the length. SweepError names
    the first value whose config is out of range or too large for the server."""
    if not (isinstance(steps, int) and steps >= 1):
        raise SweepError(f"Steps: {steps!r} is not a positive whole number")
    out = []
    for value in values:
        name = value_text(setting, value)
        if setting == "preset":
            cfg = PRESETS[value].replace(device=base.device)
        else:
            cfg = base.replace(**{setting: value})
        try:
            cfg = check_training(cfg.replace(steps=steps, max_seconds=None).validate())
        except ConfigError as exc:
            raise SweepError(f"{name}: {exc}", run=name) from exc
        out.append((name, cfg))
    return out


@dataclass(frozen=True)
class RunStatus:
    name: str  # "T=10"
    status: JobStatus


# A sweep's runs show progress lines, not their models, while they train: each publishes a model
# (its samples, quality and K, measured in a thread beside the steps) only once at its start, when
# paused and at its end. Every two seconds, as a dashboard run does, that measuring took a core
# from the other slot's run (benchmarks/bench_sweep.py).
SWEEP_SNAPSHOT_SECONDS = math.inf


def next_turn(runs: list[tuple[JobStatus, Turn]], turn_seconds: float = TURN_SECONDS) -> tuple[int, int] | None:
    """(i, j): run i hands its slot to run j now, or None. `runs`: each run's status and turn.

    Only while the runs left do not divide evenly among the slots the sweep holds: otherwise whole
    runs keep every slot busy to the end, and each ends sooner. Of the runs that train, the one
    with the most of its steps left gives up its slot once it has held it for `turn_seconds`, to the
    run waiting its turn or, when none does, to the first still waiting to start. So one slot
    passes between the runs furthest from their end while the others train straight through, and
    at most one run waits with a live process."""
    left = [k for k, (s, _) in enumerate(runs) if s.state.active]
    holding = [k for k in left if runs[k][1].holds_slot]
    waiting = [k for k in left if runs[k][0].state is JobState.QUEUED and not runs[k][1].holds_slot]
    training = [k for k in holding if runs[k][0].state is not JobState.PAUSED]  # or starting
    if not waiting or not training or len(left) % len(holding) == 0:
        return None

    # the run furthest from its end, as the part of its steps still to do: what each run reports,
    # where a comparison of time left would rest on each run's estimate of its own pace
    i = min(training, key=lambda k: (runs[k][0].progress, -k))
    if runs[i][1].turn_seconds < turn_seconds:
        return None
    off_turn = [k for k in waiting if runs[k][1].started]
    return i, (off_turn or waiting)[0]


class Sweep:
    """The runs of one sweep, in the order of their values. Methods are safe from any thread.

    `dataset_for(config)`: the data of a run whose config names a user's own points (None: the
    engine draws a named set)."""

    def __init__(
        self,
        setting: str,
        runs: list[tuple[str, DiffusionConfig]],
        slots: TrainingSlots = DEFAULT_SLOTS,
        dataset_for: Callable[[DiffusionConfig], DataSet | None] = lambda cfg: None,
        snapshot_seconds: float = SWEEP_SNAPSHOT_SECONDS,
        turn_seconds: float = TURN_SECONDS,
    ):
        """`turn_seconds`: how long a run holds its slot before another of the sweep's has its
        turn (`next_turn`); math.inf: whole runs, first come first served."""
        self.setting = setting
        self.names = [name for name, _ in runs]
        self.turn_seconds = turn_seconds
        self._paused = threading.Event()
        self._ended = threading.Event()
        self._started = False
        # Each job made here, before any starts: a config the server refuses fails the whole sweep
        # before one of its runs takes a slot.
        self.jobs = [
            TrainingJob(
                cfg,
                slots=slots,
                snapshot_seconds=snapshot_seconds,
                dataset=dataset_for(cfg),
                on_update=self._on_update,
            )
            for _, cfg in runs
        ]

    def start(self) -> Sweep:
        """Every run joins the slots' line at once, in the order of the values."""
        if self._started:
            return self
        self._started = True
        for job in self.jobs:
            job.start()
        if math.isfinite(self.turn_seconds) and len(self.jobs) > 1:
            threading.Thread(target=self._take_turns, name="sweep-turns", daemon=True).start()
        return self

    def _take_turns(self) -> None:
        while not self._ended.wait(TURN_CHECK_SECONDS):
            runs = [(job.status(), job.turn()) for job in self.jobs]
            if not any(s.state.active for s, _ in runs):
                return
            if self._paused.is_set():
                continue
            turn = next_turn(runs, self.turn_seconds)
            if turn is not None:
                i, j = turn
                self.jobs[i].hand_slot_to(self.jobs[j])

    def pause(self) -> None:
        """Pauses the runs that train; a queued one pauses when it gets its slot and first reports."""
        self._paused.set()
        for job in self.jobs:
            job.pause()

    def resume(self) -> None:
        self._paused.clear()
        for job in self.jobs:
            job.resume()

    def stop(self, wait: bool = False, timeout: float = 10.0) -> None:
        """Ends every run: the queued ones leave the line, the others end after their step."""
        self._ended.set()  # no more turns: a run that waits its turn ends where it is
        for job in self.jobs:
            job.stop(wait=False)
        if wait:
            for job in self.jobs:
                job.join(timeout)

    close = stop  # what a session's holder calls when the session is gone

    def join(self, timeout: float | None = None) -> None:
        for job in self.jobs:
            job.join(timeout)

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def _on_update(self, status: JobStatus) -> None:
        # A run that got its slot while the sweep was paused: pause it too (a queued run cannot be
        # paused, and it would otherwise train on alone).
        if self._paused.is_set() and status.state is JobState.RUNNING:
            for job in self.jobs:
                job.pause()

    def statuses(self) -> list[RunStatus]:
        if self._paused.is_set():  # a run that started since the sweep was paused
            for job in self.jobs:
                job.pause()
        return [RunStatus(name, job.status()) for name, job in zip(self.names, self.jobs)]

    def active(self) -> bool:
        return any(job.status().state.active for job in self.jobs)

    def finished(self, statuses: list[RunStatus] | None = None) -> list[tuple[int, str, JobStatus]]:
        """(index, name, status) of each run that has ended with a trained model: finished, or
        stopped after some steps. A failed run's model is left out (its loss blew up).
        `statuses`: read from these (taken by `statuses()`) rather than afresh."""
        out = []
        for i, r in enumerate(self.statuses() if statuses is None else statuses):
            s = r.status
            ended = s.state is JobState.FINISHED or (s.state is JobState.STOPPED and s.step > 0)
            if ended and s.pipeline is not None and s.pipeline.steps_trained > 0:
                out.append((i, r.name, s))
        return out

    def pipelines(self) -> list[DiffusionPipeline]:
        return [s.pipeline for _, _, s in self.finished()]
