"""The convolutional ablation of the spatial mix: same interface, parameters and structure,
with the global WKV replaced by local large-kernel (axis-decomposed) depthwise convolutions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nnunetv2_glsp.network import layers


class ConvSpatialMix(nn.Module):
    """Drop-in for ``VRWKV_SpatialMix`` without recurrence.

    forward(x (B, N, C), patch_resolution) -> (B, N, C):
        k, v = Linear(x), Linear(x); r = sigmoid(Linear(x));
        y = k * v on the (B, C, *resolution) grid (k weights each token's value, as exp(k)
        does in the WKV), mixed by depthwise convs of length ``kernel`` along W, H (, D) in
        turn (a decomposed kernel^dim receptive field); y = output(r * key_norm(y)).

    Parameters: 4 C^2 + C * (kernel + 1) * dim + 2 C, against 4 C^2 + 5 C for the spatial mix
    (within 15 % for C >= 32 at kernel 7); cost kernel * dim multiply-adds per token and
    channel, the order of the WKV's two scans with their exponentials.
    """

    def __init__(self, channels: int, dim: int = 3, kernel: int = 7) -> None:
        super().__init__()
        self.dim, self.kernel = dim, kernel
        self.key = nn.Linear(channels, channels, bias=False)
        self.value = nn.Linear(channels, channels, bias=False)
        self.receptance = nn.Linear(channels, channels, bias=False)
        conv = layers.conv(dim)
        self.mixer = nn.Sequential()
        for axis in reversed(range(dim)):
            size = tuple(kernel if a == axis else 1 for a in range(dim))
            pad = tuple(k // 2 for k in size)
            self.mixer.append(conv(channels, channels, size, padding=pad, groups=channels))
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
