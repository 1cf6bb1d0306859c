"""The tutorial's network: a shared trunk and one readout head per timestep, heads stacked.

    trunk:   Linear(2, H) - ReLU - Linear(H, H) - ReLU              (shared by every t)
    head t:  Linear(H, H) - ReLU - Linear(H, 4)                      (one per t = 2..T)

The tutorial keeps the heads in a ModuleList and so can only run one t per batch. Here the heads'
weights are stacked into (T-1, H, H) and (T-1, H, 4) tensors, so a batch laid out as (K, n, 2)
with one t per row runs every head at once in two batched matmuls. The tutorial also allocates a
head for t = 1 that it never calls (the last reverse step is the identity); we leave it out, so
a batch of every t uses the stacked tensors whole, with no gather and no scatter in backward.
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
        train every timestep, the tutorial's main cost. A `range` of t selects the heads by slicing,
        whose backward is a plain copy; gathering by index costs a scatter-add on every step.
        """
        K, n, _ = x.shape
        # The trunk's first layer with its weight made contiguous as (2, H): autograd then gets
        # its gradient as x^T g, (2, N) @ (N, H), instead of g^T x, (H, N) @ (N, 2), which MKL
        # runs ~7x slower (a 2-column output). Same numbers, the copy is 2H floats.
        first, second = self.trunk[0], self.trunk[2]
        h = torch.addmm(first.bias, x.reshape(K * n, 2), first.weight.t().contiguous()).relu_()
        h, live = _LiveUnits.apply(h, second.weight, second.bias)
        if isinstance(t, range) and (t.start, t.stop) == (2, self.T + 1):
            w1, b1, w2, b2 = self.head_w1, self.head_b1, self.head_w2, self.head_b2
        else:
            i = slice(t.start - 2, t.stop - 2) if isinstance(t, range) else t - 2
            w1, b1, w2, b2 = self.head_w1[i], self.head_b1[i], self.head_w2[i], self.head_b2[i]
        h = torch.baddbmm(b1.unsqueeze(1), h.reshape(K, n, len(live)), w1.index_select(1, live)).relu_()
        return _HeadReadout.apply(h, w2, b2)


class _LiveUnits(torch.autograd.Function):
    """relu(h @ W^T + b) for the trunk's last layer, only the columns of units that fire for some
    point of h (N, H): returns (N, A) and the A units' indices.

    Only the live units go on to the heads. A unit that is 0 for every point adds nothing to the
    heads' sums and gets a zero gradient (ReLU's derivative at 0 is 0), so leaving it out changes
    no number beyond float rounding. It pays because most of them die early: with the default lr
    of 1e-2, about 40 of 128 are live for a batch of x_t at step 300 (`benchmarks/bench_step.py`
    prints the count: 41 after its 300 steps), and the heads' first layer and this layer's
    backward shrink with them. CPU only: elsewhere every unit counts as live.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.addmm(bias, h, weight.t())
        if z.device.type == "cpu" and len(z):
            # amax rather than (z > 0).any(0), which took ~10x as long; "not <= 0" keeps a unit
            # with a NaN live, so a NaN still reaches the loss and stops the run as without this.
            live = (z.amax(0) <= 0).logical_not_().nonzero().squeeze(1)
        else:
            # On a GPU, nonzero() waits for the GPU, and that cost more than the skipped work
            # saves (the reverse trajectory of 5,000 points: 14.6 -> 21.1 ms on an H200).
            live = torch.arange(z.shape[1], device=z.device)
        out = z.index_select(1, live).relu_()
        ctx.save_for_backward(h, weight, out, live)
        ctx.mark_non_differentiable(live)
        return out, live

    @staticmethod
    def backward(ctx, g: torch.Tensor, _: None) -> tuple[torch.Tensor | None, ...]:
        h, weight, out, live = ctx.saved_tensors
        g = torch.ops.aten.threshold_backward(g, out, 0)  # ReLU's own backward: ~7x faster than g * (out > 0)
        grad_h = g @ weight.index_select(0, live) if ctx.needs_input_grad[0] else None
        grad_w = weight.new_zeros(weight.shape).index_add_(0, live, g.t() @ h) if ctx.needs_input_grad[1] else None
        grad_b = weight.new_zeros(weight.shape[0]).index_add_(0, live, g.sum(0)) if ctx.needs_input_grad[2] else None
        return grad_h, grad_w, grad_b


class _HeadReadout(torch.autograd.Function):
    """out[k] = h[k] @ w[k] + b[k] for the heads' last layer, h (K, n, H), w (K, H, 4), b (K, 4).

    What baddbmm computes, laid out so that MKL never makes a 4-column output: forward as
    (w[k]^T @ h[k]^T)^T, and the weight's gradient as (g[k]^T @ h[k])^T. baddbmm and its autograd
    backward make both as (.., 4) outputs, which took ~5x as long (ad hoc timings of the two ops;
    benchmarks/bench_step.py measures the whole step; tests/test_model.py checks values and
    gradients against baddbmm).
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(h, w)
        return torch.baddbmm(b.unsqueeze(2), w.transpose(1, 2), h.transpose(1, 2)).transpose(1, 2)

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        h, w = ctx.saved_tensors
        grad_h = torch.bmm(g, w.transpose(1, 2)) if ctx.needs_input_grad[0] else None
        grad_w = torch.bmm(g.transpose(1, 2), h).transpose(1, 2) if ctx.needs_input_grad[1] else None
        grad_b = g.sum(1) if ctx.needs_input_grad[2] else None
        return grad_h, grad_w, grad_b


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
