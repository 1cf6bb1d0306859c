"""Every setting of a run, with the tutorial's values as defaults, and the one place they are checked.

The CLI, the dashboard and the tests all build a `DiffusionConfig`; `validate()` raises a
`ConfigError` whose message names the field and the allowed range, so the UI can show exactly the
line the CLI prints.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import Enum


class ConfigError(ValueError):
    """A setting is out of range. The message is one line, fit for a UI or stderr."""


class BetaSchedule(str, Enum):
    """How beta_1..beta_T are laid out (names as in diffusers' `beta_schedule`, where they exist)."""

    SIGMOID = "sigmoid"  # the tutorial: sigmoid(linspace(-18, 10, T)) scaled into [beta_start, beta_end]
    LINEAR = "linear"  # linspace(beta_start, beta_end, T)
    COSINE = "cosine"  # Nichol & Dhariwal's alpha_bar; ignores the beta range like squaredcos_cap_v2
    # Sohl-Dickstein et al.'s code: beta_t = 1/(T - (t - 1)(T - 2)/(T - 1)) = 1/linspace(T, 2, T) for
    # t = 2..T (beta_T = 1/2), beta_1 = min(beta_start, 1/T); beta_end is not used.
    PAPER = "paper"
    # beta_t = beta_start (beta_end / beta_start)^((t - 1)/(T - 1)): equal ratios from step to step,
    # a start for learned betas whose log spacing is even across t.
    GEOMETRIC = "geometric"


# The beta-range fields each schedule reads; the UI disables the controls a schedule ignores.
_SCHEDULE_USES = {
    BetaSchedule.SIGMOID: frozenset({"beta_start", "beta_end"}),
    BetaSchedule.LINEAR: frozenset({"beta_start", "beta_end"}),
    BetaSchedule.COSINE: frozenset(),
    BetaSchedule.PAPER: frozenset({"beta_start"}),
    BetaSchedule.GEOMETRIC: frozenset({"beta_start", "beta_end"}),
}


def schedule_uses(schedule: BetaSchedule | str) -> set[str]:
    """The fields of ("beta_start", "beta_end") that `schedule` reads; the rest have no effect on it."""
    return set(_SCHEDULE_USES[BetaSchedule(schedule)])


class MeanParameterization(str, Enum):
    """How the network's four outputs become the Gaussian p(x_{t-1} | x_t)."""

    # The 2015 paper's own code: mean = x_t sqrt(1 - beta_t) + f sqrt(beta_t), and the log-variance
    # is an offset around the posterior log-variance. Both start near the right scale, so the
    # network learns a correction of order one at every t instead of raw values that span 1e-5..1.
    PAPER = "paper"
    # The tutorial: the network outputs the raw mean and log-variance.
    TUTORIAL = "tutorial"


class DataScale(str, Enum):
    """The coordinates the roll is modelled in (`diffusion.data` holds the constants)."""

    TUTORIAL = "tutorial"  # sklearn's roll divided by 10, as the tutorial trains it
    # The paper's Table 1 protocol: the roll centred and divided by one constant, so that its
    # variance per axis averages 1 and K needs no conversion to compare with the paper.
    UNIT = "unit"


class Network(str, Enum):
    """Which network computes p(x_{t-1} | x_t)."""

    MLP = "mlp"  # the tutorial's ReverseNet: a ReLU trunk and a two-layer head per t
    RBF = "rbf"  # the paper's App. D.1.1: width normalised radial basis functions, a readout per t


class TimestepSampling(str, Enum):
    """Which t a training batch holds."""

    ALL = "all"  # every t = 2..T in every batch, all heads applied at once
    ONE = "one"  # the tutorial: one uniformly drawn t per batch


class LRSchedule(str, Enum):
    CONSTANT = "constant"
    COSINE = "cosine"  # cosine decay over the run's length (steps or seconds, whichever ends first)


DEVICES = ("auto", "cpu", "cuda", "mps")

# Bounds that keep one run within what a laptop (and a classroom server) can hold.
T_MAX = 1000
BETA_MIN = 1e-8
WIDTH_MAX = 2048
BATCH_MAX = 262_144
STEPS_MAX = 10_000_000
SECONDS_MAX = 24 * 3600.0
SEED_MAX = 2**32 - 1
N_POINTS_MAX = 100_000
# 20 M weights: 80 MB of float32, ~320 MB with Adam's state while training; a class of users on
# one small server must not be able to take it down with one slider.
PARAMETERS_MAX = 20_000_000


# The fields a trained network depends on: change one and its weights no longer fit.
MODEL_FIELDS = (
    "T",
    "beta_start",
    "beta_end",
    "schedule",
    "width",
    "parameterization",
    "data_scale",
    "learn_betas",
    "network",
    "data",
)

# The data sets a model can learn (diffusion.datasets draws them); "custom" is a user's own points,
# which travel beside the config (in a checkpoint, a run), not in it.
DATA_SETS = ("swiss_roll", "noisy_roll", "moons", "circles", "s_curve", "gaussians", "checkerboard", "custom")


@dataclass(frozen=True)
class DiffusionConfig:
    """One run of the 2015 model. The defaults model what the dashboard trains out of the box.

    Model fields (a checkpoint's weights depend on these): T, beta_start, beta_end, schedule,
    width, parameterization, data_scale, learn_betas, network, data.
    Training fields: lr, batch_size, steps, max_seconds, seed, device, timestep_sampling,
    lr_schedule, ema_decay.
    """

    # --- the model: the tutorial's run ---
    T: int = 40
    beta_start: float = 1e-5
    beta_end: float = 0.3
    schedule: BetaSchedule = BetaSchedule.SIGMOID
    width: int = 128
    parameterization: MeanParameterization = MeanParameterization.PAPER
    data_scale: DataScale = DataScale.TUTORIAL
    # The paper's method: beta_2..beta_T trained with the network by gradient ascent on K, starting
    # from the schedule above (beta_1 stays fixed). The tutorial keeps the schedule fixed.
    learn_betas: bool = False
    network: Network = Network.MLP
    data: str = "swiss_roll"  # one of DATA_SETS

    # --- training: our fast recipe (benchmarks/bench_training.py measures it against the tutorial's) ---
    lr: float = 1e-2
    batch_size: int = 2048
    # The shortest length whose runs end above the quality bar, with a margin, for every seed tried
    # (docs/performance.md, "Training time to the quality bar").
    steps: int | None = 3000
    max_seconds: float | None = None
    seed: int = 0
    device: str = "auto"
    timestep_sampling: TimestepSampling = TimestepSampling.ALL
    lr_schedule: LRSchedule = LRSchedule.COSINE
    ema_decay: float = 0.995  # 0 switches the exponential moving average of weights off

    def __post_init__(self) -> None:
        # Accept plain strings (CLI, URL, JSON) for the enum fields.
        for name, enum in _ENUM_FIELDS.items():
            value = getattr(self, name)
            if not isinstance(value, enum):
                try:
                    object.__setattr__(self, name, enum(str(value).lower()))
                except ValueError:
                    allowed = ", ".join(e.value for e in enum)
                    raise ConfigError(f"{name}: unknown value {value!r}; allowed: {allowed}") from None

    # ------------------------------------------------------------------ checks
    def validate(self, *, check_device: bool = True) -> DiffusionConfig:
        """Raise ConfigError naming the first bad field and its allowed range; return self."""
        _int_in("T", self.T, 2, T_MAX)
        # Below ~1e-8 a float32 step is lost (1 - beta == 1) and the posterior variance is 0.
        for name in ("beta_start", "beta_end"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and BETA_MIN <= value < 1.0):
                raise ConfigError(f"{name}: {value!r} is out of range; need {BETA_MIN:g} <= {name} < 1")
        if self.beta_start > self.beta_end:
            raise ConfigError(
                f"beta_start: {self.beta_start:g} is larger than beta_end {self.beta_end:g}; "
                "need beta_start <= beta_end"
            )
        _int_in("width", self.width, 1, WIDTH_MAX)
        if self.data not in DATA_SETS:
            raise ConfigError(f"data: unknown data set {self.data!r}; allowed: {', '.join(DATA_SETS)}")
        if not isinstance(self.learn_betas, bool):
            raise ConfigError(f"learn_betas: {self.learn_betas!r} is not a yes/no value; need true or false")
        if self.parameter_count() > PARAMETERS_MAX:
            raise ConfigError(
                f"width: T={self.T} with width={self.width} needs {self.parameter_count():,} weights; "
                f"the limit is {PARAMETERS_MAX:,} (lower T or width)"
            )
        _float_in("lr", self.lr, 0.0, 100.0, open_low=True)
        _int_in("batch_size", self.batch_size, 1, BATCH_MAX)
        if self.steps is None and self.max_seconds is None:
            raise ConfigError("steps: give a training length (steps or max_seconds)")
        if self.steps is not None:
            _int_in("steps", self.steps, 1, STEPS_MAX)
        if self.max_seconds is not None:
            _float_in("max_seconds", self.max_seconds, 0.0, SECONDS_MAX, open_low=True)
        _int_in("seed", self.seed, 0, SEED_MAX)
        _float_in("ema_decay", self.ema_decay, 0.0, 0.9999)
        if self.device not in DEVICES:
            raise ConfigError(f"device: unknown device {self.device!r}; allowed: {', '.join(DEVICES)}")
        if check_device:
            resolve_device(self.device)
        return self

    # ------------------------------------------------------------------ helpers
    def replace(self, **changes) -> DiffusionConfig:
        return dataclasses.replace(self, **changes)

    def parameter_count(self) -> int:
        """Weights of the network: the trunk plus T - 1 heads of width^2 + 6 width + 4 each (MLP),
        or 3 width + T - 1 readouts of 4 width + 4 (RBF)."""
        w = self.width
        if self.network is Network.RBF:
            return 3 * w + (self.T - 1) * (4 * w + 4)
        return (3 * w + w * w + w) + (self.T - 1) * (w * w + w + 4 * w + 4)

    def model_key(self) -> tuple:
        """The fields a trained model depends on: change one and the weights no longer fit."""
        return tuple(getattr(getattr(self, name), "value", getattr(self, name)) for name in MODEL_FIELDS)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        for name in _ENUM_FIELDS:
            out[name] = getattr(self, name).value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> DiffusionConfig:
        """Build from a plain dict (checkpoint, URL); unknown keys are an error, missing keys default."""
        if not isinstance(data, dict):
            raise ConfigError("config: expected a mapping of settings")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(map(str, set(data) - known))
        if unknown:
            raise ConfigError(f"config: unknown setting(s) {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:  # pragma: no cover - dataclass signature errors
            raise ConfigError(f"config: {exc}") from None


_ENUM_FIELDS = {
    "schedule": BetaSchedule,
    "parameterization": MeanParameterization,
    "data_scale": DataScale,
    "network": Network,
    "timestep_sampling": TimestepSampling,
    "lr_schedule": LRSchedule,
}

# The tutorial's exact recipe, for the benchmark and for anyone who wants to see why it is slow.
TUTORIAL_TRAINING = dict(
    parameterization=MeanParameterization.TUTORIAL,
    timestep_sampling=TimestepSampling.ONE,
    lr=1e-4,
    batch_size=64_000,
    steps=150_000,
    lr_schedule=LRSchedule.CONSTANT,
    ema_decay=0.0,
)


def tutorial_config(**changes) -> DiffusionConfig:
    """The tutorial's run exactly (150,000 iterations of batch 64,000, one t per batch)."""
    return DiffusionConfig(**{**TUTORIAL_TRAINING, **changes})


# Table 1's Swiss roll under the paper's protocol: unit-variance data, T = 40, beta_1 = 1e-5 fixed and
# beta_2..beta_T learned, diagonal Gaussian kernels; our fast recipe (benchmarks/bench_table1.py
# measures it against the paper's 2.35 bits). The betas start geometric up to beta_T = 0.5: from the
# sigmoid start the same run's K was 0.23 bits lower.
TABLE1_MODEL = dict(
    data_scale=DataScale.UNIT,
    T=40,
    beta_start=1e-5,
    beta_end=0.5,
    schedule=BetaSchedule.GEOMETRIC,
    learn_betas=True,
)


def table1_config(**changes) -> DiffusionConfig:
    """The paper's Table 1 experiment with the default training recipe."""
    return DiffusionConfig(**{**TABLE1_MODEL, **changes})


# Whole recipes by name: the CLI's `train --preset NAME` and the dashboard's Train page offer these.
PRESETS = {"default": DiffusionConfig(), "tutorial": tutorial_config(), "table1": table1_config()}
# What each preset is, in one line (the Train page's caption under its choice).
PRESET_NOTES = {
    "default": "default: the dashboard's fast recipe: the tutorial's roll (divided by 10), T = 40, "
    "the sigmoid schedule fixed, every t in every batch",
    "tutorial": "tutorial: the tutorial's exact run: raw mean and log-variance outputs, one t per batch of "
    "64,000, learning rate 1e-4 for 150,000 steps",
    "table1": "table1: the paper's protocol: the roll scaled to variance 1, T = 40, β₁ = 1e-5 fixed, "
    "β₂…β_T learned from a geometric start up to β_T = 0.5",
}


def resolve_device(device: str) -> str:
    """Map 'auto' to the best device present; raise ConfigError for a device that is not there."""
    import torch  # local: keeps `config` importable (and cheap) without touching torch state

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' is not available on this machine; allowed: " + ", ".join(available_devices()))
    if device == "mps" and not _mps_available():
        raise ConfigError("device: 'mps' is not available on this machine; allowed: " + ", ".join(available_devices()))
    if device not in DEVICES:
        raise ConfigError(f"device: unknown device {device!r}; allowed: {', '.join(DEVICES)}")
    return device


def available_devices() -> list[str]:
    """Devices this machine has, 'auto' first: what the UI offers."""
    import torch

    present = ["auto", "cpu"]
    if torch.cuda.is_available():
        present.append("cuda")
    if _mps_available():
        present.append("mps")
    return present


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_in(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not (low <= value <= high):
        raise ConfigError(f"{name}: {value!r} is out of range; need a whole number from {low:,} to {high:,}")


def _float_in(name: str, value, low: float, high: float, *, open_low: bool = False) -> None:
    ok = (
        _is_number(value) and math.isfinite(value) and ((value > low) if open_low else (value >= low)) and value <= high
    )
    if not ok:
        sign = "<" if open_low else "<="
        raise ConfigError(f"{name}: {value!r} is out of range; need {low:g} {sign} {name} <= {high:g}")


def check_n_points(n, name: str = "n") -> int:
    """Number of points to sample or plot: a whole number from 1 to N_POINTS_MAX."""
    _int_in(name, n, 1, N_POINTS_MAX)
    return n


def check_seed(seed, name: str = "seed") -> int:
    _int_in(name, seed, 0, SEED_MAX)
    return seed
