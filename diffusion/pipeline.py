"""A trained (or fresh) model with everything the views need: the one object pages, CLI and tests pass around.

`DiffusionPipeline` bundles the config, the network, the diffusion maths and the training history,
and answers in numpy (float32 for anything that goes to a chart):
    forward_trajectory(n, seed)  -> (T + 1, n, 2) and each point's position along the roll
    reverse_trajectory(n, seed)  -> (T + 1, n, 2), generation from traj[T] down to traj[0]
    drift_field(grid_n)          -> the grid (G, 2) and f_mu(x, t) - x at every t, (T + 1, G, 2)
    bound(n, seed), quality(n, seed)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from . import datasets
from .config import DataScale, DiffusionConfig, check_n_points, check_seed, resolve_device
from .data import plot_extent
from .datasets import DataSet
from .gaussian_diffusion import GaussianDiffusion
from .memory import drift_chunk
from .metrics import L_NULL_BITS, Bound, SampleQuality, likelihood_bound, sample_quality, unit_variance_offset_bits
from .model import ReverseNet
from .train import TrainingHistory, build_model

PLOT_EXTENT = plot_extent("tutorial")  # the tutorial's figure uses axes [-2, 2]; see `plot_extent` per scale
HELD_OUT_SEED = 7_777  # held-out points for the bound: never a training draw (those come from torch)


@dataclass
class DiffusionPipeline:
    config: DiffusionConfig
    model: ReverseNet
    diffusion: GaussianDiffusion
    history: TrainingHistory = field(default_factory=TrainingHistory)
    steps_trained: int = 0
    # The data it learns; None: the named set of `config.data` (a user's own points are given here).
    dataset: DataSet | None = None

    @property
    def data(self) -> DataSet:
        if self.dataset is None:
            self.dataset = datasets.resolve(self.config.data)
        return self.dataset

    @property
    def quality_data(self):
        """What the quality is measured against: the set's name (its held-out points are cached per
        process by name), or a user's own points."""
        return self.data if self.data.is_custom else self.config.data

    @classmethod
    def untrained(cls, config: DiffusionConfig, dataset: DataSet | None = None) -> DiffusionPipeline:
        device = resolve_device(config.validate().device)
        model, diffusion = build_model(config, device)
        history = TrainingHistory(kl_per_t=[float("nan")] * (config.T - 1))
        return cls(config, model.eval(), diffusion, history, dataset=dataset)

    @classmethod
    def from_trainer(cls, trainer) -> DiffusionPipeline:
        """A frozen copy of a Trainer's sampling weights and history (training may go on)."""
        history = TrainingHistory.from_dict(trainer.history.to_dict())
        return cls(
            trainer.config, trainer.snapshot_model(), trainer.diffusion, history, trainer.step_count, trainer.dataset
        )

    @property
    def T(self) -> int:
        return self.config.T

    @property
    def device(self) -> torch.device:
        return self.diffusion.device

    @property
    def plot_extent(self) -> float:
        """Plots of this model span [-extent, extent]^2 in its data's coordinates."""
        return plot_extent(self.config.data_scale)

    @property
    def weight_bytes(self) -> int:
        """Memory held by the network's weights (what keeping this model costs)."""
        return sum(p.numel() * p.element_size() for p in self.model.parameters())

    # ------------------------------------------------------------------ views
    def forward_trajectory(self, n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """x_0..x_T of q for n data points: (T + 1, n, 2) float32, and each point's colour (n,)
        (its position along the roll, see `DataSet.sample`)."""
        check_n_points(n)
        check_seed(seed)
        x0, position = self.data.sample_model(n, seed, self.config.data_scale)
        g = torch.Generator().manual_seed(seed)
        traj = self.diffusion.forward_trajectory(torch.from_numpy(x0), generator=g)
        return traj.cpu().numpy().astype(np.float32), position

    def reverse_trajectory(self, n: int = 2000, seed: int = 0) -> np.ndarray:
        """x_T..x_0 of p for n points, (T + 1, n, 2) float32 indexed by t (traj[0] are the samples)."""
        check_n_points(n)
        check_seed(seed)
        with torch.inference_mode():
            traj = self.diffusion.p_sample_trajectory(self.model, n, seed=seed)
        return traj.cpu().numpy().astype(np.float32)

    def samples(self, n: int = 5000, seed: int = 0) -> np.ndarray:
        """x_0 of p: (n, 2) float32 in the model's coordinates (what the plots show)."""
        return self.reverse_trajectory(n, seed)[0]

    def to_own(self, points: np.ndarray) -> np.ndarray:
        """Points of this model moved to the data's own coordinates (a CSV file's units), float32:
        what `sample` and a download give."""
        return self.data.to_own(np.asarray(points, dtype=np.float64), self.config.data_scale).astype(np.float32)

    def drift_field(self, grid_n: int = 25, extent: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Grid (grid_n^2, 2) on [-extent, extent]^2 (default: the scale's plot extent) and drift
        f_mu(x, t) - x, (T + 1, grid_n^2, 2).

        Entry t is the drift of the step that produces x_{t-1} from x_t; entry 0 is zero (no step
        leaves x_0) and entry 1 is (sqrt(alpha_1) - 1) x, the fixed last step p(x_0 | x_1).
        """
        extent = self.plot_extent if extent is None else extent
        axis = np.linspace(-extent, extent, grid_n, dtype=np.float32)
        gx, gy = np.meshgrid(axis, axis)
        grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
        points = torch.from_numpy(grid).to(self.device)
        out = np.zeros((self.T + 1, grid.shape[0], 2), dtype=np.float32)
        # A few timesteps at a time: all T - 1 heads on the grid at once would hold
        # (T - 1, G, width) layers, gigabytes for a long, wide uploaded model.
        step = drift_chunk(self.config, grid.shape[0])
        with torch.inference_mode():
            for start in range(2, self.T + 1, step):
                t = range(start, min(start + step, self.T + 1))
                h = points.unsqueeze(0).expand(len(t), -1, -1)
                mean, _ = self.diffusion.p_mean_variance_grouped(self.model, h, t)
                out[t.start : t.stop] = (mean - h).cpu().numpy()
        out[1] = (np.sqrt(self.diffusion.schedule.alphas[1]) - 1.0) * grid
        return grid, out

    def bound(self, n: int = 20_000, seed: int = HELD_OUT_SEED) -> Bound:
        """The paper's K on n held-out data points (numpy's draw, never a training one), at the
        model's data scale."""
        check_n_points(n)
        scale = self.config.data_scale
        x0, _ = self.data.sample_model(n, seed, scale)
        with torch.inference_mode():
            bound = likelihood_bound(self.diffusion, self.model, x0, seed=seed, data_scale=scale)
        if DataScale(scale) is DataScale.TUTORIAL and self.config.data != "swiss_roll":
            # Table 1's unit variance: sum_d log2 s_d with this data's per-axis spread, not the roll's
            unit = bound.bits + unit_variance_offset_bits(datasets.spread_per_axis(self.data, DataScale(scale).value))
            bound = dataclasses.replace(bound, bits_unit_variance=unit, minus_null_bits=unit - L_NULL_BITS)
        return bound

    def quality(self, n: int = 5000, seed: int = 0) -> SampleQuality:
        """Precision, recall, SW1 and chamfer of n samples against 5,000 fresh points of the model's
        data, in the data's own coordinates."""
        return sample_quality(self.samples(n, seed), data_scale=self.config.data_scale, data=self.quality_data)
