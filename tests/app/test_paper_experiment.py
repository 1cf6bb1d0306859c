"""The paper's experiment in the app: presets, learned schedules, Table 1's protocol, each schedule's ceiling."""

import base64
import json

import numpy as np
import pytest
from app_helpers import DASHBOARD, wait_for_job
from streamlit.testing.v1 import AppTest

from diffusion.config import PRESETS


def charts(app) -> list[dict]:
    return [json.loads(c.proto.spec) for c in app.get("plotly_chart")]


def typed(value) -> np.ndarray:
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


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


# ---------------------------------------------------------------------- a learned schedule
def learned_model(app, data_scale: str = "tutorial"):
    """Make the session's model one whose betas "learned" (set by hand: beta_2..beta_T doubled,
    capped) at T = 10, width 16, with the sidebar describing it; returns its ModelRef."""
    from diffusion import views
    from diffusion.config import DiffusionConfig
    from diffusion.gaussian_diffusion import GaussianDiffusion
    from diffusion.pipeline import DiffusionPipeline
    from diffusion.schedule import NoiseSchedule
    from pages._app.models import ModelId, ModelRef

    cfg = DiffusionConfig(T=10, width=16, learn_betas=True, data_scale=data_scale, device="cpu")
    pipeline = DiffusionPipeline.untrained(cfg)
    betas = NoiseSchedule.from_config(cfg).betas[1:].copy()
    betas[1:] = np.minimum(2.0 * betas[1:], 0.9)
    pipeline.diffusion = GaussianDiffusion(NoiseSchedule.from_betas(betas, cfg.schedule), cfg.parameterization, "cpu")
    ref = ModelRef(pipeline, ModelId("upload", f"learned-by-hand-{data_scale}"), views.UPLOADED, "betas set by hand")
    app.session_state["model"] = ref
    app.number_input(key="T").set_value(10).run()
    app.number_input(key="width").set_value(16).run()
    app.checkbox(key="learn_betas").check().run()
    app.selectbox(key="data_scale").set_value(data_scale).run()
    return ref


def test_the_forward_page_draws_a_learned_schedule_against_the_one_it_started_from(at):
    ref = learned_model(at)
    at.switch_page("pages/forward.py").run()
    no_exceptions(at)
    (fig,) = charts(at)
    names = [trace.get("name") for trace in fig["data"]]
    assert names[1:4] == ["β_t", "ᾱ_t", "SNR_t"] and names[7:] == [
        "β_t at the start",
        "ᾱ_t at the start",
        "SNR_t at the start",
    ]
    assert [fig["data"][i]["line"].get("dash") for i in (1, 7)] == [None, "dash"]
    assert any("learned" in c.value and "dashed" in c.value for c in at.caption)
    # the solid beta curve is the model's, the dashed one the sidebar's starting schedule
    learned = ref.pipeline.diffusion.schedule.betas[1:]
    solid, dashed = (typed(fig["data"][i]["y"]) for i in (1, 7))
    assert np.allclose(solid, learned, rtol=1e-6) and not np.allclose(dashed, learned, rtol=1e-3)

    at.number_input(key="T").set_value(12).run()  # settings that no longer describe the model: one curve each
    no_exceptions(at)
    assert len(charts(at)[0]["data"]) == 7


def test_the_ceiling_of_a_learned_model_is_its_own_schedules_at_its_data_scale(at):
    from diffusion.ceiling import best_possible_bound
    from pages._app.caches import CEILING_POINTS

    ref = learned_model(at, data_scale="unit")
    at.switch_page("pages/bound.py").run()
    at.toggle(key="bound_ceiling").set_value(True).run()
    no_exceptions(at)
    best = best_possible_bound(ref.pipeline.diffusion.schedule, n=CEILING_POINTS, seed=0, data_scale="unit")
    assert any(f"K ≈ {best.bits_unit_variance:+.2f} bits" in i.value for i in at.info), [i.value for i in at.info]


# ---------------------------------------------------------------------- Table 1's protocol
def test_a_unit_scale_model_is_put_against_table_1_with_its_ceiling(at):
    learned_model(at, data_scale="unit")
    at.switch_page("pages/bound.py").run()
    no_exceptions(at)
    (protocol,) = [i.value for i in at.info if "Protocol" in i.value]
    assert protocol.startswith("**Protocol: the paper's (the roll scaled to variance 1).**")
    assert (
        "Table 1's 2.35" in protocol and "against 6.45" in protocol and "ceiling for this model's schedule" in protocol
    )
    k = at.metric[0]
    assert "vs Table 1's 2.35" in k.proto.delta
    assert float(k.value) - 2.35 == pytest.approx(float(k.proto.delta.split()[0]), abs=0.006)


def test_a_tutorial_scale_model_keeps_the_tutorial_protocol(at):
    at.switch_page("pages/bound.py").run()
    no_exceptions(at)
    (protocol,) = [i.value for i in at.info if "Protocol" in i.value]
    assert protocol.startswith("**Protocol: the tutorial's.**")
    assert not at.metric[0].proto.delta


# ---------------------------------------------------------------------- each schedule's ceiling
def test_the_forward_page_computes_the_ceiling_of_the_settings_on_a_button(at):
    from diffusion.ceiling import best_possible_bound
    from diffusion.config import DiffusionConfig
    from diffusion.schedule import NoiseSchedule
    from pages._app.caches import CEILING_POINTS

    at.number_input(key="T").set_value(10).run()
    at.switch_page("pages/forward.py").run()
    no_exceptions(at)
    assert not [i for i in at.info if "Best possible K" in i.value], "not computed before it is asked for"
    at.button(key="fwd_ceiling").click().run()
    no_exceptions(at)
    (line,) = [i.value for i in at.info if "Best possible K" in i.value]
    best = best_possible_bound(NoiseSchedule.from_config(DiffusionConfig(T=10)), n=CEILING_POINTS, seed=0)
    assert f"K ≈ {best.bits_unit_variance:+.2f} bits" in line and "T = 10" in line

    at.number_input(key="T").set_value(12).run()  # other settings: asked for again, by the button
    assert not [i for i in at.info if "Best possible K" in i.value]
    at.number_input(key="T").set_value(10).run()  # the settings already computed show at once
    assert [i for i in at.info if "Best possible K" in i.value]
    at.number_input(key="T").set_value(300).run()
    assert at.button(key="fwd_ceiling").disabled
