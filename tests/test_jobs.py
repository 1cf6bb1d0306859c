"""diffusion/jobs.py: background training runs that start once, pause, stop quickly, queue, and stay apart."""

from __future__ import annotations

import copy
import math
import os
import signal
import threading
import time

import numpy as np
import psutil
import pytest
import torch

from diffusion.config import ConfigError, DiffusionConfig
from diffusion.jobs import PREVIEW_POINTS, JobState, TrainingJob, TrainingSlots
from diffusion.metrics import better_model
from diffusion.train import Trainer
from diffusion.worker import FIRST_SNAPSHOT_SECONDS, TRAINING_NICENESS

LONG = 10**6  # steps: a run that only ends when stopped


def job_config(**changes) -> DiffusionConfig:
    base = dict(T=10, width=8, batch_size=128, steps=15, device="cpu")
    base.update(changes)
    return DiffusionConfig(**base)


def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def jobs():
    """Collects jobs and makes sure every thread is stopped when the test ends."""
    started: list[TrainingJob] = []

    def make(config, **kwargs) -> TrainingJob:
        kwargs.setdefault("snapshot_seconds", 0.05)
        job = TrainingJob(config, **kwargs)
        started.append(job)
        return job

    yield make
    for job in started:
        job.stop(wait=True, timeout=10)
    assert not any(job.alive for job in started)


def all_finite(model) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_job_runs_to_finished_and_publishes_a_pipeline(jobs):
    slots = TrainingSlots(capacity=1)
    job = jobs(job_config(), slots=slots)
    assert job.status().state is JobState.QUEUED and job.status().pipeline is None
    job.start()
    job.join(60)
    assert not job.alive
    st = job.status()
    assert st.state is JobState.FINISHED and st.error is None and not st.diverged
    assert st.step == 15 and st.total_steps == 15 and st.progress == 1.0 and st.queue_position == 0
    steps, losses = st.losses
    np.testing.assert_array_equal(steps, np.arange(1, 16))
    assert losses.shape == (15,) and np.isfinite(losses).all()
    assert st.kl_per_t.shape == (9,) and np.isfinite(st.kl_per_t).all()
    assert st.pipeline is not None and st.pipeline.steps_trained == 15 and st.pipeline.T == 10
    assert st.preview.shape == (PREVIEW_POINTS, 2) and np.isfinite(st.preview).all()
    np.testing.assert_array_equal(st.preview, st.pipeline.samples(PREVIEW_POINTS, seed=0))
    assert st.quality == st.pipeline.quality()  # measured in the child on those samples: the pages' numbers
    assert st.snapshot_id >= 1 and st.eta_seconds is None  # over: no time left to quote
    assert slots.running == 0


def test_a_job_trains_what_a_trainer_trains(jobs):
    config = job_config(seed=6)
    job = jobs(config, slots=TrainingSlots(1)).start()
    job.join(60)
    solo = Trainer(config).train()
    np.testing.assert_array_equal(job.status().losses[1], np.asarray(solo.history.loss, dtype=np.float32))


def test_snapshots_are_published_while_running(jobs):
    job = jobs(job_config(steps=LONG), slots=TrainingSlots(1), snapshot_seconds=0.05).start()
    wait_until(lambda: job.status().snapshot_id >= 2, what="two snapshots")
    st = job.status()
    assert st.state is JobState.RUNNING and st.pipeline is not None and st.preview is not None
    assert 0 < st.progress < 1 and st.iterations_per_second >= 0


def test_on_update_sees_every_snapshot_and_the_end(jobs):
    seen = []
    job = jobs(job_config(steps=60), slots=TrainingSlots(1), on_update=seen.append).start()
    job.join(60)
    final = job.status()
    assert final.state is JobState.FINISHED and len(seen) == final.snapshot_id + 1
    assert [s.snapshot_id for s in seen] == list(range(1, final.snapshot_id + 1)) + [final.snapshot_id]
    assert (
        all(s.state.active for s in seen[:-1]) and not seen[-1].state.active
    )  # each snapshot as it arrived, then the end
    assert seen[-1].pipeline is final.pipeline and seen[-1].step == final.step


def test_a_failing_on_update_does_not_end_the_run(jobs):
    calls = []

    def broken(status):
        calls.append(status.snapshot_id)
        raise RuntimeError("a hook's bug")

    job = jobs(job_config(steps=30), slots=TrainingSlots(1), on_update=broken).start()
    job.join(60)
    st = job.status()
    assert st.state is JobState.FINISHED and st.step == 30 and st.error is None
    assert len(calls) == st.snapshot_id + 1


def test_stop_mid_run_ends_quickly_and_keeps_the_model(jobs):
    job = jobs(job_config(steps=LONG), slots=TrainingSlots(1)).start()
    wait_until(lambda: job.status().step >= 3, what="three steps")
    eta = job.status().eta_seconds
    assert eta is not None and 0 < eta < math.inf  # running: the time left at the current pace
    started = time.monotonic()
    job.stop(wait=True, timeout=10)
    assert time.monotonic() - started < 5
    assert not job.alive
    st = job.status()
    assert st.state is JobState.STOPPED and not st.state.active and st.eta_seconds is None
    assert st.pipeline is not None and st.pipeline.steps_trained == st.step >= 3
    assert all_finite(st.pipeline.model)
    job.stop()  # a second stop is harmless
    assert job.status().state is JobState.STOPPED


def test_stop_during_a_snapshot_evaluation_ends_cleanly(jobs):
    """A snapshot measures 5,000 samples (the "evaluation"); with one due every 10 ms the child is
    nearly always in one when Stop arrives. Each run still ends STOPPED, quickly, with a model."""
    for delay in (0.0, 0.05, 0.13):
        job = jobs(job_config(steps=LONG), slots=TrainingSlots(1), snapshot_seconds=0.01).start()
        wait_until(lambda: job.status().snapshot_id >= 1, what="a first snapshot")
        time.sleep(delay)
        started = time.monotonic()
        job.stop(wait=True, timeout=10)
        assert time.monotonic() - started < 5 and not job.alive
        st = job.status()
        assert st.state is JobState.STOPPED and st.error is None
        assert st.pipeline is not None and st.pipeline.steps_trained == st.step and st.quality is not None


def test_double_start_is_a_no_op(jobs):
    job = jobs(job_config(steps=LONG), slots=TrainingSlots(2))
    job.start()
    thread = job._thread
    assert job.start() is job and job._thread is thread
    names = [t.name for t in threading.enumerate()]
    assert names.count(thread.name) == 1
    job.stop()
    job.start()  # even after the run ended: no second thread
    assert job._thread is thread and not job.alive


def test_pause_and_resume(jobs):
    job = jobs(job_config(steps=LONG), slots=TrainingSlots(1)).start()
    wait_until(lambda: job.status().step >= 2, what="two steps")
    job.pause()
    assert job.status().state is JobState.PAUSED and job.status().state.active
    time.sleep(0.5)  # a step already under way may finish
    frozen = job.status().step
    time.sleep(0.4)
    assert job.status().step == frozen and job.alive
    job.resume()
    assert job.status().state is JobState.RUNNING
    wait_until(lambda: job.status().step > frozen + 2, what="steps after resume")
    job.pause()
    job.stop(wait=True, timeout=10)  # stop while paused ends the thread too
    assert not job.alive and job.status().state is JobState.STOPPED


def test_a_paused_run_publishes_the_paused_model(jobs):
    """Pause, then save: the snapshot is the model at the step where the run paused, published
    once (not again while it stays paused)."""
    job = jobs(job_config(steps=LONG), slots=TrainingSlots(1), snapshot_seconds=3600.0).start()
    wait_until(lambda: job.status().snapshot_id >= 1, what="the first snapshot")  # after 1 s
    wait_until(lambda: job.status().step >= job.status().pipeline.steps_trained + 5, what="steps past it")
    job.pause()
    wait_until(lambda: job.status().pipeline.steps_trained == job.status().step, what="a snapshot of the paused model")
    s = job.status()
    assert (
        s.state is JobState.PAUSED
        and s.snapshot_id == 2
        and s.quality is not None
        and s.preview.shape == (PREVIEW_POINTS, 2)
    )
    time.sleep(1.2)  # the child checks for commands every 0.5 s while paused
    assert job.status().snapshot_id == 2, "a run that stays paused publishes nothing more"
    job.resume()
    wait_until(lambda: job.status().step > s.step + 2, what="steps after resume")
    job.pause()
    wait_until(lambda: job.status().snapshot_id == 3, what="the second pause's snapshot")
    assert job.status().pipeline.steps_trained == job.status().step > s.step


def test_resume_restarts_the_snapshot_clock(jobs):
    """A pause longer than the snapshot interval: on resume the paused snapshot is still the newest
    model, so the next one comes a full interval later, not at once for a model one step newer."""
    interval = 1.5
    job = jobs(job_config(steps=LONG), slots=TrainingSlots(1), snapshot_seconds=interval).start()
    wait_until(lambda: job.status().snapshot_id >= 1, what="the first snapshot")  # after 1 s
    # steps past it, so that the first snapshot cannot pass for the paused one below
    wait_until(lambda: job.status().step >= job.status().pipeline.steps_trained + 5, what="steps past it")
    job.pause()
    wait_until(lambda: job.status().pipeline.steps_trained == job.status().step, what="a snapshot of the paused model")
    time.sleep(interval + 0.3)  # the clock that ran on through the pause would be due now
    paused_id, paused_steps = job.status().snapshot_id, job.status().step
    assert job.status().pipeline.steps_trained == paused_steps  # the paused model is the newest
    resumed_at = time.perf_counter()
    job.resume()
    wait_until(lambda: job.status().snapshot_id > paused_id, timeout=30, what="a snapshot after resume")
    assert time.perf_counter() - resumed_at >= interval
    assert job.status().pipeline.steps_trained > paused_steps + 1  # the model an interval of training on


def test_snapshots_come_first_after_a_second_then_every_interval(jobs):
    """The first snapshot early (the user sees the run take shape), then one per interval. The
    times are when this thread sees each snapshot, a measurement of 5,000 samples after the
    worker took it: hence the margins."""
    interval = 1.5
    job = jobs(job_config(steps=LONG), slots=TrainingSlots(1), snapshot_seconds=interval).start()
    wait_until(lambda: job.status().state is JobState.RUNNING, what="the run to start")
    started = time.perf_counter()
    wait_until(lambda: job.status().snapshot_id >= 1, what="the first snapshot")
    first = time.perf_counter() - started
    assert first >= 0.9 * FIRST_SNAPSHOT_SECONDS  # never before the first second of training
    wait_until(lambda: job.status().snapshot_id >= 2, timeout=30, what="the second snapshot")
    assert time.perf_counter() - started - first >= 0.75 * interval  # then one per interval, not per step


def test_pause_and_resume_outside_a_run_do_nothing(jobs):
    job = jobs(job_config(), slots=TrainingSlots(1))
    job.pause()
    assert job.status().state is JobState.QUEUED
    job.start().join(60)
    job.pause()
    job.resume()
    assert job.status().state is JobState.FINISHED


def test_slots_queue_jobs_first_come_first_served(jobs):
    slots = TrainingSlots(capacity=1)
    a = jobs(job_config(steps=LONG, seed=1), slots=slots).start()
    wait_until(lambda: a.status().state is JobState.RUNNING, what="a running")
    b = jobs(job_config(steps=LONG, seed=2), slots=slots).start()
    wait_until(lambda: b._ticket in slots._waiting, what="b waiting")
    c = jobs(job_config(steps=LONG, seed=3), slots=slots).start()
    wait_until(lambda: c.status().queue_position == 2, what="c behind b")
    time.sleep(0.3)
    for job, position in ((b, 1), (c, 2)):  # 1-based place in the waiting line
        st = job.status()
        assert st.state is JobState.QUEUED and st.queue_position == position and st.step == 0
        assert st.pipeline is None
    assert slots.running == 1 and a.status().state is JobState.RUNNING

    a.stop()
    wait_until(lambda: b.status().step > 0, what="b training")
    assert b.status().state is JobState.RUNNING
    assert c.status().state is JobState.QUEUED and c.status().queue_position == 1 and c.status().step == 0
    b.stop()
    wait_until(lambda: c.status().step > 0, what="c training")
    assert slots.running == 1
    c.stop()
    assert slots.running == 0


def test_a_slot_handed_to_a_waiting_ticket_puts_the_holder_in_its_place():
    slots = TrainingSlots(capacity=2)
    never = threading.Event()
    assert slots.acquire(1, never) and slots.acquire(2, never)
    for ticket in (3, 4, 5):  # three in line: 3, 4, 5 (no thread: the line as the slots hold it)
        slots._waiting.append(ticket)
    before = time.monotonic()
    assert slots.swap(2, 4)
    assert slots.held_since(4) >= before and slots.held_since(2) is None  # 4's turn begins now
    assert slots.take(4) and not slots.take(2) and slots.running == 2  # the cap is as it was
    assert [slots.position(t) for t in (3, 2, 5)] == [1, 2, 3]  # 2 waits where 4 waited
    # nothing changes for a ticket that holds no slot, or one that is not in line
    assert not slots.swap(3, 5) and not slots.swap(1, 4) and not slots.swap(1, 99)
    assert [slots.position(t) for t in (3, 2, 5)] == [1, 2, 3] and slots.take(1) and slots.take(4)
    slots.release(2)  # a run that ends while it waits its turn leaves the line
    assert [slots.position(t) for t in (3, 5)] == [1, 2]
    slots.release(1)
    assert slots.take(3) and not slots.take(5)  # the first in line takes the slot that freed


def test_a_job_that_hands_its_slot_over_waits_and_goes_on_with_its_model(jobs):
    slots = TrainingSlots(capacity=1)
    a = jobs(job_config(steps=LONG, seed=1), slots=slots).start()
    b = jobs(job_config(steps=LONG, seed=2), slots=slots).start()
    wait_until(lambda: a.status().step > 0 and b.status().queue_position == 1, what="a training, b in line")
    assert a.turn().holds_slot and not b.turn().holds_slot and not b.turn().started
    assert a.hand_slot_to(b)
    wait_until(lambda: b.status().step > 0, what="b training in a's slot")
    wait_until(lambda: a.status().state is JobState.QUEUED, what="a waiting its turn")
    sa = a.status()
    assert sa.queue_position == 1 and sa.eta_seconds is None and a.turn().started and not a.turn().holds_slot
    time.sleep(0.5)
    assert a.status().step == sa.step and a.alive  # its process waits: no steps, the model kept
    assert slots.running == 1 and b.status().state is JobState.RUNNING
    assert b.hand_slot_to(a)
    wait_until(lambda: a.status().step > sa.step, what="a training on from its own step")
    assert a.status().state is JobState.RUNNING and b.status().state is JobState.QUEUED
    assert not a.hand_slot_to(a)  # a run in no line: nothing changes
    b.stop(wait=True)  # a run that waits its turn stops where it is, with its model
    a.stop(wait=True)
    for job in (a, b):
        st = job.status()
        assert st.state is JobState.STOPPED and st.pipeline.steps_trained == st.step > 0
    assert slots.running == 0


def test_stopping_a_queued_job_ends_it_without_training(jobs):
    slots = TrainingSlots(capacity=1)
    a = jobs(job_config(steps=LONG), slots=slots).start()
    wait_until(lambda: a.status().state is JobState.RUNNING, what="a running")
    b = jobs(job_config(), slots=slots).start()
    wait_until(lambda: b._ticket in slots._waiting, what="b waiting")
    started = time.monotonic()
    b.stop(wait=True, timeout=10)
    assert time.monotonic() - started < 5 and not b.alive
    st = b.status()
    assert st.state is JobState.STOPPED and st.step == 0 and st.pipeline is None
    assert b._ticket not in slots._waiting
    assert a.status().state is JobState.RUNNING


def test_two_concurrent_jobs_with_different_settings_do_not_share_models(jobs):
    slots = TrainingSlots(capacity=2)
    c1 = job_config(T=10, width=8, seed=1, steps=30)
    c2 = job_config(T=12, width=12, seed=2, steps=30, schedule="linear", beta_end=0.05)
    j1, j2 = jobs(c1, slots=slots), jobs(c2, slots=slots)
    j1.start()
    j2.start()
    wait_until(lambda: slots.running == 2 or not (j1.alive and j2.alive), what="both running")
    j1.join(60)
    j2.join(60)
    s1, s2 = j1.status(), j2.status()
    assert s1.state is s2.state is JobState.FINISHED
    p1, p2 = s1.pipeline, s2.pipeline
    assert p1 is not p2 and p1.model is not p2.model
    assert p1.config == c1 and p2.config == c2
    assert (p1.model.T, p1.model.width) == (10, 8) and (p2.model.T, p2.model.width) == (12, 12)
    assert p1.diffusion.schedule.schedule.value == "sigmoid" and p2.diffusion.schedule.schedule.value == "linear"
    ptrs1 = {p.data_ptr() for p in p1.model.parameters()}
    ptrs2 = {p.data_ptr() for p in p2.model.parameters()}
    assert not ptrs1 & ptrs2
    assert s1.kl_per_t.shape == (9,) and s2.kl_per_t.shape == (11,)
    assert s1.preview.shape == s2.preview.shape == (PREVIEW_POINTS, 2)


def test_jobs_starting_together_still_reproduce_their_seeds(jobs):
    slots = TrainingSlots(capacity=2)
    c1, c2 = job_config(seed=1, steps=3), job_config(seed=2, steps=3)
    solo1, solo2 = Trainer(c1).train().history.loss, Trainer(c2).train().history.loss
    j1, j2 = jobs(c1, slots=slots), jobs(c2, slots=slots)
    j1.start()
    j2.start()  # two users clicking Start together: two processes initialise at once
    j1.join(60)
    j2.join(60)
    assert list(j1.status().losses[1]) == list(np.float32(solo1))
    assert list(j2.status().losses[1]) == list(np.float32(solo2))
    assert j1.pid != j2.pid


def test_training_runs_in_its_own_process(jobs):
    job = jobs(job_config(steps=LONG), slots=TrainingSlots(1)).start()
    wait_until(lambda: job.status().step >= 2, what="two steps")
    assert job.pid is not None and job.pid != os.getpid() and psutil.pid_exists(job.pid)
    fork_server = psutil.Process(job.pid).parent()  # forked by the fork server, which this process started
    assert fork_server.pid != os.getpid() and fork_server.ppid() == os.getpid()
    # background work: it yields the CPU to the pages the server draws
    assert psutil.Process(job.pid).nice() == min(19, psutil.Process().nice() + TRAINING_NICENESS)
    assert fork_server.nice() == psutil.Process().nice()  # the server's own priority is untouched
    job.stop(wait=True, timeout=10)
    wait_until(lambda: not _running(job.pid), timeout=10, what="the child to exit")


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_killed_training_process_fails_the_job_and_keeps_the_last_snapshot(jobs):
    job = jobs(job_config(steps=LONG), slots=TrainingSlots(1), snapshot_seconds=0.05).start()
    wait_until(lambda: job.status().snapshot_id >= 1, what="a snapshot")
    os.kill(job.pid, signal.SIGKILL)  # say, the kernel's out-of-memory killer
    job.join(10)
    st = job.status()
    assert not job.alive and st.state is JobState.FAILED
    assert "ended unexpectedly" in st.error and "exit code -9" in st.error
    assert st.pipeline is not None and st.pipeline.steps_trained >= 1 and all_finite(st.pipeline.model)


def test_the_training_process_ends_when_the_server_side_goes(jobs):
    """The server's end of the pipe closes (the server died): the child notices and exits, also
    while paused, instead of training for nobody."""
    for pause in (False, True):
        job = jobs(job_config(steps=LONG), slots=TrainingSlots(1)).start()
        wait_until(lambda: job.status().step >= 2, what="two steps")
        if pause:
            job.pause()
        pid = job.pid
        with job._send_lock:
            job._conn.close()
            job._conn = None
        wait_until(lambda: not _running(pid), timeout=10, what="the orphaned child to exit")
        job.join(10)
        assert not job.alive and not job.status().state.active


def test_divergence_fails_the_job_and_keeps_finite_weights(jobs):
    job = jobs(job_config(lr=100.0, lr_schedule="constant", ema_decay=0.0, steps=200), slots=TrainingSlots(1)).start()
    job.join(60)
    st = job.status()
    assert st.state is JobState.FAILED and not st.state.active
    assert "diverged" in st.error and "learning rate" in st.error and st.diverged
    assert st.pipeline is not None and all_finite(st.pipeline.model)
    assert st.step < 200


def test_an_unexpected_error_fails_the_job_with_a_message(jobs, tiny_pipeline):
    # resuming from a model of another architecture cannot train: the job says so instead of dying silently
    job = jobs(job_config(T=12), resume_from=tiny_pipeline, slots=TrainingSlots(1)).start()
    job.join(60)
    st = job.status()
    assert st.state is JobState.FAILED and st.error.startswith("training failed:") and not st.diverged
    assert st.pipeline is tiny_pipeline  # the model the session had stays


def test_invalid_config_fails_in_the_callers_thread():
    with pytest.raises(ConfigError, match="^lr:"):
        TrainingJob(job_config(lr=-1.0), slots=TrainingSlots(1))


def test_resume_from_a_pipeline(jobs, tiny_pipeline):
    config = tiny_pipeline.config.replace(steps=5, device="cpu")
    before = copy.deepcopy(tiny_pipeline.model.state_dict())
    job = jobs(config, resume_from=tiny_pipeline, slots=TrainingSlots(1))
    assert job.status().pipeline is tiny_pipeline
    job.start().join(60)
    st = job.status()
    assert st.state is JobState.FINISHED and st.pipeline is not tiny_pipeline
    # the session's old model is untouched, the new one has moved on from it
    assert all(torch.equal(v, tiny_pipeline.model.state_dict()[k]) for k, v in before.items())
    assert not all(torch.equal(v, st.pipeline.model.state_dict()[k]) for k, v in before.items())
    # and training started from its weights: the first loss is the resumed model's, not a fresh one's
    resumed = Trainer(config, model=copy.deepcopy(tiny_pipeline.model).requires_grad_(True).train())
    fresh = Trainer(config)
    first = float(st.losses[1][tiny_pipeline.steps_trained])  # the curve goes on after the model's own
    assert first == pytest.approx(resumed.step(), rel=1e-5)
    assert first != pytest.approx(fresh.step(), rel=1e-3)


def test_a_continued_run_counts_on_from_the_models_steps_and_history(jobs, tiny_pipeline, tmp_path):
    """A model of 20 steps continued for 5 is a model of 25 steps, its loss curve the old one
    followed by the new steps: in the status, in every snapshot and in its checkpoint."""
    from diffusion.checkpoint import load_checkpoint, save_checkpoint

    old = tiny_pipeline.history
    config = tiny_pipeline.config.replace(steps=5, device="cpu")
    seen = []
    job = jobs(config, resume_from=tiny_pipeline, slots=TrainingSlots(1), on_update=seen.append)
    st = job.status()
    assert (st.step, st.start_step, st.total_steps, st.progress) == (20, 20, 25, 0.0)
    assert st.seconds == old.seconds[-1] and list(st.losses[0]) == old.steps
    job.start().join(60)
    st = job.status()
    assert st.state is JobState.FINISHED and st.progress == 1.0
    assert (st.step, st.start_step, st.total_steps) == (25, 20, 25)
    steps, losses = st.losses
    np.testing.assert_array_equal(steps, np.arange(1, 26))
    np.testing.assert_array_equal(losses[:20], np.asarray(old.loss, dtype=np.float32))
    assert st.seconds > old.seconds[-1]
    for s in seen:  # every snapshot: the model's count, its curve from the first step
        assert s.pipeline.steps_trained > 20 and s.pipeline.history.steps == list(
            range(1, s.pipeline.steps_trained + 1)
        )
    p = st.pipeline
    assert p.steps_trained == 25 and p.history.steps == list(range(1, 26)) and p.history.loss[:20] == old.loss
    assert p.history.seconds[:20] == old.seconds and p.history.seconds[20] > old.seconds[-1]
    loaded = load_checkpoint(save_checkpoint(p, tmp_path / "model.pt"), device="cpu")
    assert loaded.steps_trained == 25 and loaded.history.steps == list(range(1, 26))
    assert tiny_pipeline.steps_trained == 20 and len(tiny_pipeline.history.steps) == 20  # untouched


def test_a_continued_runs_eta_counts_only_its_own_steps(jobs, tiny_pipeline):
    job = jobs(
        tiny_pipeline.config.replace(steps=LONG, device="cpu"), resume_from=tiny_pipeline, slots=TrainingSlots(1)
    )
    job.start()
    wait_until(lambda: job.status().step >= 25, what="five steps")
    st = job.status()
    assert st.total_steps == 20 + LONG and 0 < st.progress < 1
    done, seconds = st.step - 20, st.seconds - tiny_pipeline.history.seconds[-1]
    assert st.eta_seconds == pytest.approx((LONG - done) * seconds / done, rel=1e-6)


def test_a_bad_run_says_so_and_is_no_better_model_than_a_trained_one(jobs, trained_pipeline):
    """A run that diverges, or one stopped after a handful of steps, ends with last weights far
    worse than a trained model: its status carries what a page needs to keep the trained one."""
    current = trained_pipeline.quality()
    diverged = jobs(job_config(lr=100.0, lr_schedule="constant", ema_decay=0.0, steps=200), slots=TrainingSlots(1))
    diverged.start().join(60)
    short = jobs(job_config(steps=LONG), slots=TrainingSlots(1)).start()
    wait_until(lambda: short.status().step >= 3, what="three steps")
    short.stop(wait=True, timeout=10)
    for job, diverged_flag in ((diverged, True), (short, False)):
        st = job.status()
        assert st.diverged is diverged_flag and st.quality is not None
        assert not better_model(st.quality, current), st.quality
        assert better_model(current, st.quality)


# ---------------------------------------------------------------------- TrainingSlots alone
def test_slots_capacity_and_cancellation():
    assert TrainingSlots().capacity >= 1
    slots = TrainingSlots(capacity=1)
    never = threading.Event()
    assert slots.acquire(1, never) and slots.running == 1
    cancelled = threading.Event()
    result = []
    waiter = threading.Thread(target=lambda: result.append(slots.acquire(2, cancelled)))
    waiter.start()
    wait_until(lambda: 2 in slots._waiting, what="2 waiting")
    assert slots.position(2) == 1 and slots.position(99) == 0
    cancelled.set()
    waiter.join(5)
    assert result == [False] and 2 not in slots._waiting and slots.running == 1
    slots.release(1)
    assert slots.running == 0
    assert slots.acquire(3, never) and slots.running == 1
    slots.release(3)


def test_slots_never_exceed_capacity():
    slots = TrainingSlots(capacity=2)
    peak = []
    lock = threading.Lock()
    running = [0]

    def worker(ticket):
        slots.acquire(ticket, threading.Event())
        with lock:
            running[0] += 1
            peak.append(running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        slots.release(ticket)

    threads = [threading.Thread(target=worker, args=(1000 + i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(peak) == 6 and max(peak) <= 2 and slots.running == 0


def test_job_state_activity():
    assert {s for s in JobState if s.active} == {JobState.QUEUED, JobState.RUNNING, JobState.PAUSED}


def test_each_snapshot_brings_its_bound_on_held_out_points(jobs):
    """The Train page's live bound: K and the KL per t of the very model the snapshot publishes."""
    from diffusion.worker import SNAPSHOT_BOUND_POINTS

    job = jobs(job_config(), slots=TrainingSlots(1)).start()
    job.join(60)
    s = job.status()
    assert s.snapshot_bound is not None and s.snapshot_bound.kl_per_t_bits.shape == (9,)
    expected = s.pipeline.bound(SNAPSHOT_BOUND_POINTS)
    np.testing.assert_allclose(s.snapshot_bound.kl_per_t_bits, expected.kl_per_t_bits, rtol=1e-5)
    assert s.snapshot_bound.bits == pytest.approx(expected.bits, abs=1e-5)


def test_the_time_left_is_the_runs_average_pace_not_its_last_seconds():
    """A snapshot measured beside the steps slows the last two seconds' pace: the estimate must
    not jump with it. 100 of 1,000 steps in 10 s leave 90 s, whatever the recent pace."""
    from diffusion.jobs import eta_seconds

    by_steps = DiffusionConfig(steps=1000)
    assert eta_seconds(by_steps, 100, 10.0) == pytest.approx(90.0)
    assert eta_seconds(by_steps, 0, 0.0) is None  # no pace yet: the page shows a dash
    assert eta_seconds(by_steps, 1000, 50.0) == 0.0
    by_seconds = DiffusionConfig(steps=None, max_seconds=30.0)
    assert eta_seconds(by_seconds, 100, 10.0) == pytest.approx(20.0)
