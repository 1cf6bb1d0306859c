"""The data sets: each generator against its definition, the common scale, a user's points and CSV files."""

import io
import math

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from diffusion import datasets
from diffusion.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint
from diffusion.config import DiffusionConfig
from diffusion.data import swiss_roll
from diffusion.pipeline import DiffusionPipeline
from diffusion.train import Trainer

N = 20_000


def native(name: str, n: int = N, seed: int = 0) -> np.ndarray:
    """Points of a set moved back to the generator's own units (before the common scale)."""
    ds = datasets.get(name)
    return ds.native_to_own.inverse(ds.sample(n, seed)[0].astype(np.float64))


def torch_native(name: str, n: int = N) -> np.ndarray:
    ds = datasets.get(name)
    own = ds.sample_torch((n,), torch.Generator().manual_seed(0), scale="tutorial").double().numpy()
    return ds.native_to_own.inverse(own)


@pytest.mark.parametrize("draw", [native, torch_native], ids=["numpy", "torch"])
def test_moons_lie_on_two_half_circles_of_radius_one(draw):
    x = draw("moons")
    upper = np.hypot(x[:, 0], x[:, 1])
    lower = np.hypot(x[:, 0] - 1.0, x[:, 1] - 0.5)
    on_upper = np.abs(upper - 1.0) < np.abs(lower - 1.0)
    radius = np.where(on_upper, upper, lower)
    assert abs(np.median(radius) - 1.0) < 0.01
    assert np.std(radius - 1.0) == pytest.approx(datasets.MOONS_NOISE, rel=0.15)
    assert 0.45 < on_upper.mean() < 0.55
    # the upper moon is the top half of its circle, the lower the bottom half of its own
    assert np.median(x[on_upper, 1]) > 0.5 and np.median(x[~on_upper, 1]) < 0.0


@pytest.mark.parametrize("draw", [native, torch_native], ids=["numpy", "torch"])
def test_circles_have_radii_one_and_the_factor(draw):
    r = np.hypot(*draw("circles").T)
    inner = r < (1 + datasets.CIRCLES_FACTOR) / 2
    assert 0.45 < inner.mean() < 0.55
    assert np.median(r[inner]) == pytest.approx(datasets.CIRCLES_FACTOR, abs=0.01)
    assert np.median(r[~inner]) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("draw", [native, torch_native], ids=["numpy", "torch"])
def test_the_ring_has_eight_equal_modes_on_its_radius(draw):
    x = draw("gaussians")
    angle = np.arctan2(x[:, 1], x[:, 0])
    mode = np.round(angle / (2 * math.pi / 8)).astype(int) % 8
    counts = np.bincount(mode, minlength=8)
    assert counts.min() > 0.9 * N / 8 and counts.max() < 1.1 * N / 8
    centres = datasets._gaussian_centres()
    offsets = x - centres[mode]
    assert np.abs(offsets.mean(axis=0)).max() < 0.01
    assert offsets.std(axis=0) == pytest.approx([datasets.GAUSSIANS_STD] * 2, rel=0.05)


@pytest.mark.parametrize("draw", [native, torch_native], ids=["numpy", "torch"])
def test_the_checkerboard_fills_only_its_dark_cells_evenly(draw):
    x = draw("checkerboard")
    assert np.abs(x).max() <= 2.0 + 1e-6
    cell = np.floor((x + 2.0) / (4.0 / datasets.CHECKER_CELLS)).astype(int).clip(0, datasets.CHECKER_CELLS - 1)
    assert ((cell[:, 0] + cell[:, 1]) % 2 == 0).all()
    counts = np.bincount(cell[:, 0] * 4 + cell[:, 1], minlength=16)
    dark = counts[[i * 4 + j for i in range(4) for j in range(4) if (i + j) % 2 == 0]]
    assert dark.min() > 0.9 * N / 8 and dark.max() < 1.1 * N / 8


@pytest.mark.parametrize("draw", [native, torch_native], ids=["numpy", "torch"])
def test_the_s_curve_is_sklearns_seen_from_the_side(draw):
    x = draw("s_curve")
    # (sin t, sign(t)(cos t - 1)) for t in 3 pi (-1/2, 1/2): x^2 + (|y| - 1)^2 = 1
    np.testing.assert_allclose(x[:, 0] ** 2 + (np.abs(x[:, 1]) - 1.0) ** 2, 1.0, atol=1e-5)
    assert np.abs(x[:, 1]).max() <= 2.0 + 1e-6


def test_the_roll_is_the_tutorials_and_the_noisy_roll_is_it_blurred():
    roll = datasets.get("swiss_roll")
    np.testing.assert_array_equal(roll.sample(500, 3)[0], swiss_roll(500, seed=3))
    clean, _ = roll.sample(N, 5)
    noisy, _ = datasets.get("noisy_roll").sample(N, 5)
    blur = noisy - clean  # the same seed draws the same positions along the roll
    assert blur.std(axis=0) == pytest.approx([datasets.NOISY_ROLL_NOISE / 10] * 2, rel=0.05)


@pytest.mark.parametrize("name", datasets.NAMES)
def test_every_set_has_the_rolls_spread_and_variance_one_at_the_unit_scale(name):
    ds = datasets.get(name)
    c_roll = datasets.roll_spread()
    own, colour = ds.sample(N, 1)
    assert np.sqrt(own.var(axis=0).mean()) == pytest.approx(c_roll, rel=0.02)
    unit = ds.to_model(own.astype(np.float64), "unit")
    assert np.abs(unit.mean(axis=0)).max() < 0.03
    assert unit.var(axis=0).mean() == pytest.approx(1.0, rel=0.03)
    np.testing.assert_allclose(ds.to_own(unit, "unit"), own, atol=1e-5)
    # the training draw (torch) and the held-out draw (numpy) are the same distribution
    fresh = ds.sample_torch((N,), torch.Generator().manual_seed(2), scale="unit").numpy()
    np.testing.assert_allclose(fresh.mean(axis=0), unit.mean(axis=0), atol=0.04)
    np.testing.assert_allclose(fresh.std(axis=0), unit.std(axis=0), rtol=0.03)
    assert colour.min() >= 0.0 and colour.max() <= 1.0 and colour.std() > 0.1


def test_colours_follow_the_curve_the_component_or_the_angle():
    roll_points, roll_colour = datasets.get("swiss_roll").sample(2000, 0)
    # position along the roll: the radius grows with it
    assert np.corrcoef(np.hypot(*roll_points.T), roll_colour)[0, 1] > 0.95
    x = native("gaussians", 2000)
    _, colour = datasets.get("gaussians").sample(2000, 0)
    mode = np.round(np.arctan2(x[:, 1], x[:, 0]) / (math.pi / 4)).astype(int) % 8
    np.testing.assert_allclose(colour, mode / 7, atol=1e-6)


def test_a_users_points_keep_their_units_and_train_at_the_common_scale():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * math.pi, 3000)
    points = np.c_[1000 + 300 * np.cos(t), -50 + 300 * np.sin(t)]
    ds, note = datasets.from_points(points, source="ring.csv")
    assert note == "" and ds.is_custom and ds.source == "ring.csv"
    for scale, spread in (("tutorial", datasets.roll_spread()), ("unit", 1.0)):
        model = ds.to_model(points, scale)
        assert np.abs(model.mean(axis=0)).max() < 1e-6
        assert np.sqrt(model.var(axis=0).mean()) == pytest.approx(spread, rel=1e-6)
        drawn = ds.sample_torch((4000,), torch.Generator().manual_seed(0), scale=scale).double().numpy()
        np.testing.assert_allclose(ds.to_own(drawn, scale)[:, 0].mean(), 1000, atol=20)
    # every training draw is one of the points
    drawn = ds.to_own(ds.sample_torch((500,), torch.Generator().manual_seed(1)).double().numpy(), "tutorial")
    assert np.min(np.abs(drawn[:, None, :] - ds.points[None].astype(np.float64)).sum(-1), axis=1).max() < 1e-2


def ticks_in_own_units(axis) -> tuple[np.ndarray, np.ndarray]:
    """An axis's tick positions (the model's coordinates) and the numbers its labels read."""
    return np.asarray(axis.tickvals, dtype=float), np.array([float(t.replace("−", "-")) for t in axis.ticktext])


def test_the_plots_of_a_users_points_read_in_the_files_units():
    from diffusion import figures, views

    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * math.pi, 3000)
    ds, _ = datasets.from_points(np.c_[1000 + 300 * np.cos(t), -50 + 300 * np.sin(t)])
    config = DiffusionConfig(T=8, width=16, data="custom", device="cpu")
    chain = views.forward_view(config, n=300, dataset=ds)
    pipeline = DiffusionPipeline.untrained(config, dataset=ds)
    fig1 = figures.figure1(views.figure1_view(pipeline, n=200, grid_n=5))
    forward = figures.forward_animation(chain, views.schedule_view(config))
    reverse = figures.reverse_animation(views.reverse_view(pipeline, n=200, grid_n=5))
    # the Train page's image of the samples
    density = views.sample_density(pipeline.samples(500), extent=chain.extent, units=views.own_units(ds, "tutorial"))
    image = figures.samples_side_by_side([("samples", density)], None)
    units = ds.own_to_model("tutorial")
    for fig in (forward, reverse, fig1, image):
        x_axis, y_axis = fig.layout.xaxis, fig.layout.yaxis
        for axis, centre in ((x_axis, 1000), (y_axis, -50)):
            where, reads = ticks_in_own_units(axis)
            # each label is where its number lies in the model's coordinates, and the file's centre shows
            np.testing.assert_allclose(where * units.scale + units.offset[int(axis is y_axis)], reads, atol=1e-6)
            assert reads.min() < centre < reads.max() and len(reads) >= 3
            assert all(-chain.extent <= w <= chain.extent for w in where)
    # the points stay where the model puts them: the chain's data is in the model's coordinates
    np.testing.assert_allclose(np.asarray(forward.data[0].x, dtype=float), chain.points[0][:, 0], rtol=1e-6)


def test_a_named_set_at_its_own_scale_keeps_plotlys_ticks_and_the_unit_protocol_reads_in_its_own():
    from diffusion import figures, views

    tutorial = figures.forward_animation(
        views.forward_view(DiffusionConfig(T=8, data="moons"), n=100), views.schedule_view(DiffusionConfig(T=8))
    )
    assert tutorial.layout.xaxis.tickvals is None
    config = DiffusionConfig(T=8, data="swiss_roll", data_scale="unit")
    unit = figures.forward_animation(views.forward_view(config, n=100), views.schedule_view(config))
    where, reads = ticks_in_own_units(unit.layout.xaxis)
    units = datasets.get("swiss_roll").own_to_model("unit")
    np.testing.assert_allclose(where * units.scale + units.offset[0], reads, atol=1e-6)
    assert set(reads) >= {-1.0, 0.0, 1.0}  # the tutorial's [-2, 2] roll, drawn at variance 1


def test_a_million_points_are_subsampled_with_a_seed_and_the_note_says_so():
    points = np.random.default_rng(0).normal(size=(1_000_000, 2))
    a, note = datasets.from_points(points, seed=3)
    b, _ = datasets.from_points(points, seed=3)
    assert len(a.points) == datasets.CUSTOM_POINTS_MAX and "1,000,000 points" in note and "20,000" in note
    np.testing.assert_array_equal(a.points, b.points)
    assert a.key == b.key


GOOD = b"x,y\n0,0\n1,0\n0,1\n1,1\n"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"\n\n# only a comment\n", "empty"),
        (b"x,y\n", "header but no rows"),
        (b"a,b,c\n1,2,3\n", "columns named x and y"),
        (b"1,2,3\n4,5,6\n", "two columns"),
        (b"x,y\n1,2\nhello,3\n", "row 3, column x: 'hello' is not a number"),
        (b"x,y\n1,2\n3,\n", "row 3, column y: an empty cell"),
        (b"x,y\n1,2\n3\n", "row 3 has 1 column"),
        (b"x,y\n1,2\nnan,3\n", "NaN or infinity"),
        (b"x,y\n1,2\n3,inf\n", "NaN or infinity"),
        (b"x,y\n1,2\n", "1 point(s) given; need at least 2"),
        (b"x,y\n1,2\n1,2\n1,2\n", "all points are the same"),
        (b"\x00\x01\x02 binary \xff\xfe", "columns"),
    ],
)
def test_a_bad_csv_gets_one_line_naming_what_is_wrong(data, message):
    with pytest.raises(datasets.PointsError) as err:
        datasets.points_from_csv(data)
    text = str(err.value)
    assert message in text and "\n" not in text


def test_a_csv_over_the_size_limit_is_refused_unread():
    with pytest.raises(datasets.PointsError, match="limit is 32 MB"):
        datasets.points_from_csv(b"1,2\n" * (datasets.CSV_BYTES_MAX // 4 + 1))


@pytest.mark.parametrize(
    "data",
    [GOOD, b"0,0\n1,0\n0,1\n1,1\n", b"X,Y\n0,0\n1,0\n0,1\n1,1\n", b"id,y,x\n9,0,0\n9,0,1\n9,1,0\n9,1,1\n"],
    ids=["header", "no header", "upper case", "named columns in any order"],
)
def test_good_csv_files_read_the_same_points(data):
    ds, note = datasets.points_from_csv(data)
    assert note == ""
    np.testing.assert_array_equal(ds.points, [[0, 0], [1, 0], [0, 1], [1, 1]])


def test_a_checkpoint_carries_a_users_points_and_refuses_them_tampered():
    ds, _ = datasets.points_from_csv(b"x,y\n" + b"".join(f"{i},{i * i % 7}\n".encode() for i in range(50)))
    cfg = DiffusionConfig(T=5, width=8, data="custom", steps=3)
    trainer = Trainer(cfg, dataset=ds)
    trainer.train()
    pipeline = DiffusionPipeline.from_trainer(trainer)
    loaded = load_checkpoint(checkpoint_bytes(pipeline))
    assert loaded.data.is_custom and loaded.data.key == ds.key
    np.testing.assert_array_equal(loaded.data.points, ds.points)
    own = loaded.to_own(loaded.samples(200, seed=0))
    assert 0 < own[:, 0].mean() < 49  # the file's units, not the model's
    # a named set's checkpoint holding points, and a custom one without, are refused
    payload = torch.load(io.BytesIO(checkpoint_bytes(pipeline)), weights_only=True)
    for change in ({"config": {**payload["config"], "data": "moons"}}, {"data_points": torch.zeros(1, 2)}):
        buffer = io.BytesIO()
        torch.save({**payload, **change}, buffer)
        with pytest.raises(CheckpointError):
            load_checkpoint(buffer.getvalue())


def test_a_short_run_on_the_moons_learns_them():
    """Trained on the moons, the samples move from noise onto the moons' area."""
    cfg = DiffusionConfig(T=20, width=64, data="moons", steps=300)
    trainer = Trainer(cfg)
    before = DiffusionPipeline.from_trainer(trainer).samples(2000, seed=0)
    trainer.train()
    after = DiffusionPipeline.from_trainer(trainer).samples(2000, seed=0)
    data, _ = datasets.get("moons").sample(2000, 9)

    def off(samples):
        return float(np.median(cKDTree(data).query(samples)[0]))

    assert off(after) < 0.5 * off(before)


def test_k_at_unit_variance_uses_each_sets_own_spread():
    """At the tutorial's scale K moves to unit variance by sum_d log2 s_d of the model's own data
    (Table 1's convention); at the unit scale the data is unit-variance already (no offset)."""
    for name in ("moons", "s_curve"):
        tutorial = DiffusionPipeline.untrained(DiffusionConfig(T=4, width=8, data=name)).bound(2000)
        std = datasets.get(name).sample(200_000, 5)[0].std(axis=0)
        assert tutorial.bits_unit_variance - tutorial.bits == pytest.approx(np.log2(std).sum(), abs=0.01)
        unit = DiffusionPipeline.untrained(DiffusionConfig(T=4, width=8, data=name, data_scale="unit")).bound(2000)
        assert unit.bits_unit_variance == unit.bits


def test_canvas_objects_become_points_in_the_plots_square():
    from pages._app.data import CANVAS_PX, canvas_points

    half = CANVAS_PX / 2
    objects = [
        # Fabric.js 7: left/top at the circle's centre; older: its box's top-left corner
        {"type": "Circle", "left": half, "top": half, "radius": 3, "originX": "center", "originY": "center"},
        {"type": "circle", "left": CANVAS_PX - 3, "top": -3, "radius": 3},
        {"type": "Path", "left": 10, "top": 10},
    ]
    np.testing.assert_allclose(canvas_points({"objects": objects}), [[0.0, 0.0], [2.0, 2.0]], atol=1e-9)
    assert canvas_points(None).shape == (0, 2)
