"""MedNeXt + GLSP training steps on CUDA under nnU-Net's fp16 autocast + GradScaler.

Skipped without a GPU. The branch's fusion gates are opened so the RWKV path really shapes
the logits (an untrained gated network equals plain MedNeXt).
"""

from __future__ import annotations

import pytest
import torch

from nnunetv2_glsp.network import NetworkConfig, build_network

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _open_gates(net: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("gate"):
                p.fill_(1.0)


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
    _open_gates(net)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, eps=1e-4, weight_decay=3e-5)
    scaler = torch.amp.GradScaler("cuda")
    x = torch.randn(2, 1, 64, 64, 64, device="cuda") * 4
    target = torch.randint(0, 3, (2, 64, 64, 64), device="cuda")
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16):
            logits = net(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), target)
        assert logits.dtype == torch.float16
        assert torch.isfinite(loss), loss
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        assert all(torch.isfinite(g).all() for g in grads)
        torch.nn.utils.clip_grad_norm_(net.parameters(), 12)
        scaler.step(opt)
        scaler.update()
    gates = [p for n, p in net.named_parameters() if n.endswith("gate")]
    assert gates and all(g.grad is not None and g.grad.abs().sum() > 0 for g in gates)
