"""Follow points on the Forward and Reverse animations in AppTest: N random points and a box
drawn on the chart become paths in the chart's figure, through the same positions as its frames; Clear ends it."""

import base64
import json

import numpy as np
import pytest
from app_helpers import DASHBOARD
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from diffusion import inside
from diffusion.figures import FOLLOW_MAX
from pages._app import settings

PAGE = "pages/reverse.py"
POINTS, PATHS, ENDS, CURRENT = 2, 3, 4, 5  # the reverse animation's traces (figures.reverse_animation)


def typed(value) -> np.ndarray:
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value, dtype=np.float64)


def reverse_chart(app):
    (found,) = [c for c in app.get("plotly_chart") if c.proto.id.endswith("reverse_chart")]
    return found, json.loads(found.proto.spec)


def paths_of(spec: dict) -> np.ndarray:
    """The path trace as (k, F, 2): F frames per path, each path closed by a NaN break."""
    frames = len(spec["frames"])
    lines = spec["data"][PATHS]
    xy = np.stack([typed(lines["x"]), typed(lines["y"])], axis=1).reshape(-1, frames + 1, 2)
    assert np.isnan(xy[:, frames]).all()
    return xy[:, :frames]


def select(app, points: list[dict], box: list[dict]) -> None:
    """A box drawn on the chart, as the browser reports it: AppTest has no API for a chart's
    selection, so its widget state goes in beside the others' (AppTest._run takes them)."""
    chart, _ = reverse_chart(app)
    states = app._tree.get_widget_states()
    event = {
        "selection": {"points": points, "point_indices": [p["point_index"] for p in points], "box": box, "lasso": []}
    }
    states.widgets.append(WidgetState(id=chart.proto.id, string_value=json.dumps(event)))
    app._run(states)


def no_exceptions(app) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


@pytest.fixture(scope="module")
def page():
    app = AppTest.from_file(DASHBOARD, default_timeout=180)
    app.run()
    app.switch_page(PAGE).run()
    return app


def test_no_paths_until_asked(page):
    no_exceptions(page)
    _, spec = reverse_chart(page)
    assert len(spec["data"]) == 3


def test_following_random_points_draws_their_paths_through_the_frames(page):
    page.number_input(key="rev_follow_k").set_value(6).run()
    no_exceptions(page)
    _, spec = reverse_chart(page)
    assert len(spec["data"]) == 6
    paths = paths_of(spec)
    idx = inside.random_indices(settings.REVERSE_N, 6, settings.REVERSE_SEED)  # the page's seed
    assert paths.shape[0] == 6
    for k, frame in enumerate(spec["frames"]):
        at = dict(zip(frame["traces"], frame["data"], strict=True))
        cloud = np.stack([typed(at[POINTS]["x"]), typed(at[POINTS]["y"])], axis=1)
        np.testing.assert_allclose(paths[:, k], cloud[idx], atol=1e-6)  # the frames' own points
        current = np.stack([typed(at[CURRENT]["x"]), typed(at[CURRENT]["y"])], axis=1)
        np.testing.assert_allclose(current, cloud[idx], atol=1e-6)
    assert any("Following 6 random points" in c.value for c in page.caption)
    page.run()  # a rerun that changes nothing (a replay, a scrub) keeps them
    assert len(reverse_chart(page)[1]["data"]) == 6


def test_a_box_on_the_chart_follows_the_points_in_it_capped_and_cleared(page):
    _, spec = reverse_chart(page)
    frame = dict(zip(spec["frames"][10]["traces"], spec["frames"][10]["data"], strict=True))
    cloud = np.stack([typed(frame[POINTS]["x"]), typed(frame[POINTS]["y"])], axis=1)
    box = (-0.3, 0.3), (-0.3, 0.3)
    inside_box = inside.indices_in_box(cloud, *box)
    assert inside_box.size > FOLLOW_MAX  # enough to be thinned
    points = [{"curve_number": POINTS, "point_index": int(i), "x": 0.0, "y": 0.0} for i in inside_box]
    points.append({"curve_number": 1, "point_index": 0, "x": 0.0, "y": 0.0})  # an arrow's tail: not a point
    select(page, points, [{"x": list(box[0]), "y": list(box[1]), "xref": "x", "yref": "y"}])
    no_exceptions(page)
    _, spec = reverse_chart(page)
    paths = paths_of(spec)
    assert paths.shape[0] == FOLLOW_MAX
    k = 10  # the frame the box was drawn on: every path starts there inside the box
    assert (np.abs(paths[:, k]) <= 0.3 + 1e-6).all()
    assert any(f"{inside_box.size:,} points selected: following {FOLLOW_MAX}" in c.value for c in page.caption)
    page.run()  # the redrawn chart is a new one, with no selection: the paths stay
    assert len(reverse_chart(page)[1]["data"]) == 6
    page.button(key="rev_follow_clear").click().run()
    no_exceptions(page)
    assert len(reverse_chart(page)[1]["data"]) == 3
    assert page.number_input(key="rev_follow_k").value == 0


def test_the_forward_page_follows_random_points_from_the_data_into_the_noise(page):
    page.switch_page("pages/forward.py").run()
    page.number_input(key="fwd_follow_k").set_value(4).run()
    no_exceptions(page)
    (chart,) = [c for c in page.get("plotly_chart") if c.proto.id.endswith("forward_chart")]
    spec = json.loads(chart.proto.spec)
    assert len(spec["data"]) == 10  # points, 3 curves, 3 markers, then paths, ends, dots
    idx = inside.random_indices(2000, 4, 0)  # the page's N and seed
    first, last = spec["frames"][0], spec["frames"][-1]
    assert first["traces"] == [0, 4, 5, 6, 9]

    def xy(trace: dict) -> np.ndarray:
        return np.stack([typed(trace["x"]), typed(trace["y"])], axis=1)

    np.testing.assert_allclose(xy(first["data"][4]), xy(first["data"][0])[idx], atol=1e-6)  # dots at t = 0
    np.testing.assert_allclose(xy(spec["data"][8]), xy(last["data"][0])[idx], atol=1e-6)  # rings in the noise
