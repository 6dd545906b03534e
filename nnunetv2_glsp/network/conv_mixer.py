"""The convolutional ablation of the spatial mix: same interface, parameters and structure,
with the global WKV replaced by a local large-kernel depthwise convolution."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nnunetv2_glsp.network import layers


class ConvSpatialMix(nn.Module):
    """Drop-in for ``VRWKV_SpatialMix`` without recurrence.

    forward(x (B, N, C), patch_resolution) -> (B, N, C):
        k, v = Linear(x), Linear(x); r = sigmoid(Linear(x));
        y = depthwise conv (kernel ``kernel``, zero padded) of k * v on the (B, C, *resolution)
        grid (k weights each token's value, as exp(k) does in the WKV);
        y = output(r * key_norm(y)).

    Parameters: 4 C^2 + C * kernel^dim + 3 C, against 4 C^2 + 5 C for the spatial mix; the
    depthwise conv costs kernel^dim multiply-adds per token and channel, the same order as
    the WKV's two scans with their exponentials.
    """

    def __init__(self, channels: int, dim: int = 3, kernel: int = 7) -> None:
        super().__init__()
        self.dim, self.kernel = dim, kernel
        self.key = nn.Linear(channels, channels, bias=False)
        self.value = nn.Linear(channels, channels, bias=False)
        self.receptance = nn.Linear(channels, channels, bias=False)
        self.mixer = layers.conv(dim)(
            channels, channels, kernel, padding=kernel // 2, groups=channels, bias=True
        )
        self.key_norm = nn.LayerNorm(channels)
        self.output = nn.Linear(channels, channels, bias=False)

    def forward(self, x: torch.Tensor, patch_resolution: Sequence[int]) -> torch.Tensor:
        """x: (B, N, C), N = prod(patch_resolution) -> (B, N, C)."""
        B, _, C = x.shape
        kv = self.key(x) * self.value(x)
        r = torch.sigmoid(self.receptance(x))
        grid = kv.transpose(1, 2).reshape(B, C, *patch_resolution)
        y = self.mixer(grid).flatten(2).transpose(1, 2)
        return self.output(r * self.key_norm(y))
