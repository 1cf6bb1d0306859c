"""The paper's own network for the Swiss roll (App. D.1.1): a normalised radial-basis-function net.

    a_j(x) = exp(-|x - c_j|^2 / (2 w_j^2)) / sum_k exp(-|x - c_k|^2 / (2 w_k^2)),  j = 1..H (H = 16)
    out_t(x) = a(x) V_t + b_t,  V_t: (H, 4), one readout per t = 2..T

Centres c_j and widths w_j are learned and shared by every t and by the mean and the variance; only
the readout is per t. Same interface as `diffusion.model.ReverseNet` (forward, forward_grouped),
so `GaussianDiffusion` uses it unchanged; `DiffusionConfig.width` is H.
"""

from __future__ import annotations

import torch
from torch import nn


class RBFNet(nn.Module):
    """Maps (x_t, t) to four numbers per point through H normalised Gaussian bumps."""

    def __init__(self, T: int, width: int = 16, generator: torch.Generator | None = None):
        super().__init__()
        self.T = T
        self.width = width
        self.centres = nn.Parameter(torch.empty(width, 2))
        self.log_widths = nn.Parameter(torch.empty(width))
        self.readout_w = nn.Parameter(torch.empty(T - 1, width, 4))  # row t - 2 is timestep t
        self.readout_b = nn.Parameter(torch.empty(T - 1, 4))
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Centres N(0, I) (where x_t lies at every scale once t is large), widths 1/2, and a zero
        readout: f = 0 and offset 0, under the paper's parameterisation already a sane kernel."""
        self.centres.normal_(0.0, 1.0, generator=generator)
        self.log_widths.fill_(-0.6931471805599453)
        nn.init.zeros_(self.readout_w)
        nn.init.zeros_(self.readout_b)

    def activations(self, x: torch.Tensor) -> torch.Tensor:
        """a(x) for points x (..., 2): shape (..., H), non-negative, summing to 1 over H."""
        d2 = ((x.unsqueeze(-2) - self.centres) ** 2).sum(-1)
        return torch.softmax(-0.5 * d2 * torch.exp(-2.0 * self.log_widths), dim=-1)

    def forward(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """x: (N, 2) points all at timestep t (2 <= t <= T). Returns (N, 4)."""
        return self.forward_grouped(x.unsqueeze(0), range(t, t + 1))[0]

    def forward_grouped(self, x: torch.Tensor, t: torch.Tensor | range) -> torch.Tensor:
        """x: (K, n, 2), row k at timestep t[k] (t: (K,) long tensor or a range, 2..T). Returns (K, n, 4)."""
        i = slice(t.start - 2, t.stop - 2) if isinstance(t, range) else t - 2
        return torch.baddbmm(self.readout_b[i].unsqueeze(1), self.activations(x), self.readout_w[i])
