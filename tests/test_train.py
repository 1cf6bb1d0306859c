"""diffusion/train.py: reproducible, stoppable training that keeps the last good weights on divergence."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from diffusion.config import DiffusionConfig, tutorial_config
from diffusion.pipeline import DiffusionPipeline
from diffusion.train import LR_FLOOR, WARMUP_STEPS, Trainer, TrainingDiverged, TrainingHistory, build_model


def params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def all_finite(model) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_a_run_is_reproducible_from_its_seed(make_config):
    c = make_config(steps=15, seed=4)
    a, b = Trainer(c).train(), Trainer(c).train()
    assert a.history.loss == b.history.loss
    assert same(params(a.model), params(b.model)) and same(params(a.ema_model), params(b.ema_model))
    other = Trainer(c.replace(seed=5)).train()
    assert other.history.loss != a.history.loss


def test_build_model_is_seeded(make_config):
    m1, _ = build_model(make_config(seed=7))
    m2, _ = build_model(make_config(seed=7))
    m3, _ = build_model(make_config(seed=8))
    assert same(params(m1), params(m2)) and not same(params(m1), params(m3))


def test_loss_decreases_and_history_is_kept(trained_trainer):
    tr = trained_trainer
    h = tr.history
    n = tr.config.steps
    assert tr.step_count == n and tr.done and tr.progress == 1.0
    assert h.steps == list(range(1, n + 1))
    assert len(h.loss) == len(h.seconds) == n
    assert np.all(np.diff(h.seconds) >= 0) and h.seconds[-1] == pytest.approx(tr.train_seconds)
    assert all(math.isfinite(v) and v >= 0 for v in h.loss)
    assert np.mean(h.loss[-30:]) < 0.9 * np.mean(h.loss[:30])
    assert len(h.kl_per_t) == tr.config.T - 1 and all(math.isfinite(v) for v in h.kl_per_t)
    assert tr.iterations_per_second > 0


def test_trained_model_beats_the_initial_one_on_held_out_kl(trained_trainer):
    from diffusion.data import swiss_roll
    from diffusion.metrics import kl_per_t_nats

    fresh, d = build_model(trained_trainer.config)
    x0 = swiss_roll(1000, seed=1)
    before = kl_per_t_nats(d, fresh, x0, seed=0).sum()
    after = kl_per_t_nats(d, trained_trainer.sampling_model, x0, seed=0).sum()
    assert after < 0.9 * before


def test_step_returns_the_recorded_loss(make_config):
    tr = Trainer(make_config(steps=5))
    losses = [tr.step() for _ in range(3)]
    assert tr.history.loss == losses and tr.step_count == 3 and not tr.done


def test_train_honours_should_stop_and_on_step(make_config):
    tr = Trainer(make_config(steps=1000))
    seen = []
    tr.train(
        should_stop=lambda: tr.step_count >= 4, on_step=lambda trainer, loss: seen.append((trainer.step_count, loss))
    )
    assert tr.step_count == 4
    assert seen == list(zip(range(1, 5), tr.history.loss))
    tr.train(should_stop=lambda: True)
    assert tr.step_count == 4


def test_max_seconds_ends_the_run(make_config):
    tr = Trainer(make_config(steps=None, max_seconds=0.3))
    started = time.perf_counter()
    tr.train()
    assert tr.done and tr.train_seconds >= 0.3
    assert time.perf_counter() - started < 10
    assert tr.progress == 1.0


def test_learning_rate_warmup_and_schedules(make_config):
    const = Trainer(make_config(lr=1e-2, lr_schedule="constant", steps=100))
    assert const.learning_rate() == pytest.approx(1e-2 / WARMUP_STEPS)
    const.step_count = WARMUP_STEPS
    assert const.learning_rate() == pytest.approx(1e-2)
    cos = Trainer(make_config(lr=1e-2, lr_schedule="cosine", steps=100))
    cos.step_count = 50
    assert cos.learning_rate() == pytest.approx(1e-2 * (LR_FLOOR + (1 - LR_FLOOR) * 0.5))
    cos.step_count = 100
    assert cos.learning_rate() == pytest.approx(1e-2 * LR_FLOOR)
    # and the optimizer really uses it
    cos.step_count = 0
    cos.step()
    assert cos.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 / WARMUP_STEPS)


def test_ema_is_the_sampling_model_and_lags_the_weights(make_config):
    tr = Trainer(make_config(steps=10, ema_decay=0.9)).train()
    assert tr.sampling_model is tr.ema_model
    assert not same(params(tr.ema_model), params(tr.model))
    assert not any(p.requires_grad for p in tr.ema_model.parameters())
    no_ema = Trainer(make_config(steps=3, ema_decay=0.0)).train()
    assert no_ema.ema_model is None and no_ema.sampling_model is no_ema.model


def test_snapshot_is_frozen_while_training_goes_on(make_config):
    tr = Trainer(make_config(steps=10))
    tr.step()
    snap = tr.snapshot_model()
    before = params(snap)
    tr.train()
    assert same(before, params(snap))
    assert not snap.training and not any(p.requires_grad for p in snap.parameters())


def test_one_t_per_batch_tutorial_mode_runs(make_config):
    c = tutorial_config(width=16, batch_size=128, steps=12, device="cpu")
    tr = Trainer(c)
    tr.step()
    assert sum(not math.isnan(v) for v in tr.history.kl_per_t) == 1  # one t in that batch
    tr.train()
    assert tr.step_count == 12 and all(math.isfinite(v) for v in tr.history.loss)
    assert sum(not math.isnan(v) for v in tr.history.kl_per_t) >= 2
    samples = DiffusionPipeline.from_trainer(tr).samples(50)
    assert np.isfinite(samples).all()


def test_our_recipe_stratifies_its_batches_and_the_tutorials_does_not(make_config):
    def sorted_positions(trainer: Trainer) -> np.ndarray:
        x0, _ = trainer._batch()
        s = 10 * np.linalg.norm(x0.double().numpy(), axis=-1)
        return np.sort((s - 1.5 * math.pi) / (3 * math.pi), axis=-1)

    ours = Trainer(make_config(batch_size=39 * 20))
    assert ours.stratified
    u = sorted_positions(ours)
    assert u.shape == (39, 20)
    assert np.all(np.abs(u * 20 - (np.arange(20) + 0.5)) <= 0.5 + 1e-4)  # one point per 1/20 of the roll, every row
    tutorial = Trainer(tutorial_config(width=16, batch_size=400, steps=1, device="cpu"))
    assert not tutorial.stratified
    u = sorted_positions(tutorial)[0]
    assert np.mean(np.abs(u * 400 - (np.arange(400) + 0.5)) > 0.5 + 1e-4) > 0.5


def test_resume_from_given_weights(make_config):
    first = Trainer(make_config(steps=5)).train()
    start = params(first.model)
    second = Trainer(make_config(steps=5, seed=9), model=first.model)
    assert second.model is first.model
    assert same(params(second.model), start)
    second.step()
    assert not same(params(second.model), start)


def test_a_continued_run_counts_on_from_the_models_steps_and_history(make_config):
    first = Trainer(make_config(steps=12, seed=2)).train()
    before = TrainingHistory.from_dict(first.history.to_dict())
    config = make_config(steps=5, seed=2)
    second = Trainer(config, model=first.model, history=first.history, steps_trained=first.step_count)
    assert second.step_count == 12 and second.run_steps == 0 and second.progress == 0.0
    # the schedule is per run: the warm-up starts again, as in a fresh run of this config
    assert second.learning_rate() == pytest.approx(Trainer(config).learning_rate())
    second.train()
    assert second.step_count == 17 and second.run_steps == 5 and second.done
    h = second.history
    assert h.steps == list(range(1, 18)) and h.loss[:12] == before.loss and len(h.loss) == 17
    assert h.seconds[:12] == before.seconds and h.seconds[12] > before.seconds[-1]
    assert np.all(np.diff(h.seconds) >= 0) and h.seconds[-1] == pytest.approx(before.seconds[-1] + second.train_seconds)
    assert first.history.steps == before.steps  # the model's own history is copied, not changed
    p = DiffusionPipeline.from_trainer(second)
    assert p.steps_trained == 17 and p.history.steps == h.steps


def test_a_continued_run_of_another_T_starts_a_fresh_kl_per_t(make_config):
    history = TrainingHistory(steps=[1], loss=[1.0], seconds=[0.1], kl_per_t=[0.5] * 5)
    tr = Trainer(make_config(T=10, steps=1), history=history, steps_trained=1)
    assert len(tr.history.kl_per_t) == 9


# ---------------------------------------------------------------------- divergence
def test_huge_learning_rate_diverges_with_a_clear_error_and_keeps_finite_weights(make_config):
    tr = Trainer(make_config(lr=10.0, lr_schedule="constant", ema_decay=0.0, steps=200))
    snapshots = []
    with pytest.raises(TrainingDiverged) as info:
        while True:
            snapshots.append(params(tr.model))
            tr.step()
    message = str(info.value)
    assert "diverged" in message and "learning rate" in message and "\n" not in message
    assert all_finite(tr.model)
    # the weights that last produced a finite loss: those before the last successful step
    assert len(snapshots) >= 2
    assert same(params(tr.model), snapshots[-2])
    assert tr.step_count == len(snapshots) - 1 == len(tr.history.loss)


@pytest.mark.parametrize("ema_decay", [0.0, 0.995])
def test_model_kept_after_divergence_gives_finite_samples(make_config, ema_decay):
    tr = Trainer(make_config(lr=10.0, lr_schedule="constant", ema_decay=ema_decay, steps=200))
    with pytest.raises(TrainingDiverged):
        tr.train()
    samples = DiffusionPipeline.from_trainer(tr).samples(100)
    assert np.isfinite(samples).all()


def test_huge_learning_rate_with_ema_keeps_a_finite_sampling_model(make_config):
    tr = Trainer(make_config(lr=50.0, lr_schedule="constant", ema_decay=0.9, steps=200))
    with pytest.raises(TrainingDiverged):
        tr.train()
    assert all_finite(tr.model) and all_finite(tr.sampling_model)


def test_nan_weights_raise_and_are_replaced_by_the_last_good_ones(make_config):
    tr = Trainer(make_config(steps=20, ema_decay=0.0))
    tr.step()
    tr.step()
    with torch.no_grad():
        tr.model.head_b2.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="loss is nan"):
        tr.step()
    assert all_finite(tr.model) and tr.step_count == 2
    assert tr.step() == pytest.approx(tr.history.loss[-1])  # training can go on from there


def test_injected_nan_loss_raises(make_config, monkeypatch):
    tr = Trainer(make_config(steps=20))
    good = params(tr.model)  # step 1's weights: the last ones that gave a finite loss
    tr.step()
    real = tr.diffusion.kl_terms
    monkeypatch.setattr(tr.diffusion, "kl_terms", lambda *a, **k: real(*a, **k) * float("inf"))
    with pytest.raises(TrainingDiverged, match="loss is inf"):
        tr.train()
    assert same(params(tr.model), good) and tr.step_count == 1


def test_non_finite_gradient_is_detected(make_config):
    tr = Trainer(make_config(steps=3, ema_decay=0.0))
    tr.step()
    tr.step()
    tr.model.head_b2.register_hook(lambda grad: grad * float("nan"))
    try:
        tr.train()
    except TrainingDiverged:
        pass
    assert all_finite(tr.model)


# ---------------------------------------------------------------------- history
def test_history_stride_keeps_memory_bounded():
    h = TrainingHistory(max_points=10)
    for step in range(1, 1001):
        h.record(step, float(step), step / 10)
    assert len(h.steps) < 10
    assert h.stride & (h.stride - 1) == 0 and h.stride > 1  # a power of two
    assert np.all(np.diff(h.steps) > 0) and np.all(np.diff(h.steps) <= 2 * h.stride)
    assert h.steps[0] == 1 and h.steps[-1] > 1000 - h.stride
    assert h.loss == [float(s) for s in h.steps] and h.seconds == [s / 10 for s in h.steps]


def test_history_kl_per_t_smoothing_and_round_trip():
    h = TrainingHistory(kl_per_t=[math.nan] * 3)
    h.update_kl_per_t(np.array([1.0, 2.0]), np.array([0, 2]))
    assert h.kl_per_t[0] == 1.0 and math.isnan(h.kl_per_t[1]) and h.kl_per_t[2] == 2.0
    h.update_kl_per_t(np.array([3.0]), np.array([0]), smoothing=0.75)
    assert h.kl_per_t[0] == pytest.approx(0.75 * 1 + 0.25 * 3)
    h.record(1, 0.5, 0.1)
    back = TrainingHistory.from_dict(h.to_dict())
    assert back.steps == h.steps and back.loss == h.loss and back.seconds == h.seconds and back.stride == h.stride
    np.testing.assert_array_equal(back.kl_per_t, h.kl_per_t)


def test_trainer_validates_its_config():
    from diffusion.config import ConfigError

    with pytest.raises(ConfigError, match="^width:"):
        Trainer(DiffusionConfig(width=0, device="cpu"))


@pytest.mark.parametrize("ema_decay", [0.0, 0.995])
def test_a_run_that_finishes_without_error_gives_finite_samples(make_config, ema_decay):
    # The case: the last updates are huge but every loss is finite, so nothing checks the final
    # weights. Whether a seed's third step at lr=10 stays finite is luck; take the first that does
    # (a run that diverges instead is the divergence tests' case).
    for seed in range(8):
        tr = Trainer(make_config(lr=10.0, lr_schedule="constant", ema_decay=ema_decay, steps=3, seed=seed))
        try:
            tr.train()
        except TrainingDiverged:
            continue
        break
    else:
        pytest.fail("no seed of 8 finished a 3-step run at lr=10 without diverging")
    assert tr.history.loss[-1] > 5 * tr.history.loss[0]  # big updates: the case this test is about
    assert all(math.isfinite(v) for v in tr.history.loss)
    samples = DiffusionPipeline.from_trainer(tr).samples(500)
    assert np.isfinite(samples).all()
