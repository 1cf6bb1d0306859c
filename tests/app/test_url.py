"""The URL's settings: every known parameter parsed in one place, never a traceback, values (not
labels) in the URL, a warning that names each parameter it could not use and the default used."""

import pytest
from app_helpers import opened

from pages._app import url

HOSTILE = {
    "inf": "inf",
    "nan": "nan",
    "huge": "1e400",
    "digits": "9" * 400,
    "negative": "-5",
    "text": "abc",
    "html": "<b>x</b>",
}


def settings_in_url(app) -> dict:
    """The URL's parameters but the session's token (reconnect.py's)."""
    return {k: v for k, v in dict(app.query_params).items() if k != "session"}


def url_warnings(app) -> list[str]:
    return [w.value for w in app.warning if not w.value.startswith("**The model no longer matches")]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_every_parameter_with_a_hostile_value_gets_one_warning_and_its_default(name):
    value = HOSTILE[name]
    app = opened({p.key: value for p in url.PARAMS})
    warnings = url_warnings(app)
    assert len(warnings) == len(url.PARAMS), warnings
    for param in url.PARAMS:
        (mine,) = [w for w in warnings if w.startswith(param.label + ": ")]
        assert mine.endswith(f"; using {param.shown(param.default)}"), mine
    assert app.number_input(key="T").value == 40 and app.number_input(key="width").value == 128
    assert app.selectbox(key="schedule").value == "sigmoid"
    assert settings_in_url(app) == {}, "the bad parameters leave the URL"
    app.run()  # a rerun (and a reload of the cleaned URL) shows no traceback either
    assert not app.exception


def test_the_warning_names_the_parameter_and_the_default():
    (warning,) = url_warnings(opened({"T": "inf"}))
    assert warning == "T: 'inf' is not a whole number from 2 to 1,000; using 40"


def test_html_and_markdown_in_a_value_are_escaped():
    (warning,) = url_warnings(opened({"schedule": "<b>x</b>"}))
    assert "\\<b\\>x\\</b\\>" in warning and "<b>x</b>" not in warning


def test_a_400_digit_value_is_cut_in_the_warning():
    (warning,) = url_warnings(opened({"T": "9" * 400}))
    assert len(warning) < 120 and "…" in warning


def test_hand_written_values_are_taken():
    app = opened({"schedule": "paper", "beta_end": "5e-1", "T": "4e1", "width": "64.0"})
    assert url_warnings(app) == []
    assert app.selectbox(key="schedule").value == "paper"
    assert app.select_slider(key="beta_end").value == 0.5
    assert app.number_input(key="width").value == 64
    assert settings_in_url(app) == {"schedule": "paper", "beta_end": "0.5", "width": "64"}, "values, not labels"


@pytest.mark.parametrize("spelling", ["5e-1", "0.5", ".5", "+0.50"])
def test_any_spelling_of_a_number(spelling):
    assert opened({"beta_end": spelling}).select_slider(key="beta_end").value == 0.5


def test_cosine_and_an_old_label_link():
    assert opened({"schedule": "cosine"}).selectbox(key="schedule").value == "cosine"
    old = opened({"schedule": "paper: 1/(T−t+1) (β start sets β₁)"})
    assert old.selectbox(key="schedule").value == "paper" and url_warnings(old) == []


def test_a_beta_between_the_choices_snaps_to_the_nearest_with_a_note():
    app = opened({"beta_start": "3e-5"})
    assert app.select_slider(key="beta_start").value == 2e-5
    (note,) = url_warnings(app)
    assert note.startswith("β start: ") and "nearest, 2e-05" in note


def test_the_forward_and_reverse_pages_settings_round_trip():
    app = opened({"fwd_n": "500", "fwd_seed": "3"}, page="pages/forward.py")
    assert app.number_input(key="fwd_n").value == 500 and app.number_input(key="fwd_seed").value == 3
    assert app.query_params["fwd_n"] == "500"
    app = opened({"rev_n": "1e3", "rev_seed": "7"}, page="pages/reverse.py")
    assert app.number_input(key="rev_n").value == 1000 and app.number_input(key="rev_seed").value == 7


def test_the_train_pages_settings_round_trip():
    app = opened({"lr": "5e-2", "batch_size": "512", "steps": "300", "seed": "9"}, page="pages/train.py")
    assert app.number_input(key="lr").value == 0.05 and app.number_input(key="batch_size").value == 512
    assert app.number_input(key="steps").value == 300 and app.number_input(key="seed").value == 9
    app.number_input(key="batch_size").set_value(1024).run()
    assert app.query_params["batch_size"] == "1024" and app.query_params["lr"] == "0.05"


def test_a_widget_change_writes_the_value_and_a_default_leaves_the_url():
    app = opened({})
    app.selectbox(key="schedule").set_value("linear").run()
    assert app.query_params["schedule"] == "linear"
    app.selectbox(key="schedule").set_value("sigmoid").run()
    assert "schedule" not in app.query_params
