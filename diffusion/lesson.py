"""A guided lesson: scenes, each a saved configuration of the dashboard with a few sentences.

No Streamlit here (pages/_app/lesson.py applies a scene to a session). A lesson is a small JSON file:

    {"format": "diffusion-lab-lesson", "version": 1, "title": "...",
     "scenes": [{"title": "...", "text": "...", "page": "forward",
                 "settings": {"T": "10", "beta_end": "0.02"}, "model": "keep", "t": 10}, ...]}

- `page`: which page shows the scene (one of `PAGES`);
- `settings`: the sidebar's and the pages' settings as a link spells them (`?T=10`), plus the
  view options the app names (an arrow scale, a comparison); every setting a scene does not name
  takes its default, so a scene looks the same whichever scene came before it;
- `model`: which model the scene shows: `keep` (the session's current one), `shipped` (the model
  shipped with the app), `untrained` (a fresh network of the scene's settings) or `preset:NAME`;
- `t`: the frame the page's animation opens at (null: its first).

`parse_lesson` reads such a file as an upload is read anywhere in the lab: size first, then the
JSON (no code in it is run: `json` builds only dicts, lists, strings and numbers), then every
field against the schema; any problem is one `LessonError` whose message names the scene and the
field. `lesson_json` writes the same format, so a lesson round-trips.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

FORMAT = "diffusion-lab-lesson"
VERSION = 1
MAX_BYTES = 64 * 1024  # the shipped lesson of nine scenes is about 6 KB
MAX_SCENES = 40
TITLE_MAX = 100  # characters, of the lesson's and of each scene's title
TEXT_MAX = 1200  # of a scene's text: two or three sentences, with room to spare
SETTINGS_MAX = 40
KEY_MAX = 32
VALUE_MAX = 200
T_MAX = 1000  # as diffusion.config.T_MAX (not imported: that module pulls in torch)
_SHOWN = 40  # a value echoed in a message is cut here

# The pages a scene can open, by the last part of their address (the Overview is "/").
PAGES = ("overview", "train", "forward", "reverse", "inside", "bound", "compare")
KEEP, SHIPPED, UNTRAINED, PRESET = "keep", "shipped", "untrained", "preset:"
MODEL_WORDS = (KEEP, SHIPPED, UNTRAINED)

_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_PRESET_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # control characters, tab and newline included
_LESSON_FIELDS = ("format", "version", "title", "scenes")
_SCENE_FIELDS = ("title", "text", "page", "settings", "model", "t")


class LessonError(ValueError):
    """A lesson file that cannot be used; the message says where and why, in one line."""


@dataclass(frozen=True)
class Scene:
    title: str
    text: str
    page: str
    settings: Mapping[str, str] = field(default_factory=dict)  # as a link spells them
    model: str = KEEP
    t: int | None = None

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "text": self.text,
            "page": self.page,
            "settings": dict(self.settings),
            "model": self.model,
            "t": self.t,
        }


@dataclass(frozen=True)
class Lesson:
    title: str
    scenes: tuple[Scene, ...]

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "title": self.title, "scenes": [s.to_dict() for s in self.scenes]}

    # Edits return a new lesson; the one shown in a session is never changed in place.
    def added(self, scene: Scene) -> Lesson:
        if len(self.scenes) >= MAX_SCENES:
            raise LessonError(f"a lesson holds at most {MAX_SCENES} scenes")
        return replace(self, scenes=self.scenes + (scene,))

    def moved(self, index: int, by: int) -> Lesson:
        """Scene `index` moved `by` places (-1: up one), kept inside the lesson."""
        scenes = list(self.scenes)
        to = min(max(index + by, 0), len(scenes) - 1)
        scenes.insert(to, scenes.pop(index))
        return replace(self, scenes=tuple(scenes))

    def without(self, index: int) -> Lesson:
        return replace(self, scenes=self.scenes[:index] + self.scenes[index + 1 :])

    def retitled(self, title: str) -> Lesson:
        return replace(self, title=_text(title, "the lesson's title", TITLE_MAX, required=True))


def shown(value) -> str:
    """A value as a message quotes it: its JSON spelling, cut when long."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "'" + (text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…") + "'"


def _text(value, where: str, limit: int, required: bool = False, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise LessonError(f"{where} must be text, not {shown(value)}")
    if required and not value.strip():
        raise LessonError(f"{where} is empty")
    if len(value) > limit:
        raise LessonError(f"{where} is {len(value):,} characters long; at most {limit:,}")
    allowed = "\n\t" if multiline else "\t"
    bad = next((c for c in value if (ord(c) < 32 or ord(c) == 127) and c not in allowed), None)
    if bad is not None:
        raise LessonError(f"{where} holds a control character (U+{ord(bad):04X})")
    return value.strip()


def _setting_text(value, where: str) -> str:
    """A setting's value as a link spells it: text as it is; a number or true/false as JSON writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LessonError(f"{where} is {shown(value)}, not a finite number")
        return repr(value)
    if isinstance(value, str):
        if len(value) > VALUE_MAX:
            raise LessonError(f"{where} is {len(value):,} characters long; at most {VALUE_MAX}")
        if _CONTROL.search(value):
            raise LessonError(f"{where} holds a control character or a line break")
        return value.strip()
    raise LessonError(f"{where} must be text, a number or true/false, not {shown(value)}")


def _unknown_fields(obj: dict, allowed: Iterable[str], where: str) -> None:
    extra = [k for k in obj if k not in allowed]
    if extra:
        raise LessonError(f"{where}: unknown field {shown(extra[0])} (a lesson file has {', '.join(allowed)})")


def _model(value, where: str, presets: Iterable[str] | None) -> str:
    if value is None:
        return KEEP
    if not isinstance(value, str):
        raise LessonError(f"{where} must be text, not {shown(value)}")
    word = value.strip()
    if word in MODEL_WORDS:
        return word
    if word.startswith(PRESET):
        name = word[len(PRESET) :]
        if not _PRESET_NAME.fullmatch(name):
            raise LessonError(f"{where}: {shown(word)} does not name a preset")
        if presets is not None and name not in presets:
            known = ", ".join(presets) or "none"
            raise LessonError(f"{where}: there is no preset {shown(name)} here (the presets: {known})")
        return word
    raise LessonError(f"{where} is {shown(word)}; use keep, shipped, untrained or preset:NAME")


def scene_from_dict(
    obj,
    number: int = 1,
    check_setting: Callable[[str, str], str | None] | None = None,
    presets: Iterable[str] | None = None,
) -> Scene:
    """One scene of a lesson file (`number` counts from 1, for the messages). `check_setting(key,
    value)` returns why a setting cannot be used, or None; without it only the spelling is checked."""
    where = f"scene {number}"
    if not isinstance(obj, dict):
        raise LessonError(f"{where} must be an object with a title, a text and a page, not {shown(obj)}")
    _unknown_fields(obj, _SCENE_FIELDS, where)
    for name in ("title", "text", "page"):
        if name not in obj:
            raise LessonError(f"{where} has no {name}")
    title = _text(obj["title"], f"{where}: the title", TITLE_MAX, required=True)
    where = f"scene {number} ({shown(title)})"
    text = _text(obj["text"], f"{where}: the text", TEXT_MAX, multiline=True)
    page = obj["page"]
    if page not in PAGES:
        raise LessonError(f"{where}: the page {shown(page)} is not one of {', '.join(PAGES)}")
    raw = obj.get("settings") or {}
    if not isinstance(raw, dict):
        raise LessonError(f"{where}: the settings must be an object of names and values, not {shown(raw)}")
    if len(raw) > SETTINGS_MAX:
        raise LessonError(f"{where} has {len(raw)} settings; at most {SETTINGS_MAX}")
    settings = {}
    for key, value in raw.items():
        if len(key) > KEY_MAX or not _KEY.fullmatch(key):
            raise LessonError(f"{where}: {shown(key)} is not a setting's name")
        text_value = _setting_text(value, f"{where}: the setting {key}")
        problem = check_setting(key, text_value) if check_setting is not None else None
        if problem:
            raise LessonError(f"{where}: {problem}")
        settings[key] = text_value
    model = _model(obj.get("model"), f"{where}: the model", presets)
    t = obj.get("t")
    if t is not None and (isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= T_MAX):
        raise LessonError(f"{where}: t is {shown(t)}; a frame t is a whole number from 0 to {T_MAX:,}, or null")
    return Scene(title, text, page, settings, model, t)


def lesson_from_dict(
    obj, check_setting: Callable[[str, str], str | None] | None = None, presets: Iterable[str] | None = None
) -> Lesson:
    if not isinstance(obj, dict):
        raise LessonError(f"not a lesson file: the file holds {shown(obj)}, not an object")
    if obj.get("format") != FORMAT:
        raise LessonError(f"not a lesson file: its format is {shown(obj.get('format'))}, not {shown(FORMAT)}")
    _unknown_fields(obj, _LESSON_FIELDS, "the lesson")
    version = obj.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise LessonError(f"the lesson's version is {shown(version)}, not a whole number")
    if version > VERSION:
        raise LessonError(f"the lesson is of version {version}, made by a newer lab; this one reads version {VERSION}")
    if version < 1:
        raise LessonError(f"the lesson's version is {version}; versions start at 1")
    title = _text(obj.get("title", ""), "the lesson's title", TITLE_MAX, required=True)
    scenes = obj.get("scenes")
    if not isinstance(scenes, list):
        raise LessonError(f"the lesson's scenes must be a list, not {shown(scenes)}")
    if not scenes:
        raise LessonError("the lesson has no scenes")
    if len(scenes) > MAX_SCENES:
        raise LessonError(f"the lesson has {len(scenes)} scenes; at most {MAX_SCENES}")
    return Lesson(title, tuple(scene_from_dict(s, i, check_setting, presets) for i, s in enumerate(scenes, 1)))


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise LessonError(f"the field {shown(key)} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str):
    raise LessonError(f"the file holds {name}, which is not JSON")


def parse_lesson(
    data: bytes | str,
    check_setting: Callable[[str, str], str | None] | None = None,
    presets: Iterable[str] | None = None,
) -> Lesson:
    """A lesson from a file's bytes; LessonError for anything but a valid lesson of at most MAX_BYTES."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > MAX_BYTES:
        raise LessonError(f"the file is {size / 1024:,.0f} KB; a lesson is at most {MAX_BYTES // 1024} KB")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise LessonError(f"not a lesson file: not UTF-8 text (byte {exc.start:,})") from None
    if not data.strip():
        raise LessonError("the file is empty")
    try:
        obj = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except LessonError:
        raise
    except json.JSONDecodeError as exc:
        raise LessonError(f"not a lesson file: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise LessonError("not a lesson file: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise LessonError(f"not a lesson file: {str(exc)[:80]}") from None
    return lesson_from_dict(obj, check_setting, presets)


def lesson_json(lesson: Lesson) -> str:
    """The lesson as the file `parse_lesson` reads back to the same lesson."""
    return json.dumps(lesson.to_dict(), ensure_ascii=False, indent=2) + "\n"


def load_lesson(
    path: str | Path,
    check_setting: Callable[[str, str], str | None] | None = None,
    presets: Iterable[str] | None = None,
) -> Lesson:
    """A lesson file from disk (a shipped one); the size is checked before the file is read whole."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise LessonError(f"{path.name} is {size / 1024:,.0f} KB; a lesson is at most {MAX_BYTES // 1024} KB")
    return parse_lesson(path.read_bytes(), check_setting, presets)
