"""A guided lesson in a session: the scene being shown, stepping through scenes, the lesson bar on
every page, and the teacher's own lesson (scenes saved from the pages, reordered, downloaded and
uploaded as JSON). The schema and its checks are diffusion/lesson.py's.

A link opens a scene: `?lesson=paper&scene=3` (`lesson` names a shipped lesson, assets/lesson_NAME.json;
`own` is the session's own lesson, which a link cannot carry). Showing a scene puts every setting a
link carries to its default, then the scene's settings and model on top, and switches to its page:
a scene looks the same whichever came before. The settings the teacher then changes stay in the
URL like any others (a reload keeps them).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

import streamlit as st

from diffusion import figures, presets, views
from diffusion import lesson as engine
from diffusion.compare import MODELS_MAX
from diffusion.config import DiffusionConfig
from diffusion.lesson import Lesson, LessonError, Scene
from diffusion.pipeline import DiffusionPipeline
from pages._app import caches, models, projector, settings, url
from pages._app import compare as compare_glue
from pages._app.training import holder

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SHIPPED = {"paper": ASSETS / "lesson_paper.json"}
OWN = "own"  # the session's own lesson, by the name the URL gives it
LESSON_PARAM, SCENE_PARAM = "lesson", "scene"

ACTIVE = "_lesson_active"  # (lesson name, scene index) while a lesson is shown
OWN_KEY = "_lesson_own"  # the session's own Lesson, or absent
REPLACED = "_lesson_replaced"  # the own lesson that an upload or a copy replaced (to bring back)
MESSAGE = "lesson_message"  # (kind, text) for the Lesson page
NOTE = "_lesson_note"  # (scene index, text): what showing the scene could not do
GOTO = "_lesson_goto"  # the page file a scene switches to, for dashboard.py
READ_FLAG = "_lesson_url_read"
LAST_PAGE = "_lesson_last_page"  # the page shown before the Lesson page: what "save as a scene" saves
UPLOAD_KEY = "lesson_upload"

PAGE_FILES = {slug: f"pages/{slug}.py" for slug in engine.PAGES}
PAGE_TITLES = {
    "overview": "Overview",
    "train": "Train",
    "forward": "Forward process",
    "reverse": "Reverse process",
    "inside": "Inside the chains",
    "bound": "Bound",
    "compare": "Compare",
}
# The animation whose opening frame a scene's t sets, per page; and what the page draws last.
ANIMATIONS = {"forward": "forward_chart", "reverse": "reverse_chart"}

# View options a scene may set besides the settings a link carries: widget key -> (kind, choices, default).
VIEW_OPTIONS = {
    "rev_arrows": ("choice", figures.ARROW_SCALES, figures.ARROWS_FIXED),
    "fwd_speed": ("choice", tuple(figures.SPEEDS), "normal"),
    "rev_speed": ("choice", tuple(figures.SPEEDS), "normal"),
    "bound_ceiling": ("bool", (), False),
    "compare": ("models", (), ",".join(compare_glue.DEFAULT_ENTRIES)),
    # what projector mode hides during this scene (a scene without it leaves the teacher's choice)
    "hide": ("hide", tuple(projector.HIDEABLE), ""),
}
_COMPARE_ENTRY = re.compile(r"preset:[A-Za-z0-9_-]{1,32}|current|earlier:[1-9]")
_IMAGE = re.compile(r"!\s*\[")  # Markdown's image syntax: a scene's text never fetches anything
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&$:])")


def md(text: str) -> str:
    """A lesson's or a file's text as literal characters inside a Markdown message."""
    return _MARKDOWN.sub(r"\\\1", str(text))


# ---------------------------------------------------------------------- lessons
def check_setting(key: str, text: str) -> str | None:
    """Why a scene's setting cannot be used, or None: the link's parsing (url.parse) for the
    settings a link carries, the choices for the view options."""
    param = url.BY_KEY.get(key)
    if param is not None:
        value, note = url.parse(param, text)
        if note is not None or value is None:
            if param.kind == "beta" and value is not None:
                return f"{param.label}: {engine.shown(text)} is not among the slider's choices"
            return f"{param.label}: {engine.shown(text)} is not {param.describe()}"
        return None
    if key not in VIEW_OPTIONS:
        return f"{engine.shown(key)} is not a setting of the lab"
    kind, options, _ = VIEW_OPTIONS[key]
    if kind == "bool":
        return None if url.parse(url.Param(key, key, "bool", False), text)[1] is None else f"{key}: not true or false"
    if kind == "choice":
        return None if text in options else f"{key}: {engine.shown(text)} is not one of {', '.join(options)}"
    if kind == "hide":
        names, unknown = projector.parse_hide(text)
        return f"hide: {engine.shown(unknown[0])} is not one of {', '.join(options)}" if unknown else None
    entries = [e.strip() for e in text.split(",") if e.strip()]
    if not 1 <= len(entries) <= MODELS_MAX or not all(_COMPARE_ENTRY.fullmatch(e) for e in entries):
        return f"compare: {engine.shown(text)} is not 1 to {MODELS_MAX} of preset:NAME, current, earlier:K"
    return None


def parse(data: bytes | str) -> Lesson:
    """A lesson file, checked against the schema and against this lab's settings and presets."""
    return engine.parse_lesson(data, check_setting=check_setting, presets=presets.CATALOGUE)


@st.cache_resource(show_spinner=False)
def shipped_lesson(name: str) -> Lesson:
    return engine.load_lesson(SHIPPED[name], check_setting=check_setting, presets=presets.CATALOGUE)


def lesson_named(name: str) -> Lesson | None:
    if name == OWN:
        return st.session_state.get(OWN_KEY)
    return shipped_lesson(name) if name in SHIPPED else None


def lesson_label(name: str) -> str:
    """A lesson's name in the picker: fixed text (a widget's labels must not depend on session
    state); the own lesson's title shows above its scenes."""
    if name == OWN:
        return "Your lesson"
    found = lesson_named(name)
    return found.title if found is not None else name


def active() -> tuple[str, Lesson, int] | None:
    """(name, lesson, scene index) of the lesson being shown, or None."""
    held = st.session_state.get(ACTIVE)
    if held is None:
        return None
    name, index = held
    found = lesson_named(name)
    if found is None or not found.scenes:
        st.session_state.pop(ACTIVE, None)
        return None
    return name, found, min(index, len(found.scenes) - 1)


# ---------------------------------------------------------------------- showing a scene
def _reset() -> None:
    """Every setting a link carries, and every view option a scene sets, to its default."""
    ss = st.session_state
    for param in url.PARAMS:
        ss[param.key] = param.default
    for key, (kind, _, default) in VIEW_OPTIONS.items():
        if kind not in ("models", "hide"):
            ss[key] = default


def _set(scene_settings: dict[str, str]) -> None:
    ss = st.session_state
    for key, text in scene_settings.items():
        param = url.BY_KEY.get(key)
        if param is not None:
            value, _ = url.parse(param, text)
            if value is not None:
                ss[key] = value
        elif key == "compare":
            ss[compare_glue.WIDGET_KEY] = [e.strip() for e in text.split(",") if e.strip()]
            ss[compare_glue.READ_FLAG] = True  # the page takes these, not the link's
            st.query_params[compare_glue.URL_KEY] = text
        elif key == "hide":
            ss[projector.HIDE_KEY] = projector.parse_hide(text)[0]
        elif key in VIEW_OPTIONS:
            kind = VIEW_OPTIONS[key][0]
            ss[key] = url.parse(url.Param(key, key, "bool", False), text)[0] if kind == "bool" else text


@st.cache_resource(max_entries=8, show_spinner=False)
def _untrained(key: str, _config: DiffusionConfig) -> DiffusionPipeline:
    # Shared by the sessions, like the shipped model: nothing trains it (a run copies what it resumes).
    return DiffusionPipeline.untrained(_config.replace(device="cpu"))


@st.cache_resource(max_entries=8, show_spinner=False)
def _preset(name: str) -> DiffusionPipeline:
    return presets.load_preset(name)


def scene_model(word: str, cfg: DiffusionConfig | None = None) -> models.ModelRef | None:
    """The model a scene names; None for `keep`. An untrained one has `cfg`'s settings (by default,
    the sidebar's as they now are)."""
    if word == engine.SHIPPED:
        return models.default_model()
    if word == engine.UNTRAINED:
        if cfg is None:
            cfg, error = settings.model_settings()
            if cfg is None:
                raise ValueError(error)
        key = hashlib.sha256(repr(cfg.model_key()).encode()).hexdigest()[:16]
        pipeline = _untrained(key, cfg)
        return models.ModelRef(
            pipeline, models.ModelId("default", f"untrained-{key}"), views.DEFAULT, "untrained: no training step yet"
        )
    if word.startswith(engine.PRESET):
        name = word[len(engine.PRESET) :]
        return models.ModelRef(
            _preset(name), models.ModelId("default", f"preset-{name}"), views.DEFAULT, f"the preset {name}"
        )
    return None


def show_scene(name: str, index: int) -> None:
    """Make scene `index` of lesson `name` the one shown: its settings, its model, its frame, and
    its page (dashboard.py switches to it). Runs before any widget is drawn (a callback, or the
    session's first run)."""
    found = lesson_named(name)
    if found is None or not found.scenes:
        return
    index = min(max(index, 0), len(found.scenes) - 1)
    scene = found.scenes[index]
    ss = st.session_state
    ss[ACTIVE] = (name, index)
    ss.pop(NOTE, None)
    _reset()
    _set(scene.settings)
    if scene.model != engine.KEEP:
        if holder().active():
            ss[NOTE] = (index, "A run is training: this scene shows the run's model (Stop it on the Train page).")
        else:
            try:
                ref = scene_model(scene.model)
            except (ValueError, OSError, presets.PresetError) as exc:
                ss[NOTE] = (index, f"This scene's model cannot be made ({exc}); the current model stays.")
                ref = None
            if ref is not None:
                if ref.id != models.current_model().id:
                    models.set_current_model(ref)
                # the sidebar shows the scene's model; the settings the scene names go on top
                settings.apply_model_settings(ref.pipeline.config)
                _set(scene.settings)
    opens_at = scene.t is not None and scene.page in ANIMATIONS
    ss[projector.FRAME_KEY] = {ANIMATIONS[scene.page]: scene.t} if opens_at else {}
    ss[GOTO] = PAGE_FILES[scene.page]


def step(by: int) -> None:
    """Previous / Next (and their keys): the neighbouring scene."""
    now = active()
    if now is not None:
        show_scene(now[0], now[2] + by)


def start(name: str, index: int = 0) -> None:
    show_scene(name, index)


def end() -> None:
    """Leave the lesson; the settings stay as the scene left them."""
    ss = st.session_state
    ss.pop(ACTIVE, None)
    ss.pop(NOTE, None)
    ss[projector.FRAME_KEY] = {}


def page_slug(pg) -> str:
    return pg.url_path or "overview"


def go_to_scene_page(pg, url_warnings: list[str]) -> None:
    """After a scene was chosen: switch to its page, the link's parameters kept (and its warnings,
    for the page they will show on). No-op when the scene's page is the one running."""
    target = st.session_state.pop(GOTO, None)
    if target is None or PAGE_FILES.get(page_slug(pg)) == target:
        return
    slug = next(s for s, f in PAGE_FILES.items() if f == target)
    if url_warnings:
        st.session_state[url.WARNINGS] = (PAGE_TITLES[slug], url_warnings)
    write_url()
    projector.keep_state()
    st.switch_page(target, query_params=st.query_params.to_dict())


def remember_page(pg) -> None:
    slug = page_slug(pg)
    if slug in engine.PAGES:
        st.session_state[LAST_PAGE] = slug


# ---------------------------------------------------------------------- the link
def read_url() -> list[str]:
    """On the session's first run: the link's lesson and scene, shown. Returns the warnings."""
    ss = st.session_state
    if ss.get(READ_FLAG):
        return []
    ss[READ_FLAG] = True
    if LESSON_PARAM not in st.query_params:
        if SCENE_PARAM in st.query_params:
            return ["scene: a scene needs a lesson (?lesson=paper&scene=3); ignored"]
        return []
    name = st.query_params.get(LESSON_PARAM, "").strip()
    if name == OWN and ss.get(OWN_KEY) is None:
        return [
            "lesson: this link names a teacher's own lesson, which stays in the browser session that made it; "
            "upload its file on the Lesson page"
        ]
    found = lesson_named(name)
    if found is None:
        return [f"lesson: '{url.escaped(name)}' is not a lesson here (lessons: {', '.join(SHIPPED)}); ignored"]
    warnings = []
    index = 0
    if SCENE_PARAM in st.query_params:
        text = st.query_params.get(SCENE_PARAM, "")
        value, _ = url.parse(url.Param("scene", "scene", "int", 1, 1, len(found.scenes)), text)
        if value is None:
            warnings.append(
                f"scene: '{url.escaped(text)}' is not a scene of this lesson "
                f"(1 to {len(found.scenes)}); showing scene 1"
            )
        else:
            index = value - 1
    show_scene(name, index)
    return warnings


def write_url() -> None:
    now = active()
    wanted = {LESSON_PARAM: now[0], SCENE_PARAM: str(now[2] + 1)} if now else {LESSON_PARAM: None, SCENE_PARAM: None}
    projector.set_query(wanted)


# ---------------------------------------------------------------------- the bar on every page
def safe_markdown(text: str) -> str:
    """A scene's text as Markdown that fetches nothing: images become their plain text (HTML is
    escaped by st.markdown itself)."""
    return _IMAGE.sub(lambda m: "!\\[", text)


def lesson_bar(pg) -> None:
    """The scene's title and text above the page, with Previous and Next (keys ← and →)."""
    now = active()
    if now is None or page_slug(pg) == "lesson":
        return
    name, found, index = now
    scene = found.scenes[index]
    n = len(found.scenes)
    projector.apply_lesson_css()
    with st.container(key="lesson_bar", border=True):
        # One row that wraps on a narrow screen: the buttons keep their whole labels.
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.markdown(f"**Scene {index + 1} of {n} · {md(scene.title)}**", width="stretch")
            st.button(
                "Previous",
                key="lesson_prev",
                on_click=step,
                args=(-1,),
                disabled=index == 0,
                shortcut="Left",
            )
            st.button(
                "Next",
                key="lesson_next",
                on_click=step,
                args=(1,),
                disabled=index == n - 1,
                shortcut="Right",
                type="primary",
            )
            st.button(
                "End",
                key="lesson_end",
                on_click=end,
                help=f"Leave the lesson ({md(found.title)}); the settings stay as they are. "
                "The Lesson page starts it again.",
            )
        if scene.text:
            st.markdown(safe_markdown(scene.text))
        note = st.session_state.get(NOTE)
        if note is not None and note[0] == index:
            st.caption(note[1])
        if PAGE_FILES[scene.page] != PAGE_FILES.get(page_slug(pg)):
            st.caption(f"This scene is on the {PAGE_TITLES[scene.page]} page.")


# ---------------------------------------------------------------------- the next scene, built ahead
# Off (0) only to measure what it buys: benchmarks/bench_lesson.py --no-prefetch.
PREFETCH = os.environ.get("DASHBOARD_LESSON_PREFETCH", "1") != "0"
_PREFETCHED: set = set()  # what a thread has built (or is building): (scene, model id)
_PREFETCH_LOCK = threading.Lock()


def _values(scene: Scene, base: dict | None = None) -> dict:
    """The settings a scene shows, as values: every one a link carries at its default (or `base`),
    the scene's on top."""
    values = {p.key: p.default for p in url.PARAMS} if base is None else dict(base)
    values.update(
        {k: d for k, (kind, _, d) in VIEW_OPTIONS.items() if kind not in ("models", "hide")} if base is None else {}
    )
    for key, text in scene.settings.items():
        param = url.BY_KEY.get(key)
        if param is not None:
            value, _ = url.parse(param, text)
            if value is not None:
                values[key] = value
        else:
            values[key] = text
    return values


def _config(values: dict) -> DiffusionConfig:
    return settings.DEFAULTS.replace(
        **{name: values[name] for name in ("T", "beta_start", "beta_end", "schedule", "width", "parameterization")},
        data_scale=values["data_scale"],
        learn_betas=bool(values["learn_betas"]),
        network=values["network"],
        data=values["data"],
    ).validate(check_device=False)


def _model_values(ref: models.ModelRef, values: dict, scene: Scene) -> dict:
    """As show_scene sets them: the model's own settings, then the scene's on top."""
    c = ref.pipeline.config
    mine = dict(values, T=c.T, width=c.width, schedule=c.schedule.value, data=c.data)
    mine.update(parameterization=c.parameterization.value, data_scale=c.data_scale.value)
    mine.update(learn_betas=c.learn_betas, network=c.network.value, beta_start=c.beta_start, beta_end=c.beta_end)
    return _values(scene, mine)


def _scene_work(scene: Scene) -> tuple[object, list]:
    """What the scene's page computes before it can draw, as calls to the caches it reads them
    from: (a key of the work, the calls). Reads session state; the calls do not."""
    values = _values(scene)
    ref = models.current_model() if scene.model == engine.KEEP else scene_model(scene.model, _config(values))
    if scene.model not in (engine.KEEP, engine.UNTRAINED):
        values = _model_values(ref, values, scene)
    cfg = _config(values)
    work = []
    if scene.page == "forward" and cfg.data != "custom" and not ref.pipeline.config.learn_betas:
        ms = figures.SPEEDS.get(values["fwd_speed"], figures.FRAME_MS)
        work.append(lambda: caches.forward_figure(cfg, int(values["fwd_n"]), int(values["fwd_seed"]), ms))
    elif scene.page == "reverse":
        ms = figures.SPEEDS.get(values["rev_speed"], figures.FRAME_MS)
        n, seed, arrows = int(values["rev_n"]), int(values["rev_seed"]), values["rev_arrows"]
        if not caches.view_refusal(ref.pipeline.config, n, "reverse"):
            work += [
                lambda: caches.model_quality(ref),
                lambda: caches.reverse_figure(ref.id, n, seed, ref.pipeline, arrows, ms),
            ]
    elif scene.page == "overview":
        work.append(lambda: caches.figure1(ref.id, ref.pipeline))
    elif scene.page == "bound" and not caches.bound_refusal(ref.pipeline.config):
        work += [lambda: caches.model_quality(ref), lambda: caches.bound_numbers(ref.id, ref.pipeline)]
    elif scene.page == "train":
        work.append(lambda: caches.model_chart(ref.id, ref.pipeline))
    elif scene.page == "compare":
        known = compare_glue.choices(models.current_model())
        entries = [e.strip() for e in values.get("compare", VIEW_OPTIONS["compare"][2]).split(",")]
        picked = [known[e] for e in entries if e in known]
        if len(picked) >= 2:
            work.append(lambda: compare_glue.animation(picked))
            work += [lambda c=c: compare_glue.measured(c) for c in picked]
    return (scene.page, ref.id, repr(sorted(values.items()))), work


def _quietly(calls: list) -> None:
    """Run the calls in this thread, which has no page: as if inside a cached function, so that a
    cache's spinner is not asked for (there is nowhere to show it). Errors only lose the head start."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import in_cached_function

        in_cached_function.set(True)
    except ImportError:
        pass
    for call in calls:
        try:
            call()
        except Exception:
            pass


def prefetch_next() -> None:
    """After a scene is drawn: build the next scene's views in a thread of their own, while the
    teacher talks, so that Next only has to draw them (once per scene and model on the server)."""
    now = active()
    if not PREFETCH or now is None or now[2] + 1 >= len(now[1].scenes):
        return
    try:
        key, work = _scene_work(now[1].scenes[now[2] + 1])
    except Exception:
        return  # a scene whose settings do not make a model: its page says why, when shown
    with _PREFETCH_LOCK:
        if not work or key in _PREFETCHED:
            return
        if len(_PREFETCHED) > 256:
            _PREFETCHED.clear()
        _PREFETCHED.add(key)
    _start(work)


def _start(work: list) -> threading.Thread:
    thread = threading.Thread(target=_quietly, args=(work,), name="lesson-prefetch", daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------------- the teacher's own lesson
def current_settings() -> dict[str, str]:
    """The settings a link would carry now, and the view options that differ from their defaults."""
    ss = st.session_state
    out = {}
    for param in url.PARAMS:
        value = ss.get(param.key, param.default)
        value = getattr(value, "value", value)
        if value != param.default:
            out[param.key] = param.text(value)
    for key, (kind, _, default) in VIEW_OPTIONS.items():
        if kind == "models":
            entries = ss.get(compare_glue.WIDGET_KEY)
            value = ",".join(entries) if entries else default
        elif kind == "hide":
            value = ",".join(n for n in projector.HIDEABLE if n in projector.hidden())
        else:
            value = ss.get(key, default)
        if value != default:
            out[key] = ("true" if value else "false") if kind == "bool" else str(value)
    return out


def current_model_word() -> str:
    """How a scene names the current model: the shipped one, an untrained one, a preset; `keep`
    for a model a file cannot name (a run's, an upload)."""
    ref = models.current_model()
    if ref.id == models.SHIPPED_ID:
        return engine.SHIPPED
    if ref.id.kind == "default" and ref.id.key.startswith("untrained"):
        return engine.UNTRAINED
    if ref.id.kind == "default" and ref.id.key.startswith("preset-"):
        return engine.PRESET + ref.id.key[len("preset-") :]
    return engine.KEEP


def scene_here(title: str, text: str, t: int | None) -> Scene:
    """The page shown before the Lesson page, as it is now, as a scene."""
    page = st.session_state.get(LAST_PAGE, "overview")
    return engine.scene_from_dict(
        {
            "title": title,
            "text": text,
            "page": page,
            "settings": current_settings(),
            "model": current_model_word(),
            "t": t if page in ANIMATIONS else None,
        },
        check_setting=check_setting,
        presets=presets.CATALOGUE,
    )


def set_own(new: Lesson | None, replaced_note: str = "") -> None:
    """`new` becomes the session's own lesson; the one it replaces is kept to bring back."""
    ss = st.session_state
    old = ss.get(OWN_KEY)
    if old is not None and new is not old:
        ss[REPLACED] = old
    ss[OWN_KEY] = new


def copy_to_own(name: str) -> None:
    """Button callback: an editable copy of lesson `name` as the session's own lesson."""
    found = lesson_named(name)
    if found is None:
        return
    had = st.session_state.get(OWN_KEY) is not None
    set_own(found.retitled(f"{found.title} (your copy)"[: engine.TITLE_MAX]))
    st.session_state["lesson_pick"] = OWN
    st.session_state[MESSAGE] = (
        "success",
        "Your lesson is now a copy of this one: reorder, delete and add scenes below."
        + (" It replaced your previous lesson (bring it back below)." if had else ""),
    )


def new_own() -> None:
    """Button callback: an empty lesson of the session's own, to save scenes into."""
    had = st.session_state.get(OWN_KEY) is not None
    set_own(Lesson("Your lesson", ()))
    st.session_state["lesson_pick"] = OWN
    st.session_state[MESSAGE] = (
        "info",
        "Your lesson is empty: set a page up, come back here and save it as a scene."
        + (" It replaced your previous lesson (bring it back below)." if had else ""),
    )


def bring_back() -> None:
    """Button callback: the own lesson that the last upload, copy or deletion replaced, back (and
    the one it replaces kept in its place, so a second click undoes the first)."""
    ss = st.session_state
    old = ss.get(REPLACED)
    if old is None:
        return
    now = ss.get(OWN_KEY)
    ss[OWN_KEY] = old
    if now is None:
        del ss[REPLACED]
    else:
        ss[REPLACED] = now
    ss["lesson_pick"] = OWN
    ss[MESSAGE] = ("success", f"Your lesson is again {md(old.title)}, {len(old.scenes)} scenes.")


def edit_own(op: str, index: int) -> None:
    """Button callback: move scene `index` of the own lesson up or down, or delete it."""
    own = st.session_state.get(OWN_KEY)
    if own is None or not 0 <= index < len(own.scenes):
        return
    if op == "up":
        st.session_state[OWN_KEY] = own.moved(index, -1)
    elif op == "down":
        st.session_state[OWN_KEY] = own.moved(index, 1)
    elif op == "delete":
        st.session_state[REPLACED] = own
        st.session_state[OWN_KEY] = own.without(index)
        st.session_state[MESSAGE] = ("info", f"Scene {index + 1} deleted (bring the lesson back below to undo).")


def add_scene() -> None:
    """Form callback: the page shown before this one, as a new last scene of the own lesson."""
    ss = st.session_state
    title = ss.get("lesson_new_title", "")
    text = ss.get("lesson_new_text", "")
    t = int(ss["lesson_new_t"]) if ss.get("lesson_new_use_t") else None
    try:
        scene = scene_here(title, text, t)
        own = ss.get(OWN_KEY) or Lesson("Your lesson", ())
        ss[OWN_KEY] = own.added(scene)
    except LessonError as exc:
        ss[MESSAGE] = ("error", f"The scene was not added: {md(str(exc))}.")
        return
    ss["lesson_pick"] = OWN
    ss["lesson_new_title"] = ss["lesson_new_text"] = ""
    ss[MESSAGE] = ("success", f"Added scene {len(ss[OWN_KEY].scenes)}: {md(scene.title)}.")


def retitle_own() -> None:
    ss = st.session_state
    own = ss.get(OWN_KEY)
    if own is None:
        return
    try:
        ss[OWN_KEY] = own.retitled(ss.get("lesson_own_title", ""))
    except LessonError as exc:
        ss[MESSAGE] = ("error", f"The title was not changed: {md(str(exc))}.")


def on_upload() -> None:
    """Uploader callback: a lesson file, checked whole before it replaces anything; nothing in it
    runs, and no scene is shown until the teacher starts the lesson."""
    ss = st.session_state
    up = ss.get(UPLOAD_KEY)
    if up is None:
        return
    shown_name = md(up.name)
    if up.size > engine.MAX_BYTES:
        ss[MESSAGE] = (
            "error",
            f"Could not use {shown_name}: the file is {up.size / 1024:,.0f} KB; a lesson is at most "
            f"{engine.MAX_BYTES // 1024} KB. Your lesson is unchanged.",
        )
        return
    try:
        found = parse(up.getvalue())
    except LessonError as exc:
        ss[MESSAGE] = ("error", f"Could not use {shown_name}: {md(str(exc))}. Your lesson is unchanged.")
        return
    had = ss.get(OWN_KEY) is not None
    set_own(found)
    ss["lesson_pick"] = OWN
    ss[MESSAGE] = (
        "success",
        f"Loaded {shown_name}: {md(found.title)}, {len(found.scenes)} scenes. It is your lesson now; "
        "Start shows its first scene." + (" It replaced your previous lesson (bring it back below)." if had else ""),
    )


def download_bytes(found: Lesson) -> bytes:
    return engine.lesson_json(found).encode()


def describe(scene: Scene) -> str:
    """One line on what a scene sets: its page, settings, model and frame."""
    parts = [PAGE_TITLES[scene.page]]
    if scene.settings:
        parts.append(", ".join(f"{k} = {v}" for k, v in scene.settings.items()))
    if scene.model != engine.KEEP:
        parts.append(f"model: {scene.model}")
    if scene.t is not None:
        parts.append(f"opens at t = {scene.t}")
    return md(" · ".join(parts))
