"""diffusion/live_units.py: the CPU fast path gives the plain network's outputs and gradients."""

from __future__ import annotations

import pytest
import torch
from test_model import reference_forward

from diffusion.live_units import LiveUnitsNet, _LiveUnits
from diffusion.model import ReverseNet
from diffusion.train import build_model


@pytest.mark.parametrize("t", [range(2, 8), range(3, 5), torch.tensor([7, 2, 7])])
def test_forward_grouped_gradients_equal_the_written_out_network(randomize, t):
    """Every parameter's gradient is the plain network's, in the parameter's own layout."""
    torch.manual_seed(5)
    m = LiveUnitsNet(7, 9)
    randomize(m)
    ts = list(t)
    x = torch.randn(len(ts), 13, 2)
    weights = torch.randn(len(ts), 13, 4)  # a loss that weighs all four outputs differently
    (m.forward_grouped(x, t) * weights).sum().backward()
    fast = {name: p.grad.clone() for name, p in m.named_parameters()}
    m.zero_grad()
    sum((reference_forward(m, x[k], int(tk)) * weights[k]).sum() for k, tk in enumerate(ts)).backward()
    for name, p in m.named_parameters():
        torch.testing.assert_close(fast[name], p.grad, rtol=1e-5, atol=1e-5, msg=lambda s: f"{name}: {s}")
        assert fast[name].stride() == p.stride(), name  # a gradient in the parameter's own layout


def kill_trunk_units(model: LiveUnitsNet, units: list[int]) -> None:
    """Make the trunk's output units `units` 0 for every input: what training does to most of them."""
    with torch.no_grad():
        model.trunk[2].bias[units] = -1e3


@pytest.mark.parametrize("dead", [[0, 3, 4, 8], list(range(9))])
def test_dead_trunk_units_are_left_out_with_the_written_out_networks_numbers(randomize, dead):
    """forward_grouped sends only the trunk's live units to the heads; the outputs and every
    gradient must still be the plain network's, and a dead unit's weights get exactly 0."""
    torch.manual_seed(7)
    m = LiveUnitsNet(7, 9)
    randomize(m)
    kill_trunk_units(m, dead)
    x = torch.randn(6, 13, 2)
    lin1, lin2 = m.trunk[0], m.trunk[2]
    _, live = _LiveUnits.apply(torch.relu(x.reshape(-1, 2) @ lin1.weight.T + lin1.bias), lin2.weight, lin2.bias)
    assert not set(live.tolist()) & set(dead) and len(live) > 9 - len(dead) - 2  # the rest mostly fire
    weights = torch.randn(6, 13, 4)
    out = m.forward_grouped(x, range(2, 8))
    (out * weights).sum().backward()
    fast = {name: p.grad.clone() for name, p in m.named_parameters()}
    m.zero_grad()
    reference = torch.stack([reference_forward(m, x[k], t) for k, t in enumerate(range(2, 8))])
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-6)
    (reference * weights).sum().backward()
    for name, p in m.named_parameters():
        torch.testing.assert_close(fast[name], p.grad, rtol=1e-5, atol=1e-5, msg=lambda s: f"{name}: {s}")
    assert torch.count_nonzero(fast["head_w1"][:, dead, :]) == 0
    assert torch.count_nonzero(fast["trunk.2.weight"][dead]) == 0
    if len(dead) == 9:  # nothing reaches the heads: each outputs its readout of relu(b1)
        expected = torch.relu(m.head_b1).unsqueeze(1) @ m.head_w2 + m.head_b2.unsqueeze(1)
        torch.testing.assert_close(out, expected.expand(6, 13, 4))


def test_a_nan_trunk_unit_still_reaches_the_output():
    """A unit whose weights are NaN is not "dead": its NaN must reach the heads, as in the plain
    network, so that the loss is NaN and training stops instead of hiding it."""
    torch.manual_seed(9)
    m = LiveUnitsNet(5, 8)
    with torch.no_grad():
        m.trunk[2].weight[3] = float("nan")
    out = m.forward_grouped(torch.randn(4, 10, 2), range(2, 6))
    assert torch.isnan(out).any()
    assert torch.isnan(reference_forward(m, torch.randn(10, 2), 3)).any()


def test_live_units_backward_passes_gradcheck():
    torch.manual_seed(8)
    h = torch.randn(20, 6, dtype=torch.float64).relu().requires_grad_()
    w = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64)
    b[[1, 3]] = -100.0  # two dead units
    b.requires_grad_()
    out, live = _LiveUnits.apply(h, w, b)
    assert live.tolist() == [0, 2, 4]
    torch.testing.assert_close(out, torch.relu(h @ w.T + b)[:, live])
    assert torch.autograd.gradcheck(lambda *a: _LiveUnits.apply(*a)[0], (h, w, b))


def test_it_is_the_plain_network_with_the_same_parameters(randomize):
    torch.manual_seed(10)
    plain = ReverseNet(6, 10)
    randomize(plain)
    fast = LiveUnitsNet(6, 10)
    fast.load_state_dict(plain.state_dict())  # a checkpoint of either loads into the other
    kill_trunk_units(fast, [1, 2])
    kill_trunk_units(plain, [1, 2])
    x = torch.randn(5, 17, 2)
    torch.testing.assert_close(fast.forward_grouped(x, range(2, 7)), plain.forward_grouped(x, range(2, 7)))
    torch.testing.assert_close(fast(x[0], 4), plain(x[0], 4))


def test_build_model_uses_the_fast_path_on_the_cpu_only(make_config):
    model, _ = build_model(make_config(), "cpu")
    assert type(model) is LiveUnitsNet
    if torch.cuda.is_available():
        assert type(build_model(make_config(), "cuda")[0]) is ReverseNet
