"""diffusion/figures.py (and the view data behind it): traces, frames, float32 payloads, fixed axes."""

import base64
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusion import figures, inside, views  # noqa: E402
from diffusion.config import DiffusionConfig  # noqa: E402
from diffusion.pipeline import DiffusionPipeline  # noqa: E402


def spec(fig) -> dict:
    """The JSON the browser receives (what st.plotly_chart sends)."""
    return json.loads(fig.to_json())


def typed(value) -> np.ndarray:
    assert isinstance(value, dict) and "bdata" in value, f"not a typed array: {str(value)[:80]}"
    return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))


def chain(frames: int, n: int, seed: int = 0) -> views.ChainView:
    rng = np.random.default_rng(seed)
    return views.ChainView(
        t=np.arange(frames),
        points=rng.standard_normal((frames, n, 2)).astype(np.float32),
        color=rng.random(n).astype(np.float32),
    )


def reverse(frames: int, n: int, grid_n: int = 25) -> views.ReverseView:
    c = chain(frames, n)
    axis = np.linspace(-2, 2, grid_n, dtype=np.float32)
    gx, gy = np.meshgrid(axis, axis)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    drift = np.random.default_rng(1).standard_normal((frames, grid.shape[0], 2)).astype(np.float32) * 0.01
    drift[-2:] = 0.0  # t = 1 and t = 0 have no drift
    return views.ReverseView(t=np.arange(frames)[::-1].copy(), points=c.points, color=c.color, grid=grid, drift=drift)


@pytest.fixture(scope="module")
def schedule():
    return views.schedule_view(DiffusionConfig())


# ---------------------------------------------------------------------- forward
def test_forward_animation_frames_traces_and_axes(schedule):
    view = chain(41, 2000)
    s = spec(figures.forward_animation(view, schedule))
    assert len(s["data"]) == 7  # points, 3 schedule curves, 3 current-t markers
    assert s["data"][0]["type"] == "scattergl"
    assert len(s["frames"]) == 41 and [f["name"] for f in s["frames"]][:3] == ["0", "1", "2"]
    assert all(f["traces"] == [0, 4, 5, 6] for f in s["frames"])
    x = typed(s["frames"][7]["data"][0]["x"])
    assert x.dtype == np.float32 and x.size == 2000
    np.testing.assert_array_equal(x, view.points[7, :, 0])
    assert s["layout"]["xaxis"]["range"] == [-2, 2] and s["layout"]["yaxis"]["range"] == [-2, 2]
    assert s["layout"]["xaxis"]["autorange"] is False
    assert s["layout"]["yaxis"]["scaleanchor"] == "x"
    # the marker sits on the curve at the frame's t
    marker = s["frames"][30]["data"][2]
    assert marker["x"] == [30]  # one point: plain numbers (a typed array costs plotly.py more to serialise)
    assert marker["y"][0] == pytest.approx(schedule.alpha_bar[29], rel=1e-6)
    # frames move the points only: the markers' style stays on their traces (Plotly.animate merges
    # a frame into the trace), so 41 frames do not repeat it (the figure builds in 0.25x the time)
    assert set(marker) == {"type", "x", "y"} and set(s["frames"][30]["data"][0]) == {"type", "x", "y"}
    assert s["data"][5]["marker"]["color"] == figures.MARK_COLOR and s["data"][5]["mode"] == "markers"
    # play / pause and a slider with one step per frame
    assert [b["label"] for b in s["layout"]["updatemenus"][0]["buttons"]] == ["▶ Play", "❚❚ Pause"]
    assert len(s["layout"]["sliders"][0]["steps"]) == 41
    # y tick labels stand off the axis, so the x and y "-2" labels do not meet in the corner
    assert s["layout"]["yaxis"]["ticklabelstandoff"] > 0


def test_forward_animation_marks_t_0_where_the_schedule_has_a_value(schedule):
    """At t = 0 nothing has been added: alpha_bar_0 = 1 (the curve starts there, marked); beta_0 does
    not exist and SNR_0 is infinite, so those two panels have no marker at t = 0, and do from t = 1."""
    s = spec(figures.forward_animation(chain(41, 200), schedule))
    alpha_bar_curve = s["data"][2]
    assert typed(alpha_bar_curve["x"])[0] == 0 and typed(alpha_bar_curve["y"])[0] == 1.0
    np.testing.assert_allclose(typed(alpha_bar_curve["y"])[1:], schedule.alpha_bar, rtol=1e-6)
    assert typed(s["data"][1]["x"])[0] == 1 and typed(s["data"][3]["x"])[0] == 1  # beta, SNR from t = 1
    beta0, alpha_bar0, snr0 = (s["frames"][0]["data"][i] for i in (1, 2, 3))
    assert s["frames"][0]["name"] == "0"
    assert (alpha_bar0["x"], alpha_bar0["y"]) == ([0], [1.0])
    assert beta0["x"] == [] and snr0["x"] == []
    beta1 = s["frames"][1]["data"][1]
    assert (beta1["x"], beta1["y"][0]) == ([1], pytest.approx(schedule.beta[0], rel=1e-6))


def test_animation_payload_of_40_frames_of_2000_points_is_under_2_mb(schedule):
    payload = len(figures.forward_animation(chain(40, 2000), schedule).to_json())
    assert payload <= 2_000_000, payload
    # float64 input is sent as float32 anyway
    view = chain(40, 2000)
    view64 = views.ChainView(t=view.t, points=view.points.astype(np.float64), color=view.color.astype(np.float64))
    s = spec(figures.forward_animation(view64, schedule))
    assert s["frames"][0]["data"][0]["x"]["dtype"] == "f4"


def test_schedule_curves_change_with_the_schedule():
    sig = spec(figures.schedule_figure(views.schedule_view(DiffusionConfig())))
    lin = spec(figures.schedule_figure(views.schedule_view(DiffusionConfig(schedule="linear"))))
    assert not np.allclose(typed(sig["data"][0]["y"]), typed(lin["data"][0]["y"]))
    assert sig["layout"]["yaxis"]["type"] == "log"


# ---------------------------------------------------------------------- reverse
def test_arrow_segments_one_trace_with_nan_breaks():
    grid = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    drift = np.array([[0.1, 0.0], [0.0, -0.2]], np.float32)
    x, y = figures.arrow_segments(grid, drift, 2.0)
    assert x.dtype == np.float32 and x.shape == (12,)  # tail, tip, wing, tip, wing, break per arrow
    np.testing.assert_allclose(x[[0, 1, 6, 7]], [0.0, 0.2, 1.0, 1.0])
    np.testing.assert_allclose(y[[0, 1, 6, 7]], [0.0, 0.0, 1.0, 0.6])
    assert np.isnan(x[[5, 11]]).all() and np.isnan(y[[5, 11]]).all()
    x0, _ = figures.arrow_segments(grid, drift, 0.0)
    assert np.isnan(x0).all()  # no drift: draw nothing


def test_drift_scale_sets_the_long_arrows_to_a_grid_spacing():
    drift = np.zeros((100, 2), np.float32)
    drift[:, 0] = np.linspace(0.0, 0.01, 100)
    scale = figures.drift_scale(drift, spacing=0.2)
    assert np.percentile(np.abs(drift[:, 0]) * scale, 95) == pytest.approx(0.18, rel=0.02)
    assert figures.drift_scale(np.zeros((5, 2)), 0.2) == 0.0


def test_reverse_animation_frames_play_from_noise_to_data():
    view = reverse(41, 2000, grid_n=views.DRIFT_GRID)
    fig = figures.reverse_animation(view)
    s = spec(fig)
    assert [d["type"] for d in s["data"]] == ["scattergl", "scattergl", "scattergl"]  # arrows, tails, points
    assert [f["name"] for f in s["frames"]][:2] == ["40", "39"] and s["frames"][-1]["name"] == "0"
    arrows = typed(s["frames"][0]["data"][0]["x"])
    n = figures.ARROW_POINTS
    assert arrows.size == n * views.DRIFT_GRID**2 and np.isnan(arrows[n - 1 :: n]).all()
    assert np.isfinite(arrows.reshape(-1, n)[:, :-1]).all()
    assert len(s["frames"][-1]["data"][0]["x"]) == 0  # t = 0: no arrows, and no bytes for them
    assert "is fixed" in s["frames"][-2]["layout"]["title"]["text"]
    assert s["layout"]["xaxis"]["range"] == [-2, 2] and s["layout"]["yaxis"]["range"] == [-2, 2]
    # 41 frames of 2,000 points in at most 2 MB on the wire, the arrow field included
    # (the JSON as Streamlit sends it: plotly escapes '/', a third more than the raw base64)
    assert len(fig.to_json()) <= 2_000_000


def frame_scales(s: dict) -> dict[int, float]:
    """The arrows' scale factor of each frame with arrows, read from its title ("× 12.3")."""
    out = {}
    for f in s["frames"]:
        match = re.search(r"× ([0-9.e+-]+)", f["layout"]["title"]["text"])
        if match:
            out[int(f["name"])] = float(match.group(1))
    return out


def test_reverse_arrows_by_default_share_one_scale_across_t():
    view = reverse(12, 100, grid_n=5)
    view.drift[:-2] *= np.linspace(10, 1, 10)[:, None, None]  # the drift shrinks towards the data, as sqrt(beta_t)
    fixed = spec(figures.reverse_animation(view))  # the default, for teaching: lengths compare across t
    scales = frame_scales(fixed)
    assert sorted(scales) == list(range(2, 12)) and len(set(scales.values())) == 1
    assert "the same for every t" in fixed["frames"][0]["layout"]["title"]["text"]
    spacing = 1.0
    assert figures.drift_scales(view.drift, spacing) == [
        pytest.approx(figures.drift_scale(view.drift, spacing))
    ] * 10 + [
        0.0,
        0.0,
    ]
    per_frame = frame_scales(spec(figures.reverse_animation(view, arrows=figures.ARROWS_PER_FRAME)))
    assert len(set(per_frame.values())) == 10 and per_frame[2] > per_frame[11]  # small drift drawn larger
    with pytest.raises(ValueError):
        figures.drift_scales(view.drift, spacing, "sideways")


def test_each_arrow_has_a_head_at_its_tip_pointing_back_along_the_shaft():
    rng = np.random.default_rng(3)
    grid = rng.uniform(-2, 2, (50, 2)).astype(np.float32)
    drift = rng.standard_normal((50, 2)).astype(np.float32)
    x, y = figures.arrow_segments(grid, drift, 0.2)
    pts = np.stack([x, y], axis=1).reshape(50, figures.ARROW_POINTS, 2)
    tail, tip, wing1, back, wing2, gap = (pts[:, i] for i in range(figures.ARROW_POINTS))
    np.testing.assert_allclose(tail, grid)
    np.testing.assert_allclose(tip, grid + 0.2 * drift, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(back, tip)  # the line returns to the tip for the second wing
    assert np.isnan(gap).all()  # one break per arrow
    shaft = tip - tail
    length = np.linalg.norm(shaft, axis=1)
    for wing in (wing1, wing2):
        stroke = wing - tip
        # short: a fixed fraction of the arrow; pointing back: at HEAD_ANGLE from minus the shaft
        np.testing.assert_allclose(np.linalg.norm(stroke, axis=1), figures.HEAD_LENGTH * length, rtol=1e-4)
        cos = np.sum(stroke * -shaft, axis=1) / (np.linalg.norm(stroke, axis=1) * length)
        np.testing.assert_allclose(cos, np.cos(figures.HEAD_ANGLE), rtol=1e-4)

    # the two wings lie on either side of the shaft
    def cross(a, b):
        return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]

    side = np.sign(cross(shaft, wing1 - tip)) * np.sign(cross(shaft, wing2 - tip))
    assert (side < 0).all()


@pytest.mark.parametrize("which", ["forward", "reverse"])
def test_the_slider_and_the_title_name_the_same_t_for_every_frame(which, schedule):
    fig = (
        figures.forward_animation(chain(41, 50), schedule)
        if which == "forward"
        else figures.reverse_animation(reverse(41, 50, grid_n=5))
    )
    s = spec(fig)
    steps = s["layout"]["sliders"][0]["steps"]
    assert len(steps) == len(s["frames"])
    for step, frame in zip(steps, s["frames"]):
        t = re.search(r"· t = (\d+)", frame["layout"]["title"]["text"]).group(1)
        assert step["label"] == t == frame["name"] and step["args"][0] == [frame["name"]]
    first = re.search(r"· t = (\d+)", s["layout"]["title"]["text"]).group(1)
    assert first == steps[s["layout"]["sliders"][0]["active"]]["label"]  # before playing, too


@pytest.mark.parametrize("speed", list(figures.SPEEDS))
def test_the_frame_duration_follows_the_speed(speed, schedule):
    for fig in (
        figures.forward_animation(chain(5, 50), schedule, frame_ms=figures.SPEEDS[speed]),
        figures.reverse_animation(reverse(5, 50, grid_n=5), frame_ms=figures.SPEEDS[speed]),
    ):
        play = spec(fig)["layout"]["updatemenus"][0]["buttons"][0]
        assert play["args"][1]["frame"]["duration"] == figures.SPEEDS[speed]
    assert figures.SPEEDS["slow"] > figures.SPEEDS["normal"] > figures.SPEEDS["fast"]


# ---------------------------------------------------------------------- followed points
def xy_of(trace: dict) -> np.ndarray:
    return np.stack([typed(trace["x"]), typed(trace["y"])], axis=1)


def followed_lines(trace: dict, frames: int) -> np.ndarray:
    """The path trace as (k, F, 2), checking the NaN break after each path."""
    xy = xy_of(trace).reshape(-1, frames + 1, 2)
    assert np.isnan(xy[:, frames]).all()
    return xy[:, :frames]


def by_trace(frame: dict) -> dict:
    return dict(zip(frame["traces"], frame["data"], strict=True))


@pytest.mark.parametrize("which", ["forward", "forward, learned", "reverse"])
def test_followed_paths_run_through_the_animations_frames(which, schedule):
    """The paths start at the chosen points of the first frame and pass through the points the
    frames show, frame by frame; the dots are in every frame, the lines in none (so playing or
    scrubbing never wipes them); the existing traces keep their indices."""
    idx = np.array([3, 17, 42, 199])
    if which == "reverse":
        view = reverse(21, 200, grid_n=5)
        paths = inside.select_paths(view.points, idx)
        plain, s = spec(figures.reverse_animation(view)), spec(figures.reverse_animation(view, follow=paths))
        cloud, animated = 2, [0, 2]
    else:
        view = chain(21, 200)
        starting = schedule if which == "forward, learned" else None
        paths = inside.select_paths(view.points, idx)
        plain = spec(figures.forward_animation(view, schedule, starting=starting))
        s = spec(figures.forward_animation(view, schedule, starting=starting, follow=paths))
        cloud, animated = 0, [0, 4, 5, 6]
    n_plain = len(plain["data"])
    lines, ends, dots = n_plain, n_plain + 1, n_plain + 2
    assert len(s["data"]) == n_plain + 3
    assert [d.get("name") for d in s["data"][:n_plain]] == [d.get("name") for d in plain["data"]]
    assert s["data"][lines]["mode"] == "lines" and s["data"][dots]["marker"]["color"] == figures.FOLLOW_COLOR
    assert s["data"][lines].get("xaxis", "x") == s["data"][cloud].get("xaxis", "x") == "x"  # the points' panel
    path_xy = followed_lines(s["data"][lines], 21)
    np.testing.assert_allclose(path_xy[:, 0], view.points[0, idx])  # they start at the chosen points
    np.testing.assert_allclose(xy_of(s["data"][ends]), view.points[-1, idx])  # and end where the chain ends
    np.testing.assert_allclose(xy_of(s["data"][dots]), view.points[0, idx])
    for k, frame in enumerate(s["frames"]):
        assert frame["traces"] == animated + [dots]  # the lines and the ends are never in a frame
        at = by_trace(frame)
        shown = xy_of(at[cloud])[idx]  # where the frame draws those points
        np.testing.assert_allclose(path_xy[:, k], shown)
        np.testing.assert_allclose(xy_of(at[dots]), shown)


def test_follow_must_match_the_views_frames(schedule):
    view = chain(11, 50)
    with pytest.raises(ValueError, match=r"\(11, k, 2\)"):
        figures.forward_animation(view, schedule, follow=np.zeros((10, 3, 2)))
    with pytest.raises(ValueError, match="1 to 50 paths"):
        figures.reverse_animation(reverse(11, 60, grid_n=5), follow=np.zeros((11, 51, 2)))


# ---------------------------------------------------------------------- Figure 1, training charts
def test_figure1_has_three_rows_of_three_panels_on_fixed_axes():
    n, G = 500, 17 * 17
    rng = np.random.default_rng(0)
    v = views.Figure1View(
        t=(0, 20, 40),
        drift_t=(2, 20, 40),
        q=rng.standard_normal((3, n, 2)).astype(np.float32),
        q_color=rng.random(n).astype(np.float32),
        p=rng.standard_normal((3, n, 2)).astype(np.float32),
        p_color=rng.random(n).astype(np.float32),
        grid=rng.uniform(-2, 2, (G, 2)).astype(np.float32),
        drift=rng.standard_normal((3, G, 2)).astype(np.float32) * 0.01,
    )
    s = spec(figures.figure1(v))
    kinds = [d["type"] for d in s["data"]]
    assert kinds.count("scattergl") == 9 and kinds.count("scatter") == 6
    for k in range(1, 10):
        suffix = "" if k == 1 else str(k)
        assert s["layout"][f"xaxis{suffix}"]["range"] == [-2, 2] and s["layout"][f"yaxis{suffix}"]["range"] == [-2, 2]
    text = json.dumps(s["layout"]["annotations"])
    assert "t = T = 40" in text and "step t = 2 (last learned step)" in text


def test_loss_and_kl_charts():
    s = spec(figures.loss_figure(np.arange(1, 101), np.linspace(3, 0.5, 100)))
    assert s["layout"]["yaxis"]["type"] == "log" and typed(s["data"][0]["y"]).dtype == np.float32
    kl = np.array([np.nan, 0.5, 0.25], np.float32)
    s = spec(figures.kl_per_t_figure(kl))
    np.testing.assert_array_equal(typed(s["data"][0]["x"]), [2, 3, 4])
    np.testing.assert_array_equal(typed(s["data"][0]["y"]), [0.0, 0.5, 0.25])  # not-yet-seen t drawn as 0


def test_training_charts_speak_bits_as_the_paper():
    """Training measures nats; every chart of it shows bits (the Bound page's and the paper's unit)."""
    steps, loss = np.arange(1, 101), np.linspace(3, 0.5, 100)
    kl = np.array([np.nan, 0.5, 0.25], np.float32)
    s = spec(figures.loss_figure(steps, loss))
    np.testing.assert_allclose(typed(s["data"][0]["y"]), loss / np.log(2), rtol=1e-6)
    assert "bits" in s["layout"]["yaxis"]["title"]["text"] and "bits" in s["layout"]["title"]["text"]
    live = figures.live_training_figures(steps, loss, kl, views.sample_density(np.zeros((5, 2))), None, "x")
    s_loss, s_per_t = spec(live.loss), spec(live.per_t)
    np.testing.assert_allclose(typed(s_loss["data"][0]["y"]), loss / np.log(2), rtol=1e-6)
    np.testing.assert_allclose(typed(s_per_t["data"][0]["y"]), np.nan_to_num(kl) / np.log(2), rtol=1e-6)
    assert s_loss["layout"]["yaxis"]["title"]["text"] == s_per_t["layout"]["yaxis"]["title"]["text"] == "bits"
    titles = json.dumps([s_loss["layout"]["title"]["text"], s_per_t["layout"]["title"]["text"]], ensure_ascii=False)
    assert "nats" not in titles and titles.count("bits per point") == 2
    assert "nats" not in json.dumps(spec(figures.kl_per_t_figure(kl))["layout"], ensure_ascii=False)


def test_sample_density_counts_each_point_in_its_bin():
    pts = np.array(
        [[-1.99, -1.99], [1.99, -1.99], [0.01, 1.5], [0.01, 1.5], [2.5, 0.0]], np.float32
    )  # the last is off the plot
    d = views.sample_density(pts, bins=4)
    assert d.counts.dtype == np.float32 and d.counts.shape == (4, 4) and d.n == 4
    assert (d.edge0, d.width) == (-2.0, 1.0)
    # row = y bin, column = x bin: the image's orientation (Plotly draws z[0] at the bottom)
    assert d.counts[0, 0] == 1 and d.counts[0, 3] == 1 and d.counts[3, 2] == 2
    assert d.counts.sum() == 4


def test_live_training_figures_are_the_three_panels():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(5000, 2)) * 0.5
    density = views.sample_density(samples)
    kl = np.array([np.nan, 0.5, 0.25], np.float32)
    live = figures.live_training_figures(
        np.arange(1, 101),
        np.linspace(3, 0.5, 100),
        kl,
        density,
        views.roll_curve(50),
        "Fresh samples (step 1,234)",
    )
    s_loss, s_per_t, s = (spec(f) for f in live)
    (loss,), (bars,), (roll, image) = s_loss["data"], s_per_t["data"], s["data"]
    assert (loss["type"], bars["type"], roll["type"], image["type"]) == ("scatter", "bar", "scatter", "heatmap")
    assert s_loss["layout"]["yaxis"]["type"] == "log" and typed(loss["y"]).dtype == np.float32
    np.testing.assert_array_equal(typed(bars["x"]), [2, 3, 4])
    np.testing.assert_allclose(typed(bars["y"]), np.array([0.0, 0.5, 0.25]) / np.log(2), rtol=1e-6)  # unseen t: 0
    z = typed(image["z"]).reshape(density.counts.shape)
    np.testing.assert_array_equal(z, density.counts)
    assert z.sum() == density.n == np.sum(np.all(np.abs(samples) < 2, axis=1))
    # cell centres: the first at -2 + width / 2, on the panel's fixed, square [-2, 2] axes
    assert image["x0"] == pytest.approx(-2 + density.width / 2) and image["dx"] == pytest.approx(density.width)
    assert s["layout"]["xaxis"]["range"] == s["layout"]["yaxis"]["range"] == [-2, 2]
    assert s["layout"]["yaxis"]["scaleanchor"] == "x"
    # each title one line above its own plot area, the same height on all three (a row reads level)
    titles = [f["layout"]["title"] for f in (s_loss, s_per_t, s)]
    assert titles[2]["text"] == "Fresh samples (step 1,234)" and not any("<br>" in t["text"] for t in titles)
    assert all((t["yref"], t["y"], t["yanchor"]) == ("paper", 1, "bottom") for t in titles)
    assert len({f["layout"]["height"] for f in (s_loss, s_per_t, s)}) == 1


def test_live_training_figures_set_their_ranges_and_margins():
    """plotly.js would otherwise measure the tick labels and lay the figure out again at every
    update: the ranges come from the data here and no axis grows a margin."""
    kl = np.array([np.nan, 0.5, 0.25], np.float32)
    live = figures.live_training_figures(
        np.arange(10, 110), np.linspace(3, 0.5, 100), kl, views.sample_density(np.zeros((5, 2))), None, "x"
    )
    loss, per_t, samples = (spec(f)["layout"] for f in live)
    assert loss["xaxis"]["range"] == [10, 109] and loss["xaxis"]["autorange"] is False
    low, high = loss["yaxis"]["range"]  # log axis: the range is in log10 units, around the data (in bits)
    assert low < np.log10(0.5 / np.log(2)) < np.log10(3 / np.log(2)) < high and high - low < 1.0
    assert per_t["xaxis"]["range"] == [1.5, 4.5] and per_t["yaxis"]["range"] == pytest.approx([0, 0.525 / np.log(2)])
    for lay in (loss, per_t, samples):
        axes = [k for k in lay if k.startswith(("xaxis", "yaxis"))]
        assert len(axes) == 2 and all(lay[k]["automargin"] is False for k in axes)


def test_live_training_figures_of_a_model_without_history():
    """An uploaded checkpoint may carry no loss curve: the panels stay empty, nothing breaks."""
    live = figures.live_training_figures(
        np.array([], np.int64),
        np.array([], np.float32),
        np.array([], np.float32),
        views.sample_density(np.zeros((5, 2))),
        views.roll_curve(50),
        "Samples",
    )
    loss, per_t, samples = (spec(f) for f in live)
    assert "range" not in loss["layout"]["xaxis"] and "range" not in per_t["layout"]["yaxis"]  # plotly picks them
    assert [len(f["data"]) for f in (loss, per_t, samples)] == [1, 1, 2]


def test_charts_are_serialised_by_orjson_into_the_same_json():
    """st.plotly_chart serialises a figure with plotly.io.to_json at every script run that draws it;
    with orjson installed (requirements.txt) plotly's default engine uses it, faster
    (bench_ui_paths.py), into the same JSON as plotly's own encoder."""
    import plotly.io as pio

    fig = figures.reverse_animation(reverse(5, 50, grid_n=5))
    assert pio.to_json(fig) == pio.to_json(fig, engine="orjson")  # what Streamlit calls: orjson, not the fallback
    assert json.loads(pio.to_json(fig, engine="orjson")) == json.loads(pio.to_json(fig, engine="json"))


def test_html_download_is_self_contained_and_animates():
    html = figures.to_html(figures.reverse_animation(reverse(5, 50, grid_n=5))).decode()
    assert "<html>" in html and "Plotly.newPlot" in html and "addFrames" in html
    assert '<script src="http' not in html  # plotly.js is inlined: opens offline
    assert len(html) > 3_000_000


def log_axes(s: dict) -> list[dict]:
    return [
        axis for key, axis in s["layout"].items() if key.startswith(("xaxis", "yaxis")) and axis.get("type") == "log"
    ]


def test_every_log_axis_sets_its_ticks(schedule):
    """plotly's automatic ticks on a log axis put labels on minor ticks that collide with the
    others: every log axis of every figure says which ticks it has, and no minor ones."""
    steps, loss = np.arange(1, 101), np.geomspace(300, 0.5, 100)
    kl = np.array([np.nan, 0.5, 0.25], np.float32)
    linear10 = views.schedule_view(DiffusionConfig(schedule="linear", T=10, beta_end=0.01))
    figs = [
        figures.forward_animation(chain(11, 50), linear10),
        figures.forward_animation(chain(41, 50), schedule),
        figures.schedule_figure(linear10),
        figures.schedule_figure(schedule),
        figures.loss_figure(steps, loss),
        figures.loss_figure(steps, np.linspace(3, 0.5, 100)),
        figures.live_training_figures(steps, loss, kl, views.sample_density(np.zeros((5, 2))), None, "x").loss,
    ]
    count = 0
    for fig in figs:
        for axis in log_axes(spec(fig)):
            count += 1
            assert axis["tickmode"] == "array" and axis["minor"] == {"ticks": "", "showgrid": False}
            vals = np.log10(axis["tickvals"])
            assert len(vals) == len(axis["ticktext"]) >= 2 and len(vals) <= 8
            assert np.all(np.diff(vals) > 0.05)  # distinct, increasing, never crowded
    assert count == 2 * 2 + 2 * 2 + 1 + 1 + 1
    decades = figures.log_ticks(np.geomspace(1e-5, 0.01, 10))
    assert decades["ticktext"] == ["10<sup>−5</sup>", "10<sup>−4</sup>", "10<sup>−3</sup>", "10<sup>−2</sup>"]
    assert figures.log_ticks(np.linspace(0.5, 3, 10))["ticktext"] == ["0.5", "1", "2", "3"]
    assert len(figures.log_ticks(np.linspace(0.25, 0.55, 10))["tickvals"]) >= 3  # a short loss curve: still labelled


# ---------------------------------------------------------------------- view data
def test_frame_times_cap_long_chains():
    assert views.frame_times(40).tolist() == list(range(41))
    t = views.frame_times(1000)
    assert len(t) <= views.MAX_FRAMES and t[0] == 0 and t[-1] == 1000 and np.all(np.diff(t) > 0)


def test_views_from_a_small_pipeline_are_float32_and_shaped():
    cfg = DiffusionConfig(T=6, width=8, device="cpu")
    fwd = views.forward_view(cfg, n=100, seed=3)
    assert fwd.points.shape == (7, 100, 2) and fwd.points.dtype == np.float32 and fwd.color.dtype == np.float32
    assert 0.0 <= fwd.color.min() and fwd.color.max() <= 1.0
    rev = views.reverse_view(DiffusionPipeline.untrained(cfg), n=100, seed=3, grid_n=5)
    assert rev.t.tolist() == [6, 5, 4, 3, 2, 1, 0]
    assert rev.points.shape == (7, 100, 2) and rev.drift.shape == (7, 25, 2) and rev.grid.shape == (25, 2)
    assert np.all(rev.drift[-1] == 0)  # no step leaves x_0
    # t = 1 is the fixed step N(sqrt(alpha_1) x_1, beta_1 I): drift (sqrt(alpha_1) - 1) x, about -beta_1 x / 2
    np.testing.assert_allclose(rev.drift[-2], (np.sqrt(1 - cfg.beta_start) - 1) * rev.grid, rtol=1e-3, atol=1e-9)
    csv = views.samples_csv(rev.points[-1]).decode().splitlines()
    assert csv[0] == "x,y" and len(csv) == 101


def test_model_status():
    cfg = DiffusionConfig()
    assert views.model_status(views.DEFAULT, cfg, cfg, training=False) == views.DEFAULT
    assert views.model_status(views.TRAINED, cfg, cfg.replace(T=50), training=False) == views.CHANGED
    assert views.model_status(views.TRAINED, cfg, None, training=False) == views.CHANGED
    assert views.model_status(views.TRAINED, cfg, cfg.replace(T=50), training=True) == views.TRAINING
    assert (
        views.model_status(views.UPLOADED, cfg, cfg.replace(lr=0.1), training=False) == views.UPLOADED
    )  # not a model field
    assert views.changed_fields(cfg, cfg.replace(T=50, schedule="linear")) == [
        "T: 40 → 50",
        "schedule: sigmoid → linear",
    ]


def test_the_live_figure_shows_a_snapshots_held_out_kl_and_its_k():
    from diffusion.metrics import Bound

    kl_nats = np.array([0.5, 0.25, 0.125], np.float32)
    bound = Bound(
        bits=1.234,
        bits_unit_variance=0.1,
        minus_null_bits=4.2,
        kl_per_t_bits=np.array([0.3, 0.2, 0.1]),
        entropy_bits=2.0,
    )
    density = views.sample_density(np.zeros((5, 2)))
    fig = figures.live_training_figures(np.arange(1, 4), np.ones(3), kl_nats, density, None, "x", bound=bound).per_t
    title = fig.layout.title.text
    assert "held-out" in title.lower() and "K = +1.23" in title, title
    bars = next(tr for tr in fig.data if tr.type == "bar")
    np.testing.assert_allclose(bars.y, [0.3, 0.2, 0.1], rtol=1e-6)
    line = next(tr for tr in fig.data if tr.name == "training loss per t")
    np.testing.assert_allclose(line.y, kl_nats / np.log(2), rtol=1e-6)  # the loss, in bits too
    plain = figures.live_training_figures(np.arange(1, 4), np.ones(3), kl_nats, density, None, "x").per_t
    assert "held-out" not in plain.layout.title.text.lower()
