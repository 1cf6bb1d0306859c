"""diffusion/sweep.py: a sweep's values, its configs, and its runs queueing through the slots."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest

from diffusion.config import DiffusionConfig
from diffusion.jobs import SNAPSHOT_SECONDS, JobState, TrainingJob, TrainingSlots, Turn
from diffusion.sweep import Sweep, SweepError, next_turn, parse_values, sweep_configs, value_text

LONG = 10**6  # steps: a run that only ends when stopped


def tiny(**changes) -> DiffusionConfig:
    return DiffusionConfig(**{**dict(T=10, width=8, batch_size=128, steps=20, device="cpu"), **changes})


def wait_until(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def sweeps():
    made: list[Sweep] = []

    def make(*args, **kwargs) -> Sweep:
        kwargs.setdefault("snapshot_seconds", 0.05)
        kwargs.setdefault("turn_seconds", math.inf)  # whole runs, first come first served; turns below
        s = Sweep(*args, **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop(wait=True)
    assert not any(job.alive for s in made for job in s.jobs)


def states(s: Sweep) -> list[JobState]:
    return [r.status.state for r in s.statuses()]


# ---------------------------------------------------------------------- values and configs
def test_values_are_read_as_the_settings_type():
    assert parse_values("T", " 10, 20 ,40") == [10, 20, 40]
    assert parse_values("lr", "1e-3, 0.01") == [1e-3, 0.01]
    assert parse_values("schedule", "Sigmoid, cosine") == ["sigmoid", "cosine"]
    assert parse_values("preset", "default, table1") == ["default", "table1"]
    assert value_text("lr", 0.001) == "lr=0.001" and value_text("T", 10) == "T=10"


@pytest.mark.parametrize(
    ("setting", "text", "says"),
    [
        ("T", "10", "give 2 to 4 values"),
        ("T", "1, 2, 3, 4, 5", "(got 5)"),
        ("T", "10, ten", "'ten' is not a number"),
        ("T", "10, 10.5", "not a whole number"),
        ("width", "16, 16", "given twice"),
        ("beta_end", "0.1, nan", "not a finite number"),
        ("schedule", "sigmoid, wavy", "'wavy' is not one of sigmoid, linear"),
        ("colour", "1, 2", "unknown setting"),
    ],
)
def test_bad_values_are_one_message(setting, text, says):
    with pytest.raises(SweepError) as exc:
        parse_values(setting, text)
    assert says in str(exc.value) and "\n" not in str(exc.value)


def test_each_value_changes_only_its_setting_and_the_length():
    base = tiny(lr=5e-3, seed=3)
    runs = sweep_configs(base, "T", [10, 20], steps=30)
    assert [name for name, _ in runs] == ["T=10", "T=20"]
    for (_, cfg), T in zip(runs, (10, 20)):
        assert cfg == base.replace(T=T, steps=30)
    # a seconds-long base becomes the sweep's steps
    (_, a), _ = sweep_configs(base.replace(steps=None, max_seconds=5.0), "width", [4, 8], steps=25)
    assert a.steps == 25 and a.max_seconds is None
    # a preset is a whole recipe; the base's device and the sweep's length stay
    (_, default), (_, table1) = sweep_configs(base, "preset", ["default", "table1"], steps=40)
    assert default == DiffusionConfig(steps=40, device="cpu")
    assert table1.learn_betas and table1.data_scale.value == "unit" and table1.steps == 40


def test_a_value_out_of_range_names_itself():
    with pytest.raises(SweepError, match=r"^T=1: T: 1 is out of range"):
        sweep_configs(tiny(), "T", [10, 1], steps=20)
    with pytest.raises(SweepError, match=r"^width=100000: "):  # over the weights' limit
        sweep_configs(tiny(), "width", [8, 100_000], steps=20)
    with pytest.raises(SweepError, match="Steps"):
        sweep_configs(tiny(), "T", [10, 20], steps=0)


# ---------------------------------------------------------------------- runs
def test_a_sweep_queues_through_one_slot_and_every_run_finishes(sweeps):
    slots = TrainingSlots(capacity=1)
    runs = sweep_configs(tiny(), "width", [4, 8, 12], steps=20)
    s = sweeps("width", runs, slots=slots).start()
    # one at a time: the other two wait in line, first come first served
    wait_until(lambda: sorted(r.status.queue_position for r in s.statuses()) == [0, 1, 2], what="two in line")
    positions = [r.status.queue_position for r in s.statuses()]
    assert positions == [0, 1, 2], positions
    ran_together = 0
    while s.active():
        ran_together = max(ran_together, slots.running)
        time.sleep(0.005)
    s.join(30)
    assert ran_together == 1 and slots.running == 0
    assert states(s) == [JobState.FINISHED] * 3
    done = s.finished()
    assert [name for _, name, _ in done] == ["width=4", "width=8", "width=12"]
    assert [st.pipeline.config.width for _, _, st in done] == [4, 8, 12]
    assert all(st.pipeline.steps_trained == 20 for _, _, st in done)


def test_two_slots_train_two_runs_of_a_sweep_at_once(sweeps):
    slots = TrainingSlots(capacity=2)
    s = sweeps("T", sweep_configs(tiny(), "T", [5, 6, 7], steps=LONG), slots=slots).start()
    wait_until(lambda: slots.running == 2 and s.statuses()[2].status.queue_position == 1, what="two running")
    s.stop(wait=True)
    assert states(s)[2] is JobState.STOPPED  # the queued one left the line without training
    assert slots.running == 0 and not s.active()


def test_stop_ends_all_its_runs_and_keeps_their_models(sweeps):
    slots = TrainingSlots(capacity=2)
    s = sweeps("width", sweep_configs(tiny(), "width", [4, 8, 12], steps=LONG), slots=slots).start()
    wait_until(lambda: all(r.status.step > 0 for r in s.statuses()[:2]), what="two runs stepping")
    s.stop(wait=True)
    assert states(s) == [JobState.STOPPED] * 3 and not any(j.alive for j in s.jobs)
    # the two that trained hand over their models; the one still in line has none
    assert [i for i, _, _ in s.finished()] == [0, 1]


def test_pause_acts_on_all_runs_and_a_run_that_starts_later(sweeps):
    slots = TrainingSlots(capacity=1)
    s = sweeps("T", sweep_configs(tiny(), "T", [5, 6], steps=LONG), slots=slots).start()
    wait_until(lambda: s.statuses()[0].status.state is JobState.RUNNING, what="the first running")
    s.pause()
    assert states(s) == [JobState.PAUSED, JobState.QUEUED] and s.paused
    s.jobs[0].stop(wait=True)  # its slot frees: the second starts, and pauses as it reports
    wait_until(lambda: s.statuses()[1].status.state is JobState.PAUSED, what="the second paused")
    time.sleep(0.5)  # the worker's last progress report before it took the Pause
    step = s.statuses()[1].status.step
    time.sleep(0.5)
    assert s.statuses()[1].status.step == step  # paused: no steps
    s.resume()
    wait_until(lambda: s.statuses()[1].status.step > step, what="steps after Resume")
    assert not s.paused


def test_a_closed_session_frees_its_sweep(sweeps, monkeypatch):
    from pages._app import reconnect
    from pages._app.training import JobHolder, _release

    slots = TrainingSlots(capacity=1)
    s = sweeps("T", sweep_configs(tiny(), "T", [5, 6], steps=LONG), slots=slots).start()
    wait_until(lambda: s.statuses()[0].status.step > 0, what="the first stepping")
    holder = JobHolder()
    holder.sweep = s  # what pages/_app/sweep.py keeps there (its SessionSweep closes the same way)
    # a session that ends with a token is parked: a reload within the grace period takes the
    # sweep back, running; a closed tab's entry expires and its runs stop
    now = [1000.0]
    monkeypatch.setattr(reconnect, "clock", lambda: now[0])
    holder.token = reconnect.new_token()
    _release(holder)
    assert reconnect.take(holder.token) is holder and s.active()
    again = JobHolder()
    again.adopt(holder)
    assert again.sweep is s
    _release(again)
    now[0] += reconnect.GRACE_SECONDS + 1
    assert reconnect.expire() >= 1
    s.join(15)
    assert states(s) == [JobState.STOPPED, JobState.STOPPED] and slots.running == 0


def test_a_session_without_a_token_stops_its_sweep_at_once(sweeps):
    from pages._app.training import JobHolder, _release

    s = sweeps("T", sweep_configs(tiny(), "T", [5, 6], steps=LONG), slots=TrainingSlots(capacity=2)).start()
    wait_until(lambda: all(r.status.step > 0 for r in s.statuses()), what="both stepping")
    holder = JobHolder()
    holder.sweep = s
    _release(holder)
    s.join(15)
    assert states(s) == [JobState.STOPPED, JobState.STOPPED]


def test_a_sweeps_runs_publish_their_model_at_the_start_and_the_end_only():
    """A dashboard run publishes a model every SNAPSHOT_SECONDS; a sweep's run, which shows only
    its progress line while it trains, publishes one after its first second and one at its end."""
    slots = TrainingSlots(capacity=2)
    s = Sweep("T", sweep_configs(tiny(), "T", [5, 6], steps=2000), slots=slots).start()
    try:
        wait_until(lambda: not s.active(), timeout=120, what="the sweep's end")
    finally:
        s.stop(wait=True)
    for r in s.statuses():
        assert r.status.state is JobState.FINISHED
        assert r.status.seconds > 2 * SNAPSHOT_SECONDS  # long enough for a dashboard run's two or more
        assert r.status.snapshot_id <= 2, r.status.snapshot_id
        assert r.status.pipeline.steps_trained == 2000 and r.status.quality is not None  # the end's model


# ---------------------------------------------------------------------- turns
def run(state: JobState, progress: float = 0.0, holds: bool = False, turn: float = 0.0, started: bool = False):
    """One run as `next_turn` sees it: its status (only these fields matter) and its turn."""
    status = dataclasses.replace(TrainingJob(tiny()).status(), state=state, progress=progress)
    return status, Turn(holds, turn, started or holds)


R, Q = JobState.RUNNING, JobState.QUEUED
DUE = 10.0  # seconds: longer than the turns below


def test_the_run_furthest_from_its_end_hands_its_slot_on_when_its_turn_is_over():
    # three on two slots: whole runs would leave a slot idle at the end
    runs = [run(R, 0.30, True, DUE), run(R, 0.20, True, DUE), run(Q)]
    assert next_turn(runs, 5.0) == (1, 2)
    # not yet: the run with the most of its steps left has held its slot for less than a turn,
    # though another has held its own for longer
    runs = [run(R, 0.40, True, DUE), run(Q, 0.20, started=True), run(R, 0.10, True, 1.0)]
    assert next_turn(runs, 5.0) is None
    # the run waiting its turn goes first, before one that has not started
    runs = [run(R, 0.40, True, DUE), run(R, 0.10, True, DUE), run(Q), run(Q, 0.2, started=True), run(Q)]
    assert next_turn(runs, 5.0) == (1, 3)
    # a run still starting in its slot (no steps yet) is the furthest from its end
    runs = [run(R, 0.40, True, DUE), run(Q, 0.0, True, DUE), run(Q, 0.20, started=True)]
    assert next_turn(runs, 5.0) == (1, 2)


def test_no_turns_where_whole_runs_keep_every_slot_busy_or_nothing_can_change():
    four_on_two = [run(R, 0.3, True, DUE), run(R, 0.2, True, DUE), run(Q), run(Q)]
    assert next_turn(four_on_two, 5.0) is None
    one_slot = [run(R, 0.3, True, DUE), run(Q), run(Q)]  # another session holds the other slot
    assert next_turn(one_slot, 5.0) is None
    # three left of four, on two slots: the finished one does not count
    three_left = [run(JobState.FINISHED, 1.0)] + four_on_two[:3]
    assert next_turn(three_left, 5.0) == (2, 3)
    assert next_turn([run(R, 0.3, True, DUE), run(R, 0.2, True, DUE)], 5.0) is None  # nobody waits
    paused = [run(JobState.PAUSED, 0.3, True, DUE), run(JobState.PAUSED, 0.2, True, DUE), run(Q)]
    assert next_turn(paused, 5.0) is None  # a paused run keeps its slot


def test_three_runs_on_two_slots_take_turns_and_all_finish(sweeps):
    slots = TrainingSlots(capacity=2)
    steps = 600
    s = sweeps(
        "seed",
        [(f"seed={i}", tiny(steps=steps, seed=i)) for i in range(3)],
        slots=slots,
        turn_seconds=0.5,
        snapshot_seconds=math.inf,
    )
    s.start()
    first_step: dict[int, float] = {}
    ended: dict[int, float] = {}
    busiest = 0
    deadline = time.monotonic() + 120
    while len(ended) < 3:
        now = time.monotonic()
        assert now < deadline, "the sweep did not end"
        statuses = [r.status for r in s.statuses()]
        busiest = max(busiest, sum(st.state is JobState.RUNNING for st in statuses), slots.running)
        for i, st in enumerate(statuses):
            if st.step > 0:
                first_step.setdefault(i, now)
            if not st.state.active:
                ended.setdefault(i, now)
        time.sleep(0.01)
    assert busiest <= 2  # the server's cap holds
    assert [r.status.state for r in s.statuses()] == [JobState.FINISHED] * 3
    assert all(st.pipeline.steps_trained == steps for _, _, st in s.finished())
    # the third began long before either of the others ended: it did not wait for a whole run
    assert first_step[2] < min(ended[0], ended[1]) - 1.0, (first_step, ended)


def test_stop_and_pause_reach_a_run_that_waits_its_turn(sweeps):
    slots = TrainingSlots(capacity=2)
    s = sweeps("seed", [(f"seed={i}", tiny(steps=LONG, seed=i)) for i in range(3)], slots=slots, turn_seconds=0.3)
    s.start()
    wait_until(lambda: all(r.status.step > 0 for r in s.statuses()), what="all three trained")
    wait_until(lambda: any(r.status.state is JobState.QUEUED for r in s.statuses()), what="one off its turn")
    s.pause()
    time.sleep(1.0)  # a turn would have passed: a paused sweep keeps its slots where they are
    before = [(r.status.state, r.status.step) for r in s.statuses()]
    time.sleep(1.0)
    assert [(r.status.state, r.status.step) for r in s.statuses()] == before
    assert sorted(state.value for state, _ in before) == ["paused", "paused", "queued"]
    s.resume()
    wait_until(lambda: sum(r.status.state is JobState.RUNNING for r in s.statuses()) == 2, what="two training")
    s.stop(wait=True)
    assert states(s) == [JobState.STOPPED] * 3 and not any(j.alive for j in s.jobs)
    assert [i for i, _, _ in s.finished()] == [0, 1, 2] and slots.running == 0
