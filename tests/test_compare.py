"""The comparison's engine: frames aligned over t/T, one noise for every model, the settings diff,
and the figure that plays them together."""

import json

import numpy as np
import plotly.io as pio
import pytest

from diffusion import compare, figures_compare
from diffusion.config import DiffusionConfig
from diffusion.pipeline import DiffusionPipeline


@pytest.fixture(scope="module")
def small():
    """Two untrained small models of different T (the maths does not need trained weights)."""
    a = DiffusionPipeline.untrained(DiffusionConfig(T=8, width=8, device="cpu"))
    b = DiffusionPipeline.untrained(DiffusionConfig(T=20, width=8, device="cpu", schedule="cosine"))
    return a, b


def test_aligned_times_run_over_the_fraction_of_the_chain():
    # T = 40 with 41 frames: every step, T first; T = 10: t = round(f T), each t held ~4 frames
    assert compare.aligned_times(40, 41).tolist() == list(range(40, -1, -1))
    t10 = compare.aligned_times(10, 41)
    assert t10[0] == 10 and t10[-1] == 0 and np.all(np.diff(t10) <= 0)
    assert t10[20] == 5 and set(t10.tolist()) == set(range(11))
    f = compare.frame_fractions(41)
    assert np.allclose(t10, np.rint(f * 10)) and f[0] == 1.0 and f[-1] == 0.0
    assert (
        compare.frame_count([10, 40]) == 41 and compare.frame_count([5, 8]) == 9 and compare.frame_count([1000]) == 41
    )
    with pytest.raises(ValueError):
        compare.aligned_times(10, 1)


def test_same_seed_same_first_frame_whatever_T(small):
    a, b = small
    frames = compare.frame_count([a.T, b.T])
    va, vb = compare.compare_view(a, frames, 300, 5), compare.compare_view(b, frames, 300, 5)
    np.testing.assert_array_equal(va.points[0], vb.points[0])  # x_T: the same draws
    assert not np.array_equal(va.points[-1], vb.points[-1])  # different models end apart
    other = compare.compare_view(a, frames, 300, 6)
    assert not np.array_equal(other.points[0], va.points[0])
    # x_T is a standard normal sample
    x = compare.reverse_chain(a, 8000, 1)[a.T]
    assert abs(x.mean()) < 0.05 and abs(x.std() - 1) < 0.05
    assert va.t.tolist() == compare.aligned_times(a.T, frames).tolist() and va.points.shape == (frames, 300, 2)


def test_the_chain_is_the_models_own_kernel(small):
    """Each step is p(x_{t-1} | x_t): the residual after the mean, divided by the std, is N(0, 1)."""
    import torch

    a, _ = small
    traj = compare.reverse_chain(a, 8000, 3)
    t = 5
    with torch.no_grad():
        mean, logvar = a.diffusion.p_mean_variance(a.model, torch.from_numpy(traj[t]), t)
    z = (traj[t - 1] - mean.numpy()) / np.exp(0.5 * logvar.numpy())
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05


def test_settings_diff_names_exactly_the_fields_that_differ():
    base = DiffusionConfig()
    assert compare.differing_fields([base, base]) == []
    assert compare.differing_fields([base, base.replace(T=10), base]) == ["T"]
    assert compare.differing_fields([base, base.replace(width=16, lr=1e-3)]) == ["width", "lr"]
    assert compare.differing_fields([base, base.replace(device="cuda")]) == []  # where it ran is not a setting


def test_table_and_figure_of_two_models(small):
    a, b = small
    models = [compare.compared("a", a), compare.compared("a", b)]
    rows, columns, differ = compare.settings_table(models)
    assert list(columns) == ["a", "a (2)"]
    assert differ == ["T", "schedule"]
    assert columns["a"][rows.index("T")] == "8" and columns["a (2)"][rows.index("T")] == "20"
    assert columns["a"][rows.index("quality")] == "not measured"
    html = figures_compare.table_html(rows, columns, differ)
    assert html.count("class='differs'") == 2 * 3  # two rows, a label and two cells each

    frames = compare.frame_count([a.T, b.T])
    chains = [compare.compare_view(p, frames, 100, 0) for p in (a, b)]
    spec = json.loads(pio.to_json(figures_compare.compare_animation(["a", "b"], chains, [8, 20]), validate=False))
    assert len(spec["frames"]) == frames == 21
    # frame k moves both panels' arrows and points, and names each panel's own t
    assert spec["frames"][10]["traces"] == [0, 2, 3, 5]
    assert [n["text"] for n in spec["frames"][10]["layout"]["annotations"]] == [
        "<b>a</b><br>t = 4 of 8",
        "<b>b</b><br>t = 10 of 20",
    ]
    # fixed, equal axes in every panel
    layout = spec["layout"]
    assert layout["xaxis"]["range"] == layout["yaxis"]["range"] and layout["xaxis2"]["autorange"] is False
    assert layout["yaxis2"]["scaleanchor"] == "x2"
    with pytest.raises(ValueError):
        figures_compare.compare_animation(["a", "b"], [chains[0], compare.compare_view(b, 5, 100, 0)], [8, 20])


def test_the_animation_sends_points_as_int16_counts_that_decode_to_the_chain(small):
    import base64

    from diffusion.data import to_tutorial
    from diffusion.figures import own_unit_ticks

    unit = DiffusionPipeline.untrained(DiffusionConfig(T=8, width=8, device="cpu", data_scale="unit"))
    frames = compare.frame_count([small[0].T, unit.T])
    chains = [compare.compare_view(p, frames, 50, 0) for p in (small[0], unit)]
    spec = json.loads(pio.to_json(figures_compare.compare_animation(["a", "u"], chains, [8, 8]), validate=False))
    for i, c in enumerate(chains):
        q = figures_compare.COUNTS / c.extent
        sent = spec["frames"][3]["data"][2 * i + 1]
        assert sent["x"]["dtype"] == "i2"
        x = np.frombuffer(base64.b64decode(sent["x"]["bdata"]), dtype=np.int16) / q
        # within half a count of the chain, wherever a point lies on the axes
        inside = np.abs(c.points[3, :, 0]) < c.extent
        assert inside.sum() > 25
        assert np.max(np.abs(x[inside] - c.points[3, inside, 0])) <= 0.5 / q + 1e-6
        # the axis spans the panel's half-side in counts and still reads in the model's own units
        axis = spec["layout"]["xaxis" if i == 0 else "xaxis2"]
        assert axis["range"] == [-figures_compare.COUNTS, figures_compare.COUNTS]
        expected = own_unit_ticks(c.extent, *((0.0, 1.0) if c.units is None else (c.units.offset[0], c.units.scale)))
        assert axis["ticktext"] == expected["ticktext"]
        assert np.allclose(np.array(axis["tickvals"]) / q, expected["tickvals"])
    # the unit-variance model's ticks are the tutorial's units: its 0 tick sits where the tutorial's 0 is
    axis = spec["layout"]["xaxis2"]
    zero = np.array(axis["tickvals"])[axis["ticktext"].index("0")] / (figures_compare.COUNTS / chains[1].extent)
    assert abs(float(to_tutorial(np.array([[zero, 0.0]]), "unit")[0, 0])) < 1e-6
