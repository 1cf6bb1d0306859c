"""The shipped presets: trained models in assets/presets/, so that a comparison has content before
anyone trains.

`CATALOGUE` names each preset with its settings (a full `DiffusionConfig`, its training length
included) and one line on what it shows; `python -m diffusion presets --out assets/presets`
trains every one of them on the CPU and writes NAME.pt. Each checkpoint records its settings, so
`tests/test_presets.py` checks every file against this catalogue. The same command measures each
file's K and sample quality into `measured.json` beside them (`--measure` alone redoes just
that), so that a page shows a preset's numbers without spending seconds of the server on them.

The lengths are seconds, not steps: the files are made on whatever machine runs the command, and a
time bound keeps the whole set to a few minutes there (45 s for each variant of the default, so
that they compare in equal time). Widths are the catalogue's own (no smaller
network to save bytes): the largest file, T = 40 at width 128, is about 2.7 MB.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from .config import PRESETS, BetaSchedule, DiffusionConfig

if TYPE_CHECKING:  # metrics imports torch; the catalogue is read without it
    from .metrics import Bound, SampleQuality

PRESET_DIR = Path(__file__).resolve().parents[1] / "assets" / "presets"
SUFFIX = ".pt"
MEASURED = "measured.json"  # every preset's K and quality, as `measure` writes them
# Quality measured as the pages measure it (DiffusionPipeline.quality's defaults).
QUALITY_N, QUALITY_SEED = 5000, 0


@dataclass(frozen=True)
class Preset:
    name: str
    config: DiffusionConfig  # every setting, the training length (max_seconds) included
    description: str  # one line, shown where the preset is picked
    # Whether its samples meet the quality bar (metrics.SampleQuality.passes), as the files were
    # made; tests/test_presets.py holds each file to it. Forty-five seconds of one CPU thread on a
    # quiet machine take the default and table1 recipes over the bar, and no other setting: the
    # presets show what a setting does in equal time, not finished models.
    meets_bar: bool = False

    @property
    def filename(self) -> str:
        return self.name + SUFFIX


def _fast(seconds: float, **changes) -> DiffusionConfig:
    """The default recipe, trained for `seconds` on the CPU with the given model settings."""
    return PRESETS["default"].replace(steps=None, max_seconds=seconds, device="cpu", **changes)


CATALOGUE: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("default", _fast(45.0), "the dashboard's default: T = 40, sigmoid schedule, width 128", meets_bar=True),
        Preset("T10", _fast(45.0, T=10), "the default with only T = 10 steps: each step must do four times more"),
        Preset("linear", _fast(45.0, schedule=BetaSchedule.LINEAR), "the default with a linear beta schedule"),
        Preset(
            "cosine",
            _fast(45.0, schedule=BetaSchedule.COSINE),
            "the default with the cosine schedule (Nichol & Dhariwal's alpha_bar)",
        ),
        Preset("width16", _fast(45.0, width=16), "the default with a network 16 units wide instead of 128"),
        Preset(
            "tutorial",
            PRESETS["tutorial"].replace(steps=None, max_seconds=60.0, device="cpu"),
            "the tutorial's own recipe after 60 s: one t per batch at learning rate 1e-4 is far from done",
        ),
        Preset(
            "table1",
            PRESETS["table1"].replace(steps=None, max_seconds=45.0, device="cpu"),
            "the paper's Table 1 protocol: unit-variance roll, betas learned from a geometric start",
            meets_bar=True,
        ),
    )
}


class PresetError(ValueError):
    """An unknown preset name, or a preset file that is missing. The message is one line."""


def preset(name: str) -> Preset:
    if name not in CATALOGUE:
        raise PresetError(f"unknown preset {name!r}; shipped: {', '.join(CATALOGUE)}")
    return CATALOGUE[name]


def preset_path(name: str, folder: Path = PRESET_DIR) -> Path:
    return Path(folder) / preset(name).filename


def load_preset(name: str, folder: Path = PRESET_DIR, device: str = "cpu"):
    """The preset's trained model (a DiffusionPipeline), read like any checkpoint."""
    from .checkpoint import load_checkpoint

    path = preset_path(name, folder)
    if not path.is_file():
        raise PresetError(f"preset {name!r} is not shipped: {path} is missing (python -m diffusion presets)")
    return load_checkpoint(path, device=device)


def same_settings(recorded: DiffusionConfig, expected: DiffusionConfig) -> list[str]:
    """The fields where a checkpoint's settings differ from the catalogue's (the device aside:
    a checkpoint is loaded onto whatever device the reader picks)."""
    a, b = recorded.to_dict(), expected.to_dict()
    return [k for k in a if k != "device" and a[k] != b[k]]


def train_preset(name: str, folder: Path = PRESET_DIR, on_step=None) -> Path:
    """Train one preset from its catalogue settings and write folder/NAME.pt; returns the path."""
    from .checkpoint import save_checkpoint
    from .pipeline import DiffusionPipeline
    from .train import Trainer

    trainer = Trainer(preset(name).config.validate())
    trainer.train(on_step=on_step)
    return save_checkpoint(DiffusionPipeline.from_trainer(trainer), preset_path(name, folder))


@dataclass(frozen=True)
class Measured:
    """A preset file's K (`DiffusionPipeline.bound()`) and quality (at QUALITY_N, QUALITY_SEED)."""

    bound: Bound
    quality: SampleQuality

    def to_dict(self) -> dict:
        return {"bound": self.bound.to_dict(), "quality": asdict(self.quality)}


def measure(name: str, folder: Path = PRESET_DIR) -> Measured:
    pipeline = load_preset(name, folder)
    return Measured(pipeline.bound(), pipeline.quality(QUALITY_N, QUALITY_SEED))


def write_measured(names, folder: Path = PRESET_DIR) -> Path:
    """Measure the named presets' files and write them into folder/measured.json, keeping the
    entries of the others (a preset retrained alone is measured alone)."""
    path = Path(folder) / MEASURED
    entries = {k: m.to_dict() for k, m in read_measured(folder).items()}
    for name in names:
        entries[name] = measure(name, folder).to_dict()
    path.write_text(json.dumps({k: entries[k] for k in CATALOGUE if k in entries}, indent=1) + "\n")
    return path


def read_measured(folder: Path = PRESET_DIR) -> dict[str, Measured]:
    """The recorded measurements by preset name; an entry that is not the catalogue's, or not
    numbers of the right shape, is left out (the page then measures that preset itself)."""
    from .metrics import Bound, SampleQuality

    try:
        data = json.loads((Path(folder) / MEASURED).read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for name, entry in data.items() if isinstance(data, dict) else ():
        try:
            bound = Bound.from_dict(entry["bound"])
            quality = SampleQuality(**{f.name: float(entry["quality"][f.name]) for f in fields(SampleQuality)})
        except (KeyError, TypeError, ValueError):
            continue
        numbers = [bound.bits, bound.bits_unit_variance, *bound.kl_per_t_bits, *asdict(quality).values()]
        if name in CATALOGUE and len(bound.kl_per_t_bits) == CATALOGUE[name].config.T - 1:
            if all(math.isfinite(v) for v in numbers):
                out[name] = Measured(bound, quality)
    return out
