"""MedNeXt + GLSP training steps on CUDA under nnU-Net's fp16 autocast + GradScaler.

Skipped without a GPU. The branch's fusion gates are opened so the RWKV path really shapes
the logits (an untrained gated network equals plain MedNeXt). GradScaler starts at 2**16 and
skips the first steps whose scaled gradients overflow, as in nnU-Net; what must hold is that
the loss is always finite, most steps are taken, and the weights stay finite.
"""

from __future__ import annotations

import pytest
import torch

from nnunetv2_glsp.network import NetworkConfig, build_network

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

STEPS = 12


def _open_gates(net: torch.nn.Module) -> list[torch.nn.Parameter]:
    gates = [p for name, p in net.named_parameters() if name.endswith("gate")]
    with torch.no_grad():
        for gate in gates:
            gate.fill_(1.0)
    return gates


@pytest.mark.parametrize("branch", ["rwkv", "conv"])
def test_amp_training_steps_stay_finite(branch: str) -> None:
    torch.manual_seed(0)
    net = build_network(
        3,
        1,
        3,
        [32, 64, 128, 256, 320],
        [[1, 1, 1]] + [[2, 2, 2]] * 4,
        [[3, 3, 3]] * 5,
        deep_supervision=False,
        config=NetworkConfig(size="S", branch=branch),
    ).cuda()
    gates = _open_gates(net)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, eps=1e-4, weight_decay=3e-5)
    scaler = torch.amp.GradScaler("cuda")
    x = torch.randn(2, 1, 64, 64, 64, device="cuda") * 4
    target = torch.randint(0, 3, (2, 64, 64, 64), device="cuda")
    taken = 0
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16):
            logits = net(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), target)
        assert logits.dtype == torch.float16
        assert torch.isfinite(loss), loss
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        finite = all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
        if finite:
            taken += 1
            assert all(g.grad is not None and g.grad.abs().sum() > 0 for g in gates)
        torch.nn.utils.clip_grad_norm_(net.parameters(), 12)
        scaler.step(opt)
        scaler.update()
    assert taken >= STEPS // 2, f"only {taken}/{STEPS} steps had finite gradients"
    assert all(torch.isfinite(p).all() for p in net.parameters())
