"""The dashboard in AppTest: every page renders, controls do what they say, training reaches the end."""

import base64
import json
import re
import time

import numpy as np
import pytest
from app_helpers import DASHBOARD, PAGES, ROOT, progress_text, start_tiny_run, status_text, wait_for_job, wait_until
from streamlit.testing.v1 import AppTest

from diffusion import figures, views
from pages._app import models, settings, training


def charts(app) -> list[dict]:
    return [json.loads(c.proto.spec) for c in app.get("plotly_chart")]


def typed(value) -> np.ndarray:
    """A Plotly array as numpy: base64 typed arrays (what float32 numpy becomes) or plain lists."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def no_exceptions(app) -> None:
    assert not app.exception, [e.value for e in app.exception]


# ---------------------------------------------------------------------- rendering
def test_the_shared_glue_is_no_page():
    """Streamlit's legacy scan (the first request of a fresh server) takes every pages/*.py as a
    page: the files there are exactly the pages dashboard.py registers, the glue is a package."""
    assert sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")) == sorted(PAGES)
    assert (ROOT / "pages" / "_app" / "__init__.py").is_file()


def test_every_page_renders_on_the_default_model(at):
    no_exceptions(at)
    assert "`default`" in status_text(at)
    assert any("cpu" in md.value for md in at.sidebar.markdown), "device not shown"
    # Overview: Figure 1, a 3 x 3 grid (points in every panel, arrows in the drift row).
    (fig1,) = charts(at)
    assert len([d for d in fig1["data"] if d["type"] == "scattergl"]) == 9
    for page in PAGES[1:]:
        at.switch_page(page).run()
        no_exceptions(at)
        assert not at.error, [e.value for e in at.error]
    # The Bound page shows K and its protocol.
    labels = {m.label: m.value for m in at.metric}
    assert float(labels["K at unit variance (bits)"]) > 0
    # ... labelled with its protocol, the paper's value as context and not as a race it loses
    assert not at.metric[0].proto.delta
    protocol = next(i.value for i in at.info if "Protocol" in i.value)
    assert "tutorial" in protocol and "2.35" in protocol and "β₁" in protocol


def test_before_a_run_the_train_page_shows_the_current_model(at):
    """Its loss curve and loss per t as the checkpoint recorded them, and the same 5,000 samples
    whose quality the line above measures."""
    at.switch_page("pages/train.py").run()
    no_exceptions(at)
    # three figures, one per panel, so that a phone stacks them at its full width
    loss_fig, per_t_fig, samples_fig = charts(at)
    ((loss,), (bars,), (roll, image)) = (loss_fig["data"], per_t_fig["data"], samples_fig["data"])
    assert (loss["type"], bars["type"], roll["type"], image["type"]) == ("scatter", "bar", "scatter", "heatmap")
    pipeline = at.session_state["app_state"].model.pipeline
    assert len(typed(loss["y"])) == len(pipeline.history.loss) > 100
    # recorded in nats, drawn in bits
    np.testing.assert_allclose(typed(bars["y"]), np.nan_to_num(pipeline.history.kl_per_t) / np.log(2), rtol=1e-6)
    density = views.sample_density(pipeline.samples(5000, seed=0))
    np.testing.assert_array_equal(typed(image["z"]).reshape(density.counts.shape), density.counts)
    assert samples_fig["layout"]["title"]["text"] == f"Model's samples ({pipeline.steps_trained:,} steps)"
    assert "Loss" in loss_fig["layout"]["title"]["text"] and "per t" in per_t_fig["layout"]["title"]["text"]
    assert any("No run yet" in i.value and "default" in i.value for i in at.info)
    assert any("meets the quality bar" in m.value for m in at.success)  # the shipped model does


def test_forward_and_reverse_animations_are_float32_with_fixed_axes(at):
    at.switch_page("pages/forward.py").run()
    (fwd,) = charts(at)
    assert len(fwd["frames"]) == 41  # T = 40: every step
    x = fwd["frames"][-1]["data"][0]["x"]
    assert x["dtype"] == "f4" and typed(x).size == 2000
    assert fwd["layout"]["xaxis"]["range"] == [-2, 2] and fwd["layout"]["yaxis"]["range"] == [-2, 2]

    at.switch_page("pages/reverse.py").run()
    (rev,) = charts(at)
    assert [f["name"] for f in rev["frames"]][:2] == ["40", "39"] and rev["frames"][-1]["name"] == "0"
    arrows = typed(rev["frames"][1]["data"][0]["x"])
    n = figures.ARROW_POINTS  # one trace: each arrow's shaft and head, then a NaN break
    assert arrows.size == n * views.DRIFT_GRID**2 and np.isnan(arrows[n - 1 :: n]).all()
    assert len(at.get("download_button")) == 3


def test_reverse_arrows_share_one_scale_unless_asked_per_frame(at):
    at.switch_page("pages/reverse.py").run()
    assert at.radio(key="rev_arrows").value == figures.ARROWS_FIXED  # the default, for teaching

    def scales() -> set[str]:
        (rev,) = charts(at)
        return {m.group(1) for f in rev["frames"] if (m := re.search(r"× ([0-9.e+-]+)", f["layout"]["title"]["text"]))}

    assert len(scales()) == 1
    at.radio(key="rev_arrows").set_value(figures.ARROWS_PER_FRAME).run()
    no_exceptions(at)
    assert len(scales()) > 1


def test_animation_speed_sets_the_frame_duration(at):
    for page, key in (("pages/forward.py", "fwd_speed"), ("pages/reverse.py", "rev_speed")):
        at.switch_page(page).run()
        for speed in ("slow", "fast", "normal"):
            at.selectbox(key=key).set_value(speed).run()
            no_exceptions(at)
            (fig,) = charts(at)
            play = fig["layout"]["updatemenus"][0]["buttons"][0]
            assert play["args"][1]["frame"]["duration"] == figures.SPEEDS[speed], (page, speed)


# ---------------------------------------------------------------------- controls
def test_changing_T_says_settings_changed_and_restoring_clears_it(at):
    at.number_input(key="T").set_value(60).run()
    no_exceptions(at)
    assert "settings changed since training" in status_text(at)
    assert any("no longer matches" in w.value for w in at.warning)
    at.button(key="banner_restore").click().run()
    assert at.number_input(key="T").value == 40
    assert "`default`" in status_text(at)


def test_the_quality_numbers_are_explained_where_they_are_shown(at):
    for page in ("pages/train.py", "pages/reverse.py"):
        at.switch_page(page).run()
        assert any("on the data" in box.value and "SW1 " in box.value for box in [*at.success, *at.info]), page
        (help_line,) = [c.value for c in at.caption if c.value.startswith("on the data: the share of samples")]
        for name in ("covers: the share of the data", "SW1: sliced Wasserstein-1", "chamfer: mean distance"):
            assert name in help_line, (page, name)
        assert "the bar: at least 99% of samples on the data" in help_line


def test_the_mismatch_banner_shows_only_on_pages_that_use_the_model(at):
    at.number_input(key="T").set_value(60).run()
    at.switch_page("pages/forward.py").run()
    no_exceptions(at)
    assert not any("no longer matches" in w.value for w in at.warning)  # it draws the settings, not the model
    assert "settings changed since training" in status_text(at)  # the sidebar still says so
    at.switch_page("pages/reverse.py").run()
    assert any("no longer matches" in w.value for w in at.warning)


def test_schedule_change_changes_the_schedule_chart(at):
    at.switch_page("pages/forward.py").run()
    before = typed(charts(at)[0]["data"][1]["y"]).copy()  # beta_t curve
    at.selectbox(key="schedule").set_value("linear").run()
    no_exceptions(at)
    after = typed(charts(at)[0]["data"][1]["y"])
    assert before.shape == after.shape == (40,)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, np.linspace(1e-5, 0.3, 40), rtol=1e-4)


def test_forward_warns_when_the_chain_does_not_reach_noise(at):
    at.switch_page("pages/forward.py").run()
    assert not any("does not reach noise" in w.value for w in at.warning)
    at.select_slider(key="beta_end").set_value(0.01).run()
    assert any("does not reach noise" in w.value for w in at.warning)


@pytest.mark.parametrize(
    "schedule, ignored",
    [("sigmoid", set()), ("linear", set()), ("cosine", {"beta_start", "beta_end"}), ("paper", {"beta_end"})],
)
def test_beta_controls_a_schedule_ignores_are_disabled_with_a_note(at, schedule, ignored):
    at.switch_page("pages/forward.py").run()
    at.selectbox(key="schedule").set_value(schedule).run()
    no_exceptions(at)
    for key in ("beta_start", "beta_end"):
        assert at.select_slider(key=key).disabled == (key in ignored), key
    notes = [c.value for c in at.sidebar.caption if c.value == f"(ignored by the {schedule} schedule)"]
    assert len(notes) == len(ignored)
    # the advice when the chain does not reach noise names only what acts on this schedule
    assert settings.noise_advice(schedule) == ("Raise T." if "beta_end" in ignored else "Raise β end or T.")


def test_the_not_reaching_noise_advice_names_only_settings_that_act(at):
    at.switch_page("pages/forward.py").run()
    at.select_slider(key="beta_end").set_value(0.01).run()
    (warning,) = [w.value for w in at.warning if "does not reach noise" in w.value]
    assert warning.endswith("Raise β end or T.")
    at.select_slider(key="beta_end").set_value(0.02).run()
    at.selectbox(key="schedule").set_value("paper").run()
    at.number_input(key="T").set_value(2).run()  # the paper's beta_T = 1/2: two steps keep half the signal
    (warning,) = [w.value for w in at.warning if "does not reach noise" in w.value]
    assert warning.endswith("Raise T.")


def test_the_train_page_says_a_linear_schedule_trains_slowly(at):
    at.switch_page("pages/train.py").run()
    assert not any("trains slowly" in i.value for i in at.info)
    at.selectbox(key="schedule").set_value("linear").run()
    no_exceptions(at)
    assert any(i.value.startswith("The linear schedule trains slowly") for i in at.info)


def test_bad_settings_give_the_engine_message_not_a_traceback(at):
    at.switch_page("pages/forward.py").run()
    at.select_slider(key="beta_start").set_value(0.5).run()
    at.select_slider(key="beta_end").set_value(0.1).run()
    no_exceptions(at)
    messages = [e.value for e in at.error]
    # in the words of the widgets, not the config's field names
    assert any(m.startswith("β start: 0.5 is larger than β end 0.1") for m in messages), messages
    assert not any("beta_" in m for m in messages), messages
    assert not charts(at)  # no chart from invalid settings
    at.switch_page("pages/train.py").run()
    no_exceptions(at)
    assert at.button(key="start").disabled


def test_garbage_upload_is_refused_and_the_model_kept(at):
    at.switch_page("pages/train.py").run()
    at.file_uploader(key="upload").set_value(
        ("garbage.pt", b"\x00not a checkpoint" * 50, "application/octet-stream")
    ).run()
    no_exceptions(at)
    # the file name is the user's text, shown Markdown-escaped ("garbage\\.pt" renders as garbage.pt)
    assert any(
        "Could not load garbage.pt" in e.value.replace("\\", "") and "current model is kept" in e.value
        for e in at.error
    )
    assert "`default`" in status_text(at)


def test_a_valid_upload_becomes_the_current_model(at):
    at.switch_page("pages/train.py").run()
    data = (ROOT / "assets" / "default_model.pt").read_bytes()
    # A file name is the user's text: where a caption allows HTML (the Reverse page's subscripts) it is escaped.
    at.file_uploader(key="upload").set_value(("<b>mine</b>.pt", data, "application/octet-stream")).run()
    no_exceptions(at)
    assert "`uploaded`" in status_text(at)
    assert any("No run yet" in i.value and "(uploaded" in i.value for i in at.info)  # the page names the model it shows
    *_, samples_fig = charts(at)
    assert samples_fig["layout"]["title"]["text"].startswith("Model's samples")
    at.switch_page("pages/reverse.py").run()
    caption = at.caption[0]
    assert "uploaded, &lt;b&gt;mine&lt;/b&gt;.pt, 4,000 steps" in caption.value and "<b>" not in caption.value
    assert caption.proto.allow_html
    assert any("x<sub>t−1</sub>" in c.value and c.proto.allow_html for c in at.caption)  # under the chart
    (model_line,) = [c for c in at.sidebar.caption if "uploaded model" in c.value]  # HTML too: β's subscripts
    assert "&lt;b&gt;mine&lt;/b&gt;.pt" in model_line.value and "<b>" not in model_line.value
    assert model_line.proto.allow_html and "β<sub>1</sub> = 1e-05 … β<sub>T</sub> = 0.3" in model_line.value


# ---------------------------------------------------------------------- training
def count_reverse_views(monkeypatch) -> list:
    """Record every sampling of a reverse view (the pages call views.reverse_view through a cache)."""
    calls = []
    real = views.reverse_view

    def counting(pipeline, n=2000, seed=0, *args, **kwargs):
        calls.append((pipeline.steps_trained, n, seed))
        return real(pipeline, n, seed, *args, **kwargs)

    monkeypatch.setattr(views, "reverse_view", counting)
    return calls


def prefetched(app) -> None:
    """Wait for the views the session's run has started building ahead."""
    for thread in app.session_state["_job_holder"].prefetch.threads:
        thread.join(60)
        assert not thread.is_alive(), "a view built ahead did not finish in 60 s"


def count_after_run_views(monkeypatch) -> dict[str, list[int]]:
    """Record the steps of every model whose bound or Figure 1 is computed."""
    from diffusion.pipeline import DiffusionPipeline

    calls: dict[str, list[int]] = {"bound": [], "figure1": []}
    real_bound, real_figure1 = DiffusionPipeline.bound, views.figure1_view

    def bound(self, *args, **kwargs):
        calls["bound"].append(self.steps_trained)
        return real_bound(self, *args, **kwargs)

    def figure1(pipeline, *args, **kwargs):
        calls["figure1"].append(pipeline.steps_trained)
        return real_figure1(pipeline, *args, **kwargs)

    monkeypatch.setattr(DiffusionPipeline, "bound", bound)
    monkeypatch.setattr(views, "figure1_view", figure1)
    return calls


def test_short_training_runs_to_the_end_and_is_used_everywhere(at, monkeypatch):
    reverse_views = count_reverse_views(monkeypatch)
    after_run = count_after_run_views(monkeypatch)
    start_tiny_run(at, steps=30)
    no_exceptions(at)
    assert at.button(key="start").disabled, "Start must be disabled while a run is going (no double start)"
    status = wait_for_job(at)
    no_exceptions(at)
    assert status.state.value == "finished" and status.step == 30
    assert "`trained`" in status_text(at)
    assert not at.button(key="start").disabled
    assert any("Finished: 30 steps" in s.value for s in at.success)
    assert "s left" not in progress_text(at) and "it/s on average" in progress_text(at)
    # loss; the held-out KL per t under the loss per t; the samples: a figure each
    live = charts(at)
    assert [[d["type"] for d in fig["data"]] for fig in live] == [
        ["scatter"],
        ["bar", "scatter"],
        ["scatter", "heatmap"],
    ]
    titles = [fig["layout"]["title"]["text"] for fig in live]
    assert "Held-out KL per t" in titles[1] and "K = " in titles[1] and titles[2] == "Fresh samples (step 30)"
    prefetched(at)
    assert reverse_views == [(30, 2000, 0)], "the final model's reverse view is built when the run ends"
    assert after_run == {"bound": [30], "figure1": [30]}, "and its bound and Figure 1"

    at.switch_page("pages/reverse.py").run()
    no_exceptions(at)
    (rev,) = charts(at)
    assert reverse_views == [(30, 2000, 0)], "the Reverse page uses the view built ahead, it does not sample again"
    assert len(rev["frames"]) == 11  # the trained model's T = 10, not the default's 40
    assert "trained" in at.caption[0].value and "30 steps" in at.caption[0].value
    at.switch_page("pages/overview.py").run()
    no_exceptions(at)
    assert "t = T = 10" in json.dumps(charts(at)[0]["layout"]["annotations"])
    at.switch_page("pages/bound.py").run()
    no_exceptions(at)
    assert len(charts(at)[0]["data"][0]["x"]["bdata"]) > 0
    assert after_run == {"bound": [30], "figure1": [30]}, "the Overview and Bound pages draw what was built ahead"


def test_a_new_run_keeps_the_model_it_replaces_and_can_go_back_to_it(at):
    first = start_tiny_run(at, steps=1_000_000)  # width 16
    holder = at.session_state["_job_holder"]
    for n in (1, 2):  # two snapshots of one run adopted: one model, not two
        wait_until(lambda: first.status().snapshot_id > n, 60, f"snapshot {n + 1}")
        at.run()
    assert at.button(key="use_earlier").disabled, "no switching models while a run trains"
    first.stop(wait=True)
    at.run()
    ids = lambda: [m.id for m in at.session_state["earlier_models"]]  # noqa: E731
    if at.session_state["app_state"].model.id == models.SHIPPED_ID:
        # Stopped early and worse than the shipped model, so that one stayed; the run's model is offered.
        assert ids()[0].of_run(holder.uid)
        at.button(key="use_rejected").click().run()
    assert ids() == [models.SHIPPED_ID], "the shipped model, replaced by the run's model"
    first_model = at.session_state["app_state"].model
    assert first_model.id.of_run(holder.uid) and first_model.pipeline.steps_trained == first.status().step
    table = at.table[0].value
    assert list(table[""]) == ["current", "earlier 1"] and list(table["width"]) == [16, 128]
    assert list(table["steps"]) == [
        first_model.pipeline.steps_trained,
        at.session_state["earlier_models"][0].pipeline.steps_trained,
    ]

    at.number_input(key="width").set_value(24).run()
    at.number_input(key="steps").set_value(40).run()  # it finishes, so its model replaces the current one
    at.button(key="start").click().run()
    status = wait_for_job(at)
    assert status.step > 0 and at.session_state["app_state"].model.pipeline.config.width == 24
    assert ids() == [first_model.id, models.SHIPPED_ID], "newest first"

    at.selectbox(key="earlier_choice").set_value(first_model.id).run()
    at.button(key="use_earlier").click().run()
    no_exceptions(at)
    assert at.session_state["app_state"].model is first_model
    assert at.session_state["width"] == 16 and "`trained`" in status_text(at), "the sidebar takes its settings"
    assert ids()[1:] == [models.SHIPPED_ID] and at.session_state["app_state"].model.id not in ids()
    assert any("again the trained model" in m.value for m in at.success)
    # The Progress panel shows the current model, not the last run's (another one now).
    assert any(
        "The last run ended at step" in i.value and "the current model is another one" in i.value for i in at.info
    )
    *_, samples_fig = charts(at)
    assert samples_fig["layout"]["title"]["text"] == f"Model's samples ({first_model.pipeline.steps_trained:,} steps)"
    at.button(key="start").click().run()  # a new run: the message about the switch has had its day
    assert not any("again the trained model" in m.value for m in at.success)
    holder.job.stop(wait=True)


def test_the_bound_page_compares_k_with_the_earlier_models(at):
    start_tiny_run(at, steps=20)
    wait_for_job(at)
    at.switch_page("pages/bound.py").run()
    at.toggle(key="bound_earlier").set_value(True).run()
    no_exceptions(at)
    table = at.table[0].value
    current, default = at.session_state["app_state"].model.pipeline, at.session_state["earlier_models"][0].pipeline
    assert list(table[""]) == ["current", "earlier 1"] and list(table["T"]) == [10, 40]
    for row, pipeline in zip(table["K, unit variance (bits)"], (current, default)):
        assert row == f"{pipeline.bound().bits_unit_variance:+.2f}"  # the same held-out points every time
    assert float(at.metric[0].value) == float(
        table["K, unit variance (bits)"].iloc[0]
    )  # the row of the model the page shows
    samples = charts(at)[-1]  # each model's 5,000 samples, titled with its K
    assert [d["type"] for d in samples["data"]] == ["scatter", "heatmap"] * 2
    titles = [a["text"] for a in samples["layout"]["annotations"]]
    assert titles[0].startswith(f"current: K {table['K, unit variance (bits)'].iloc[0]} bits") and titles[1].startswith(
        "earlier 1: K"
    )
    for heatmap, pipeline in zip(samples["data"][1::2], (current, default)):
        density = views.sample_density(pipeline.samples(5000, seed=0))
        np.testing.assert_array_equal(typed(heatmap["z"]).reshape(density.counts.shape), density.counts)


def test_earlier_models_are_capped_in_number_and_in_bytes(at, monkeypatch):
    monkeypatch.setattr(models, "EARLIER_MODELS_MAX", 2)
    start_tiny_run(at, steps=5)  # width 16
    wait_for_job(at)
    for width in (20, 24):
        at.number_input(key="width").set_value(width).run()
        at.button(key="start").click().run()
        wait_for_job(at)
    assert [m.pipeline.config.width for m in at.session_state["earlier_models"]] == [20, 16], (
        "the oldest (the default) went"
    )
    monkeypatch.setattr(models, "EARLIER_MODELS_BYTES", at.session_state["earlier_models"][0].pipeline.weight_bytes - 1)
    at.button(key="start").click().run()
    wait_for_job(at)
    assert at.session_state["earlier_models"] == [], "a model over the byte budget is not kept"


def test_pause_resume_stop_and_the_run_survives_page_switches(at):
    job = start_tiny_run(at, steps=1_000_000)
    wait_until(lambda: job.status().snapshot_id > 0, 60, "no snapshot")

    at.switch_page("pages/forward.py").run()
    no_exceptions(at)
    assert job.status().state.value == "running" and "`training`" in status_text(at)
    assert len(at.sidebar.get("progress")) == 1  # elsewhere the sidebar shows the run's progress
    adopted = at.session_state["app_state"].model.pipeline.steps_trained
    assert f"trained model · {adopted:,} steps" in " ".join(
        c.value for c in at.sidebar.caption
    )  # the model this page drew
    at.switch_page("pages/train.py").run()
    holder = at.session_state["_job_holder"]
    assert holder.job is job  # the same run, not a new one
    assert len(at.get("progress")) == 1 and not at.sidebar.get("progress")  # the Train page's own, not twice
    assert " s left · " in progress_text(at) and "on average" not in progress_text(at)
    assert any(c.value.startswith("it/s: training steps per second") for c in at.caption)  # the numbers explained
    # The Train page redraws only its live panel between snapshots: the sidebar quotes no step
    # count that would fall behind, and Save offers the newest snapshot, not the one adopted.
    assert "trained model · the run's newest snapshot, shown under Progress" in " ".join(
        c.value for c in at.sidebar.caption
    )
    model = at.session_state["app_state"].model
    wait_until(lambda: job.status().snapshot_id > holder.adopted, 30, "no snapshot after the adopted one")
    newest = job.status()
    pipeline, source, note = training.model_to_save(holder, newest, model)
    assert pipeline is newest.pipeline and pipeline.steps_trained > model.pipeline.steps_trained
    assert (source, note) == ("trained", f"{pipeline.steps_trained:,} steps, the run's newest snapshot")

    at.button(key="pause").click().run()
    assert job.status().state.value == "paused"
    assert not at.button(key="resume").disabled and at.button(key="pause").disabled
    wait_until(
        lambda: job.status().pipeline is not None and job.status().pipeline.steps_trained == job.status().step,
        30,
        "the paused model was not published",
    )
    step = job.status().step
    time.sleep(0.5)
    assert job.status().step == step  # paused means paused
    at.run()  # the paused model is the current one: the page shows and saves it
    assert f"trained model · {step:,} steps" in " ".join(c.value for c in at.sidebar.caption)
    # paused: no pace or time left quoted, and nothing says it trains
    assert "`paused`" in status_text(at) and "training" not in status_text(at)
    assert "**paused**" in progress_text(at)
    assert "it/s" not in progress_text(at) and "s left" not in progress_text(at)
    assert any(f"Current model: **trained** ({step:,} steps)" in m.value for m in at.markdown)
    at.button(key="resume").click().run()
    assert job.status().state.value == "running"
    assert "trained model · the run's newest snapshot, shown under Progress" in " ".join(
        c.value for c in at.sidebar.caption
    )

    at.button(key="stop").click().run()
    status = wait_for_job(at)
    no_exceptions(at)
    assert status.state.value == "stopped" and 0 < status.step < 1_000_000
    assert any("Stopped at step" in i.value for i in at.info)
    # a run that is over has no time left to quote; its pace is the whole run's
    assert "s left" not in progress_text(
        at
    ) and f"{status.step / status.seconds:,.0f} it/s on average" in progress_text(at)
    # the model so far is kept: as the current model unless it is clearly worse than the one the
    # run started from, which then stays (and the run's is on offer beside it)
    assert "`trained`" in status_text(at) or at.session_state["_job_holder"].rejected is not None


def test_the_first_snapshot_that_meets_the_bar_has_its_reverse_view_built_once(at, monkeypatch):
    from diffusion import metrics

    reverse_views = count_reverse_views(monkeypatch)
    at.switch_page("pages/reverse.py").run()
    at.number_input(key="rev_n").set_value(300).run()  # the page's N as the user left it
    before = len(reverse_views)
    job = start_tiny_run(at, steps=1_000_000)
    wait_until(lambda: job.status().snapshot_id > 0, 60, "no snapshot")
    at.run()
    assert len(reverse_views) == before, "a snapshot below the bar is not prefetched"
    # from now on every snapshot meets the bar
    monkeypatch.setattr(metrics.SampleQuality, "passes", property(lambda self: True))
    # built when that snapshot arrives, without a redraw of any page
    wait_until(lambda: len(reverse_views) == before + 1, 60, "the first passing snapshot's reverse view was not built")
    assert job.status().state.value == "running"
    assert reverse_views[-1][1:] == (300, 0)  # the page's N and seed
    snapshot = job.status().snapshot_id
    wait_until(
        lambda: job.status().snapshot_id > snapshot + 1, 60, "no more snapshots"
    )  # also passing: not built again
    assert len(reverse_views) == before + 1
    at.button(key="stop").click().run()
    wait_for_job(at)
    prefetched(at)
    assert (
        len(reverse_views) == before + 2 and reverse_views[-1][0] == job.status().pipeline.steps_trained
    )  # and the final model
    at.switch_page("pages/reverse.py").run()
    assert len(reverse_views) == before + 2, "the Reverse page draws the view built ahead"
    no_exceptions(at)


def test_settings_come_from_the_url():
    app = AppTest.from_file(DASHBOARD, default_timeout=180)
    app.query_params["T"] = "100"
    app.query_params["schedule"] = "linear"
    app.run()
    no_exceptions(app)
    assert app.number_input(key="T").value == 100 and app.selectbox(key="schedule").value == "linear"
    assert "settings changed since training" in status_text(app)


def test_two_sessions_train_different_settings_at_once_and_keep_their_own_models():
    """Two browser sessions on one server (one process, shared global caches), training at once."""
    sessions = []
    for T, width in ((10, 16), (12, 8)):
        app = AppTest.from_file(DASHBOARD, default_timeout=180)
        app.run()
        app.number_input(key="T").set_value(T).run()
        app.number_input(key="width").set_value(width).run()
        app.switch_page("pages/train.py").run()
        app.number_input(key="steps").set_value(400).run()
        app.number_input(key="batch_size").set_value(256).run()
        sessions.append(app)
    for app in sessions:
        app.button(key="start").click().run()
    jobs = [app.session_state["_job_holder"].job for app in sessions]
    deadline = time.time() + 120
    while not all(j.status().step > 0 for j in jobs):  # both past their first step: training together
        assert time.time() < deadline and all(j.status().state.active for j in jobs), [j.status().state for j in jobs]
        time.sleep(0.05)
    assert all(j.status().state.value == "running" for j in jobs) and jobs[0].pid != jobs[1].pid
    for app, (T, width) in zip(sessions, ((10, 16), (12, 8))):
        wait_for_job(app)
        no_exceptions(app)
        model = app.session_state["model"]
        assert (model.pipeline.T, model.pipeline.config.width) == (T, width)
        assert model.pipeline.steps_trained == 400 and "`trained`" in status_text(app)
        app.switch_page("pages/reverse.py").run()
        (rev,) = charts(app)
        assert len(rev["frames"]) == T + 1  # this session's model, not the other's
    ids = [app.session_state["model"].id for app in sessions]
    assert ids[0] != ids[1]


def test_a_full_server_queues_the_run_and_says_how_many_are_ahead(at, monkeypatch):
    from diffusion.config import DiffusionConfig
    from diffusion.jobs import DEFAULT_SLOTS, TrainingJob

    monkeypatch.setattr(DEFAULT_SLOTS, "capacity", 1)
    tiny = DiffusionConfig(T=5, width=8, batch_size=64, steps=1_000_000, device="cpu")
    running = TrainingJob(tiny).start()
    waiting = None
    try:
        deadline = time.time() + 60
        while running.status().state.value != "running":
            assert time.time() < deadline
            time.sleep(0.1)
        waiting = TrainingJob(tiny).start()  # another session's run, first in line
        time.sleep(0.3)
        at.switch_page("pages/train.py").run()
        at.button(key="start").click().run()
        no_exceptions(at)
        mine = at.session_state["_job_holder"].job
        assert mine.status().state.value == "queued"
        assert any("Server busy: 1 run ahead of you" in i.value for i in at.info), [i.value for i in at.info]
        waiting.stop(wait=True)
        at.run()
        assert any("Server busy" in i.value and "next in line" in i.value for i in at.info), [i.value for i in at.info]
        at.button(key="stop").click().run()  # leaving the queue is allowed
        wait_for_job(at)
        assert mine.status().state.value == "stopped" and mine.status().step == 0
        assert "`default`" in status_text(at)  # a run that never started replaces nothing
    finally:
        running.stop(wait=True)
        if waiting is not None:
            waiting.stop(wait=True)


def test_a_diverging_run_says_what_happened_and_keeps_finite_weights(at):
    start_tiny_run(at, lr=100.0)
    status = wait_for_job(at)
    no_exceptions(at)
    assert status.state.value == "failed"
    errors = [e.value for e in at.error]
    assert any("training diverged" in e and "smaller learning rate" in e for e in errors), errors
    at.switch_page("pages/reverse.py").run()  # the kept weights still sample
    no_exceptions(at)
    points = typed(charts(at)[0]["frames"][-1]["data"][1]["x"])
    assert np.isfinite(points).all()


def test_bound_page_compares_the_model_with_its_schedules_ceiling(at):
    at.number_input(key="T").set_value(10).run()  # a short chain keeps the ceiling quick
    at.switch_page("pages/bound.py").run()
    no_exceptions(at)
    assert len(charts(at)[0]["data"]) == 1  # bars only until asked
    at.toggle(key="bound_ceiling").set_value(True).run()
    no_exceptions(at)
    (chart,) = charts(at)
    assert [trace.get("name") for trace in chart["data"]] == ["KL of this model", "best possible (ceiling)"]
    assert any("Ceiling for this schedule" in info.value for info in at.info)


@pytest.mark.parametrize("page, widget", [("pages/forward.py", "fwd_n"), ("pages/reverse.py", "rev_n")])
def test_an_animation_over_the_memory_budget_is_refused_with_a_message(at, monkeypatch, page, widget):
    from diffusion import memory

    at.switch_page(page).run()
    assert not any("limit per run" in w.value for w in at.warning)
    monkeypatch.setattr(memory, "MEMORY_BUDGET_BYTES", 1 << 20)  # 1 MB: no animation fits
    at.number_input(key=widget).set_value(3000).run()
    no_exceptions(at)
    assert any("limit per run" in w.value and "Lower the number of points N" in w.value for w in at.warning), [
        w.value for w in at.warning
    ] + [e.value for e in at.error]
    assert not at.get("plotly_chart"), "nothing is built over the budget"
