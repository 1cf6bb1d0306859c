"""The tutorial's network: a shared trunk and one readout head per timestep, heads stacked.

    trunk:   Linear(2, H) - ReLU - Linear(H, H) - ReLU              (shared by every t)
    head t:  Linear(H, H) - ReLU - Linear(H, 4)                      (one per t = 2..T)

The tutorial keeps the heads in a ModuleList and so can only run one t per batch. Here the heads'
weights are stacked into (T-1, H, H) and (T-1, H, 4) tensors, so a batch laid out as (K, n, 2)
with one t per row runs every head at once in two batched matmuls. The tutorial also allocates a
head for t = 1 that it never calls (the last reverse step is fixed, not learned); we leave it out, so
a batch of every t uses the stacked tensors whole, with no gather and no scatter in backward.

`diffusion.live_units.LiveUnitsNet` is the same network with a faster path for CPU training; it
has the same parameters and gives the same numbers.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ReverseNet(nn.Module):
    """Maps (x_t, t) to four numbers per point: the raw parameters of p(x_{t-1} | x_t)."""

    def __init__(self, T: int, width: int = 128, generator: torch.Generator | None = None):
        super().__init__()
        self.T = T
        self.width = width
        self.trunk = nn.Sequential(
            nn.Linear(2, width), nn.ReLU(inplace=True), nn.Linear(width, width), nn.ReLU(inplace=True)
        )
        # Row t - 2 holds the head of timestep t.
        self.head_w1 = nn.Parameter(torch.empty(T - 1, width, width))
        self.head_b1 = nn.Parameter(torch.empty(T - 1, width))
        self.head_w2 = nn.Parameter(torch.empty(T - 1, width, 4))
        self.head_b2 = nn.Parameter(torch.empty(T - 1, 4))
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """nn.Linear's default distribution, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for every layer.

        Drawn from `generator` rather than torch's process-wide generator, so two runs started
        at once in one server each get exactly the weights their seed promises.
        """
        for layer in (self.trunk[0], self.trunk[2]):
            bound = 1.0 / math.sqrt(layer.in_features)
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
        bound = 1.0 / math.sqrt(self.width)
        for p in (self.head_w1, self.head_b1):
            p.uniform_(-bound, bound, generator=generator)
        # Zero readout: every head starts as "f = 0, offset 0", which under the paper's
        # parameterisation is already a sane kernel (mean sqrt(alpha_t) x_t, posterior variance).
        nn.init.zeros_(self.head_w2)
        nn.init.zeros_(self.head_b2)

    def forward(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """x: (N, 2) points all at timestep t (2 <= t <= T). Returns (N, 4)."""
        return self.forward_grouped(x.unsqueeze(0), range(t, t + 1))[0]

    def forward_grouped(self, x: torch.Tensor, t: torch.Tensor | range) -> torch.Tensor:
        """x: (K, n, 2), row k at timestep t[k] (t: (K,) long tensor or a range, 2..T). Returns (K, n, 4).

        One trunk pass and two batched matmuls for all K heads: this is what lets a single batch
        train every timestep.
        """
        K, n, _ = x.shape
        h = self.trunk(x.reshape(K * n, 2)).reshape(K, n, self.width)
        w1, b1, w2, b2 = self.heads(t)
        h = torch.baddbmm(b1.unsqueeze(1), h, w1).relu_()
        return torch.baddbmm(b2.unsqueeze(1), h, w2)

    def heads(self, t: torch.Tensor | range) -> tuple[torch.Tensor, ...]:
        """The stacked head weights (w1, b1, w2, b2) of the timesteps t, one row per t.

        A `range` selects them by slicing, whose backward is a plain copy; gathering by index
        costs a scatter-add on every step.
        """
        if isinstance(t, range):
            i = slice(t.start - 2, t.stop - 2)
            if (t.start, t.stop) == (2, self.T + 1):
                return self.head_w1, self.head_b1, self.head_w2, self.head_b2
        else:
            i = t - 2
        return self.head_w1[i], self.head_b1[i], self.head_w2[i], self.head_b2[i]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
