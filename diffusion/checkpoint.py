"""One checkpoint file: config, weights and training history. Loading never executes anything.

The file is a `torch.save` (a zip archive) of plain containers, numbers, strings and tensors. Before
anything is unpacked, the archive's index is read and a file that would unpack to more than the
largest model the app allows needs is refused: torch allocates each member's declared size, so a
small deflated file could otherwise claim gigabytes. Then it is read back with
`torch.load(..., weights_only=True)`, whose unpickler refuses every other type (so a pickle with a
code payload raises instead of running). Then everything is checked: the format tag, the config
(the same validation as the CLI), every weight's name, shape and finiteness against a fresh model of
that config, and the history's types. Any failure is a `CheckpointError` with a one-line message.
Saving writes a temporary file and renames it, so a killed process never leaves a half file.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO

import torch

from .config import PARAMETERS_MAX, ConfigError, DiffusionConfig, resolve_device
from .gaussian_diffusion import GaussianDiffusion
from .pipeline import DiffusionPipeline
from .train import TrainingHistory, build_model

FORMAT = "sohl2015-swissroll-checkpoint"
VERSION = 1
MAX_CHECKPOINT_BYTES = 100 * 1024 * 1024  # the default model is ~2.7 MB; the largest allowed (20 M weights) ~80 MB
# What a checkpoint of the largest model the app allows unpacks to: its float32 weights, plus room
# for the pickled config and a full history (three curves of TrainingHistory.max_points numbers
# and T_MAX per-t losses take well under a megabyte) and the archive's small records.
MAX_UNPACKED_BYTES = PARAMETERS_MAX * 4 + 16 * 2**20


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
                "not a checkpoint of this app: the file holds Python objects that are never loaded (possible code)"
            ) from None
        raise CheckpointError(f"not a readable checkpoint file ({reason[:120]})") from None
    return _pipeline_from_payload(payload, device)


# ---------------------------------------------------------------------- internals
def _payload(pipeline: DiffusionPipeline) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": pipeline.config.to_dict(),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in pipeline.model.state_dict().items()},
        "history": pipeline.history.to_dict(),
        "steps_trained": int(pipeline.steps_trained),
    }


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
        raise CheckpointError("not a checkpoint of this app (format tag missing)")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"unsupported checkpoint version {payload.get('version')!r}; this app reads version {VERSION}"
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

    try:
        history = TrainingHistory.from_dict(payload.get("history") or {})
        if len(history.kl_per_t) != config.T - 1 or not (
            len(history.steps) == len(history.loss) == len(history.seconds)
        ):
            raise ValueError("lengths")
        if not all(math.isfinite(v) for v in history.loss):
            raise ValueError("non-finite loss")
    except (KeyError, TypeError, ValueError):
        raise CheckpointError("checkpoint's training history is malformed") from None
    steps = payload.get("steps_trained", 0)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise CheckpointError("checkpoint's step count is malformed")

    device = resolve_device(config.device)
    if device != "cpu":
        model = model.to(device)
        diffusion = GaussianDiffusion(diffusion.schedule, config.parameterization, device)
    return DiffusionPipeline(config, model.eval(), diffusion, history, steps)
