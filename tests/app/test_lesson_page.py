"""Projector mode and the guided lesson in AppTest: every shipped scene opens by its link with its
settings, model and frame; Previous and Next step through them all; projector mode styles every
page's charts and hides what the link names; the Lesson page copies, reorders, saves a page as a
scene, downloads, and refuses every bad upload with one message that changes nothing."""

from __future__ import annotations

import json

import pytest
from app_helpers import PAGES, ROOT, opened
from streamlit.testing.v1 import AppTest

from diffusion import lesson as engine
from pages._app import lesson, models, projector, url
from pages._app import sweep as sweep_glue

SHIPPED = engine.load_lesson(ROOT / "assets" / "lesson_paper.json")
# What each page draws, to tell it ran (an element of its own).
PAGE_WIDGET = {
    "forward": ("number_input", "fwd_n"),
    "reverse": ("number_input", "rev_n"),
    "train": ("button", "start"),
    "bound": ("toggle", "bound_ceiling"),
    "compare": ("multiselect", "compare_models"),
}


def no_exceptions(app) -> None:
    assert not app.exception, [e.value for e in app.exception]


# The Inside page's two selectable charts call st.plotly_chart themselves, not display.plot.
UNSTYLED = ("inside_select", "inside_probe_chart")


def charts(app, skip: tuple = ()) -> list[dict]:
    return [json.loads(c.proto.spec) for c in app.get("plotly_chart") if not any(k in c.proto.id for k in skip)]


def bar_title(app) -> str:
    return next(m.value for m in app.main.markdown if m.value.startswith("**Scene "))


def check_scene(app, index: int) -> None:
    """The app shows scene `index` of the shipped lesson, with everything the scene names."""
    scene = SHIPPED.scenes[index]
    no_exceptions(app)
    assert bar_title(app).startswith(f"**Scene {index + 1} of {len(SHIPPED.scenes)} · ")
    assert app.session_state[lesson.LAST_PAGE] == scene.page, "the scene's page ran"
    if scene.page in PAGE_WIDGET:
        kind, key = PAGE_WIDGET[scene.page]
        assert getattr(app, kind)(key=key) is not None
    assert app.query_params[lesson.LESSON_PARAM] == "paper"
    assert app.query_params[lesson.SCENE_PARAM] == str(index + 1)
    for key, text in scene.settings.items():
        if key in url.BY_KEY:
            value, _ = url.parse(url.BY_KEY[key], text)
            assert app.session_state[key] == value, key
            assert app.query_params[key] == text, "the link carries the scene's settings"
        elif key == "compare":
            assert app.multiselect(key="compare_models").value == text.split(",")
        elif key == "hide":
            assert app.session_state[projector.HIDE_KEY] == text.split(","), "what projector mode hides here"
    for param in url.PARAMS:
        if param.key not in scene.settings and param.key in app.session_state:
            assert app.session_state[param.key] in (param.default, getattr(param.default, "value", None)), param.key
    current = app.session_state["app_state"].model
    if scene.model == engine.SHIPPED:
        assert current.id == models.SHIPPED_ID
    elif scene.model == engine.UNTRAINED:
        assert current.id.key.startswith("untrained") and current.pipeline.steps_trained == 0
    if scene.t is not None:
        (animation,) = [c for c in charts(app) if c.get("frames")]
        names = [int(f["name"]) for f in animation["frames"]]
        active = animation["layout"]["sliders"][0]["active"]
        assert names[active] == scene.t, "the slider stands at the scene's t"
        assert f"t = {scene.t}" in animation["layout"]["title"]["text"], "and so do the points and the title"


# ---------------------------------------------------------------------- the shipped lesson
@pytest.mark.parametrize("index", range(len(SHIPPED.scenes)), ids=[s.page for s in SHIPPED.scenes])
def test_every_shipped_scene_opens_by_its_link_with_its_settings(index):
    app = opened({"lesson": "paper", "scene": str(index + 1)})
    check_scene(app, index)
    assert not [w.value for w in app.warning if w.value.startswith(("lesson:", "scene:"))]


def test_next_and_previous_step_through_every_scene():
    app = opened({"lesson": "paper"})
    check_scene(app, 0)
    assert app.button(key="lesson_prev").disabled
    for index in range(1, len(SHIPPED.scenes)):
        app.button(key="lesson_next").click().run()
        check_scene(app, index)
    assert app.button(key="lesson_next").disabled
    app.button(key="lesson_prev").click().run()
    check_scene(app, len(SHIPPED.scenes) - 2)
    app.button(key="lesson_end").click().run()
    no_exceptions(app)
    assert lesson.LESSON_PARAM not in app.query_params and lesson.SCENE_PARAM not in app.query_params
    assert not [m for m in app.main.markdown if m.value.startswith("**Scene ")]


def test_a_scene_resets_what_it_does_not_name_and_a_link_s_own_settings_go_on_top():
    """Scene 3 sets beta_end: T changed by hand before it goes back to its default. A reload of a
    scene's link with a teacher's change in it keeps the change."""
    app = opened({"lesson": "paper", "scene": "2"})
    app.number_input(key="T").set_value(20).run()
    app.button(key="lesson_next").click().run()
    assert app.number_input(key="T").value == 40 and app.select_slider(key="beta_end").value == 0.005
    again = opened({"lesson": "paper", "scene": "3", "T": "30"})
    assert again.number_input(key="T").value == 30 and again.select_slider(key="beta_end").value == 0.005


@pytest.mark.parametrize(
    "query, warning",
    [
        ({"lesson": "nosuch"}, "lesson: 'nosuch' is not a lesson here"),
        ({"lesson": "paper", "scene": "99"}, "scene: '99' is not a scene of this lesson (1 to 9); showing scene 1"),
        ({"lesson": "paper", "scene": "<b>x</b>"}, "scene: '\\<b\\>x\\</b\\>' is not a scene"),
        ({"scene": "3"}, "scene: a scene needs a lesson"),
        ({"lesson": "own"}, "lesson: this link names a teacher's own lesson"),
        ({"projector": "maybe"}, "projector: 'maybe' is not 1 or 0"),
        ({"projector": "1", "hide": "T,nosuch"}, "hide: 'nosuch' is not a setting the lab can hide"),
    ],
)
def test_a_bad_lesson_or_projector_link_gets_a_warning_not_a_traceback(query, warning):
    app = opened(query)
    shown = [w.value for w in app.warning]
    assert any(w.startswith(warning) for w in shown), shown


# ---------------------------------------------------------------------- projector mode
@pytest.mark.parametrize("page", sorted(set(PAGES) | {"pages/compare.py", "pages/lesson.py"}))
def test_projector_mode_from_the_link_on_every_page(page):
    app = opened({"projector": "1", "hide": "T,width,advanced"}, page=None)
    if page != "pages/overview.py":
        app.switch_page(page).run()
        no_exceptions(app)
    assert app.toggle(key=projector.PROJECTOR_KEY).value is True
    assert app.multiselect(key=projector.HIDE_KEY).value == ["T", "width", "advanced"]
    assert app.query_params["projector"] == "1" and app.query_params["hide"] == "T,width,advanced"
    css = " ".join(h.proto.body for h in app.get("html"))
    assert "font-size: 20px" in css
    for key in ("T", "width", "sidebar_advanced"):
        assert f'[data-testid="stSidebar"] .st-key-{key}' in css
    assert ".st-key-beta_end" not in css, "only what the link names is hidden"
    assert app.number_input(key="T").value == 40, "a hidden setting keeps its value and still applies"
    drawn = charts(app, skip=UNSTYLED)
    assert drawn or page in ("pages/lesson.py", "pages/train.py") or "inside" in page
    for chart in drawn:
        assert chart["layout"]["font"]["size"] == projector.FONT, "every chart in projector type"


def test_projector_mode_makes_charts_bigger_and_leaves_the_figures_cache_alone():
    plain = opened({}, page="pages/forward.py")
    (before,) = [c for c in charts(plain) if c.get("frames")]
    plain.toggle(key=projector.PROJECTOR_KEY).set_value(True).run()
    no_exceptions(plain)
    (big,) = [c for c in charts(plain) if c.get("frames")]
    assert big["layout"]["height"] > before["layout"]["height"]
    assert big["data"][0]["marker"]["size"] > before["data"][0]["marker"]["size"]
    assert big["layout"]["updatemenus"][0]["font"]["size"] == projector.FONT
    assert plain.query_params["projector"] == "1"
    plain.toggle(key=projector.PROJECTOR_KEY).set_value(False).run()
    (after,) = [c for c in charts(plain) if c.get("frames")]
    assert after["layout"]["height"] == before["layout"]["height"], "the cached figure was not changed"
    assert after["data"][0]["marker"]["size"] == before["data"][0]["marker"]["size"]
    assert "projector" not in plain.query_params and "hide" not in plain.query_params


def test_hiding_settings_from_the_switch_is_kept_in_the_link():
    app = opened({})
    app.toggle(key=projector.PROJECTOR_KEY).set_value(True).run()
    app.multiselect(key=projector.HIDE_KEY).set_value(["schedule", "data"]).run()
    no_exceptions(app)
    assert app.query_params["hide"] == "data,schedule", "in the sidebar's order"
    css = " ".join(h.proto.body for h in app.get("html"))
    assert ".st-key-schedule" in css and ".st-key-data" in css
    app.switch_page("pages/reverse.py").run()
    assert app.query_params["hide"] == "data,schedule" and app.query_params["projector"] == "1"


def test_the_sidebar_and_projector_agree_on_what_can_be_hidden():
    from pages._app import settings

    assert set(projector.SIDEBAR) == settings.HIDEABLE and set(projector.SIDEBAR) <= set(projector.HIDEABLE)


def test_projector_mode_survives_stepping_and_each_scene_hides_what_it_names():
    """The link's `hide` holds for the scene it opens; a scene that names its own replaces it, one
    that names none leaves it."""
    app = opened({"lesson": "paper", "projector": "1", "hide": "T"})
    assert app.query_params["hide"] == "T"
    hidden = "T"
    for scene in SHIPPED.scenes[1:]:
        app.button(key="lesson_next").click().run()
        no_exceptions(app)
        hidden = scene.settings.get("hide", hidden)
        assert app.query_params["projector"] == "1" and app.query_params["hide"] == hidden
        css = " ".join(h.proto.body for h in app.get("html"))
        assert projector.hide_rules(hidden.split(",")) in css


# ---------------------------------------------------------------------- the Lesson page
def lesson_page(query: dict | None = None) -> AppTest:
    return opened(query or {}, page="pages/lesson.py")


def messages(app) -> list[str]:
    return [m.value for m in list(app.error) + list(app.success) + list(app.info)]


def test_the_lesson_page_lists_the_shipped_scenes_and_starts_the_lesson():
    app = lesson_page()
    titles = [m.value for m in app.main.markdown if m.value[:1] == "*" and ". " in m.value[:8]]
    assert len(titles) == len(SHIPPED.scenes)
    app.button(key="lesson_open_3").click().run()
    check_scene(app, 3)
    app.switch_page("pages/lesson.py").run()
    app.button(key="lesson_start").click().run()
    check_scene(app, 0)


def test_a_copy_is_reordered_and_edited_and_the_last_version_can_come_back():
    app = lesson_page()
    app.button(key="lesson_copy").click().run()
    no_exceptions(app)
    own = app.session_state[lesson.OWN_KEY]
    assert own.scenes == SHIPPED.scenes and app.radio(key="lesson_pick").value == lesson.OWN
    app.button(key="lesson_down_0").click().run()
    assert [s.title for s in app.session_state[lesson.OWN_KEY].scenes[:2]] == [
        SHIPPED.scenes[1].title,
        SHIPPED.scenes[0].title,
    ]
    app.button(key="lesson_up_1").click().run()
    assert app.session_state[lesson.OWN_KEY].scenes == SHIPPED.scenes
    app.button(key="lesson_delete_2").click().run()
    assert len(app.session_state[lesson.OWN_KEY].scenes) == len(SHIPPED.scenes) - 1
    app.button(key="lesson_back").click().run()
    assert app.session_state[lesson.OWN_KEY].scenes == SHIPPED.scenes, "the deletion undone"
    app.text_input(key="lesson_own_title").set_value("Week 3").run()
    assert app.session_state[lesson.OWN_KEY].title == "Week 3"


def test_the_page_you_came_from_is_saved_as_a_scene_and_opens_again():
    app = opened({}, page="pages/reverse.py")
    app.number_input(key="rev_n").set_value(500).run()
    app.radio(key="rev_arrows").set_value("per frame").run()
    app.switch_page("pages/lesson.py").run()
    app.button(key="lesson_new").click().run()
    app.text_input(key="lesson_new_title").input("Five hundred points")
    app.text_area(key="lesson_new_text").input("Fewer points, each frame rescaled.")
    app.checkbox(key="lesson_new_use_t").check()
    app.number_input(key="lesson_new_t").set_value(12)
    app.button(key="FormSubmitter:lesson_add-Add as a scene").click().run()
    no_exceptions(app)
    (scene,) = app.session_state[lesson.OWN_KEY].scenes
    assert scene.page == "reverse" and scene.t == 12 and scene.model == engine.SHIPPED
    assert scene.settings == {"rev_n": "500", "rev_arrows": "per frame"}
    # a different state, then the saved scene again
    app.switch_page("pages/reverse.py").run()
    app.number_input(key="rev_n").set_value(2000).run()
    app.switch_page("pages/lesson.py").run()
    app.button(key="lesson_open_0").click().run()
    no_exceptions(app)
    assert app.number_input(key="rev_n").value == 500 and app.radio(key="rev_arrows").value == "per frame"
    (animation,) = [c for c in charts(app) if c.get("frames")]
    assert "t = 12" in animation["layout"]["title"]["text"]
    assert app.query_params["lesson"] == "own" and app.query_params["scene"] == "1"


def test_download_then_upload_round_trips():
    app = lesson_page()
    data = engine.lesson_json(SHIPPED).encode()
    app.file_uploader(key=lesson.UPLOAD_KEY).set_value(("week3.json", data, "application/json")).run()
    no_exceptions(app)
    assert any(m.startswith("Loaded week3") for m in messages(app)), messages(app)
    assert app.session_state[lesson.OWN_KEY] == SHIPPED
    assert lesson.ACTIVE not in app.session_state, "an upload shows no scene until the teacher starts it"
    assert lesson.download_bytes(app.session_state[lesson.OWN_KEY]) == data


def bad_lessons() -> dict[str, bytes]:
    good = SHIPPED.to_dict()

    def changed(**scene0) -> bytes:
        obj = json.loads(json.dumps(good))
        obj["scenes"][0].update(scene0)
        return json.dumps(obj).encode()

    return {
        "too big": b" " * (engine.MAX_BYTES + 1),
        "not json": b"{this is not json",
        "binary": b"\x80\x04\x95garbage",
        "other json": b'{"points": [1, 2, 3]}',
        "unknown page": changed(page="admin"),
        "bad setting": changed(settings={"T": "inf"}),
        "unknown setting": changed(settings={"evil": "1"}),
        "bad arrows": changed(settings={"rev_arrows": "sideways"}),
        "bad compare": changed(settings={"compare": "file:/etc/passwd"}),
        "beta off the slider": changed(settings={"beta_end": "0.0123"}),
        "unknown preset": changed(model="preset:nosuch"),
        "bad t": changed(t=-3),
    }


@pytest.mark.parametrize("name", list(bad_lessons()))
def test_every_bad_upload_is_refused_with_one_message_and_nothing_changes(name):
    app = lesson_page()
    app.button(key="lesson_copy").click().run()
    before = app.session_state[lesson.OWN_KEY]
    app.file_uploader(key=lesson.UPLOAD_KEY).set_value(("bad.json", bad_lessons()[name], "application/json")).run()
    no_exceptions(app)
    errors = [e.value for e in app.error]
    assert len(errors) == 1 and errors[0].startswith("Could not use bad") and "unchanged" in errors[0], errors
    assert app.session_state[lesson.OWN_KEY] is before, "the lesson in the session is kept"
    assert lesson.ACTIVE not in app.session_state


def test_markdown_and_images_in_a_lesson_s_text_fetch_nothing():
    obj = SHIPPED.to_dict()
    obj["scenes"][0]["title"] = "**bold** <b>x</b>"
    obj["scenes"][0]["text"] = "See ![a picture](http://example.com/x.png) and <img src='http://example.com/y.png'>"
    app = lesson_page()
    up = ("mine.json", json.dumps(obj).encode(), "application/json")
    app.file_uploader(key=lesson.UPLOAD_KEY).set_value(up).run()
    app.button(key="lesson_start").click().run()
    no_exceptions(app)
    assert bar_title(app) == "**Scene 1 of 9 · \\*\\*bold\\*\\* \\<b\\>x\\</b\\>**"
    text = next(m for m in app.main.markdown if "picture" in m.value)
    assert "![" not in text.value and "!\\[" in text.value
    assert not text.proto.allow_html


def test_the_next_scene_is_built_ahead_while_this_one_is_shown(monkeypatch):
    """After each scene the next one's views are computed in a thread; every scene's work runs."""
    started = []
    real = lesson._start
    monkeypatch.setattr(lesson, "_start", lambda work: started.append(real(work)))
    monkeypatch.setattr(lesson, "_PREFETCHED", set())
    app = opened({"lesson": "paper"})
    for _ in range(len(SHIPPED.scenes) - 1):
        app.button(key="lesson_next").click().run()
        no_exceptions(app)
    mine = started
    assert len(mine) >= len(SHIPPED.scenes) - 2, "one thread per scene to build (the first two share their views)"
    for t in mine:
        t.join(120)
        assert not t.is_alive()
    # Outside a page run there is no session, and so no sweep whose runs the Compare scene could offer.
    monkeypatch.setattr(sweep_glue, "current", lambda: None)
    for scene in SHIPPED.scenes:
        key, work = lesson._scene_work(scene)
        assert work, scene.title
