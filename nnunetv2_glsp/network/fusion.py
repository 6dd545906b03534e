"""Fusion of a branch feature y into a MedNeXt feature x of the same shape."""

from __future__ import annotations

import torch
from torch import nn

from nnunetv2_glsp.network import layers


class Fusion(nn.Module):
    """x, y: (B, C, *S) -> (B, C, *S).

    'gated_add': x + g * y with a per-channel gate g initialised to 0 (default: the untrained
        network equals plain MedNeXt; the gate opens as training finds the branch useful).
    'add': x + y.
    'concat': conv1x1([x, y]) -> C, initialised to pass x through and ignore y.
    """

    def __init__(self, channels: int, mode: str = "gated_add", dim: int = 3) -> None:
        super().__init__()
        self.mode = mode
        if mode == "gated_add":
            self.gate = nn.Parameter(torch.zeros(1, channels, *(1,) * dim))
        elif mode == "concat":
            self.proj = layers.conv(dim)(2 * channels, channels, 1)
            with torch.no_grad():
                self.proj.weight.zero_()
                self.proj.bias.zero_()
                self.proj.weight[:, :channels].view(channels, channels).copy_(torch.eye(channels))
        elif mode != "add":
            raise ValueError(f"unknown fusion {mode!r}: choose 'gated_add', 'add' or 'concat'")

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.mode == "gated_add":
            return x + self.gate * y
        if self.mode == "concat":
            return self.proj(torch.cat([x, y], dim=1))
        return x + y

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
