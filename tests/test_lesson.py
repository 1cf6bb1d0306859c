"""diffusion/lesson.py: a lesson round-trips through its JSON file, and every kind of bad file is
refused with one LessonError that says where and why (nothing in a file is ever run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diffusion import lesson
from diffusion.lesson import Lesson, LessonError, Scene, lesson_json, load_lesson, parse_lesson

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "assets" / "lesson_paper.json"


def good() -> dict:
    return {
        "format": lesson.FORMAT,
        "version": 1,
        "title": "A test lesson",
        "scenes": [
            {"title": "One", "text": "The data.", "page": "forward", "settings": {"T": "10"}, "model": "keep", "t": 0},
            {"title": "Two", "text": "", "page": "compare", "settings": {"compare": "preset:default,preset:T10"}},
        ],
    }


def refused(obj_or_bytes, *needles, **kw) -> str:
    data = obj_or_bytes if isinstance(obj_or_bytes, (bytes, str)) else json.dumps(obj_or_bytes)
    with pytest.raises(LessonError) as info:
        parse_lesson(data, **kw)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300, message
    for needle in needles:
        assert needle in message, message
    return message


# ---------------------------------------------------------------------- round trips
def test_the_shipped_lesson_is_valid_and_round_trips():
    shipped = load_lesson(SHIPPED)
    assert len(shipped.scenes) >= 8
    assert SHIPPED.read_text(encoding="utf-8") == lesson_json(shipped), "stored as lesson_json writes it"
    assert parse_lesson(lesson_json(shipped)) == shipped
    assert SHIPPED.stat().st_size < lesson.MAX_BYTES / 4
    for scene in shipped.scenes:
        assert scene.page in lesson.PAGES
        sentences = scene.text.count(". ") + scene.text.count(": ") + 1
        assert 2 <= sentences <= 6 and len(scene.text) <= lesson.TEXT_MAX, scene.title


def test_a_lesson_round_trips_with_every_field():
    once = parse_lesson(json.dumps(good()))
    assert once.scenes[0] == Scene("One", "The data.", "forward", {"T": "10"}, "keep", 0)
    assert once.scenes[1].model == "keep" and once.scenes[1].t is None and once.scenes[1].text == ""
    assert parse_lesson(lesson_json(once)) == once
    assert lesson_json(parse_lesson(lesson_json(once))) == lesson_json(once)


def test_numbers_and_booleans_in_settings_are_read_as_a_link_spells_them():
    obj = good()
    obj["scenes"][0]["settings"] = {"T": 10, "beta_end": 0.02, "learn_betas": True}
    scene = parse_lesson(json.dumps(obj)).scenes[0]
    assert scene.settings == {"T": "10", "beta_end": "0.02", "learn_betas": "true"}


def test_a_byte_order_mark_and_unicode_text_are_fine():
    obj = good()
    obj["scenes"][0]["text"] = "ᾱ_T must reach 0: √β_t ε, ≈ 0.006 — and “quotes”."
    data = b"\xef\xbb\xbf" + json.dumps(obj, ensure_ascii=False).encode()
    assert parse_lesson(data).scenes[0].text.startswith("ᾱ_T")


def test_edits_return_new_lessons():
    base = parse_lesson(json.dumps(good()))
    third = Scene("Three", "More.", "bound")
    added = base.added(third)
    assert [s.title for s in added.scenes] == ["One", "Two", "Three"] and len(base.scenes) == 2
    assert [s.title for s in added.moved(2, -1).scenes] == ["One", "Three", "Two"]
    assert [s.title for s in added.moved(0, -1).scenes] == ["One", "Two", "Three"], "kept inside the lesson"
    assert [s.title for s in added.moved(0, 5).scenes] == ["Two", "Three", "One"]
    assert [s.title for s in added.without(1).scenes] == ["One", "Three"]
    assert added.retitled("  New  ").title == "New"
    with pytest.raises(LessonError):
        added.retitled("")
    full = Lesson("Full", (third,) * lesson.MAX_SCENES)
    with pytest.raises(LessonError, match="at most"):
        full.added(third)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.builds(
            Scene,
            title=st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40).filter(
                lambda s: s.strip() == s and s
            ),
            text=st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=200).map(str.strip),
            page=st.sampled_from(lesson.PAGES),
            settings=st.dictionaries(
                st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True),
                st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20).map(str.strip),
                max_size=5,
            ),
            model=st.sampled_from(["keep", "shipped", "untrained", "preset:T10"]),
            t=st.one_of(st.none(), st.integers(0, lesson.T_MAX)),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_valid_lesson_round_trips(scenes):
    made = Lesson("Generated", tuple(scenes))
    assert parse_lesson(lesson_json(made)) == made


# ---------------------------------------------------------------------- bad files
def test_size_is_checked_before_anything_is_parsed():
    big = b" " * (lesson.MAX_BYTES + 1)
    refused(big, "KB", f"at most {lesson.MAX_BYTES // 1024} KB")


@pytest.mark.parametrize(
    "data, needles",
    [
        (b"", ("empty",)),
        (b"   \n", ("empty",)),
        (b"\xff\xfe\x00garbage", ("not UTF-8",)),
        (b"{not json", ("not JSON", "line 1")),
        (b'{"format": "diffusion-lab-lesson",', ("not JSON",)),
        (b"[" * 5000 + b"]" * 5000, ("nested too deeply",)),
        (b'{"a": NaN}', ("NaN", "not JSON")),
        (b'{"a": Infinity}', ("Infinity",)),
        (b'{"a": 1, "a": 2}', ("appears twice",)),
        (b'{"t": ' + b"9" * 5000 + b"}", ("not a lesson file",)),
        (b'"just a string"', ("not an object",)),
        (b"[1, 2, 3]", ("not an object",)),
        (b"null", ("not an object",)),
    ],
    ids=[
        "empty",
        "blank",
        "binary",
        "broken",
        "cut short",
        "deep",
        "nan",
        "infinity",
        "duplicate key",
        "huge integer",
        "string",
        "list",
        "null",
    ],
)
def test_a_file_that_is_no_json_object_is_refused(data, needles):
    refused(data, *needles)


def test_a_checkpoint_or_pickle_is_refused_and_never_run(tmp_path):
    """A pickle that would write a file if unpickled: the lesson reader only decodes JSON."""
    import pickle

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    refused(pickle.dumps(Evil()), "not a lesson file")
    assert not marker.exists()


def mutated(change) -> dict:
    obj = good()
    change(obj)
    return obj


def _set(path, value):
    def change(obj):
        target = obj
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _delete(path):
    def change(obj):
        target = obj
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


BAD = {
    "other format": (_set(["format"], "something-else"), ("not a lesson file", "something-else")),
    "no format": (_delete(["format"]), ("not a lesson file",)),
    "newer version": (_set(["version"], 2), ("newer",)),
    "version zero": (_set(["version"], 0), ("versions start at 1",)),
    "version text": (_set(["version"], "1"), ("version",)),
    "version bool": (_set(["version"], True), ("version",)),
    "unknown top field": (_set(["script"], "rm -rf /"), ("unknown field", "script")),
    "no title": (_delete(["title"]), ("title", "empty")),
    "title not text": (_set(["title"], 5), ("title", "must be text")),
    "long title": (_set(["title"], "x" * (lesson.TITLE_MAX + 1)), ("title", "at most")),
    "scenes not a list": (_set(["scenes"], {"a": 1}), ("scenes must be a list",)),
    "no scenes": (_set(["scenes"], []), ("no scenes",)),
    "too many scenes": (
        lambda o: o.__setitem__("scenes", o["scenes"][:1] * (lesson.MAX_SCENES + 1)),
        ("scenes", f"at most {lesson.MAX_SCENES}"),
    ),
    "scene not an object": (_set(["scenes", 1], "forward"), ("scene 2", "must be an object")),
    "scene without page": (_delete(["scenes", 0, "page"]), ("scene 1", "no page")),
    "scene without title": (_delete(["scenes", 0, "title"]), ("scene 1", "no title")),
    "scene without text": (_delete(["scenes", 1, "text"]), ("scene 2", "no text")),
    "unknown page": (_set(["scenes", 0, "page"], "admin"), ("scene 1", "'One'", "admin", "is not one of")),
    "page not text": (_set(["scenes", 0, "page"], ["forward"]), ("scene 1", "page")),
    "unknown scene field": (_set(["scenes", 1, "onload"], "x"), ("scene 2", "unknown field", "onload")),
    "empty scene title": (_set(["scenes", 0, "title"], "   "), ("scene 1", "title is empty")),
    "long text": (_set(["scenes", 0, "text"], "y" * (lesson.TEXT_MAX + 1)), ("scene 1", "text", "at most")),
    "control character in text": (_set(["scenes", 0, "text"], "bell\x07"), ("control character", "U+0007")),
    "line break in a title": (_set(["scenes", 0, "title"], "two\nlines"), ("control character",)),
    "settings not an object": (_set(["scenes", 0, "settings"], ["T", "10"]), ("settings must be an object",)),
    "too many settings": (
        _set(["scenes", 0, "settings"], {f"k{i}": "1" for i in range(lesson.SETTINGS_MAX + 1)}),
        ("settings", f"at most {lesson.SETTINGS_MAX}"),
    ),
    "setting name": (_set(["scenes", 0, "settings"], {"T; drop": "1"}), ("not a setting's name",)),
    "setting name too long": (_set(["scenes", 0, "settings"], {"a" * 40: "1"}), ("not a setting's name",)),
    "setting value list": (_set(["scenes", 0, "settings"], {"T": [10]}), ("setting T", "must be text")),
    "setting value object": (_set(["scenes", 0, "settings"], {"T": {"x": 1}}), ("setting T",)),
    "setting value null": (_set(["scenes", 0, "settings"], {"T": None}), ("setting T",)),
    "setting value too long": (_set(["scenes", 0, "settings"], {"T": "9" * 300}), ("setting T", "at most")),
    "setting value line break": (_set(["scenes", 0, "settings"], {"T": "1\n0"}), ("control character",)),
    "model word": (_set(["scenes", 0, "model"], "mine.pt"), ("model", "keep, shipped, untrained or preset:NAME")),
    "model path": (_set(["scenes", 0, "model"], "preset:../../etc/passwd"), ("does not name a preset",)),
    "model not text": (_set(["scenes", 0, "model"], 3), ("model", "must be text")),
    "t negative": (_set(["scenes", 0, "t"], -1), ("t is", "whole number")),
    "t too large": (_set(["scenes", 0, "t"], lesson.T_MAX + 1), ("t is",)),
    "t fraction": (_set(["scenes", 0, "t"], 2.5), ("t is",)),
    "t text": (_set(["scenes", 0, "t"], "3"), ("t is",)),
    "t bool": (_set(["scenes", 0, "t"], True), ("t is",)),
}


@pytest.mark.parametrize("name", list(BAD))
def test_every_kind_of_bad_lesson_is_refused_with_where_and_why(name):
    change, needles = BAD[name]
    refused(mutated(change), *needles)


def test_the_app_checks_settings_and_presets_through_its_hooks():
    def check(key, value):
        return None if (key, value) != ("T", "abc") else "T: 'abc' is not a whole number from 2 to 1,000"

    bad = mutated(_set(["scenes", 0, "settings"], {"T": "abc"}))
    refused(bad, "scene 1 ('One'): T: 'abc' is not a whole number", check_setting=check)
    unknown = mutated(_set(["scenes", 0, "model"], "preset:nosuch"))
    refused(unknown, "no preset 'nosuch'", "default, T10", presets=["default", "T10"])
    assert parse_lesson(json.dumps(good()), check_setting=check, presets=["default", "T10"]).title == "A test lesson"


def test_a_long_value_is_cut_in_the_message():
    message = refused(mutated(_set(["scenes", 0, "page"], "p" * 500)), "…")
    assert len(message) < 200


def test_load_lesson_checks_the_size_before_reading(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b"{" + b" " * lesson.MAX_BYTES + b"}")
    with pytest.raises(LessonError, match="big.json"):
        load_lesson(path)
