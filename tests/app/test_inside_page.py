"""The "Inside the chains" page in AppTest: it renders, follows the points it says, and its
density slider and kernel probe show what they are set to."""

import base64
import json

import numpy as np
import pytest
from app_helpers import DASHBOARD
from streamlit.testing.v1 import AppTest

from diffusion import inside
from pages._app import models, settings

PAGE = "pages/inside.py"


def typed(value) -> np.ndarray:
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def chart(app, key: str) -> dict:
    """The spec of the chart with widget key `key` (its id ends with the key)."""
    found = [json.loads(c.proto.spec) for c in app.get("plotly_chart") if c.proto.id.endswith(key)]
    assert len(found) == 1, [c.proto.id for c in app.get("plotly_chart")]
    return found[0]


def no_exceptions(app) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


@pytest.fixture(scope="module")
def page():
    app = AppTest.from_file(DASHBOARD, default_timeout=180)
    app.run()
    app.switch_page(PAGE).run()
    return app


def test_the_page_renders_on_the_shipped_model(page):
    no_exceptions(page)
    assert page.title[0].value == "Inside the chains"
    assert len(page.tabs) == 3


def test_following_k_random_points_draws_k_paths_from_the_chosen_points(page):
    page.number_input(key="inside_k").set_value(7).run()
    page.number_input(key="inside_pick_seed").set_value(3).run()
    page.button(key="inside_follow").click().run()
    no_exceptions(page)
    assert any("**7** through q, **7** through p" in md.value for md in page.markdown)
    idx = inside.random_indices(settings.REVERSE_N, 7, 3)
    pipeline = models.default_model().pipeline
    roll = pipeline.forward_trajectory(settings.REVERSE_N, settings.REVERSE_SEED)[0][0]
    samples = pipeline.reverse_trajectory(settings.REVERSE_N, settings.REVERSE_SEED)[0]
    T = pipeline.T
    for key, first in (("inside_forward_paths", roll[idx]), ("inside_reverse_paths", samples[idx])):
        spec = chart(page, key)
        lines = spec["data"][1]
        x, y = typed(lines["x"]), typed(lines["y"])
        assert x.size == 7 * (T + 2)  # T + 1 points per path and a NaN break
        starts = np.stack([x[:: T + 2], y[:: T + 2]], axis=1)  # each path's point at t = 0
        np.testing.assert_allclose(starts, first, atol=1e-6)
        assert np.isnan(x[T + 1 :: T + 2]).all()
    # the choice survives a rerun that changes nothing else (a replay, a scrub)
    page.run()
    assert any("**7** through q" in md.value for md in page.markdown)


def test_moving_the_density_slider_changes_the_frame(page):
    def title() -> str:
        return " ".join(a["text"] for a in chart(page, "inside_density_pair")["layout"]["annotations"])

    page.select_slider(key="inside_density_t").set_value(5).run()
    no_exceptions(page)
    z5 = typed(chart(page, "inside_density_pair")["data"][0]["z"])
    assert "t = 5" in title()
    page.select_slider(key="inside_density_t").set_value(35).run()
    assert "t = 35" in title() and "t = 5<" not in title()
    assert not np.array_equal(z5, typed(chart(page, "inside_density_pair")["data"][0]["z"]))
    div = chart(page, "inside_divergence")
    assert [d["name"] for d in div["data"]] == ["noise floor", "SW1(q, p)", "this t"]


def test_a_probe_shows_both_kernels_numbers(page):
    page.slider(key="inside_probe_t").set_value(30).run()
    page.number_input(key="inside_probe_x").set_value(0.3).run()
    page.number_input(key="inside_probe_y").set_value(-0.2).run()
    no_exceptions(page)
    table = page.dataframe[0].value
    pipeline = models.default_model().pipeline
    probe = inside.probe_kernel(pipeline, (0.3, -0.2), 30)
    assert list(table["kernel"]) == ["learned p(xₜ₋₁ | xₜ)", "true q(xₜ₋₁ | xₜ)"]
    np.testing.assert_allclose(table[["mean x", "mean y"]].to_numpy()[0], probe.learned_mean, rtol=1e-5)
    np.testing.assert_allclose(table[["mean x", "mean y"]].to_numpy()[1], probe.true_mean, rtol=1e-5)
    assert any("Gaussian assumption" in md.value for md in page.markdown)


def test_the_default_probe_sits_where_the_true_step_is_not_gaussian(page):
    page.slider(key="inside_probe_t").set_value(22).run()
    page.number_input(key="inside_probe_x").set_value(-0.2).run()
    page.number_input(key="inside_probe_y").set_value(0.4).run()
    no_exceptions(page)
    assert any("Gaussian assumption fails here" in md.value for md in page.markdown)


def test_a_box_or_lasso_becomes_the_region_whose_points_are_followed():
    from pages._app import inside as glue

    box = {"box": [{"xref": "x", "yref": "y", "x": [0.0, 1.0], "y": [0.0, 1.0]}], "lasso": [], "points": []}
    region = glue.region_from_selection(box)
    assert region == ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    lasso = {"box": [], "lasso": [{"x": [0, 1, 1], "y": [0, 0, 1]}]}
    assert len(glue.region_from_selection(lasso)) == 3
    assert glue.region_from_selection({"box": [], "lasso": [], "points": []}) is None
    roll = np.array([[0.5, 0.5], [2.0, 2.0], [0.1, 0.9]])
    samples = np.array([[3.0, 3.0], [0.2, 0.2], [0.9, 0.1]])
    fwd, rev = glue.chosen_indices(glue.Choice("region", polygon=region), roll, samples)
    assert fwd.tolist() == [0, 2] and rev.tolist() == [1, 2]
