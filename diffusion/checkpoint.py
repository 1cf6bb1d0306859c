"""One checkpoint file: config, weights and training history. Loading never executes anything.

The file is a `torch.save` (a zip archive) of plain containers, numbers, strings and tensors. Before
anything is unpacked, the archive's index is read and a file that would unpack to more than the
largest model the app allows needs is refused: torch allocates each member's declared size, so a
small deflated file could otherwise claim gigabytes. Then it is read back with
`torch.load(..., weights_only=True)`, whose unpickler refuses every other type (so a pickle with a
code payload raises instead of running). Then everything is checked: the format tag, the config
(the same validation as the CLI), every weight's name, shape and finiteness against a fresh model of
that config, and every field of the history and the step count against its range. Any failure is
a `CheckpointError` with a one-line message. Saving writes a temporary file and renames it, so a
killed process never leaves a half file.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import zipfile
from pathlib import Path
from textwrap import shorten
from typing import BinaryIO

import torch

from . import datasets
from .config import PARAMETERS_MAX, SECONDS_MAX, STEPS_MAX, ConfigError, DiffusionConfig, resolve_device
from .datasets import DataSet
from .gaussian_diffusion import GaussianDiffusion
from .pipeline import DiffusionPipeline
from .schedule import NoiseSchedule
from .train import DIVERGED_LOSS, TrainingHistory, build_model

FORMAT = "sohl2015-swissroll-checkpoint"
VERSION = 1
MAX_CHECKPOINT_BYTES = 100 * 1024 * 1024  # the default model is ~2.7 MB; the largest allowed (20 M weights) ~80 MB
# What a checkpoint of the largest model the app allows unpacks to: its float32 weights, plus room
# for the pickled config and a full history (three curves of TrainingHistory.max_points numbers
# and T_MAX per-t losses take well under a megabyte) and the archive's small records.
MAX_UNPACKED_BYTES = PARAMETERS_MAX * 4 + 16 * 2**20
# "betas": a model with learned betas keeps beta_1..beta_T, float64 (T,); absent otherwise.
# "data_points": a model of a user's own points keeps them, float32 (n, 2) in their own units, and
# "data_source" where they came from; absent for a named data set (a checkpoint carries its data).
PAYLOAD_FIELDS = (
    "format",
    "version",
    "config",
    "state_dict",
    "history",
    "steps_trained",
    "betas",
    "data_points",
    "data_source",
)
DATA_SOURCE_MAX = 200
HISTORY_FIELDS = ("steps", "loss", "seconds", "kl_per_t", "stride")
# A model may be continued many times, each run up to the config's limits.
STEPS_TRAINED_MAX = 100 * STEPS_MAX
SECONDS_TRAINED_MAX = 100 * SECONDS_MAX
HISTORY_POINTS_MAX = TrainingHistory.max_points  # the curve halves itself before it reaches this
STRIDE_MAX = 2**30  # the curve's stride doubles each time it halves: far more than STEPS_TRAINED_MAX needs
LOSS_MAX = DIVERGED_LOSS  # a step with a larger loss counts as diverged and is never recorded


class CheckpointError(ValueError):
    """The file is not a valid checkpoint of this project. The message is one line."""


def checkpoint_bytes(pipeline: DiffusionPipeline) -> bytes:
    """The checkpoint as bytes (for a download button)."""
    buffer = io.BytesIO()
    torch.save(_payload(pipeline), buffer)
    return buffer.getvalue()


def save_checkpoint(pipeline: DiffusionPipeline, path: str | Path) -> Path:
    """Write atomically: a temporary file in the same folder, flushed, then renamed over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(checkpoint_bytes(pipeline))
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a checkpoint is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(source: str | Path | bytes | BinaryIO, device: str = "auto") -> DiffusionPipeline:
    """Read and validate a checkpoint from a path, bytes or a binary file object.

    `device` replaces the device saved in the config (a file made on a GPU loads on a laptop).
    """
    data = _read_bytes(source)
    _check_archive(data)
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler's refusals and zip errors come in many types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in reason or "Unsupported global" in reason or "GLOBAL" in reason:
            raise CheckpointError(
                "not a checkpoint of this lab: the file holds Python objects that are never loaded (possible code)"
            ) from None
        raise CheckpointError(f"not a readable checkpoint file ({shorten(reason, 120, placeholder='…')})") from None
    return _pipeline_from_payload(payload, device)


# ---------------------------------------------------------------------- internals
def _payload(pipeline: DiffusionPipeline) -> dict:
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": pipeline.config.to_dict(),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in pipeline.model.state_dict().items()},
        "history": pipeline.history.to_dict(),
        "steps_trained": int(pipeline.steps_trained),
    }
    if pipeline.config.learn_betas:
        payload["betas"] = torch.from_numpy(pipeline.diffusion.schedule.betas[1:].copy())
    if pipeline.data.is_custom:
        payload["data_points"] = torch.from_numpy(pipeline.data.points.astype("float32"))
        payload["data_source"] = pipeline.data.source[:DATA_SOURCE_MAX]
    return payload


def _check_data(payload: dict, config: DiffusionConfig) -> DataSet | None:
    """A user's own points (a "custom" model's): float32 (n, 2), finite, within the size a user may
    give; None for a named data set."""
    raw, source = payload.get("data_points"), payload.get("data_source", "")
    if config.data != datasets.CUSTOM:
        if raw is not None:
            raise CheckpointError(f"checkpoint holds data points, but its settings name the data set {config.data}")
        return None
    if not isinstance(raw, torch.Tensor) or raw.dtype != torch.float32 or raw.ndim != 2 or raw.shape[1] != 2:
        raise CheckpointError("checkpoint's data points are malformed; need float32 (n, 2)")
    if not datasets.CUSTOM_POINTS_MIN <= raw.shape[0] <= datasets.CUSTOM_POINTS_MAX:
        raise CheckpointError(
            f"checkpoint holds {raw.shape[0]:,} data points; need {datasets.CUSTOM_POINTS_MIN} to "
            f"{datasets.CUSTOM_POINTS_MAX:,}"
        )
    if not isinstance(source, str) or len(source) > DATA_SOURCE_MAX:
        raise CheckpointError("checkpoint's data source is not a short text")
    try:
        return datasets.from_points(raw.numpy(), source=source)[0]
    except datasets.PointsError as exc:
        raise CheckpointError(f"checkpoint's data points cannot be used: {exc}") from None


def _check_betas(raw, config: DiffusionConfig):
    """The learned beta_1..beta_T: float64 (T,), finite, each in (0, 1); None for a fixed schedule."""
    if not config.learn_betas:
        if raw is not None:
            raise CheckpointError("checkpoint has learned betas, but its settings say learn_betas is off")
        return None
    if not isinstance(raw, torch.Tensor) or raw.dtype != torch.float64 or tuple(raw.shape) != (config.T,):
        raise CheckpointError(f"checkpoint's learned betas are malformed; T={config.T} needs {config.T} float64 values")
    if not (torch.isfinite(raw).all() and (raw > 0).all() and (raw < 1).all()):
        raise CheckpointError("checkpoint's learned betas must be finite and each strictly between 0 and 1")
    return raw.numpy().copy()


def _read_bytes(source: str | Path | bytes | BinaryIO) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"no such checkpoint file: {path}")
        if path.stat().st_size > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(f"checkpoint is larger than the {MAX_CHECKPOINT_BYTES // 2**20} MB limit")
        data = path.read_bytes()
    else:
        data = source.read(MAX_CHECKPOINT_BYTES + 1)
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"checkpoint is larger than the {MAX_CHECKPOINT_BYTES // 2**20} MB limit")
    if len(data) == 0:
        raise CheckpointError("the checkpoint file is empty")
    return data


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_steps_trained(steps) -> int:
    if not _is_int(steps) or not 0 <= steps <= STEPS_TRAINED_MAX:
        raise CheckpointError(
            f"checkpoint's step count {_short(steps)} is malformed; need a whole number from 0 to {STEPS_TRAINED_MAX:,}"
        )
    return steps


def _check_history(raw, config: DiffusionConfig, steps_trained: int) -> TrainingHistory:
    """Every field of the saved history, range-checked, before anything is built from it."""

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"checkpoint's training history is malformed: {what}")

    if not isinstance(raw, dict):
        raise bad("not a mapping")
    unknown = sorted(map(str, set(raw) - set(HISTORY_FIELDS)))
    missing = sorted(set(HISTORY_FIELDS) - set(raw) - {"stride"})  # files without a stride have stride 1
    if unknown or missing:
        raise bad(f"unknown field(s) {', '.join(unknown)[:60]}" if unknown else f"missing {', '.join(missing)}")
    curves = {name: raw[name] for name in ("steps", "loss", "seconds", "kl_per_t")}
    for name, values in curves.items():
        if not isinstance(values, list):
            raise bad(f"{name} is not a list")
        if len(values) > HISTORY_POINTS_MAX:
            raise bad(f"{name} has {len(values):,} points; at most {HISTORY_POINTS_MAX:,}")
    steps, loss, seconds, kl_per_t = curves["steps"], curves["loss"], curves["seconds"], curves["kl_per_t"]
    if not len(steps) == len(loss) == len(seconds):
        raise bad(f"steps, loss and seconds have {len(steps)}, {len(loss)} and {len(seconds)} points")
    if len(kl_per_t) != config.T - 1:
        raise bad(f"kl_per_t has {len(kl_per_t)} values; T={config.T} needs {config.T - 1}")
    if not all(_is_int(v) and 1 <= v <= steps_trained for v in steps):
        raise bad(f"steps must be whole numbers from 1 to the step count {steps_trained:,}")
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise bad("steps do not increase")
    if not all(_is_number(v) and math.isfinite(v) and abs(v) <= LOSS_MAX for v in loss):
        raise bad(f"a loss is not a finite number of at most {LOSS_MAX:g} nats")
    if not all(_is_number(v) and math.isfinite(v) and 0 <= v <= SECONDS_TRAINED_MAX for v in seconds):
        raise bad(f"seconds must be numbers from 0 to {SECONDS_TRAINED_MAX:,.0f}")
    if any(b < a for a, b in zip(seconds, seconds[1:])):
        raise bad("seconds decrease")
    # NaN marks a t that has not been measured yet (a fresh model's); inf is never recorded.
    if not all(_is_number(v) and (math.isnan(v) or abs(v) <= LOSS_MAX) for v in kl_per_t):
        raise bad(f"a KL per t is not NaN or a finite number of at most {LOSS_MAX:g} nats")
    stride = raw.get("stride", 1)
    if not _is_int(stride) or not 1 <= stride <= STRIDE_MAX or stride & (stride - 1):
        raise bad(f"stride {_short(stride)} is not a power of 2 from 1 to {STRIDE_MAX:,}")
    return TrainingHistory.from_dict(raw)


def _check_archive(data: bytes) -> None:
    """Refuse a file that is not a zip archive, or whose members would unpack to more than
    MAX_UNPACKED_BYTES, from the archive's index alone (nothing is decompressed)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise CheckpointError("not a checkpoint of this lab (not a zip archive, or a truncated one)") from None
    total = sum(member.file_size for member in members)
    if total > MAX_UNPACKED_BYTES:
        raise CheckpointError(
            f"checkpoint would unpack to {total / 2**20:,.1f} MB; the largest model this lab allows needs "
            f"at most {MAX_UNPACKED_BYTES / 2**20:,.0f} MB"
        )


def _pipeline_from_payload(payload, device: str) -> DiffusionPipeline:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError("not a checkpoint of this lab (format tag missing)")
    unknown = sorted(map(str, set(payload) - set(PAYLOAD_FIELDS)))
    if unknown:
        raise CheckpointError(f"checkpoint has unknown field(s) {', '.join(unknown)[:80]}")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"unsupported checkpoint version {payload.get('version')!r}; this lab reads version {VERSION}"
        )
    try:
        config = DiffusionConfig.from_dict(payload.get("config")).replace(device=device)
        config.validate()
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint has invalid settings: {exc}") from None

    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError("checkpoint has no weights")
    model, diffusion = build_model(config, "cpu")
    expected = model.state_dict()
    if set(state) != set(expected):
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        raise CheckpointError(
            f"weights do not match the model (missing {missing[:3]}, unexpected {extra[:3]}): another architecture?"
        )
    for name, want in expected.items():
        got = state[name]
        if not isinstance(got, torch.Tensor) or got.dtype != want.dtype:
            raise CheckpointError(f"weight {name} has the wrong type")
        if tuple(got.shape) != tuple(want.shape):
            raise CheckpointError(
                f"weight {name} has shape {tuple(got.shape)}, "
                f"but T={config.T}, width={config.width} needs {tuple(want.shape)}"
            )
        if not torch.isfinite(got).all():
            raise CheckpointError(f"weight {name} holds NaN or inf")
    model.load_state_dict(state)

    steps = _check_steps_trained(payload.get("steps_trained"))
    history = _check_history(payload.get("history"), config, steps)
    betas = _check_betas(payload.get("betas"), config)
    dataset = _check_data(payload, config)
    if betas is not None:  # every view (chain, Figure 1, bound, ceiling) uses the learned schedule
        diffusion = GaussianDiffusion(NoiseSchedule.from_betas(betas, config.schedule), config.parameterization, "cpu")

    device = resolve_device(config.device)
    if device != "cpu":
        model = model.to(device)
        diffusion = GaussianDiffusion(diffusion.schedule, config.parameterization, device)
    return DiffusionPipeline(config, model.eval(), diffusion, history, steps, dataset)
