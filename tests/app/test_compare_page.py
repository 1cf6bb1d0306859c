"""The Compare page: presets only, models of different T, the comparison in the URL, bad entries."""

import json

import imageio.v3 as iio
from app_helpers import opened
from streamlit.testing.v1 import AppTest

PAGE = "pages/compare.py"


def opened_on_compare(compare: str | None = None) -> AppTest:
    return opened({} if compare is None else {"compare": compare}, PAGE)


def chart(app, i: int = 0) -> dict:
    return json.loads(app.get("plotly_chart")[i].proto.spec)


def panel_titles(spec: dict) -> list[str]:
    return [a["text"] for a in spec["layout"]["annotations"]]


def test_presets_of_different_T_side_by_side_and_in_the_url():
    app = opened_on_compare("preset:default,preset:T10")
    assert app.multiselect(key="compare_models").value == ["preset:default", "preset:T10"]
    spec = chart(app)
    # one panel per model, each saying its own t; the slider over t/T
    titles = panel_titles(spec)
    assert titles == ["<b>preset: default</b><br>t = 40 of 40", "<b>preset: T10</b><br>t = 10 of 10"]
    assert len(spec["frames"]) == 41 and len(spec["layout"]["sliders"]) == 1 and len(spec["layout"]["updatemenus"]) == 1
    middle = [a["text"] for a in spec["frames"][20]["layout"]["annotations"]]
    assert middle == ["<b>preset: default</b><br>t = 20 of 40", "<b>preset: T10</b><br>t = 5 of 10"]
    # the table: the rows of the settings that differ are T alone
    table = app.dataframe[0].value
    assert list(table.columns) == ["preset: default", "preset: T10"]
    assert table.loc["T"].tolist() == ["40", "10"]
    assert any(c.value.endswith("Differ: T.") for c in app.caption)
    assert not app.warning
    # the URL holds the comparison, and a change of the picker rewrites it
    assert app.query_params["compare"] == "preset:default,preset:T10"
    app.multiselect(key="compare_models").select("preset:width16").run()
    link = app.query_params["compare"]
    assert link == "preset:default,preset:T10,preset:width16"
    assert len(panel_titles(chart(app))) == 3
    # the link reproduces the comparison in a new session, the same points in every panel
    again = opened_on_compare(link)
    assert again.multiselect(key="compare_models").value == link.split(",")
    assert chart(again)["frames"] == chart(app)["frames"]


def test_presets_show_their_shipped_measurements_without_measuring(monkeypatch):
    from diffusion import presets
    from diffusion.pipeline import DiffusionPipeline

    def not_here(*args, **kwargs):
        raise AssertionError("a preset's K or quality was measured on the page")

    import streamlit as st

    st.cache_data.clear()  # no K of an earlier test's page to fall back on
    monkeypatch.setattr(DiffusionPipeline, "bound", not_here)
    monkeypatch.setattr(DiffusionPipeline, "quality", not_here)
    app = opened_on_compare("preset:default,preset:table1")
    assert not app.exception
    recorded = presets.read_measured()
    table = app.dataframe[0].value
    k = table.loc["K (bits, unit variance)"].tolist()
    assert k == [f"{recorded[n].bound.bits_unit_variance:.2f}" for n in ("default", "table1")]
    assert table.loc["quality"].tolist()[0].startswith("meets the bar")


def test_the_current_model_beside_a_preset_without_a_link():
    app = opened_on_compare()
    # no link: the default pair; the current model (the shipped one) can join it
    assert app.multiselect(key="compare_models").value == ["preset:default", "preset:T10"]
    app.multiselect(key="compare_models").set_value(["current", "preset:width16"]).run()
    assert not app.exception
    assert panel_titles(chart(app))[0].startswith("<b>current (")
    assert app.query_params["compare"] == "current,preset:width16"


def test_a_bad_entry_is_a_warning_and_the_rest_is_compared():
    app = opened_on_compare("preset:default,preset:nope,<b>x</b>,preset:T10")
    warnings = [w.value for w in app.warning]
    # each names the entry, Markdown-escaped so that it shows as typed
    assert len(warnings) == 2 and "preset\\:nope" in warnings[0], warnings
    assert "\\<b\\>x" in warnings[1]
    assert app.multiselect(key="compare_models").value == ["preset:default", "preset:T10"]
    assert len(panel_titles(chart(app))) == 2


def test_one_model_asks_for_another():
    app = opened_on_compare("preset:default")
    assert any("at least 2" in i.value for i in app.info)
    assert not app.get("plotly_chart")


def test_the_comparison_downloads_as_a_gif_of_its_panels_side_by_side():
    app = opened_on_compare("preset:default,preset:T10")
    app.button(key="compare_gif").click().run()
    assert not app.exception
    token, data = app.session_state["_export_compare_gif"]
    assert token == ("comparison.gif", (("preset", "default"), ("preset", "T10")))
    frames = iio.imread(data, index=None, extension=".gif")
    assert frames.shape == (len(chart(app)["frames"]), 480, 2 * 480, 3)
    assert any(b.proto.label == "Save comparison.gif" for b in app.get("download_button"))


def test_the_pair_compare_opens_with_is_built_ahead_once_per_server(monkeypatch):
    from diffusion import figures_compare
    from pages._app import compare as glue

    opened()  # any page: the dashboard starts the build after it
    thread = glue.prefetch_default_pair()
    thread.join(120)
    assert not thread.is_alive() and glue.prefetch_default_pair() is thread  # one build, not one per rerun

    def not_again(*args, **kwargs):
        raise AssertionError("the chart was built again")

    monkeypatch.setattr(figures_compare, "compare_animation", not_again)
    app = opened_on_compare()  # the default pair: drawn from what the thread built
    assert not app.exception
    assert panel_titles(chart(app)) == ["<b>preset: default</b><br>t = 40 of 40", "<b>preset: T10</b><br>t = 10 of 10"]
