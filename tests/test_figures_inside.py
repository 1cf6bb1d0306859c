"""The "Inside the chains" figures: shapes, float32 arrays, fixed equal axes, a bounded payload."""

import base64

import numpy as np
import plotly.io as pio
import pytest

from diffusion import figures_inside, inside
from diffusion.checkpoint import load_checkpoint
from diffusion.views import frame_times

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def typed(value) -> np.ndarray:
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def assert_square(layout: dict, extent: float = 2.0, x: str = "xaxis", y: str = "yaxis") -> None:
    assert list(layout[x]["range"]) == [-extent, extent] and layout[x]["autorange"] is False
    assert list(layout[y]["range"]) == [-extent, extent] and layout[y]["autorange"] is False
    assert layout[y]["scaleanchor"] == x.replace("axis", "") and layout[y]["scaleratio"] == 1


@pytest.fixture(scope="module")
def pipeline():
    return load_checkpoint(ROOT / "assets" / "default_model.pt", device="cpu")


@pytest.fixture(scope="module")
def chains(pipeline):
    return pipeline.forward_trajectory(2000, 0)[0], pipeline.reverse_trajectory(2000, 0)


def test_paths_animation_has_every_t_in_its_lines_and_a_frame_per_shown_t(chains):
    q, _ = chains
    T = q.shape[0] - 1
    idx = inside.random_indices(2000, 50, 1)
    paths = inside.select_paths(q, idx)
    t = frame_times(T)
    fig = figures_inside.chain_paths_animation(paths, t, color=np.linspace(0, 1, 50), cloud=q[t], title="q")
    lines = fig.data[1]
    assert lines.x.dtype == np.float32 and lines.x.size == 50 * (T + 2)
    np.testing.assert_array_equal(lines.x[: T + 1], paths[:, 0, 0])
    assert len(fig.frames) == len(t) and [f.name for f in fig.frames] == [str(v) for v in t]
    last = fig.frames[-1]
    assert list(last.traces) == [0, 3]
    np.testing.assert_array_equal(last.data[1].x, paths[T, :, 0])
    assert last.data[0].x.dtype == np.float32 and last.data[0].x.size == 2000
    assert_square(fig.to_plotly_json()["layout"])
    # 50 paths over a 2,000-point chain, as the page sends it: under 3 MB on the wire
    assert len(pio.to_json(fig, validate=False)) < 3 * 2**20


def test_paths_animation_plays_the_reverse_chain_from_T(chains):
    _, p = chains
    T = p.shape[0] - 1
    paths = inside.select_paths(p, [0, 5, 9])
    t = frame_times(T)[::-1]
    fig = figures_inside.chain_paths_animation(paths, t, cloud=None)
    assert fig.frames[0].name == str(T) and fig.frames[-1].name == "0"
    np.testing.assert_array_equal(fig.data[2].x, paths[T, :, 0])  # the rings: where the paths start
    assert fig.data[0].x.size == 0


def test_paths_animation_refuses_bad_shapes():
    with pytest.raises(ValueError):
        figures_inside.chain_paths_animation(np.zeros((5, 3)), np.arange(5))
    with pytest.raises(ValueError):
        figures_inside.chain_paths_animation(np.zeros((5, 3, 2)), np.arange(5), cloud=np.zeros((4, 10, 2)))


def test_density_figures_share_one_colour_range_and_square_axes(pipeline, chains):
    q, p = chains
    view = inside.density_view(pipeline, 2000, 0, q_trajectory=q, p_trajectory=p)
    fig = figures_inside.density_pair_figure(view, 3)
    qz, pz = fig.data
    assert qz.z.dtype == np.float32 and qz.z.shape == (inside.DENSITY_BINS, inside.DENSITY_BINS)
    assert qz.zmax == pz.zmax and qz.zmin == 0
    np.testing.assert_array_equal(qz.z, view.q[3])
    layout = fig.to_plotly_json()["layout"]
    assert_square(layout)
    assert_square(layout, x="xaxis2", y="yaxis2")
    div = figures_inside.divergence_figure(view, 3)
    assert [d.name for d in div.data] == ["noise floor", "SW1(q, p)", "this t"]
    assert div.data[1].y.dtype == np.float32 and div.data[1].y.size == view.t.size
    assert div.data[2].x == (float(view.t[3]),)


def test_kernel_probe_figure_draws_both_ellipses_and_the_heaviest_components(pipeline, chains):
    x, t = (0.3, -0.2), 25
    probe = inside.probe_kernel(pipeline, x, t)
    weights, means, _ = inside.probe_components(pipeline, x, t)
    fig = figures_inside.kernel_probe_figure(probe, weights, means, chains[0][0], components=100)
    names = [d.name for d in fig.data]
    assert names[0] == "data x₀" and fig.data[1].x.size == 100
    np.testing.assert_array_equal(fig.data[1].x, means[np.argsort(weights)[::-1][:100], 0].astype(np.float32))
    ellipses = [d for d in fig.data if d.mode == "lines"]
    assert len(ellipses) == 2 and all(e.x.dtype == np.float32 for e in ellipses)
    (arrow,) = fig.layout.annotations
    assert (arrow.ax, arrow.ay) == (pytest.approx(0.3), pytest.approx(-0.2))
    assert (arrow.x, arrow.y) == (
        pytest.approx(float(probe.learned_mean[0])),
        pytest.approx(float(probe.learned_mean[1])),
    )
    assert_square(fig.to_plotly_json()["layout"])


def test_the_gaussian_check_tells_a_single_gaussian_from_the_roll_shaped_step(pipeline):
    # far in the noise the true step is one Gaussian and the model matches it
    probe = inside.probe_kernel(pipeline, (0.3, -0.2), 40)
    check = inside.gaussian_check(probe, inside.probe_components(pipeline, (0.3, -0.2), 40)[2])
    assert check.true_is_gaussian and check.learned_matches
    # a mixture of two far-apart components is not one Gaussian, whatever the model says
    fake = inside.KernelProbe(
        x=np.zeros(2, np.float32),
        t=2,
        learned_mean=np.zeros(2, np.float32),
        learned_var=np.full(2, 1.0, np.float32),
        true_mean=np.zeros(2, np.float32),
        true_cov=np.diag([1.0 + 0.01, 0.01]).astype(np.float32),
        effective_points=2.0,
        learned_ellipse=np.zeros((4, 2), np.float32),
        true_ellipse=np.zeros((4, 2), np.float32),
    )
    assert not inside.gaussian_check(fake, 0.01).true_is_gaussian
