"""The paper's experiment in the app: presets, learned schedules, Table 1's protocol, each schedule's ceiling."""

import json

from app_helpers import DASHBOARD, wait_for_job
from streamlit.testing.v1 import AppTest

from diffusion.config import PRESETS


def charts(app) -> list[dict]:
    return [json.loads(c.proto.spec) for c in app.get("plotly_chart")]


def no_exceptions(app) -> None:
    assert not app.exception, [e.value for e in app.exception]


def apply_preset(app, name: str) -> None:
    app.switch_page("pages/train.py").run()
    app.selectbox(key="preset").set_value(name).run()
    app.button(key="preset_apply").click().run()
    no_exceptions(app)


def test_the_table1_preset_sets_the_sidebar_and_the_training_settings_and_trains_with_them(at):
    apply_preset(at, "table1")
    table1 = PRESETS["table1"]
    assert at.selectbox(key="data_scale").value == "unit"
    assert at.checkbox(key="learn_betas").value is True
    assert at.selectbox(key="network").value == "mlp"
    assert at.number_input(key="T").value == 40 and at.select_slider(key="beta_start").value == 1e-5
    assert at.number_input(key="lr").value == table1.lr and at.number_input(key="steps").value == table1.steps
    assert any(c.value.startswith("table1: the paper's protocol") for c in at.caption)

    at.number_input(key="steps").set_value(3).run()
    at.number_input(key="batch_size").set_value(256).run()
    at.button(key="start").click().run()
    status = wait_for_job(at)
    no_exceptions(at)
    assert status.state.value == "finished" and status.step == 3
    cfg = at.session_state["model"].pipeline.config
    assert (cfg.data_scale.value, cfg.learn_betas, cfg.T, cfg.beta_start) == ("unit", True, 40, 1e-5)


def test_the_tutorial_preset_sets_its_training_recipe(at):
    apply_preset(at, "tutorial")
    tutorial = PRESETS["tutorial"]
    assert at.selectbox(key="parameterization").value == "tutorial"
    assert at.selectbox(key="data_scale").value == "tutorial" and at.checkbox(key="learn_betas").value is False
    assert at.number_input(key="batch_size").value == tutorial.batch_size
    assert at.selectbox(key="timestep_sampling").value == "one" and at.number_input(key="ema_decay").value == 0.0


def test_the_new_model_settings_come_from_the_url():
    app = AppTest.from_file(DASHBOARD, default_timeout=180)
    app.query_params["data_scale"] = "unit"
    app.query_params["learn_betas"] = "true"
    app.query_params["network"] = "rbf"
    app.run()
    no_exceptions(app)
    assert app.selectbox(key="data_scale").value == "unit" and app.checkbox(key="learn_betas").value is True
    assert app.selectbox(key="network").value == "rbf"
