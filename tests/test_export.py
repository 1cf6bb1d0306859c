"""diffusion.export: the GIF, MP4 and PNG read back with independent readers (imageio, Pillow)."""

from __future__ import annotations

import io
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from diffusion import export, views
from diffusion.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SIZE = 400  # small frames keep the tests quick; the layout scales with the side
N = 600


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(ROOT / "assets" / "default_model.pt", device="cpu")


@pytest.fixture(scope="module")
def reverse(model):
    return views.reverse_view(model, n=N, seed=0)


@pytest.fixture(scope="module")
def reverse_frames(reverse):
    return export.chain_frames(reverse, size=SIZE)


def plot_area(frame: np.ndarray) -> np.ndarray:
    """The inside of the axes, without the title and the tick labels."""
    s = frame.shape[0]
    return frame[int(0.14 * s) : int(0.92 * s), int(0.12 * s) : int(0.96 * s)]


def covered_cells(frame: np.ndarray, cells: int = 16) -> int:
    """How many of cells x cells squares of the plot area hold a dark dot pixel.

    Dark: luminance under 120, which the dark half of the roll's colour ramp has and the drift
    arrows (light red), their tails, the axes and the white do not.
    """
    area = plot_area(frame).astype(np.float64)
    dark = area @ np.array([0.299, 0.587, 0.114]) < 120
    h, w = dark.shape
    blocks = dark[: h - h % cells, : w - w % cells].reshape(cells, h // cells, cells, w // cells)
    return int(blocks.any(axis=(1, 3)).sum())


def test_the_ramp_is_the_pages_viridis():
    import plotly.colors

    from diffusion.figures import COLORSCALE

    assert COLORSCALE == "Viridis"
    ours = ["#{:02x}{:02x}{:02x}".format(*c) for c in export.VIRIDIS]
    assert ours == [c.lower() for c in plotly.colors.sequential.Viridis]
    ends = export.ramp(np.array([0.0, 1.0, -1.0, 2.0, np.nan]))
    assert ends.dtype == np.uint8 and ends.shape == (5, 3)
    assert tuple(ends[0]) == export.VIRIDIS[0] and tuple(ends[1]) == export.VIRIDIS[-1]
    assert tuple(ends[2]) == export.VIRIDIS[0] and tuple(ends[3]) == export.VIRIDIS[-1]


def test_frames_are_square_uint8_one_per_view_frame_with_progress(reverse):
    calls = []
    frames = export.chain_frames(reverse, size=SIZE, progress=lambda done, total: calls.append((done, total)))
    assert len(frames) == len(reverse.t) == 41
    assert all(f.shape == (SIZE, SIZE, 3) and f.dtype == np.uint8 for f in frames)
    assert calls == [(k, 41) for k in range(1, 42)]


def test_reverse_frames_go_from_spread_noise_to_the_roll(reverse_frames):
    first, last = covered_cells(reverse_frames[0]), covered_cells(reverse_frames[-1])
    # noise fills most of the plot area; the roll, a thin curve, only the cells it passes through
    assert first > 2.5 * last, (first, last)
    assert first > 100


def test_gif_reads_back_with_its_frames_size_and_loop(reverse_frames, tmp_path):
    out = tmp_path / "rev.gif"
    export.write_gif(reverse_frames, out, fps=10)
    frames = iio.imread(out, index=None)  # imageio's reader, every frame
    assert frames.shape == (41, SIZE, SIZE, 3)
    meta = iio.immeta(out)
    assert meta["loop"] == 0 and meta["duration"] == 100
    # one shared palette and no dithering: the dots and arrows come back exactly, and only the
    # text's antialiased edges take the nearest of the palette's shades of its colour
    for k in (0, -1):
        np.testing.assert_array_equal(plot_area(frames[k]), plot_area(reverse_frames[k]))
        assert np.abs(frames[k].astype(int) - reverse_frames[k]).max() <= 12
    assert covered_cells(frames[0]) > 2.5 * covered_cells(frames[-1])
    with Image.open(out) as image:  # and Pillow's
        assert image.n_frames == 41 and image.size == (SIZE, SIZE) and image.is_animated


def test_gif_into_a_file_object_matches_the_file(reverse_frames, tmp_path):
    out = tmp_path / "a.gif"
    export.write_gif(reverse_frames[:3], out, fps=5)
    buffer = io.BytesIO()
    export.write_gif(reverse_frames[:3], buffer, fps=5)
    assert buffer.getvalue() == out.read_bytes()


def test_mp4_is_h264_yuv420p_with_every_frame(reverse_frames, tmp_path):
    out = tmp_path / "rev.mp4"
    export.write_mp4(reverse_frames, out, fps=10)
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    reader.close()
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p") and meta["size"] == (SIZE, SIZE)
    assert meta["fps"] == 10
    frames = list(iio.imiter(out, plugin="FFMPEG"))
    assert len(frames) == 41 and frames[0].shape == (SIZE, SIZE, 3)
    # lossy, but close to what was drawn, and still noise first and the roll last
    assert np.abs(frames[-1].astype(int) - reverse_frames[-1]).mean() < 8
    assert covered_cells(frames[0]) > 2.5 * covered_cells(frames[-1])


def test_mp4_of_odd_size_is_padded_to_even(reverse_frames, tmp_path):
    odd = [f[:-1, :-1] for f in reverse_frames[:4]]
    out = tmp_path / "odd.mp4"
    export.write_mp4(odd, out, fps=10)
    frames = list(iio.imiter(out, plugin="FFMPEG"))
    assert len(frames) == 4 and frames[0].shape == (SIZE, SIZE, 3)


def test_forward_chain_goes_from_the_roll_to_noise(model, tmp_path):
    view = views.forward_view(model.config, n=N, seed=0)
    data = export.chain_bytes(view, ".gif", size=SIZE, fps=10)
    frames = iio.imread(data, index=None, extension=".gif")
    assert frames.shape == (41, SIZE, SIZE, 3)
    assert covered_cells(frames[-1]) > 2.5 * covered_cells(frames[0])


def test_export_chain_reports_drawing_and_writing(reverse, tmp_path):
    calls = []
    export.export_chain(reverse, tmp_path / "r.mp4", size=SIZE, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (82, 82) and [d for d, _ in calls] == list(range(1, 83))
    assert (tmp_path / "r.mp4").stat().st_size > 0


def test_figure1_png_has_the_slide_size(model, tmp_path):
    view = views.figure1_view(model, n=300)
    out = tmp_path / "fig1.png"
    export.figure1_png(view, out)
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (1920, 1080)
        pixels = np.asarray(image.convert("RGB"))
    assert (pixels != 255).any(axis=2).mean() > 0.01  # something is drawn
    with Image.open(io.BytesIO(export.figure1_bytes(view, size=(1280, 720)))) as image:
        assert image.size == (1280, 720)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda f, d: export.write_gif(f, d / "x.png"), "must end in .gif"),
        (lambda f, d: export.write_mp4(f, d / "x.gif"), "must end in .mp4"),
        (lambda f, d: export.write_gif(f, d / "missing" / "x.gif"), "does not exist"),
        (lambda f, d: export.write_gif(f, ""), "path is empty"),
        (lambda f, d: export.write_gif(f, d / "x.gif", fps=0), "fps"),
        (lambda f, d: export.write_gif([], d / "x.gif"), "no frames"),
        (lambda f, d: export.chain_frames(None, size=10), "size"),
    ],
    ids=["gif-ext", "mp4-ext", "no-folder", "empty", "fps", "no-frames", "size"],
)
def test_bad_paths_and_settings_give_one_clear_line(reverse_frames, tmp_path, call, words):
    with pytest.raises(export.ExportError, match=words) as info:
        call(reverse_frames[:2], tmp_path)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_bad_extension_for_an_animation_or_figure(reverse, model, tmp_path):
    with pytest.raises(export.ExportError, match=r"\.gif or \.mp4"):
        export.export_chain(reverse, tmp_path / "r.avi", size=SIZE)
    with pytest.raises(export.ExportError, match=r"\.png"):
        export.figure1_png(views.figure1_view(model, n=100), tmp_path / "f.jpg")


def test_a_comparison_is_its_models_panels_side_by_side_in_one_gif_and_mp4():
    from diffusion import compare, presets

    models = [presets.load_preset("default"), presets.load_preset("T10")]
    frames_n = compare.frame_count([m.T for m in models])
    chains = [compare.compare_view(m, frames_n, n=300, seed=0) for m in models]
    labels, Ts = ["preset: default", "preset: T10"], [m.T for m in models]
    seen = []
    gif = export.comparison_bytes(labels, chains, Ts, ".gif", size=240, progress=lambda d, t: seen.append((d, t)))
    frames = iio.imread(io.BytesIO(gif), index=None)
    assert frames.shape == (frames_n, 240, 2 * 240, 3)
    # each half is that model's own chain, titled with it, drawn as a single chain's export draws it
    left = export.chain_frames(chains[0], 240, title=labels[0], T=Ts[0])
    right = export.chain_frames(chains[1], 240, title=labels[1], T=Ts[1])
    drawn = export.comparison_frames(labels, chains, Ts, size=240)
    np.testing.assert_array_equal(drawn[5], np.concatenate([left[5], right[5]], axis=1))
    assert not np.array_equal(left[5], right[5])
    # the first frame is noise in both panels, the last the samples: they differ as the chain does
    assert covered_cells(drawn[0][:, :240]) > covered_cells(drawn[-1][:, :240])
    assert seen[-1][0] == seen[-1][1] == 3 * frames_n and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    mp4 = export.comparison_bytes(labels, chains, Ts, ".mp4", size=240)
    video = list(iio.imiter(io.BytesIO(mp4), plugin="FFMPEG", extension=".mp4"))
    assert len(video) == frames_n and video[0].shape == (240, 480, 3)
    with pytest.raises(export.ExportError, match="same number of frames"):
        export.comparison_frames(labels, [chains[0], views.reverse_view(models[1], n=50)], Ts)
