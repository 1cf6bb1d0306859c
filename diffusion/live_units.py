"""ReverseNet with a faster path for CPU training: only the trunk's live units reach the heads.

With the default learning rate most units of the trunk's last ReLU layer die early in training:
they are 0 for every point of a batch. Such a unit adds nothing to the heads' sums and gets a zero
gradient (ReLU's derivative at 0 is 0), so leaving its column out changes no number beyond float
rounding, while the heads' first layer, the costliest matmul of a step, shrinks with the live
count. `benchmarks/bench_step.py` measures what it buys; `tests/test_live_units.py` checks
outputs and gradients against the plain network.

CPU only: on a GPU, finding the live units (`nonzero`) waits for the device at every call, which
costs more than it saves, so `diffusion.train.build_model` uses the plain `ReverseNet` there.
"""

from __future__ import annotations

import torch

from .model import ReverseNet


class LiveUnitsNet(ReverseNet):
    """The same parameters and numbers as ReverseNet; `forward_grouped` skips the dead units."""

    def forward_grouped(self, x: torch.Tensor, t: torch.Tensor | range) -> torch.Tensor:
        K, n, _ = x.shape
        first, second = self.trunk[0], self.trunk[2]
        h = first(x.reshape(K * n, 2)).relu_()
        h, live = _LiveUnits.apply(h, second.weight, second.bias)
        w1, b1, w2, b2 = self.heads(t)
        h = torch.baddbmm(b1.unsqueeze(1), h.reshape(K, n, len(live)), w1.index_select(1, live)).relu_()
        return torch.baddbmm(b2.unsqueeze(1), h, w2)


class _LiveUnits(torch.autograd.Function):
    """relu(h @ W^T + b), h (N, H), keeping only the columns of units that fire for some point.

    Returns (N, A) and the A live units' indices. A unit with a NaN counts as live, so a NaN still
    reaches the loss and stops training as it would without this.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.addmm(bias, h, weight.t())
        live = (z.amax(0) <= 0).logical_not_().nonzero().squeeze(1) if len(z) else torch.arange(z.shape[1])
        out = z.index_select(1, live).relu_()
        ctx.save_for_backward(h, weight, out, live)
        ctx.mark_non_differentiable(live)
        return out, live

    @staticmethod
    def backward(ctx, g: torch.Tensor, _: None) -> tuple[torch.Tensor | None, ...]:
        h, weight, out, live = ctx.saved_tensors
        g = g * (out > 0)
        grad_h = g @ weight.index_select(0, live) if ctx.needs_input_grad[0] else None
        grad_w = weight.new_zeros(weight.shape).index_add_(0, live, g.t() @ h) if ctx.needs_input_grad[1] else None
        grad_b = weight.new_zeros(weight.shape[0]).index_add_(0, live, g.sum(0)) if ctx.needs_input_grad[2] else None
        return grad_h, grad_w, grad_b
