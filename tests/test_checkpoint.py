"""diffusion/checkpoint.py: round trips, every kind of bad file, code that must never run, atomic saves."""

from __future__ import annotations

import builtins
import io
import math
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from diffusion import checkpoint as ckpt
from diffusion.checkpoint import FORMAT, VERSION, CheckpointError, checkpoint_bytes, load_checkpoint, save_checkpoint
from diffusion.pipeline import DiffusionPipeline
from diffusion.train import Trainer


def payload_of(pipeline) -> dict:
    """The checkpoint's contents as plain containers (read back safely), for tampering."""
    return torch.load(io.BytesIO(checkpoint_bytes(pipeline)), weights_only=True)


def to_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def assert_rejected(source, match: str | None = None) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(source, device="cpu")
    message = str(info.value)
    assert "\n" not in message and message
    if match is not None:
        assert match in message, message
    return message


# ---------------------------------------------------------------------- round trip
def test_round_trip_through_a_file_gives_the_same_model(tiny_pipeline, tmp_path):
    path = save_checkpoint(tiny_pipeline, tmp_path / "sub" / "model.pt")
    assert path == tmp_path / "sub" / "model.pt" and path.is_file()
    loaded = load_checkpoint(path, device="cpu")
    assert loaded.config == tiny_pipeline.config.replace(device="cpu")
    assert loaded.steps_trained == tiny_pipeline.steps_trained == 20
    assert loaded.history.loss == tiny_pipeline.history.loss
    assert loaded.history.steps == tiny_pipeline.history.steps
    np.testing.assert_array_equal(loaded.history.kl_per_t, tiny_pipeline.history.kl_per_t)
    for (k1, v1), (k2, v2) in zip(tiny_pipeline.model.state_dict().items(), loaded.model.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    np.testing.assert_array_equal(loaded.samples(100, seed=3), tiny_pipeline.samples(100, seed=3))
    assert not loaded.model.training


def test_round_trip_from_bytes_and_file_objects(tiny_pipeline):
    data = checkpoint_bytes(tiny_pipeline)
    a = load_checkpoint(data, device="cpu")
    b = load_checkpoint(io.BytesIO(data), device="cpu")
    c = load_checkpoint(bytearray(data), device="cpu")
    ref = tiny_pipeline.samples(40, seed=1)
    for p in (a, b, c):
        np.testing.assert_array_equal(p.samples(40, seed=1), ref)


def test_device_argument_replaces_the_saved_device(tiny_pipeline):
    payload = payload_of(tiny_pipeline)
    payload["config"]["device"] = "cuda"  # saved on a GPU box
    loaded = load_checkpoint(to_bytes(payload), device="cpu")
    assert loaded.config.device == "cpu" and loaded.device == torch.device("cpu")


def test_untrained_pipeline_round_trips():
    p = DiffusionPipeline.untrained(ckpt.DiffusionConfig(T=5, width=3, device="cpu"))
    loaded = load_checkpoint(checkpoint_bytes(p), device="cpu")
    assert loaded.steps_trained == 0 and loaded.T == 5


# ---------------------------------------------------------------------- unreadable files
def test_random_bytes(tmp_path):
    rng = np.random.default_rng(0)
    for n in (1, 10, 5000):
        path = tmp_path / f"r{n}.pt"
        path.write_bytes(rng.bytes(n))
        assert_rejected(path)


def test_truncated_file(tiny_pipeline, tmp_path):
    data = checkpoint_bytes(tiny_pipeline)
    for cut in (len(data) // 2, len(data) - 20, 100):
        path = tmp_path / f"cut{cut}.pt"
        path.write_bytes(data[:cut])
        assert_rejected(path)


def test_empty_file_and_missing_file(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    assert_rejected(empty, "empty")
    assert_rejected(b"", "empty")
    assert_rejected(tmp_path / "nope.pt", "no such checkpoint file")
    assert_rejected(tmp_path, "no such checkpoint file")  # a folder is not a file


def test_a_zip_that_is_not_a_checkpoint(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("hello.txt", "not a model")
    assert_rejected(buffer.getvalue())
    assert_rejected(b"PK\x03\x04" + b"\x00" * 100, "not a zip archive")
    assert_rejected(b"just some text\n" * 50, "not a checkpoint of this lab (not a zip archive")
    assert_rejected(pickle.dumps({"format": FORMAT}), "not a zip archive")


# ---------------------------------------------------------------------- sizes, before anything is unpacked
def declare_size(data: bytes, member_suffix: str, size: int) -> bytes:
    """The zip `data` with the uncompressed size of the member ending in `member_suffix` replaced by
    `size`, in its local header and the central directory, as a deflate bomb would declare it."""
    out = bytearray(data)
    name_of = {}
    at = 0
    while (at := out.find(b"PK\x01\x02", at)) >= 0:  # central directory headers
        n = int.from_bytes(out[at + 28 : at + 30], "little")
        name = bytes(out[at + 46 : at + 46 + n]).decode()
        name_of[name] = at
        at += 46
    [name] = [k for k in name_of if k.endswith(member_suffix)]
    central = name_of[name]
    local = int.from_bytes(out[central + 42 : central + 46], "little")
    out[central + 24 : central + 28] = size.to_bytes(4, "little")
    out[local + 22 : local + 26] = size.to_bytes(4, "little")
    return bytes(out)


@pytest.fixture
def torch_load_never_called(monkeypatch):
    calls = []

    def fail(*args, **kwargs):
        calls.append(args)
        raise AssertionError("torch.load was called on a file that declares too much")

    monkeypatch.setattr(ckpt.torch, "load", fail)
    yield
    assert not calls, "torch.load was called (the loader's error handling hid it)"


def test_a_member_that_declares_gigabytes_is_refused_before_torch_load(tiny_pipeline, torch_load_never_called):
    bomb = declare_size(checkpoint_bytes(tiny_pipeline), "data/0", 2 * 2**30)  # 2 GB, in a ~30 KB file
    assert zipfile.ZipFile(io.BytesIO(bomb)).getinfo("archive/data/0").file_size == 2 * 2**30
    message = assert_rejected(bomb, "2,048.0 MB")
    assert f"{ckpt.MAX_UNPACKED_BYTES / 2**20:,.0f} MB" in message


def test_a_deflate_bomb_is_refused_before_torch_load(tiny_pipeline, monkeypatch, torch_load_never_called):
    """A real deflated member: 8 MB of zeros that compress to a few kilobytes, against a cap
    lowered to 4 MB. The whole archive's unpacked size counts, member by member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(checkpoint_bytes(tiny_pipeline))) as src:
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(info.filename, src.read(info))
            dst.writestr("archive/data/99", bytes(8 * 2**20))
    data = buffer.getvalue()
    assert len(data) < 200_000
    monkeypatch.setattr(ckpt, "MAX_UNPACKED_BYTES", 4 * 2**20)
    assert_rejected(data, "would unpack to 8.0 MB")


def test_the_unpacked_size_limit_fits_the_largest_model_allowed(tiny_pipeline):
    assert ckpt.MAX_UNPACKED_BYTES >= ckpt.PARAMETERS_MAX * 4 + 2**20
    members = zipfile.ZipFile(io.BytesIO(checkpoint_bytes(tiny_pipeline))).infolist()
    weights = sum(v.numel() * 4 for v in tiny_pipeline.model.state_dict().values())
    # what a checkpoint unpacks to beyond its weights is far under the limit's margin
    assert sum(m.file_size for m in members) - weights < 2**20
    # and a deflated copy of a good checkpoint still loads: only sizes are refused, not compression
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(checkpoint_bytes(tiny_pipeline))) as src:
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(info.filename, src.read(info))
    assert load_checkpoint(buffer.getvalue(), device="cpu").steps_trained == tiny_pipeline.steps_trained


def test_file_over_the_size_limit(tiny_pipeline, tmp_path, monkeypatch):
    data = checkpoint_bytes(tiny_pipeline)
    path = tmp_path / "big.pt"
    path.write_bytes(data)
    monkeypatch.setattr(ckpt, "MAX_CHECKPOINT_BYTES", len(data) - 1)
    assert_rejected(path, "limit")
    assert_rejected(data, "limit")

    class Stream(io.BytesIO):
        requested = []

        def read(self, size=-1):
            self.requested.append(size)
            return super().read(size)

    stream = Stream(data)
    assert_rejected(stream, "limit")
    assert Stream.requested == [len(data)]  # never reads more than the limit + 1
    monkeypatch.setattr(ckpt, "MAX_CHECKPOINT_BYTES", len(data))
    assert load_checkpoint(path, device="cpu").T == tiny_pipeline.T


def test_default_size_limit_is_generous_for_the_default_model():
    assert ckpt.MAX_CHECKPOINT_BYTES >= 16 * 2**20


# ---------------------------------------------------------------------- code that must never run
class MakeMarkerDir:
    """Unpickling this calls os.mkdir(marker): proof, if the folder appears, that the file ran code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


class SetEnvVar:
    """Unpickling this runs Python source that sets an environment variable."""

    def __init__(self, name: str):
        self.name = name

    def __reduce__(self):
        return (builtins.exec, (f"import os; os.environ[{self.name!r}] = 'pwned'",))


def test_the_payloads_are_real(tmp_path, monkeypatch):
    """Control: an ordinary unpickler does run them, so the tests below prove something."""
    marker = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(MakeMarkerDir(str(marker))))
    assert marker.is_dir()
    monkeypatch.delenv("DIFFUSION_TEST_CONTROL", raising=False)
    pickle.loads(pickle.dumps(SetEnvVar("DIFFUSION_TEST_CONTROL")))
    assert os.environ.pop("DIFFUSION_TEST_CONTROL") == "pwned"


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("wrap", ["raw_pickle", "torch_save_alone", "torch_save_in_payload", "pickle_protocol_0"])
def test_malicious_pickle_never_runs(tiny_pipeline, tmp_path, monkeypatch, wrap):
    marker = tmp_path / f"marker-{wrap}"
    env = f"DIFFUSION_TEST_PWNED_{wrap.upper()}"
    monkeypatch.delenv(env, raising=False)
    evil = [MakeMarkerDir(str(marker)), SetEnvVar(env)]
    if wrap == "raw_pickle":
        data = pickle.dumps(evil)
    elif wrap == "pickle_protocol_0":
        data = pickle.dumps(evil, protocol=0)
    elif wrap == "torch_save_alone":
        data = to_bytes(evil)
    else:
        payload = payload_of(tiny_pipeline)
        payload["history"]["extra"] = evil
        data = to_bytes(payload)
    path = tmp_path / "evil.pt"
    path.write_bytes(data)
    # a bare pickle is no zip archive and is refused as such; one inside torch's zip is unpickled
    # with torch's restricted unpickler, which refuses it
    expected = "not a zip archive" if wrap.startswith(("raw", "pickle")) else "never loaded"
    assert_rejected(path, expected)
    assert_rejected(data, expected)
    assert not marker.exists()
    assert env not in os.environ


# ---------------------------------------------------------------------- readable but wrong
def test_wrong_architecture_width(tiny_pipeline):
    payload = payload_of(tiny_pipeline)
    payload["config"]["width"] = 16  # the weights are width 8
    assert_rejected(to_bytes(payload), "shape")


def test_checkpoint_of_a_different_width_is_its_own_valid_model(make_config):
    other = DiffusionPipeline.from_trainer(Trainer(make_config(T=10, width=5, steps=2)).train())
    assert load_checkpoint(checkpoint_bytes(other), device="cpu").config.width == 5


@pytest.mark.parametrize("T", [9, 11, 40])
def test_different_T(tiny_pipeline, T):
    payload = payload_of(tiny_pipeline)
    payload["config"]["T"] = T
    message = assert_rejected(to_bytes(payload))
    assert "T=" in message or "history" in message


def test_weights_from_another_T_with_a_matching_history(tiny_pipeline):
    payload = payload_of(tiny_pipeline)
    payload["config"]["T"] = 12
    payload["history"]["kl_per_t"] = [0.0] * 11
    assert_rejected(to_bytes(payload), "T=12")


def test_nan_and_inf_weights(tiny_pipeline):
    for bad in (float("nan"), float("inf"), -float("inf")):
        payload = payload_of(tiny_pipeline)
        payload["state_dict"]["head_b2"][0, 0] = bad
        assert_rejected(to_bytes(payload), "NaN or inf")


def test_missing_unexpected_and_mistyped_weights(tiny_pipeline):
    payload = payload_of(tiny_pipeline)
    del payload["state_dict"]["head_w1"]
    assert_rejected(to_bytes(payload), "another architecture")

    payload = payload_of(tiny_pipeline)
    payload["state_dict"]["extra.weight"] = torch.zeros(3)
    assert_rejected(to_bytes(payload), "another architecture")

    payload = payload_of(tiny_pipeline)
    payload["state_dict"]["head_b2"] = payload["state_dict"]["head_b2"].double()
    assert_rejected(to_bytes(payload), "wrong type")

    payload = payload_of(tiny_pipeline)
    payload["state_dict"]["head_b2"] = payload["state_dict"]["head_b2"].tolist()
    assert_rejected(to_bytes(payload), "wrong type")

    payload = payload_of(tiny_pipeline)
    payload["state_dict"] = [1, 2, 3]
    assert_rejected(to_bytes(payload), "no weights")


@pytest.mark.parametrize(
    "tamper, match",
    [
        (lambda p: p.pop("format"), "format"),
        (lambda p: p.update(format="something-else"), "format"),
        (lambda p: p.update(version=VERSION + 1), "version"),
        (lambda p: p.update(version="1"), "version"),
        (lambda p: p.update(config=None), "invalid settings"),
        (lambda p: p["config"].update(T=1), "invalid settings"),
        (lambda p: p["config"].update(beta_start=2.0), "invalid settings"),
        (lambda p: p["config"].update(schedule="quadratic"), "invalid settings"),
        (lambda p: p["config"].update(surprise=1), "invalid settings"),
        (lambda p: p.update(history={"steps": [1]}), "history"),
        (lambda p: p.update(history=[1, 2]), "history"),
        (lambda p: p["history"].update(kl_per_t=[0.0]), "history"),
        (lambda p: p["history"].update(loss=p["history"]["loss"][:-1]), "history"),
        (lambda p: p["history"].update(loss=[float("nan")] * len(p["history"]["loss"])), "history"),
        (lambda p: p["history"].update(steps="abc"), "history"),
        (lambda p: p.update(steps_trained=-1), "step count"),
        (lambda p: p.update(steps_trained=True), "step count"),
        (lambda p: p.update(steps_trained=1.5), "step count"),
    ],
)
def test_tampered_contents(tiny_pipeline, tamper, match):
    payload = payload_of(tiny_pipeline)
    tamper(payload)
    assert_rejected(to_bytes(payload), match)


def _set(field: str, value):
    return lambda p: p["history"].__setitem__(field, value)


def _set_at(field: str, index: int, value):
    return lambda p: p["history"][field].__setitem__(index, value)


@pytest.mark.parametrize(
    "tamper, match",
    [
        (lambda p: p.update(steps_trained=10**30), "step count 1000000000000000000000000000000 is malformed"),
        (lambda p: p.update(steps_trained=float("nan")), "step count nan"),
        (lambda p: p.update(steps_trained="20"), "step count '20'"),
        (lambda p: p.pop("steps_trained"), "step count None"),
        (lambda p: p.update(surprise=1), "unknown field(s) surprise"),
        (_set("loss", [1.0] * 1_000_000), "loss has 1,000,000 points; at most 5,000"),
        (_set("extra", 1), "unknown field(s) extra"),
        (lambda p: p["history"].pop("seconds"), "missing seconds"),
        (_set_at("loss", 3, float("inf")), "a loss is not a finite number"),
        (_set_at("loss", 3, 1e30), "a loss is not a finite number"),
        (_set_at("loss", 3, "1.0"), "a loss is not a finite number"),
        (_set_at("steps", 3, 10**30), "steps must be whole numbers from 1 to the step count 20"),
        (_set_at("steps", -1, 21), "steps must be whole numbers from 1 to the step count 20"),
        (_set_at("steps", 0, 0), "steps must be whole numbers"),
        (_set_at("steps", 3, 3.0), "steps must be whole numbers"),
        (_set_at("steps", 3, True), "steps must be whole numbers"),
        (_set_at("steps", 3, 3), "steps do not increase"),
        (_set_at("seconds", 3, -1.0), "seconds must be numbers from 0"),
        (_set_at("seconds", 3, float("nan")), "seconds must be numbers from 0"),
        (_set_at("seconds", -1, 1e30), "seconds must be numbers from 0"),
        (_set_at("seconds", 3, 0.0), "seconds decrease"),
        (_set_at("kl_per_t", 0, float("inf")), "KL per t is not NaN or a finite number"),
        (_set_at("kl_per_t", 0, None), "KL per t"),
        (_set("stride", 3), "stride 3 is not a power of 2"),
        (_set("stride", 0), "stride 0"),
        (_set("stride", 2**40), "stride 1099511627776"),
        (_set("stride", 2.0), "stride 2.0"),
    ],
)
def test_every_loaded_field_is_range_checked(tiny_pipeline, tamper, match):
    payload = payload_of(tiny_pipeline)
    tamper(payload)
    message = assert_rejected(to_bytes(payload), match)
    assert len(message) < 200


def test_a_history_in_range_loads(tiny_pipeline):
    """The edges of every range load: NaN for an unmeasured t, a stride, a curve thinned by it, a
    step count of a model continued many times."""
    payload = payload_of(tiny_pipeline)
    h = payload["history"]
    h["kl_per_t"][0] = float("nan")
    h.update(steps=h["steps"][1::2], loss=h["loss"][1::2], seconds=h["seconds"][1::2], stride=2)
    payload["steps_trained"] = ckpt.STEPS_TRAINED_MAX
    loaded = load_checkpoint(to_bytes(payload), device="cpu")
    assert loaded.steps_trained == ckpt.STEPS_TRAINED_MAX and loaded.history.stride == 2
    assert loaded.history.steps == list(range(2, 21, 2)) and math.isnan(loaded.history.kl_per_t[0])
    del h["stride"]  # a file without one has stride 1
    assert load_checkpoint(to_bytes(payload), device="cpu").history.stride == 1


@pytest.mark.parametrize("obj", [torch.zeros(3), [1, 2], "hello", 42, None, {"a": torch.ones(2)}])
def test_other_torch_files(obj):
    assert_rejected(to_bytes(obj), "format")


def test_non_numeric_config_value_is_a_checkpoint_error(tiny_pipeline):
    payload = payload_of(tiny_pipeline)
    payload["config"]["lr"] = "0.01"
    assert_rejected(to_bytes(payload), "invalid settings")


# ---------------------------------------------------------------------- atomic save
def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("fail_at", ["replace", "fsync", "serialise"])
def test_a_crash_mid_save_leaves_the_old_file_or_nothing(tiny_pipeline, tmp_path, monkeypatch, existing, fail_at):
    dest = tmp_path / "model.pt"
    old = None
    if existing:
        save_checkpoint(tiny_pipeline, dest)
        old = dest.read_bytes()

    class Crash(BaseException):  # like a KeyboardInterrupt or SystemExit mid-write
        pass

    def boom(*args, **kwargs):
        raise Crash

    if fail_at == "replace":
        monkeypatch.setattr(ckpt.os, "replace", boom)
    elif fail_at == "fsync":
        monkeypatch.setattr(ckpt.os, "fsync", boom)
    else:
        monkeypatch.setattr(ckpt, "checkpoint_bytes", boom)
    other = DiffusionPipeline.untrained(tiny_pipeline.config.replace(seed=99))
    with pytest.raises(Crash):
        save_checkpoint(other, dest)
    monkeypatch.undo()

    assert temp_files(tmp_path) == []
    if existing:
        assert dest.read_bytes() == old
        np.testing.assert_array_equal(load_checkpoint(dest, device="cpu").samples(20), tiny_pipeline.samples(20))
    else:
        assert not dest.exists()


def test_a_half_written_temp_file_is_never_the_destination(tiny_pipeline, tmp_path, monkeypatch):
    """Crash after part of the bytes reached the temp file: the destination keeps the old model."""
    dest = tmp_path / "model.pt"
    save_checkpoint(tiny_pipeline, dest)
    old = dest.read_bytes()
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()
            return False

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise OSError("disk full")

    monkeypatch.setattr(ckpt.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tiny_pipeline, dest)
    monkeypatch.undo()
    assert dest.read_bytes() == old and temp_files(tmp_path) == []


def test_save_replaces_an_existing_file_and_leaves_no_temp(tiny_pipeline, make_config, tmp_path):
    dest = tmp_path / "model.pt"
    save_checkpoint(DiffusionPipeline.untrained(make_config(T=10, width=8, seed=5)), dest)
    save_checkpoint(tiny_pipeline, dest)
    assert temp_files(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    np.testing.assert_array_equal(load_checkpoint(dest, device="cpu").samples(20), tiny_pipeline.samples(20))


def test_saved_file_holds_plain_data_only(tiny_pipeline):
    payload = payload_of(tiny_pipeline)  # weights_only=True accepted it
    assert payload["format"] == FORMAT and payload["version"] == VERSION
    assert set(payload) == {"format", "version", "config", "state_dict", "history", "steps_trained"}


_SAVE_FOREVER = """
import sys
from diffusion.checkpoint import save_checkpoint
from diffusion.config import DiffusionConfig
from diffusion.pipeline import DiffusionPipeline
models = [DiffusionPipeline.untrained(DiffusionConfig(T=40, width=128, seed=s, device="cpu")) for s in (1, 2)]
print("ready", flush=True)
i = 0
while True:  # until killed: each save replaces the file with the other model
    save_checkpoint(models[i % 2], sys.argv[1])
    i += 1
"""


def test_a_process_killed_while_saving_never_leaves_a_file_that_loads_wrong(tmp_path):
    """SIGKILL, not an exception: no cleanup runs. Whenever it lands, the file under the real name
    is a complete checkpoint of one of the two models; a leftover is only a hidden temp file."""
    import signal
    import subprocess
    import sys
    import time

    from diffusion.config import DiffusionConfig

    root = Path(__file__).resolve().parents[1]
    dest = tmp_path / "model.pt"
    expected = [
        DiffusionPipeline.untrained(DiffusionConfig(T=40, width=128, seed=s, device="cpu")).model.state_dict()
        for s in (1, 2)
    ]
    rng = np.random.default_rng(0)
    for round_ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVE_FOREVER, str(dest)], cwd=root, stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(0.05 + rng.uniform(0, 0.4))  # lands during some write, rename or sync
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        if not dest.exists():
            continue  # killed before the first rename: no file is fine, a half one is not
        state = load_checkpoint(dest, device="cpu").model.state_dict()
        assert any(all(torch.equal(state[k], e[k]) for k in e) for e in expected), (
            f"round {round_}: loads, but as neither model"
        )
        assert all(p.name.startswith(".") for p in temp_files(tmp_path)), (
            "a temp file would be picked up as a checkpoint"
        )


def test_a_long_reader_error_is_cut_at_a_word_with_an_ellipsis(tiny_pipeline, monkeypatch):
    words = "PytorchStreamReader failed reading zip archive: failed finding central directory " * 4

    def refuse(*args, **kwargs):
        raise RuntimeError(words)

    monkeypatch.setattr(torch, "load", refuse)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(checkpoint_bytes(tiny_pipeline))
    reason = str(info.value).removeprefix("not a readable checkpoint file (").removesuffix(")")
    assert reason.endswith("…") and len(reason) <= 121
    assert words.startswith(reason[:-1]) and words[len(reason) - 1] == " ", f"cut mid-word: {reason!r}"
