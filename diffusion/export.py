"""The animations and Figure 1 as files for slides: GIF, MP4 and PNG, drawn with Pillow.

No browser and no Plotly renderer: each frame is drawn straight from a view (`diffusion.views`)
onto a white canvas with the data axes fixed at the pages' extent, points coloured along the
roll with the pages' colour scale, a "t = ..." title, and for the reverse chain the drift arrows
scaled as the page scales them. Frames are numpy uint8 arrays (H, W, 3); `write_gif` and
`write_mp4` turn a list of them into a file (or into a binary file object, for a download).

Every long step takes `progress(done, total)`, so a page can show a bar while it runs.
"""

from __future__ import annotations

import functools
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .figures import ARROWS_FIXED, DRIFT_COLOR, arrow_segments, drift_scale, drift_scales
from .views import ChainView, Figure1View, ReverseView

Progress = Callable[[int, int], None] | None
Target = str | os.PathLike | BinaryIO

SIZE = 800  # the square animation's side in pixels
FPS = 10
SLIDE_SIZE = (1920, 1080)  # Figure 1: a full-HD 16:9 slide
SIZE_MIN, SIZE_MAX = 200, 4096  # below 200 px the labels overlap; above 4096 a GIF runs to hundreds of MB
FPS_MIN, FPS_MAX = 1, 50  # a GIF stores frame times in 1/100 s, so 50 frames a second is its finest

# Plotly's Viridis, the pages' COLORSCALE, at its own ten stops: position along the roll 0 .. 1.
VIRIDIS = (
    (0x44, 0x01, 0x54),
    (0x48, 0x28, 0x78),
    (0x3E, 0x49, 0x89),
    (0x31, 0x68, 0x8E),
    (0x26, 0x82, 0x8E),
    (0x1F, 0x9E, 0x89),
    (0x35, 0xB7, 0x79),
    (0x6E, 0xCE, 0x58),
    (0xB5, 0xDE, 0x2B),
    (0xFD, 0xE7, 0x25),
)
# Points take one of this many colours of the ramp: the GIF's palette then holds every colour a
# frame has exactly, so no frame is dithered and the dots stay crisp.
COLOR_LEVELS = 96

WHITE = (255, 255, 255)
INK = (42, 63, 95)  # plotly_white's font colour
AXIS = (200, 205, 212)
FAINT = (0x9A, 0xA5, 0xB1)  # Figure 1's grey samples behind the arrows
TEXT_SHADES = 24  # antialiased text blends INK into white: the GIF palette keeps these steps of it


def _hex(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def _blend(color: tuple[int, int, int], opacity: float) -> tuple[int, int, int]:
    """`color` at `opacity` over white: the pages' translucent arrows, as one solid colour."""
    return tuple(round(255 + (c - 255) * opacity) for c in color)


ARROW = _blend(_hex(DRIFT_COLOR), 0.55)  # the pages draw arrows at opacity 0.55, tails at 0.7
TAIL = _blend(_hex(DRIFT_COLOR), 0.7)
FIGURE1_ARROW = _hex(DRIFT_COLOR)


class ExportError(ValueError):
    """A bad path, extension or setting for an export. The message is one line, fit for stderr."""


def ramp(values: np.ndarray) -> np.ndarray:
    """Colours (n, 3) uint8 of `values` in [0, 1] on the Viridis ramp, in COLOR_LEVELS steps."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    v = np.round(v * (COLOR_LEVELS - 1)) / (COLOR_LEVELS - 1)
    stops = np.linspace(0.0, 1.0, len(VIRIDIS))
    table = np.asarray(VIRIDIS, dtype=np.float64)
    return np.stack([np.interp(v, stops, table[:, k]) for k in range(3)], axis=1).round().astype(np.uint8)


# ---------------------------------------------------------------------- text
@functools.lru_cache(maxsize=16)
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans where the system has it (it has the Greek and the arrows), else Pillow's own font."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", px)
    except OSError:
        return ImageFont.load_default(size=px)


# What a title's symbols become in a font that lacks them (Pillow's own covers only Latin).
_ASCII = {"→": "->", "−": "-", "×": "x", "μ": "mu", "ₜ": "_t", "·": "-", "≤": "<=", "√": "sqrt ", "α": "alpha"}


def _glyph(font, ch: str) -> bytes:
    image = Image.new("L", (64, 64))
    ImageDraw.Draw(image).text((0, 0), ch, font=font, fill=255)
    return image.tobytes()


@functools.lru_cache(maxsize=64)
def _has_glyph(font, ch: str) -> bool:
    """Whether `font` draws `ch` as itself rather than as its missing-glyph box."""
    return _glyph(font, ch) != _glyph(font, "\uffff")


def _safe(font, text: str) -> str:
    return "".join(ch if ch not in _ASCII or _has_glyph(font, ch) else _ASCII[ch] for ch in text)


def _text(draw: ImageDraw.ImageDraw, xy, text: str, px: int, anchor: str = "la", fill=INK) -> None:
    font = _font(max(8, int(px)))
    draw.text(xy, _safe(font, text), font=font, fill=fill, anchor=anchor)


# ---------------------------------------------------------------------- panels
class _Panel:
    """A square plot area: data [-extent, extent]^2 onto pixels [x0, x0 + side] x [y0, y0 + side]."""

    def __init__(self, x0: float, y0: float, side: float, extent: float):
        self.x0, self.y0, self.side, self.extent = x0, y0, side, extent

    def px(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64)
        s = self.side / (2 * self.extent)
        return np.stack([self.x0 + (xy[..., 0] + self.extent) * s, self.y0 + (self.extent - xy[..., 1]) * s], axis=-1)

    def frame(self, draw: ImageDraw.ImageDraw, ticks: bool, label_px: int = 0) -> None:
        """The axes' box, with integer ticks and their labels when `ticks`."""
        x1, y1 = self.x0 + self.side, self.y0 + self.side
        draw.rectangle([self.x0, self.y0, x1, y1], outline=AXIS, width=1)
        if not ticks:
            return
        tick = max(3, self.side / 120)
        for v in range(-int(self.extent), int(self.extent) + 1):
            (x, _), (_, y) = self.px(np.array([v, 0.0])), self.px(np.array([0.0, v]))
            draw.line([x, y1, x, y1 + tick], fill=AXIS, width=1)
            draw.line([self.x0 - tick, y, self.x0, y], fill=AXIS, width=1)
            label = f"{v}".replace("-", "−")
            _text(draw, (x, y1 + 1.6 * tick), label, label_px, anchor="mt")
            _text(draw, (self.x0 - 1.6 * tick, y), label, label_px, anchor="rm")

    def points(self, draw: ImageDraw.ImageDraw, xy: np.ndarray, colors, radius: float) -> None:
        """Filled dots; `colors` (n, 3) uint8 or one colour. Points off the panel are not drawn."""
        p = self.px(xy)
        inside = np.isfinite(p).all(axis=1)
        inside &= (p[:, 0] >= self.x0) & (p[:, 0] <= self.x0 + self.side)
        inside &= (p[:, 1] >= self.y0) & (p[:, 1] <= self.y0 + self.side)
        if isinstance(colors, tuple):
            fills = [colors] * len(p)
        else:
            fills = [tuple(c) for c in np.asarray(colors).tolist()]
        r = radius
        for (x, y), fill, keep in zip(p.tolist(), fills, inside.tolist()):
            if keep:
                draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)

    def arrows(self, draw: ImageDraw.ImageDraw, grid: np.ndarray, drift: np.ndarray, scale: float, fill, width) -> None:
        """The pages' arrows (figures.arrow_segments): shaft plus a two-stroke head, from each grid point."""
        if scale == 0:
            return
        x, y = arrow_segments(grid, drift, scale)
        seg = self.px(np.stack([x, y], axis=1)).reshape(-1, 6, 2)  # tail, tip, wing, tip, wing, gap
        for tail, tip, left, _, right, _ in seg.tolist():
            if all(np.isfinite(tail + tip + left + right)):
                draw.line([tuple(tail), tuple(tip)], fill=fill, width=width)
                draw.line([tuple(left), tuple(tip), tuple(right)], fill=fill, width=width)


def _grid_spacing(grid: np.ndarray) -> float:
    xs = np.unique(np.asarray(grid)[:, 0])
    return float(np.min(np.diff(xs))) if xs.size > 1 else 1.0


# ---------------------------------------------------------------------- the animations
def check_size(size: int, name: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not SIZE_MIN <= size <= SIZE_MAX:
        raise ExportError(f"{name}: {size!r} is not a whole number of pixels from {SIZE_MIN} to {SIZE_MAX}")
    return int(size)


def check_fps(fps: int, name: str = "fps") -> int:
    if isinstance(fps, bool) or not isinstance(fps, (int, np.integer)) or not FPS_MIN <= fps <= FPS_MAX:
        raise ExportError(f"{name}: {fps!r} is not a whole number of frames a second from {FPS_MIN} to {FPS_MAX}")
    return int(fps)


def _chain_title(view: ChainView) -> str:
    return "Reverse process p: noise → roll" if isinstance(view, ReverseView) else "Forward process q: roll → noise"


def _drift_note(t: int, scale: float, arrows: str) -> str:
    """The reverse page's subtitle (figures._reverse_title), without its HTML."""
    if t == 0:
        return "no drift: no step leaves x₀, and the last step (t = 1) is fixed"
    if t == 1:
        return "the last step (t = 1) is fixed"
    same = " (the same for every t)" if arrows == ARROWS_FIXED else ""
    return f"arrows: f_μ(x, t) − x × {scale:.3g}{same}"


def chain_frames(
    view: ChainView,
    size: int = SIZE,
    arrows: str = ARROWS_FIXED,
    progress: Progress = None,
    title: str | None = None,
    T: int | None = None,
) -> list[np.ndarray]:
    """One (size, size, 3) uint8 frame per frame of `view`, in playing order.

    A ReverseView also gets its drift arrows, scaled by `arrows` as the Reverse page scales them.
    `title` replaces the chain's name above each frame; `T` adds "of T" to its t (a comparison's panels).
    """
    size = check_size(size)
    top, bottom, left, right = 0.115 * size, 0.07 * size, 0.075 * size, 0.03 * size
    side = min(size - left - right, size - top - bottom)
    panel = _Panel(left + (size - left - right - side) / 2, top, side, view.extent)
    colors = ramp(view.color)
    radius = max(1.5, size / 320)  # the pages' 3 px markers on a 580 px chart, a little bolder for a projector
    reverse = isinstance(view, ReverseView)
    scales = drift_scales(view.drift, _grid_spacing(view.grid), arrows) if reverse else []
    line = max(1, round(size / 600))
    frames = []
    total = len(view.t)
    for k, t in enumerate(view.t.tolist()):
        image = Image.new("RGB", (size, size), WHITE)
        draw = ImageDraw.Draw(image)
        heading = f"{title or _chain_title(view)} · t = {t}" + (f" of {T}" if T is not None else "")
        _text(draw, (size / 2, 0.025 * size), heading, 0.034 * size, anchor="mt")
        panel.frame(draw, ticks=True, label_px=0.022 * size)
        if reverse:
            _text(draw, (size / 2, 0.07 * size), _drift_note(t, scales[k], arrows), 0.021 * size, anchor="mt")
            panel.arrows(draw, view.grid, view.drift[k], scales[k], ARROW, line)
            if scales[k] != 0:
                panel.points(draw, view.grid, TAIL, radius=max(1.0, radius * 0.6))
        panel.points(draw, view.points[k], colors, radius)
        frames.append(np.asarray(image))
        if progress is not None:
            progress(k + 1, total)
    return frames


# ---------------------------------------------------------------------- files
def _check_target(target: Target, suffixes: tuple[str, ...], kind: str) -> Path | None:
    """The path to write (None for a file object), refused with one clear line when it cannot be."""
    if hasattr(target, "write"):
        return None
    if not str(target).strip():
        raise ExportError(f"the {kind} path is empty")
    path = Path(target)
    if path.suffix.lower() not in suffixes:
        raise ExportError(f"{path}: a {kind} file must end in {' or '.join(suffixes)}")
    if not path.parent.is_dir():
        raise ExportError(f"{path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise ExportError(f"{path} is a folder")
    return path


def _check_frames(frames: Sequence[np.ndarray]) -> tuple[int, int]:
    if len(frames) == 0:
        raise ExportError("no frames to write")
    shape = np.shape(frames[0])
    if len(shape) != 3 or shape[2] != 3:
        raise ExportError(f"frames must be (H, W, 3) uint8 arrays, not {shape}")
    if any(np.shape(f) != shape for f in frames):
        raise ExportError("frames must all have the same size")
    return shape[0], shape[1]


@functools.lru_cache(maxsize=1)
def _gif_palette() -> np.ndarray:
    """Every colour the frames are drawn in, (P, 3) uint8: white, the text's antialiasing steps,
    the axes, the arrows and the ramp's levels. One palette for all frames, so the GIF carries it once."""
    colors = [WHITE, AXIS, ARROW, TAIL, FIGURE1_ARROW, FAINT]
    colors += [_blend(INK, k / (TEXT_SHADES - 1)) for k in range(1, TEXT_SHADES)]
    colors += [tuple(c) for c in ramp(np.linspace(0.0, 1.0, COLOR_LEVELS)).tolist()]
    return np.asarray(list(dict.fromkeys(colors))[:256], dtype=np.uint8)


def _codes(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _to_palette(frame: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Palette indices (H, W) uint8 of an RGB frame: exact for the colours in the palette (Pillow's
    own quantize looks colours up at reduced precision, which shifts neighbouring ramp levels), the
    nearest entry for the rest (the text's antialiased edges)."""
    codes = _codes(frame)
    table = _codes(palette)
    order = np.argsort(table)
    sorted_table = table[order]
    pos = np.minimum(np.searchsorted(sorted_table, codes), len(table) - 1)
    index = order[pos]
    miss = sorted_table[pos] != codes
    if miss.any():
        odd, inverse = np.unique(codes[miss], return_inverse=True)
        rgb = np.stack([(odd >> 16) & 255, (odd >> 8) & 255, odd & 255], axis=1)
        distance = ((rgb[:, None, :] - palette[None, :, :].astype(np.int32)) ** 2).sum(axis=2)
        index[miss] = np.argmin(distance, axis=1)[inverse]
    return index.astype(np.uint8)


def write_gif(frames: Sequence[np.ndarray], target: Target, fps: int = FPS, progress: Progress = None) -> None:
    """A looping GIF of `frames` at `fps`, every frame mapped onto one shared palette (no dithering)."""
    path = _check_target(target, (".gif",), "GIF")
    fps = check_fps(fps)
    _check_frames(frames)
    palette = _gif_palette()
    flat = palette.tobytes() + bytes(3 * (256 - len(palette)))
    images = []
    for k, frame in enumerate(frames):
        image = Image.fromarray(_to_palette(np.asarray(frame, dtype=np.uint8), palette), "L").convert("P")
        image.putpalette(flat)
        images.append(image)
        if progress is not None:
            progress(k + 1, len(frames))
    # Pillow stores only the part of each frame that changed from the one before.
    images[0].save(
        target if path is None else path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=round(1000 / fps),
        loop=0,
        optimize=False,
    )


def write_mp4(frames: Sequence[np.ndarray], target: Target, fps: int = FPS, progress: Progress = None) -> None:
    """An H.264 MP4 (yuv420p, even width and height: what PowerPoint, Keynote and browsers play)."""
    import imageio_ffmpeg

    path = _check_target(target, (".mp4",), "MP4")
    fps = check_fps(fps)
    h, w = _check_frames(frames)
    H, W = h + h % 2, w + w % 2  # yuv420p halves the colour planes, so both sides must be even
    if path is None:  # ffmpeg seeks back to write the index first (faststart): it needs a real file
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.mp4"
            write_mp4(frames, out, fps, progress)
            target.write(out.read_bytes())
        return
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (W, H),
        fps=fps,
        codec="libx264",
        pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p",
        quality=None,
        macro_block_size=2,
        ffmpeg_log_level="error",
        # crf 23 is x264's default quality; faststart puts the index first, so a player starts at once
        output_params=["-crf", "23", "-preset", "fast", "-movflags", "+faststart"],
    )
    writer.send(None)
    try:
        for k, frame in enumerate(frames):
            frame = np.asarray(frame, dtype=np.uint8)
            if (H, W) != (h, w):
                frame = np.pad(frame, ((0, H - h), (0, W - w), (0, 0)), constant_values=255)
            writer.send(np.ascontiguousarray(frame))
            if progress is not None:
                progress(k + 1, len(frames))
    finally:
        writer.close()


FORMATS = {".gif": write_gif, ".mp4": write_mp4}


def export_chain(
    view: ChainView,
    target: Target,
    fmt: str | None = None,
    size: int = SIZE,
    fps: int = FPS,
    arrows: str = ARROWS_FIXED,
    progress: Progress = None,
) -> None:
    """Draw `view`'s frames and write them as a GIF or MP4 (`fmt` ".gif" / ".mp4", else the path's
    extension). `progress(done, total)` counts drawing and writing together."""
    suffix = (fmt or Path(str(getattr(target, "name", target))).suffix).lower()
    if suffix not in FORMATS:
        raise ExportError(f"{target}: an animation must end in .gif or .mp4")
    size, fps = check_size(size), check_fps(fps)
    total = 2 * len(view.t)
    drawn = lambda done, _: progress(done, total)
    written = lambda done, _: progress(len(view.t) + done, total)
    frames = chain_frames(view, size, arrows, drawn if progress else None)
    FORMATS[suffix](frames, target, fps, written if progress else None)


def chain_bytes(
    view: ChainView,
    fmt: str,
    size: int = SIZE,
    fps: int = FPS,
    arrows: str = ARROWS_FIXED,
    progress: Progress = None,
) -> bytes:
    """export_chain into memory: what a page's download button offers."""
    buffer = io.BytesIO()
    export_chain(view, buffer, fmt, size, fps, arrows, progress)
    return buffer.getvalue()


COMPARE_SIZE = 480  # one panel of a comparison: four side by side make a 1920 px wide slide


def comparison_frames(
    labels: Sequence[str],
    chains: Sequence[ReverseView],
    Ts: Sequence[int],
    size: int = COMPARE_SIZE,
    progress: Progress = None,
) -> list[np.ndarray]:
    """The Compare page's animation as frames: each model's reverse chain (aligned over t/T, as
    `compare.compare_view` makes them, so every chain has the same number of frames) in a panel of
    `size` px, side by side, each titled with its model and its own t."""
    if not chains or len({len(c.t) for c in chains}) != 1:
        raise ExportError("a comparison needs one or more chains with the same number of frames")
    total = len(chains) * len(chains[0].t)
    panels = []
    for label, chain, T in zip(labels, chains, Ts, strict=True):
        done = len(panels) * len(chain.t)
        step = (lambda k, _, done=done: progress(done + k, total)) if progress else None
        panels.append(chain_frames(chain, size, progress=step, title=label, T=T))
    return [np.concatenate(frame, axis=1) for frame in zip(*panels)]


def comparison_bytes(
    labels: Sequence[str],
    chains: Sequence[ReverseView],
    Ts: Sequence[int],
    fmt: str,
    size: int = COMPARE_SIZE,
    fps: int = FPS,
    progress: Progress = None,
) -> bytes:
    """The comparison as a GIF or MP4 in memory (`fmt` ".gif" / ".mp4"), drawing and writing counted together."""
    if fmt not in FORMATS:
        raise ExportError(f"a comparison is a .gif or an .mp4, not {fmt!r}")
    n = len(chains[0].t) if chains else 0
    drawn = (lambda done, total: progress(done, total + n)) if progress else None
    frames = comparison_frames(labels, chains, Ts, check_size(size), drawn)
    written = (lambda done, _: progress(len(chains) * n + done, (len(chains) + 1) * n)) if progress else None
    buffer = io.BytesIO()
    FORMATS[fmt](frames, buffer, check_fps(fps), written)
    return buffer.getvalue()


# ---------------------------------------------------------------------- Figure 1
def figure1_image(view: Figure1View, size: tuple[int, int] = SLIDE_SIZE) -> np.ndarray:
    """The paper's Figure 1 (rows q, p, drift; columns t = 0, T/2, T) as one (H, W, 3) uint8 image."""
    w, h = (check_size(int(v), "size") for v in size)
    image = Image.new("RGB", (w, h), WHITE)
    draw = ImageDraw.Draw(image)
    title_px = 0.028 * h
    top, bottom, gap, note_px = 0.075 * h, 0.045 * h, 0.018 * h, 0.015 * h
    side = (h - top - bottom - 2 * gap) / 3
    row_titles = ("q(xₜ): data → noise", "p(xₜ): noise → data", "drift f_μ(xₜ, t) − xₜ")
    label_w = max(draw.textlength(_safe(_font(int(title_px)), s), font=_font(int(title_px))) for s in row_titles)
    label_w += 0.6 * title_px
    side = min(side, (w - label_w - 2 * gap - 0.02 * w) / 3)
    x_start = (w - (label_w + 3 * side + 2 * gap)) / 2 + label_w
    T = view.t[-1]
    col_titles = ("t = 0", f"t = T/2 = {view.t[1]}", f"t = T = {T}")
    spacing = _grid_spacing(view.grid)
    radius = max(1.0, side / 190)
    line = max(1, round(side / 300))
    for c in range(3):
        x0 = x_start + c * (side + gap)
        _text(draw, (x0 + side / 2, top - 0.35 * title_px), col_titles[c], title_px, anchor="md")
        panels = [_Panel(x0, top + r * (side + gap), side, view.extent) for r in range(3)]
        panels[0].points(draw, view.q[c], ramp(view.q_color), radius)
        panels[1].points(draw, view.p[c], ramp(view.p_color), radius)
        faint = view.p[c, :600]  # as the page: a few samples show where the roll is, behind the arrows
        panels[2].points(draw, faint, FAINT, radius * 0.8)
        scale = drift_scale(view.drift[c], spacing)
        panels[2].arrows(draw, view.grid, view.drift[c], scale, FIGURE1_ARROW, line)
        panels[2].points(draw, view.grid, FIGURE1_ARROW, max(1.0, radius * 0.7))
        step = f"step t = {view.drift_t[c]}" + (" (last learned step)" if view.t[c] != view.drift_t[c] else "")
        # under the panel, not on it as on the page: at slide size the note is wider than the arrows leave free
        _text(
            draw, (x0 + side / 2, top + 3 * side + 2 * gap + 0.008 * h), f"{step}, arrows × {scale:.3g}", note_px, "mt"
        )
        for p in panels:
            p.frame(draw, ticks=False)
    for r in range(3):
        y = top + r * (side + gap) + side / 2
        _text(draw, (x_start - 0.6 * title_px, y), row_titles[r], title_px, anchor="rm")
    return np.asarray(image)


def figure1_png(view: Figure1View, target: Target, size: tuple[int, int] = SLIDE_SIZE) -> None:
    """Figure 1 as a PNG of `size` (width, height) pixels, a full-HD slide by default."""
    path = _check_target(target, (".png",), "PNG")
    Image.fromarray(figure1_image(view, size)).save(target if path is None else path, format="PNG", optimize=True)


def figure1_bytes(view: Figure1View, size: tuple[int, int] = SLIDE_SIZE) -> bytes:
    buffer = io.BytesIO()
    figure1_png(view, buffer, size)
    return buffer.getvalue()
