"""diffusion/config.py: defaults equal the tutorial's run, every bad field gives one clear ConfigError."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from diffusion import config as config_module
from diffusion.config import (
    BATCH_MAX,
    N_POINTS_MAX,
    SEED_MAX,
    STEPS_MAX,
    T_MAX,
    WIDTH_MAX,
    BetaSchedule,
    ConfigError,
    DiffusionConfig,
    LRSchedule,
    MeanParameterization,
    TimestepSampling,
    available_devices,
    check_n_points,
    check_seed,
    resolve_device,
    tutorial_config,
)


def test_defaults_are_the_tutorials_model():
    c = DiffusionConfig()
    assert (c.T, c.beta_start, c.beta_end, c.width) == (40, 1e-5, 0.3, 128)
    assert c.schedule is BetaSchedule.SIGMOID
    assert c.device == "auto"
    assert c.validate() is c


def test_tutorial_config_is_the_tutorials_training_recipe():
    c = tutorial_config()
    assert c.parameterization is MeanParameterization.TUTORIAL
    assert c.timestep_sampling is TimestepSampling.ONE
    assert (c.lr, c.batch_size, c.steps) == (1e-4, 64_000, 150_000)
    assert c.lr_schedule is LRSchedule.CONSTANT and c.ema_decay == 0.0
    assert tutorial_config(steps=7).steps == 7
    c.validate(check_device=False)


INVALID = [
    # (changes, field the message must name)
    (dict(T=1), "T"),
    (dict(T=0), "T"),
    (dict(T=-3), "T"),
    (dict(T=T_MAX + 1), "T"),
    (dict(T=10**9), "T"),
    (dict(T=40.5), "T"),
    (dict(T=True), "T"),
    (dict(T="40"), "T"),
    (dict(beta_start=0.0), "beta_start"),
    (dict(beta_start=-1e-5), "beta_start"),
    (dict(beta_start=1.0), "beta_start"),
    (dict(beta_start=1.5, beta_end=2.0), "beta_start"),
    (dict(beta_start=math.nan), "beta_start"),
    (dict(beta_start=math.inf), "beta_start"),
    (dict(beta_end=0.0), "beta_end"),
    (dict(beta_end=-0.3), "beta_end"),
    (dict(beta_end=1.0), "beta_end"),
    (dict(beta_end=math.nan), "beta_end"),
    (dict(beta_start=0.2, beta_end=0.1), "beta_start"),
    (dict(width=0), "width"),
    (dict(width=-5), "width"),
    (dict(width=WIDTH_MAX + 1), "width"),
    (dict(width=16.0), "width"),
    (dict(lr=0.0), "lr"),
    (dict(lr=-1e-3), "lr"),
    (dict(lr=math.nan), "lr"),
    (dict(lr=math.inf), "lr"),
    (dict(lr=1e3), "lr"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=-1), "batch_size"),
    (dict(batch_size=BATCH_MAX + 1), "batch_size"),
    (dict(steps=0), "steps"),
    (dict(steps=-10), "steps"),
    (dict(steps=STEPS_MAX + 1), "steps"),
    (dict(steps=None, max_seconds=None), "steps"),
    (dict(steps=None, max_seconds=0.0), "max_seconds"),
    (dict(steps=None, max_seconds=-1.0), "max_seconds"),
    (dict(steps=None, max_seconds=math.nan), "max_seconds"),
    (dict(steps=None, max_seconds=1e9), "max_seconds"),
    (dict(seed=-1), "seed"),
    (dict(seed=SEED_MAX + 1), "seed"),
    (dict(seed=1.5), "seed"),
    (dict(ema_decay=-0.1), "ema_decay"),
    (dict(ema_decay=1.0), "ema_decay"),
    (dict(ema_decay=math.nan), "ema_decay"),
    (dict(device="tpu"), "device"),
    (dict(device="gpu"), "device"),
    (dict(device=""), "device"),
]


@pytest.mark.parametrize("changes, field", INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(INVALID)])
def test_invalid_field_raises_config_error_naming_it(changes, field):
    with pytest.raises(ConfigError) as info:
        DiffusionConfig(**changes).validate(check_device=False)
    message = str(info.value)
    assert message.startswith(f"{field}:"), message
    assert "\n" not in message


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_messages_give_the_allowed_range():
    with pytest.raises(ConfigError, match=r"from 2 to 1,000"):
        DiffusionConfig(T=1).validate()
    with pytest.raises(ConfigError, match=r"1e-08 <= beta_end < 1"):
        DiffusionConfig(beta_end=1.2).validate()
    with pytest.raises(ConfigError, match=r"need beta_start <= beta_end"):
        DiffusionConfig(beta_start=0.5, beta_end=0.4).validate()
    with pytest.raises(ConfigError, match=r"allowed: auto, cpu, cuda, mps"):
        DiffusionConfig(device="tpu").validate()


@pytest.mark.parametrize(
    "changes",
    [
        dict(T=2),
        dict(T=T_MAX),
        dict(beta_start=0.1, beta_end=0.1),
        dict(beta_start=1e-8, beta_end=0.999999),
        dict(width=1),
        dict(T=2, width=WIDTH_MAX),
        dict(lr=100.0),
        dict(batch_size=1),
        dict(batch_size=BATCH_MAX),
        dict(steps=1),
        dict(steps=None, max_seconds=0.5),
        dict(steps=10, max_seconds=0.5),
        dict(seed=0),
        dict(seed=SEED_MAX),
        dict(ema_decay=0.0),
        dict(ema_decay=0.9999),
        dict(device="cpu"),
    ],
)
def test_boundary_values_are_accepted(changes):
    c = DiffusionConfig(**changes)
    assert c.validate(check_device=False) is c


@pytest.mark.parametrize(
    "field, enum",
    [
        ("schedule", BetaSchedule),
        ("parameterization", MeanParameterization),
        ("timestep_sampling", TimestepSampling),
        ("lr_schedule", LRSchedule),
    ],
)
def test_enum_fields_accept_strings_in_any_case(field, enum):
    for member in enum:
        for text in (member.value, member.value.upper()):
            c = DiffusionConfig(**{field: text})
            assert getattr(c, field) is member
        assert getattr(DiffusionConfig(**{field: member}), field) is member


@pytest.mark.parametrize("field", ["schedule", "parameterization", "timestep_sampling", "lr_schedule"])
@pytest.mark.parametrize("value", ["quadratic", "", None, 3])
def test_unknown_enum_value_names_the_field_and_the_choices(field, value):
    with pytest.raises(ConfigError) as info:
        DiffusionConfig(**{field: value})
    message = str(info.value)
    assert message.startswith(f"{field}:") and "allowed:" in message


def test_all_five_schedules_exist():
    assert {s.value for s in BetaSchedule} == {"sigmoid", "linear", "cosine", "paper", "geometric"}


def test_cuda_when_absent_is_a_config_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^device: 'cuda' is not available"):
        DiffusionConfig(device="cuda").validate()
    with pytest.raises(ConfigError, match=r"^device:"):
        resolve_device("cuda")
    # check_device=False only checks the name (a checkpoint made on a GPU box can be inspected).
    DiffusionConfig(device="cuda").validate(check_device=False)
    assert "cuda" not in available_devices()


def test_mps_when_absent_is_a_config_error(monkeypatch):
    monkeypatch.setattr(config_module, "_mps_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^device: 'mps' is not available"):
        DiffusionConfig(device="mps").validate()


def test_auto_picks_what_exists(monkeypatch):
    monkeypatch.setattr(config_module, "_mps_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert available_devices() == ["auto", "cpu"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda") == "cuda"
    assert "cuda" in available_devices()


def test_resolve_device_real_machine():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in available_devices()
    with pytest.raises(ConfigError, match=r"^device:"):
        resolve_device("tpu")


def test_to_dict_from_dict_round_trip_through_json():
    c = DiffusionConfig(
        T=17,
        beta_start=2e-4,
        beta_end=0.2,
        schedule="paper",
        width=7,
        parameterization="tutorial",
        lr=1e-3,
        batch_size=99,
        steps=None,
        max_seconds=12.5,
        seed=42,
        device="cpu",
        timestep_sampling="one",
        lr_schedule="constant",
        ema_decay=0.5,
    )
    d = c.to_dict()
    assert d["schedule"] == "paper" and d["parameterization"] == "tutorial"
    back = DiffusionConfig.from_dict(json.loads(json.dumps(d)))
    assert back == c
    assert back.to_dict() == d


def test_from_dict_missing_keys_take_defaults():
    assert DiffusionConfig.from_dict({"T": 12}) == DiffusionConfig(T=12)
    assert DiffusionConfig.from_dict({}) == DiffusionConfig()


def test_from_dict_rejects_unknown_keys_and_non_mappings():
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) bogus"):
        DiffusionConfig.from_dict({"T": 10, "bogus": 1})
    for not_a_dict in (None, [("T", 10)], "T=10", 3):
        with pytest.raises(ConfigError, match=r"^config:"):
            DiffusionConfig.from_dict(not_a_dict)
    with pytest.raises(ConfigError, match=r"^schedule:"):
        DiffusionConfig.from_dict({"schedule": "nope"})


def test_from_dict_mixed_type_unknown_keys_give_config_error():
    with pytest.raises(ConfigError):
        DiffusionConfig.from_dict({1: 0, "bogus": 1})


@pytest.mark.parametrize(
    "changes",
    [dict(lr="0.01"), dict(lr=None), dict(ema_decay=None), dict(ema_decay="0.9"), dict(steps=None, max_seconds="5")],
)
def test_non_numeric_float_fields_give_config_error(changes):
    with pytest.raises(ConfigError):
        DiffusionConfig(**changes).validate(check_device=False)


def test_replace_and_model_key():
    c = DiffusionConfig()
    d = c.replace(lr=5e-4, steps=5, seed=3, batch_size=10, device="cpu")
    assert d is not c and c.lr == DiffusionConfig.lr and d.lr == 5e-4
    assert d.model_key() == c.model_key()  # training fields leave the weights' shapes alone
    for change in (
        dict(T=20),
        dict(width=64),
        dict(schedule="linear"),
        dict(beta_end=0.2),
        dict(beta_start=1e-4),
        dict(parameterization="tutorial"),
    ):
        assert c.replace(**change).model_key() != c.model_key(), change
    with pytest.raises(ConfigError, match=r"^schedule:"):
        c.replace(schedule="bad")


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DiffusionConfig().T = 3  # type: ignore[misc]


def test_check_n_points_and_seed():
    assert check_n_points(1) == 1 and check_n_points(N_POINTS_MAX) == N_POINTS_MAX
    for bad in (0, -1, N_POINTS_MAX + 1, 2.0, "10", None, True):
        with pytest.raises(ConfigError, match=r"^n:"):
            check_n_points(bad)
    with pytest.raises(ConfigError, match=r"^points:"):
        check_n_points(0, name="points")
    assert check_seed(0) == 0 and check_seed(SEED_MAX) == SEED_MAX
    for bad in (-1, SEED_MAX + 1, 0.5, None):
        with pytest.raises(ConfigError, match=r"^seed:"):
            check_seed(bad)


@pytest.mark.parametrize("T, width", [(40, 128), (7, 33), (2, 1)])
def test_parameter_count_matches_the_network(T, width):
    from diffusion.model import ReverseNet, count_parameters

    assert DiffusionConfig(T=T, width=width).parameter_count() == count_parameters(ReverseNet(T, width))


def test_a_network_too_big_for_the_server_is_refused_with_the_limit():
    with pytest.raises(ConfigError, match=r"^width: T=1000 with width=2048 needs 4,204,545,948 weights; the limit is"):
        DiffusionConfig(T=1000, width=2048).validate(check_device=False)
    assert DiffusionConfig(T=40, width=512).validate(check_device=False)  # big but allowed
