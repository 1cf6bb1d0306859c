"""The data sets in the app: the sidebar's picker and the link, every page on a model of another set,
and a user's own points from a CSV (good files become the data, bad ones change nothing)."""

import json

import numpy as np
import pytest
from app_helpers import PAGES, opened

from diffusion import datasets
from diffusion.checkpoint import checkpoint_bytes
from diffusion.config import DiffusionConfig
from diffusion.pipeline import DiffusionPipeline
from pages._app import data


def forward_points(app) -> np.ndarray:
    """The Forward page's t = 0 frame, from its chart."""
    chart = next(c for c in app.get("plotly_chart") if "frames" in c.proto.spec)
    import json

    spec = json.loads(chart.proto.spec)
    first = spec["data"][0]
    return np.c_[_values(first["x"]), _values(first["y"])]


def _values(v) -> np.ndarray:
    if isinstance(v, dict):  # plotly's typed array
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).astype(np.float64)
    return np.asarray(v, dtype=np.float64)


@pytest.mark.parametrize("name", datasets.NAMES)
def test_a_link_with_a_data_set_draws_it_on_the_forward_page(name):
    at = opened({"data": name}, "pages/forward.py")
    assert not at.exception
    assert at.session_state["data"] == name and at.selectbox(key="data").value == name
    shown = forward_points(at)
    expected, _ = datasets.get(name).sample(len(shown), 0)
    # the t = 0 frame is the data set's own points (the page's seed 0)
    np.testing.assert_allclose(shown, expected, atol=1e-3)


def test_a_link_cannot_name_a_users_points():
    at = opened({"data": "custom"})  # the link's warnings show on the page it opens
    assert not at.exception
    assert at.session_state["data"] == "swiss_roll"
    assert any("data set" in w.value for w in at.warning)


# a mixture, an area and two curves: each kind of colouring and of quality reference
@pytest.mark.parametrize("name", ["gaussians", "checkerboard", "moons"])
def test_every_page_shows_a_model_of_another_data_set(at, name):
    pipeline = DiffusionPipeline.untrained(DiffusionConfig(T=8, width=16, data=name))
    at.switch_page("pages/train.py").run()
    at.file_uploader(key="upload").set_value(("other.pt", checkpoint_bytes(pipeline), "application/octet-stream"))
    at.run()
    assert any(s.value.startswith("Loaded other") for s in at.success)
    # a loaded model's settings become the sidebar's, its data set among them
    assert at.session_state["data"] == name
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, page
        assert not any("no longer matches" in w.value for w in at.warning), page
        if page != "pages/lesson.py":  # a list of scenes, no chart
            assert at.get("plotly_chart"), f"{page} draws no chart"
    at.switch_page("pages/bound.py").run()
    assert any(datasets.LABELS[name] in i.value and "no paper figure" in i.value for i in at.info)


def upload(app, name: str, content: bytes):
    app.file_uploader(key=data.UPLOAD_KEY).set_value((name, content, "text/csv")).run()


def test_a_bad_csv_gets_one_message_and_changes_nothing(at):
    at.switch_page("pages/train.py").run()
    upload(at, "bad.csv", b"x,y\n1,2\nhello,3\n")
    assert not at.exception
    (error,) = [e.value for e in at.error if e.value.startswith("bad.csv")]
    assert "row 3, column x" in error and "Nothing was changed" in error
    assert at.session_state["data"] == "swiss_roll"
    assert "custom" not in at.selectbox(key="data").proto.options and "Your own points" not in str(
        at.selectbox(key="data").proto.options
    )


def test_a_good_csv_becomes_the_data_and_the_forward_page_draws_it_in_its_units(at):
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    rows = "".join(f"{500 + 100 * np.cos(a):.4f},{200 + 100 * np.sin(a):.4f}\n" for a in t)
    at.switch_page("pages/train.py").run()
    upload(at, "ring.csv", ("x,y\n" + rows).encode())
    assert not at.exception
    assert any(s.value.startswith("ring.csv: 400 points") for s in at.success)
    assert at.session_state["data"] == "custom"
    assert "Your own points: ring.csv, 400 points." in [c.value for c in at.sidebar.caption]
    at.switch_page("pages/forward.py").run()
    assert not at.exception
    shown = forward_points(at)
    # the model's coordinates: centred, with the roll's spread
    assert np.abs(shown.mean(axis=0)).max() < 0.1
    assert np.sqrt(shown.var(axis=0).mean()) == pytest.approx(datasets.roll_spread(), rel=0.1)


def test_a_unit_variance_model_reads_in_the_datas_units_and_the_inside_page_says_it_does_not():
    at = opened()
    pipeline = DiffusionPipeline.untrained(DiffusionConfig(T=8, width=16, data_scale="unit"))
    at.switch_page("pages/train.py").run()
    at.file_uploader(key="upload").set_value(("unit.pt", checkpoint_bytes(pipeline), "application/octet-stream"))
    at.run()
    at.switch_page("pages/reverse.py").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["tickmode"] == "array" and "0" in spec["layout"]["xaxis"]["ticktext"]
    note = "This page works in the model's coordinates"
    assert not any(note in c.value for c in at.caption)
    at.switch_page("pages/inside.py").run()
    assert not at.exception and any(note in c.value for c in at.caption)
