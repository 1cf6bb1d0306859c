"""The shipped presets: every catalogue entry has its file, with the catalogue's settings and the
quality verdict the catalogue expects of it."""

from pathlib import Path

import pytest

from diffusion import presets
from diffusion.checkpoint import load_checkpoint
from diffusion.config import PRESETS

ASSETS = Path(presets.PRESET_DIR).parent
ASSETS_MAX_BYTES = 25 * 10**6


def test_catalogue_holds_the_required_presets():
    cat = presets.CATALOGUE
    assert {"default", "T10", "linear", "cosine", "width16", "tutorial", "table1"} <= set(cat)
    assert cat["T10"].config.T == 10
    assert cat["linear"].config.schedule.value == "linear" and cat["cosine"].config.schedule.value == "cosine"
    assert cat["width16"].config.width == 16
    # the recipes of config.PRESETS, only their length replaced
    for name in ("tutorial", "table1"):
        assert (
            presets.same_settings(
                cat[name].config, PRESETS[name].replace(steps=None, max_seconds=cat[name].config.max_seconds)
            )
            == []
        )
    assert cat["tutorial"].config.max_seconds == 60.0
    for p in cat.values():
        assert p.description and "\n" not in p.description


def test_assets_fit_the_size_limit():
    total = sum(f.stat().st_size for f in ASSETS.rglob("*") if f.is_file())
    assert total <= ASSETS_MAX_BYTES, f"assets/ holds {total:,} bytes"


@pytest.mark.parametrize("name", list(presets.CATALOGUE))
def test_preset_file_matches_the_catalogue(name):
    entry = presets.CATALOGUE[name]
    pipeline = load_checkpoint(presets.preset_path(name), device="cpu")
    assert presets.same_settings(pipeline.config, entry.config) == []
    assert pipeline.steps_trained > 0
    # trained for about its length (the time bound stops it at the first step past it)
    assert 0.5 * entry.config.max_seconds <= pipeline.history.seconds[-1] <= 1.5 * entry.config.max_seconds
    quality = pipeline.quality(presets.QUALITY_N, presets.QUALITY_SEED)
    assert quality.passes is entry.meets_bar, f"{name}: {quality}"
    # the measurements shipped beside the file are this file's (the Compare page shows them)
    recorded = presets.read_measured()[name]
    assert recorded.quality.passes is quality.passes
    assert abs(recorded.quality.precision - quality.precision) < 1e-6 and abs(recorded.quality.sw1 - quality.sw1) < 1e-6
    bound = pipeline.bound()
    assert abs(recorded.bound.bits_unit_variance - bound.bits_unit_variance) < 1e-4
    assert len(recorded.bound.kl_per_t_bits) == entry.config.T - 1


def test_unknown_preset_is_a_clear_error(tmp_path):
    with pytest.raises(presets.PresetError, match="unknown preset 'nope'"):
        presets.preset("nope")
    with pytest.raises(presets.PresetError, match="missing"):
        presets.load_preset("default", folder=tmp_path)


def test_cli_refuses_an_unknown_preset_in_one_line(tmp_path, capsys):
    from diffusion.cli import main

    assert main(["presets", "--out", str(tmp_path), "--only", "default", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown preset 'nope'" in err[0]
    assert not list(tmp_path.iterdir())  # nothing trained before the names were checked


def test_measurements_that_are_not_the_presets_are_left_out(tmp_path):
    import json

    good = json.loads((presets.PRESET_DIR / presets.MEASURED).read_text())
    broken = {
        "default": good["default"],
        "T10": {**good["T10"], "bound": {**good["T10"]["bound"], "kl_per_t_bits": [0.1] * 3}},  # T = 10 has 9
        "linear": {**good["linear"], "quality": {**good["linear"]["quality"], "sw1": "NaN"}},
        "cosine": {"bound": good["cosine"]["bound"]},
        "nope": good["default"],
    }
    (tmp_path / presets.MEASURED).write_text(json.dumps(broken))
    assert list(presets.read_measured(tmp_path)) == ["default"]
    (tmp_path / presets.MEASURED).write_text("not json")
    assert presets.read_measured(tmp_path) == {}
    assert presets.read_measured(tmp_path / "absent") == {}


def test_cli_measure_needs_the_files(tmp_path, capsys):
    from diffusion.cli import main

    assert main(["presets", "--out", str(tmp_path), "--only", "T10", "--measure"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no file for T10" in err[0]
    assert not (tmp_path / presets.MEASURED).exists()
