"""The Compare page's sweep: bad values start nothing, a finished sweep's runs join the comparison,
and another session sees none of them."""

import json

from app_helpers import opened, wait_until
from streamlit.testing.v1 import AppTest

PAGE = "pages/compare.py"


def opened_on_compare(compare: str | None = None) -> AppTest:
    return opened({} if compare is None else {"compare": compare}, PAGE)


def panel_titles(app) -> list[str]:
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    return [a["text"].split("<br>")[0] for a in spec["layout"]["annotations"]]


def test_a_finished_sweep_joins_the_comparison_and_stays_in_its_session():
    app = opened_on_compare()
    app.number_input(key="T").set_value(10).run()  # the sidebar: a small model, quick to train
    app.number_input(key="width").set_value(16).run()
    app.multiselect(key="compare_models").set_value([]).run()  # only the sweep's runs, to keep it quick
    app.selectbox(key="sweep_setting").set_value("width").run()
    holder = app.session_state["_job_holder"]
    try:
        # bad values: one message, nothing starts
        app.text_input(key="sweep_values_width").set_value("8").run()
        app.button(key="sweep_start").click().run()
        assert [e.value for e in app.error] == ["Network width: give 2 to 4 values separated by commas (got 1)"]
        assert holder.sweep is None
        # a value the config refuses: named with the control's label
        app.selectbox(key="sweep_setting").set_value("lr").run()
        app.text_input(key="sweep_values_lr").set_value("0.01, 0").run()
        app.button(key="sweep_start").click().run()
        assert [e.value for e in app.error] == [
            "lr=0: Learning rate: 0.0 is out of range; need 0 < Learning rate <= 100"
        ]
        assert holder.sweep is None
        app.selectbox(key="sweep_setting").set_value("width").run()

        app.text_input(key="sweep_values_width").set_value("8, 16").run()
        app.number_input(key="sweep_steps").set_value(30).run()
        app.button(key="sweep_start").click().run()
        assert not app.error and holder.sweep is not None
        lines = [bar.proto.text for bar in app.main.get("progress")]
        assert len(lines) == 2 and lines[0].startswith("**width=8**") and lines[1].startswith("**width=16**")
        assert app.button(key="sweep_start").disabled and not app.button(key="sweep_stop").disabled
        wait_until(lambda: not holder.sweep.sweep.active(), 90, "the sweep's two runs end")
        app.run()
        assert not app.exception, [e.value for e in app.exception]

        # both runs joined the picker and the chart, named by their value
        assert app.multiselect(key="compare_models").value == ["sweep:1", "sweep:2"]
        assert panel_titles(app) == ["<b>sweep width=8</b>", "<b>sweep width=16</b>"]
        table = app.dataframe[0].value
        assert table.loc["width"].tolist() == ["8", "16"] and table.loc["T"].tolist() == ["10", "10"]
        lines = [bar.proto.text for bar in app.main.get("progress")]
        assert all(" finished · step 30 / 30" in line for line in lines), lines
        assert app.query_params["compare"] == "sweep:1,sweep:2"
        assert not app.button(key="sweep_start").disabled

        # another session: no sweep of its own, so the link's sweep entries are no models there
        other = opened_on_compare("sweep:1,sweep:2,preset:default")
        options = other.multiselect(key="compare_models").options
        assert not any("sweep" in o for o in options), options
        assert len(other.warning) == 2 and all("not a model here" in w.value for w in other.warning)
        assert other.session_state["_job_holder"].sweep is None
    finally:
        if holder.sweep is not None:
            holder.sweep.sweep.stop(wait=True)


def test_a_run_waiting_its_turn_shows_its_steps_and_its_place_in_line():
    from dataclasses import replace

    from diffusion.config import DiffusionConfig
    from diffusion.jobs import JobState, TrainingJob
    from pages._app.sweep import run_line

    fresh = TrainingJob(DiffusionConfig(T=10, width=8, steps=1000, device="cpu")).status()
    fraction, text = run_line("T=10", replace(fresh, queue_position=2))
    assert fraction == 0.0 and text == "**T=10** · queued, 2nd in line"
    off_turn = replace(fresh, step=400, progress=0.4, queue_position=1)  # it has trained: its slot is another's
    fraction, text = run_line("T=10", off_turn)
    assert fraction == 0.4 and text == "**T=10** · waiting its turn, 1st in line · step 400 / 1,000"
    assert run_line("T=10", replace(off_turn, state=JobState.RUNNING))[1].startswith("**T=10** · running · step 400")
