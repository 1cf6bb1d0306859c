"""diffusion/model.py: the stacked-head network equals the tutorial's trunk + one MLP head per t."""

from __future__ import annotations

import pytest
import torch

from diffusion.model import ReverseNet, count_parameters


def reference_forward(model: ReverseNet, x: torch.Tensor, t: int) -> torch.Tensor:
    """The tutorial's network written out: trunk, then head t as Linear-ReLU-Linear."""
    lin1, lin2 = model.trunk[0], model.trunk[2]
    h = torch.relu(x @ lin1.weight.T + lin1.bias)
    h = torch.relu(h @ lin2.weight.T + lin2.bias)
    i = t - 2
    h = torch.relu(h @ model.head_w1[i] + model.head_b1[i])
    return h @ model.head_w2[i] + model.head_b2[i]


@pytest.mark.parametrize("T, width", [(40, 128), (2, 1), (7, 5)])
def test_parameter_shapes_one_head_per_learned_step(T, width):
    m = ReverseNet(T, width)
    assert m.head_w1.shape == (T - 1, width, width)
    assert m.head_b1.shape == (T - 1, width)
    assert m.head_w2.shape == (T - 1, width, 4)
    assert m.head_b2.shape == (T - 1, 4)
    assert isinstance(m.trunk[0], torch.nn.Linear) and m.trunk[0].in_features == 2 and m.trunk[0].out_features == width
    assert isinstance(m.trunk[2], torch.nn.Linear) and m.trunk[2].in_features == width
    H = width
    expected = (2 * H + H) + (H * H + H) + (T - 1) * (H * H + H + 4 * H + 4)
    assert count_parameters(m) == expected


def test_readout_starts_at_zero_and_hidden_weights_do_not():
    torch.manual_seed(0)
    m = ReverseNet(10, 16)
    assert torch.count_nonzero(m.head_w2) == 0 and torch.count_nonzero(m.head_b2) == 0
    bound = 1 / 16**0.5
    assert m.head_w1.abs().max() <= bound and m.head_w1.abs().max() > bound / 2
    x = torch.randn(50, 2)
    for t in (2, 5, 10):
        assert torch.count_nonzero(m(x, t)) == 0
    assert torch.count_nonzero(m.forward_grouped(x.expand(9, -1, -1), range(2, 11))) == 0


def test_forward_equals_the_written_out_network(randomize):
    torch.manual_seed(1)
    m = ReverseNet(6, 12)
    randomize(m)
    x = torch.randn(30, 2)
    for t in range(2, 7):
        out = m(x, t)
        assert out.shape == (30, 4)
        torch.testing.assert_close(out, reference_forward(m, x, t), rtol=1e-5, atol=1e-6)
    # different heads give different outputs
    assert not torch.allclose(m(x, 2), m(x, 3))


def test_forward_grouped_full_range_equals_tensor_t_and_per_row_forward(randomize):
    torch.manual_seed(2)
    T = 8
    m = ReverseNet(T, 10)
    randomize(m)
    x = torch.randn(T - 1, 20, 2)
    by_range = m.forward_grouped(x, range(2, T + 1))
    by_tensor = m.forward_grouped(x, torch.arange(2, T + 1))
    assert by_range.shape == (T - 1, 20, 4)
    torch.testing.assert_close(by_range, by_tensor, rtol=1e-6, atol=1e-6)
    for k, t in enumerate(range(2, T + 1)):
        torch.testing.assert_close(by_range[k], m(x[k], t), rtol=1e-5, atol=1e-6)


def test_forward_grouped_partial_range_and_arbitrary_t(randomize):
    torch.manual_seed(3)
    T = 9
    m = ReverseNet(T, 6)
    randomize(m)
    x = torch.randn(3, 11, 2)
    partial = m.forward_grouped(x, range(4, 7))
    torch.testing.assert_close(partial, m.forward_grouped(x, torch.tensor([4, 5, 6])), rtol=1e-6, atol=1e-6)
    ts = torch.tensor([9, 2, 9])
    mixed = m.forward_grouped(x, ts)
    for k, t in enumerate(ts.tolist()):
        torch.testing.assert_close(mixed[k], reference_forward(m, x[k], t), rtol=1e-5, atol=1e-6)
    one = m.forward_grouped(x[:1], range(5, 6))
    torch.testing.assert_close(one[0], m(x[0], 5), rtol=1e-5, atol=1e-6)


def test_gradients_reach_every_head_and_only_the_used_ones(randomize):
    torch.manual_seed(4)
    T = 6
    m = ReverseNet(T, 8)
    randomize(m)
    m.forward_grouped(torch.randn(T - 1, 16, 2), range(2, T + 1)).square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    per_head = m.head_w2.grad.abs().sum(dim=(1, 2))
    assert torch.all(per_head > 0)
    m.zero_grad()
    m.forward_grouped(torch.randn(1, 16, 2), range(3, 4)).square().sum().backward()
    per_head = m.head_w2.grad.abs().sum(dim=(1, 2))
    assert per_head[1] > 0 and torch.count_nonzero(per_head) == 1
