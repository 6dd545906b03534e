"""On CUDA: the training step as nnU-Net runs it (fp16 autocast + GradScaler) stays finite, and
``torch.compile`` (what ``nnUNet_compile=1`` turns on) matches eager."""

from __future__ import annotations

import pytest
import torch
from conftest import make_plans
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from nnunetv2_glsp.trainers import GLSPTrainer, MedNeXtTrainer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def build(cls: type) -> torch.nn.Module:
    plans_manager = PlansManager(make_plans())
    configuration = plans_manager.get_configuration("3d_fullres")
    return cls.build_network_architecture(plans_manager, configuration, 1, 3, True).cuda()


@pytest.mark.parametrize("scale", [1.0, 30.0])  # z-scored input, and far outliers
def test_amp_training_step_is_finite(scale):
    torch.manual_seed(0)
    network = build(GLSPTrainer)
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3, eps=1e-4)
    scaler = torch.GradScaler("cuda")
    for _ in range(3):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16):
            outputs = network(scale * torch.randn(2, 1, 16, 32, 32, device="cuda"))
            loss = sum(output.float().square().mean() for output in outputs)
        assert all(torch.isfinite(output).all() for output in outputs)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        grads = [p.grad for p in network.parameters() if p.grad is not None]
        assert all(torch.isfinite(grad).all() for grad in grads)
        torch.nn.utils.clip_grad_norm_(network.parameters(), 12)
        scaler.step(optimizer)
        scaler.update()


@pytest.mark.parametrize("cls", [GLSPTrainer, MedNeXtTrainer])
def test_compiled_network_matches_eager(cls):
    torch.manual_seed(0)
    network = build(cls)
    inputs = torch.randn(2, 1, 16, 32, 32, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        eager = network(inputs)
        compiled = torch.compile(network)(inputs)
    for expected, actual in zip(eager, compiled, strict=True):
        torch.testing.assert_close(actual.float(), expected.float(), rtol=2e-2, atol=2e-2)
    sum(output.float().mean() for output in compiled).backward()
