"""The Compare page's glue: which models a session can compare, their cached views, and the
comparison in the URL (`?compare=preset:default,preset:T10`).

An entry names a model: `preset:NAME` a shipped preset (the same in every session, so a link
reproduces it), `current` the session's current model, `earlier:K` its K-th earlier model (newest
first), `sweep:K` the run of its sweep at the K-th value (another session's link resolves these
to its own models).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import streamlit as st

from diffusion import compare, figures_compare, presets
from diffusion.checkpoint import CheckpointError
from diffusion.metrics import Bound, SampleQuality
from diffusion.pipeline import DiffusionPipeline
from pages._app import caches, models
from pages._app import sweep as sweeps
from pages._app.url import escaped

URL_KEY = "compare"
WIDGET_KEY = "compare_models"
READ_FLAG = "_compare_url_read"
DEFAULT_ENTRIES = ("preset:default", "preset:T10")
N_POINTS, SEED = 2000, 0
_ENTRY_CHARS = 40  # longer than any entry: echoed cut in a warning


@dataclass(frozen=True)
class Choice:
    entry: str  # as in the URL
    label: str  # as the page names it
    key: object  # what the caches key on: the ModelId, or ("preset", name)
    model: DiffusionPipeline | None = None  # a session's model; None: a preset, loaded when picked
    quality: SampleQuality | None = None  # when already known (a training snapshot's, a preset's)
    bound: Bound | None = None  # when already known (a preset's)

    @property
    def pipeline(self) -> DiffusionPipeline:
        return self.model if self.model is not None else _preset_pipeline(self.key[1])


@st.cache_resource(show_spinner=False)
def _preset_pipeline(name: str) -> DiffusionPipeline:
    # Read-only and shared by every session, as the shipped default model is.
    return presets.load_preset(name)


@st.cache_resource(show_spinner=False)
def _preset_measurements() -> dict[str, presets.Measured]:
    # Measured when the files were made: K on 20,000 points and the quality take the server
    # seconds per preset, on the first drawing of the page.
    return presets.read_measured()


def choices(current: models.ModelRef) -> dict[str, Choice]:
    """Every model the session can compare, by URL entry: the current one, the earlier ones, the
    shipped presets whose files are there (each is read only when picked: reading all seven
    checkpoints would hold up the first drawing)."""
    out = {"current": Choice("current", f"current ({current.name})", current.id, current.pipeline, current.quality)}
    for k, ref in enumerate(models.earlier_models(), start=1):
        out[f"earlier:{k}"] = Choice(f"earlier:{k}", f"earlier {k} ({ref.name})", ref.id, ref.pipeline, ref.quality)
    for entry, label, ref in sweeps.models():
        out[entry] = Choice(entry, label, ref.id, ref.pipeline, ref.quality)
    for name in presets.CATALOGUE:
        if presets.preset_path(name).is_file():
            out[f"preset:{name}"] = _preset_choice(name)
    return out


def _preset_choice(name: str) -> Choice:
    m = _preset_measurements().get(name)
    return Choice(
        f"preset:{name}",
        f"preset: {name}",
        ("preset", name),
        quality=m.quality if m else None,
        bound=m.bound if m else None,
    )


@st.cache_resource(show_spinner=False)
def prefetch_default_pair() -> threading.Thread:
    """Once per server, after the first page a visitor opens: the chart of the pair Compare opens
    with, built in a thread, so that the first visit to Compare only has to draw it (measured in
    tests/e2e/test_compare_browser.py, docs/performance.md)."""

    def build() -> None:
        try:
            animation([_preset_choice(entry.removeprefix("preset:")) for entry in DEFAULT_ENTRIES])
        except Exception:
            pass  # only a head start: the page builds the chart itself and says what went wrong

    thread = threading.Thread(target=build, name="compare-prefetch", daemon=True)
    thread.start()
    return thread


def readable(picked: list[Choice]) -> tuple[list[Choice], list[str]]:
    """The picked models whose weights can be read, and a warning for each preset that cannot
    (a damaged install)."""
    good, warnings = [], []
    for c in picked:
        try:
            if c.pipeline is not None:
                good.append(c)
        except (presets.PresetError, CheckpointError, OSError) as exc:
            warnings.append(f"{c.label} cannot be read ({exc}); it is left out.")
    return good, warnings


def parse_entries(text: str, known: dict[str, Choice]) -> tuple[list[str], list[str]]:
    """The URL's comma-separated entries: (the known ones, at most MODELS_MAX and no repeats,
    and one warning per entry that cannot be used)."""
    entries, warnings = [], []
    for raw in text.split(",")[:16]:
        entry = raw.strip()
        if not entry:
            continue
        shown = escaped(entry[:_ENTRY_CHARS] + ("…" if len(entry) > _ENTRY_CHARS else ""))
        if entry not in known:
            warnings.append(
                f"The link's comparison names {shown}, which is not a model here; "
                "use preset:NAME, current, earlier:K or sweep:K (ignored)."
            )
        elif entry in entries:
            continue
        elif len(entries) >= compare.MODELS_MAX:
            warnings.append(f"The link compares more than {compare.MODELS_MAX} models; {shown} is left out.")
        else:
            entries.append(entry)
    return entries, warnings


def read_url(known: dict[str, Choice]) -> list[str]:
    """On the page's first run in the session: the URL's comparison into the picker (the defaults
    when there is none). Returns the warnings about entries it could not use."""
    ss = st.session_state
    if ss.get(READ_FLAG):
        return []
    ss[READ_FLAG] = True
    warnings = []
    if URL_KEY in st.query_params:
        entries, warnings = parse_entries(st.query_params.get(URL_KEY, ""), known)
    else:
        entries = [e for e in DEFAULT_ENTRIES if e in known]
    ss[WIDGET_KEY] = entries
    return warnings


def fill_from_sweep(known: dict[str, Choice]) -> None:
    """The sweep's runs join the comparison as they end: each finished one is added to the picker
    once, in place of the oldest pick that is no sweep's when the picker is full."""
    s = sweeps.current()
    if s is None:
        return
    picked = list(st.session_state.get(WIDGET_KEY, []))
    for entry in [e for e in s.pending if e in known]:
        s.pending.remove(entry)
        if entry in picked:
            continue
        if len(picked) >= compare.MODELS_MAX:
            others = [e for e in picked if not e.startswith(sweeps.ENTRY)]
            if not others:
                continue
            picked.remove(others[0])
        picked.append(entry)
    st.session_state[WIDGET_KEY] = picked


def write_url(entries: list[str]) -> None:
    wanted = ",".join(entries)
    if st.query_params.get(URL_KEY) != wanted:
        st.query_params[URL_KEY] = wanted


@st.cache_resource(max_entries=16, show_spinner=False)
def compare_view(key, frames: int, n: int, seed: int, _pipeline: DiffusionPipeline):
    """One panel's chain, sampled once per model, frame count, N and seed."""
    return compare.compare_view(_pipeline, frames, n, seed)


@st.cache_resource(max_entries=8, show_spinner=False)
def _animation(keys: tuple, labels: tuple, frames: int, n: int, seed: int, _pipelines: tuple):
    chains = [compare_view(k, frames, n, seed, p) for k, p in zip(keys, _pipelines)]
    return figures_compare.compare_animation(list(labels), chains, [p.T for p in _pipelines])


def chains(picked: list[Choice], n: int = N_POINTS, seed: int = SEED) -> list:
    """The picked models' chains as the animation shows them (for the GIF and MP4 of it)."""
    frames = compare.frame_count([c.pipeline.T for c in picked])
    return [compare_view(c.key, frames, n, seed, c.pipeline) for c in picked]


def animation(picked: list[Choice], n: int = N_POINTS, seed: int = SEED):
    frames = compare.frame_count([c.pipeline.T for c in picked])
    return _animation(
        tuple(c.key for c in picked), tuple(c.label for c in picked), frames, n, seed, tuple(c.pipeline for c in picked)
    )


@st.cache_data(max_entries=64, show_spinner=False)
def _bound(key, _pipeline: DiffusionPipeline) -> Bound:
    return _pipeline.bound()


@st.cache_data(max_entries=64, show_spinner=False)
def _quality(key, _pipeline: DiffusionPipeline) -> SampleQuality:
    return _pipeline.quality(presets.QUALITY_N, presets.QUALITY_SEED)


def measured(c: Choice) -> compare.Compared:
    """A model with its K and quality verdict (each computed once per model); K is left out for
    a model too large for the server to bound (the Bound page says why)."""
    bound = c.bound
    if bound is None and not caches.bound_refusal(c.pipeline.config):
        bound = _bound(c.key, c.pipeline)
    quality = c.quality if c.quality is not None else _quality(c.key, c.pipeline)
    return compare.compared(c.label, c.pipeline, bound, quality)
