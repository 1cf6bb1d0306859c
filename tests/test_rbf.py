"""The paper's normalised RBF network (App. D.1.1) as `network = "rbf"`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion.checkpoint import checkpoint_bytes, load_checkpoint
from diffusion.config import DiffusionConfig
from diffusion.pipeline import DiffusionPipeline
from diffusion.rbf import RBFNet
from diffusion.train import Trainer, build_model


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tiny(**changes) -> DiffusionConfig:
    return DiffusionConfig(**{"T": 6, "width": 16, "steps": 5, "device": "cpu", "network": "rbf", **changes})


def trained_net(T: int = 6) -> RBFNet:
    net = RBFNet(T, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        net.readout_w.normal_(generator=torch.Generator().manual_seed(1))
    return net


def test_shapes_and_the_grouped_path_agree():
    net = trained_net()
    x = torch.randn(5, 7, 2)
    out = net.forward_grouped(x, range(2, 7))
    assert out.shape == (5, 7, 4)
    for k, t in enumerate(range(2, 7)):
        torch.testing.assert_close(net(x[k], t), out[k])
    torch.testing.assert_close(net.forward_grouped(x[[2, 4]], torch.tensor([4, 6])), out[[2, 4]])


def test_activations_are_normalised():
    a = trained_net().activations(torch.randn(100, 2) * 5)
    assert a.shape == (100, 16) and torch.all(a >= 0)
    torch.testing.assert_close(a.sum(-1), torch.ones(100))


def test_gradients_reach_centres_widths_and_readouts():
    net = trained_net()
    net.forward_grouped(torch.randn(5, 7, 2), range(2, 7)).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_build_model_and_parameter_count():
    config = tiny()
    model, _ = build_model(config)
    assert isinstance(model, RBFNet)
    assert sum(p.numel() for p in model.parameters()) == config.parameter_count() == 3 * 16 + 5 * (4 * 16 + 4)
    assert config.model_key() != config.replace(network="mlp").model_key()


def test_training_and_checkpoint_round_trip():
    pipeline = DiffusionPipeline.from_trainer(Trainer(tiny(steps=20)).train())
    loaded = load_checkpoint(checkpoint_bytes(pipeline), device="cpu")
    assert isinstance(loaded.model, RBFNet) and loaded.config.network.value == "rbf"
    for name, value in pipeline.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], value)
    np.testing.assert_array_equal(loaded.samples(200), pipeline.samples(200))
