"""The data a model learns: the tutorial's Swiss roll and other 2-D sets, all at one common scale.

Each set has its own coordinates, the ones every plot and download uses:
- the Swiss roll (and the roll with noise) keep the tutorial's: sklearn's roll divided by 10;
- every other set is centred and scaled by one constant so that its spread matches the roll's
  (per-axis variance averaging c_roll^2, c_roll ~ 0.68), so a schedule acts alike on each;
- a user's own points (a CSV file or a drawing) keep the file's units.
A model trains at `DiffusionConfig.data_scale` of them: "tutorial" is the coordinates above for the
named sets (a user's points are centred and scaled to the same spread); "unit" is the paper's
protocol, centred and divided by one constant to variance 1. `to_model` and `to_own` move points
between the two, so samples leave the engine in the data's own coordinates whatever scale trained.

Every set draws fresh points each training step with torch on the training device
(`DataSet.sample_torch`), and held-out sets with numpy (`DataSet.sample`), each point with a colour
in [0, 1]: the position along the curve where there is one, the component for a mixture, the angle
around the centre otherwise.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial import cKDTree
from sklearn.datasets import make_circles, make_moons, make_s_curve

from . import data as roll
from .config import DataScale

# Every named set, in the picker's order; "custom" is a user's own points.
NAMES = ("swiss_roll", "noisy_roll", "moons", "circles", "s_curve", "gaussians", "checkerboard")
CUSTOM = "custom"
LABELS = {
    "swiss_roll": "Swiss roll (the tutorial's)",
    "noisy_roll": "Swiss roll with noise",
    "moons": "Two moons",
    "circles": "Two circles",
    "s_curve": "S-curve",
    "gaussians": "Ring of 8 Gaussians",
    "checkerboard": "Checkerboard",
    CUSTOM: "Your own points",
}
# In a sentence or a title ("from the moons to noise"): short, so a page title stays one line.
SHORT_LABELS = {
    "swiss_roll": "the roll",
    "noisy_roll": "the noisy roll",
    "moons": "the moons",
    "circles": "the circles",
    "s_curve": "the S-curve",
    "gaussians": "the 8 Gaussians",
    "checkerboard": "the checkerboard",
    CUSTOM: "your points",
}
# The generators' own parameters, in their native units (before the common scale).
NOISY_ROLL_NOISE = 0.5  # sklearn's `noise` of make_swiss_roll: 0.05 after the tutorial's /10
MOONS_NOISE = 0.05  # the moons have radius 1
CIRCLES_FACTOR = 0.5  # inner radius / outer radius (outer: 1)
CIRCLES_NOISE = 0.03
GAUSSIANS_RADIUS = 2.0
GAUSSIANS_STD = 0.1
GAUSSIANS_MODES = 8
CHECKER_CELLS = 4  # a 4 x 4 board on [-2, 2]^2; the 8 cells with i + j even hold the data

# A user's own points: at most this many are kept (a seeded subsample beyond).
CUSTOM_POINTS_MAX = 20_000
CUSTOM_POINTS_MIN = 2


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------- native generators
# Each returns (points (n, 2) float64 in native units, colour (n,) in [0, 1]) with numpy, and
# points with torch for a shape (*shape, 2); sklearn's generators where it has them.


def _moons_np(n, seed):
    x, label = make_moons(n, noise=MOONS_NOISE, random_state=seed)
    return x, label.astype(np.float64)


def _moons_torch(shape, g, device):
    u = torch.rand(shape, generator=g, device=device) * math.pi
    lower = torch.rand(shape, generator=g, device=device) < 0.5
    x = torch.where(lower, 1.0 - torch.cos(u), torch.cos(u))
    y = torch.where(lower, 0.5 - torch.sin(u), torch.sin(u))
    out = torch.stack((x, y), dim=-1)
    return out + MOONS_NOISE * torch.randn(out.shape, generator=g, device=device)


def _circles_np(n, seed):
    x, label = make_circles(n, factor=CIRCLES_FACTOR, noise=CIRCLES_NOISE, random_state=seed)
    return x, _angle(x)


def _circles_torch(shape, g, device):
    u = torch.rand(shape, generator=g, device=device) * (2 * math.pi)
    inner = torch.rand(shape, generator=g, device=device) < 0.5
    r = torch.where(inner, CIRCLES_FACTOR, 1.0)
    out = torch.stack((r * torch.cos(u), r * torch.sin(u)), dim=-1)
    return out + CIRCLES_NOISE * torch.randn(out.shape, generator=g, device=device)


def _s_curve_np(n, seed):
    x, t = make_s_curve(n, noise=0.0, random_state=seed)
    return x[:, [0, 2]], (t + 1.5 * math.pi) / (3 * math.pi)


def _s_curve_torch(shape, g, device):
    # sklearn's S-curve seen from the side: t uniform in 3 pi (-1/2, 1/2), (sin t, sign(t)(cos t - 1)).
    t = 3 * math.pi * (torch.rand(shape, generator=g, device=device) - 0.5)
    return torch.stack((torch.sin(t), torch.sign(t) * (torch.cos(t) - 1.0)), dim=-1)


def _gaussian_centres() -> np.ndarray:
    angle = 2 * math.pi * np.arange(GAUSSIANS_MODES) / GAUSSIANS_MODES
    return GAUSSIANS_RADIUS * np.stack((np.cos(angle), np.sin(angle)), axis=1)


def _gaussians_np(n, seed):
    rng = _rng(seed)
    k = rng.integers(0, GAUSSIANS_MODES, n)
    return _gaussian_centres()[k] + GAUSSIANS_STD * rng.standard_normal((n, 2)), k / (GAUSSIANS_MODES - 1)


def _gaussians_torch(shape, g, device):
    centres = torch.as_tensor(_gaussian_centres(), dtype=torch.float32, device=device)
    k = torch.randint(0, GAUSSIANS_MODES, shape, generator=g, device=device)
    return centres[k] + GAUSSIANS_STD * torch.randn((*shape, 2), generator=g, device=device)


def _checker_cells() -> np.ndarray:
    """Lower-left corners (8, 2) of the board's data cells (i + j even), cells of side 4 / CHECKER_CELLS."""
    side = 4.0 / CHECKER_CELLS
    cells = [(i, j) for i in range(CHECKER_CELLS) for j in range(CHECKER_CELLS) if (i + j) % 2 == 0]
    return np.array(cells, dtype=np.float64) * side - 2.0


def _checkerboard_np(n, seed):
    rng = _rng(seed)
    corners = _checker_cells()
    x = corners[rng.integers(0, len(corners), n)] + rng.uniform(0.0, 4.0 / CHECKER_CELLS, (n, 2))
    return x, _angle(x)


def _checkerboard_torch(shape, g, device):
    corners = torch.as_tensor(_checker_cells(), dtype=torch.float32, device=device)
    k = torch.randint(0, len(corners), shape, generator=g, device=device)
    return corners[k] + (4.0 / CHECKER_CELLS) * torch.rand((*shape, 2), generator=g, device=device)


def _roll_np(noise):
    def sample(n, seed):
        from sklearn.datasets import make_swiss_roll

        x, s = make_swiss_roll(n, noise=noise, random_state=seed)
        points = x[:, [2, 0]] / 10.0 * np.array([1.0, -1.0])
        return points, (s - roll.ROLL_MIN) / (roll.ROLL_MAX - roll.ROLL_MIN)

    return sample


def _noisy_roll_torch(shape, g, device):
    s = roll.ROLL_MIN + (roll.ROLL_MAX - roll.ROLL_MIN) * torch.rand(shape, generator=g, device=device)
    return roll.roll_at(s) + (NOISY_ROLL_NOISE / 10.0) * torch.randn((*shape, 2), generator=g, device=device)


def _angle(x: np.ndarray) -> np.ndarray:
    """Angle around the origin, in [0, 1]: the colour of a set with no curve and no components."""
    return (np.arctan2(x[:, 1], x[:, 0]) + math.pi) / (2 * math.pi)


# ---------------------------------------------------------------------- the common scale


@dataclass(frozen=True)
class Affine:
    """model = (own - offset) / scale: one offset (2,) and one constant, so shapes keep their aspect."""

    offset: np.ndarray
    scale: float

    def forward(self, points):
        offset = self.offset
        if isinstance(points, torch.Tensor):
            offset = torch.as_tensor(offset, dtype=points.dtype, device=points.device)
        return (points - offset) / self.scale

    def inverse(self, points):
        offset = self.offset
        if isinstance(points, torch.Tensor):
            offset = torch.as_tensor(offset, dtype=points.dtype, device=points.device)
        return points * self.scale + offset

    @property
    def is_identity(self) -> bool:
        return self.scale == 1.0 and not np.any(self.offset)


def spread_of(points: np.ndarray) -> Affine:
    """The centring and the one constant that give `points` variance 1 per axis on average."""
    points = np.asarray(points, dtype=np.float64)
    scale = float(np.sqrt(points.var(axis=0).mean()))
    return Affine(points.mean(axis=0), scale if scale > 0 else 1.0)


@functools.lru_cache(maxsize=32)
def spread_per_axis(dataset: DataSet, scale: str) -> np.ndarray:
    """Per-axis standard deviation (2,) of a data set in a model's coordinates at `scale`, from
    200,000 fixed points (what K at unit variance rescales by), made once per set."""
    return dataset.sample_model(200_000, 12345, scale)[0].astype(np.float64).std(axis=0)


def roll_spread() -> float:
    """c_roll: the tutorial's roll's spread, the one every named set is given."""
    return roll.unit_transform()[1]


@dataclass(frozen=True, eq=False)
class DataSet:
    """One data set: points in its own coordinates, and the maps to a model's coordinates."""

    name: str
    _sample: Callable[[int, int | None], tuple[np.ndarray, np.ndarray]] = field(repr=False)
    _sample_torch: Callable | None = field(repr=False)
    native_to_own: Affine = field(repr=False)  # own = native_to_own.forward(native points)
    own_to_unit: Affine = field(repr=False)
    points: np.ndarray | None = field(default=None, repr=False)  # a user's own points, own coordinates
    source: str = ""  # where a user's points came from (a file name, "drawing")
    _colour: np.ndarray | None = field(default=None, repr=False)
    digest: str = ""  # a user's points: a digest of them, what caches key on (a named set: its name)

    @property
    def key(self) -> str:
        """What names this data: the set's name, or "custom:" and a digest of a user's points."""
        return f"{CUSTOM}:{self.digest}" if self.is_custom else self.name

    @property
    def label(self) -> str:
        return LABELS[self.name]

    @property
    def is_custom(self) -> bool:
        return self.name == CUSTOM

    # -------------------------------------------------------------- coordinates
    def own_to_model(self, scale: DataScale | str) -> Affine:
        """model = (own - offset) / scale for a model at `scale`."""
        unit = self.own_to_unit
        if DataScale(scale) is DataScale.UNIT:
            return unit
        if self.name in ("swiss_roll", "noisy_roll"):
            return Affine(np.zeros(2), 1.0)  # the tutorial's coordinates are this set's own
        return Affine(unit.offset, unit.scale / roll_spread())

    def to_model(self, points, scale: DataScale | str):
        """Points in the data's own coordinates moved to a model's at `scale` (numpy or torch)."""
        return self.own_to_model(scale).forward(points)

    def to_own(self, points, scale: DataScale | str):
        """Points of a model at `scale` moved to the data's own coordinates (numpy or torch)."""
        return self.own_to_model(scale).inverse(points)

    # -------------------------------------------------------------- drawing
    def _sample64(self, n: int, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Own coordinates in float64 (rounded once, at the end of a caller's maps) and colours."""
        if self.points is not None:
            idx = _rng(seed).integers(0, len(self.points), n)
            return self.points[idx].astype(np.float64), self._colour[idx].astype(np.float32)
        native, colour = self._sample(n, seed)
        return self.native_to_own.forward(native), np.clip(colour, 0.0, 1.0).astype(np.float32)

    def sample(self, n: int, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
        """n points (n, 2) float32 in the data's own coordinates and their colours (n,) in [0, 1]."""
        own, colour = self._sample64(n, seed)
        return own.astype(np.float32), colour

    def sample_model(self, n: int, seed: int | None, scale: DataScale | str) -> tuple[np.ndarray, np.ndarray]:
        """As `sample`, in a model's coordinates at `scale`."""
        own, colour = self._sample64(n, seed)
        return self.to_model(own, scale).astype(np.float32), colour

    def sample_torch(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        stratified: bool = False,
        scale: DataScale | str = DataScale.TUTORIAL,
    ) -> torch.Tensor:
        """Fresh points (*shape, 2) float32 in a model's coordinates at `scale`, drawn on `device`.
        `stratified` (the roll only): each row covers the roll evenly (see data.swiss_roll_torch)."""
        if self.name == "swiss_roll":
            return roll.swiss_roll_torch(shape, generator, device, stratified=stratified, scale=scale)
        if self.points is not None:
            table = _device_table(self, str(device), DataScale(scale).value)
            idx = torch.randint(0, table.shape[0], shape, generator=generator, device=device)
            return table[idx]
        native = self._sample_torch(shape, generator, device)
        own = self.native_to_own.forward(native)
        return self.to_model(own, scale).to(torch.float32)

    def colour(self, points: np.ndarray, scale: DataScale | str, reference: int = 4000) -> np.ndarray:
        """The colour (n,) of the data point nearest each of `points` (n, 2, a model's coordinates)."""
        ref, colour = self.sample_model(reference, 0, scale)
        finite = np.isfinite(points).all(axis=1)
        out = np.zeros(len(points), dtype=np.float32)
        if finite.any():
            _, idx = cKDTree(ref).query(points[finite], k=1)
            out[finite] = colour[idx]
        return out

    def outline(self, scale: DataScale | str, n: int = 600) -> np.ndarray:
        """Points (n, 2) of the data in a model's coordinates, drawn faintly behind samples: the
        roll's curve as an ordered polyline, any other set as a fixed scatter."""
        points, colour = self.sample_model(n, 1, scale)
        if self.name == "swiss_roll":
            return points[np.argsort(colour)]
        return points

    def outline_is_curve(self) -> bool:
        return self.name == "swiss_roll"


@functools.lru_cache(maxsize=16)
def _device_table(dataset: DataSet, device: str, scale: str) -> torch.Tensor:
    points = dataset.to_model(dataset.points.astype(np.float64), scale)
    return torch.as_tensor(points, dtype=torch.float32, device=device)


_NATIVE = {
    "swiss_roll": (_roll_np(0.0), None),
    "noisy_roll": (_roll_np(NOISY_ROLL_NOISE), _noisy_roll_torch),
    "moons": (_moons_np, _moons_torch),
    "circles": (_circles_np, _circles_torch),
    "s_curve": (_s_curve_np, _s_curve_torch),
    "gaussians": (_gaussians_np, _gaussians_torch),
    "checkerboard": (_checkerboard_np, _checkerboard_torch),
}


@functools.cache
def get(name: str) -> DataSet:
    """The named data set (one of NAMES); ValueError names the allowed ones."""
    if name not in _NATIVE:
        raise ValueError(f"unknown data set {name!r}; allowed: {', '.join(NAMES)}")
    sample, sample_torch = _NATIVE[name]
    if name in ("swiss_roll", "noisy_roll"):
        # The tutorial's coordinates are the roll's own, and its unit transform is the roll's.
        m, c = roll.unit_transform()
        return DataSet(name, sample, sample_torch, Affine(np.zeros(2), 1.0), Affine(np.asarray(m), c))
    # The constants from 200,000 fixed points, as for the roll.
    native, _ = sample(200_000, 12345)
    native_unit = spread_of(native)
    # own = unit * c_roll: centred, with the roll's spread.
    native_to_own = Affine(native_unit.offset, native_unit.scale / roll_spread())
    return DataSet(name, sample, sample_torch, native_to_own, Affine(np.zeros(2), roll_spread()))


class PointsError(ValueError):
    """A user's points cannot be used. The message is one line, fit for a UI or stderr."""


def from_points(points, source: str = "", seed: int = 0) -> tuple[DataSet, str]:
    """A data set of a user's own points (n, 2) in their own units, and a note for the user ("" or
    what was done: a subsample). Raises PointsError for points that cannot be learned."""
    try:
        points = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise PointsError("the points are not numbers") from None
    if points.ndim != 2 or points.shape[1] != 2:
        raise PointsError(f"need two columns (x, y); got an array of shape {points.shape}")
    if not np.isfinite(points).all():
        bad = int((~np.isfinite(points).all(axis=1)).sum())
        raise PointsError(f"{bad:,} point(s) hold NaN or infinity; every x and y must be a finite number")
    if len(points) < CUSTOM_POINTS_MIN:
        raise PointsError(f"{len(points)} point(s) given; need at least {CUSTOM_POINTS_MIN}")
    note = ""
    if len(points) > CUSTOM_POINTS_MAX:
        keep = np.sort(_rng(seed).choice(len(points), CUSTOM_POINTS_MAX, replace=False))
        note = f"{len(points):,} points: a random subsample of {CUSTOM_POINTS_MAX:,} is used (seed {seed})"
        points = points[keep]
    spread = spread_of(points)
    if not spread.scale > 1e-12 * max(1.0, float(np.abs(points).max())):
        raise PointsError("all points are the same; need points that spread out")
    if np.unique(points, axis=0).shape[0] < CUSTOM_POINTS_MIN:
        raise PointsError("all points are the same; need points that spread out")
    points = points.astype(np.float32)
    colour = _angle(spread.forward(points.astype(np.float64)))
    dataset = DataSet(
        CUSTOM,
        None,
        None,
        Affine(np.zeros(2), 1.0),
        spread,
        points=points,
        source=source,
        _colour=colour.astype(np.float32),
        digest=hashlib.sha256(points.tobytes()).hexdigest()[:16],
    )
    return dataset, note


def resolve(name: str, points: np.ndarray | None = None) -> DataSet:
    """The data set a config names, with a user's points for "custom"."""
    if name == CUSTOM:
        if points is None:
            raise ValueError("data: 'custom' needs the points (a CSV file or a drawing)")
        return from_points(points)[0]
    return get(name)


# ---------------------------------------------------------------------- a user's CSV file
CSV_BYTES_MAX = 32 * 2**20  # a million rows of two numbers fit; a bigger file is refused unread


def points_from_csv(data: bytes, source: str = "", seed: int = 0) -> tuple[DataSet, str]:
    """A data set from a CSV file's bytes: columns named x and y (any case), or exactly two columns
    with or without a header row. Returns the data set and a note ("" or what was done). Raises
    PointsError with one line naming what is wrong; nothing is run or kept from a bad file."""
    import pandas as pd  # local: only an upload needs it

    if len(data) > CSV_BYTES_MAX:
        raise PointsError(f"the file is {len(data) / 2**20:,.1f} MB; the limit is {CSV_BYTES_MAX / 2**20:.0f} MB")
    text = data.decode("utf-8-sig", errors="replace")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise PointsError("the file is empty; need rows of x, y")
    first = [cell.strip() for cell in lines[0].split(",")]
    has_header = not all(_is_number(v) for v in first)
    if has_header:
        names = [v.lower() for v in first]
        if "x" in names and "y" in names:
            columns, usecols = ("x", "y"), [names.index("x"), names.index("y")]
        elif len(first) == 2:
            columns, usecols = tuple(first), [0, 1]
        else:
            raise PointsError(f"need columns named x and y, or exactly two columns; found {', '.join(first)[:100]}")
        if len(lines) == 1:
            raise PointsError("the file has a header but no rows of points")
    else:
        if len(first) != 2:
            raise PointsError(f"need two columns (x, y); the file has {len(first)}")
        columns, usecols = ("x", "y"), [0, 1]
    body = "\n".join(lines[1:] if has_header else lines)
    try:  # the fast path: every cell a number
        values = pd.read_csv(io.StringIO(body), header=None, usecols=usecols, dtype=np.float64, na_filter=False)[
            usecols
        ].to_numpy()  # usecols keeps the file's order: put x first
    except (ValueError, pd.errors.ParserError):
        values = _cells_one_by_one(body, usecols, columns, has_header)
    return from_points(values, source=source, seed=seed)


def _cells_one_by_one(body: str, usecols: list[int], columns: tuple[str, str], has_header: bool) -> np.ndarray:
    """The slow pass, when the fast one failed: the points, or PointsError naming the first row
    whose x or y is not a number (a "nan" or "inf" is a number here: from_points names it)."""
    values = []
    for row, line in enumerate(body.split("\n")):
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) <= max(usecols):
            raise PointsError(f"row {row + 1 + has_header} has {len(cells)} column(s); need {max(usecols) + 1}")
        for name, j in zip(columns, usecols):
            if not _is_number(cells[j]):
                shown = "an empty cell" if cells[j] == "" else repr(cells[j][:30])
                raise PointsError(
                    f"row {row + 1 + has_header}, column {name}: {shown} is not a number; "
                    "every x and y must be a number"
                )
        values.append([float(cells[j]) for j in usecols])
    return np.asarray(values, dtype=np.float64)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
