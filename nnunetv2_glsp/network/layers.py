"""The tiny ops table that makes every block dimension-agnostic, plus DropPath and norms."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_BATCH = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_INSTANCE = {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}


def check_dim(dim: int) -> int:
    """Return dim if the network supports it (2 or 3), else raise a ValueError saying so."""
    if dim not in _CONV:
        raise ValueError(
            f"unsupported dimensionality {dim}: the network is built for 2D (patch of 2 axes) "
            "or 3D (patch of 3 axes) images; use a 2d or 3d_* nnU-Net configuration"
        )
    return dim


def conv(dim: int) -> type[nn.Module]:
    """nn.Conv2d or nn.Conv3d."""
    return _CONV[check_dim(dim)]


def conv_transpose(dim: int) -> type[nn.Module]:
    """nn.ConvTranspose2d or nn.ConvTranspose3d."""
    return _CONV_T[check_dim(dim)]


def norm(kind: str, dim: int, channels: int) -> nn.Module:
    """Normalisation layer over (B, C, *spatial).

    'instance': InstanceNorm with affine parameters; 'batch': BatchNorm; 'group': GroupNorm
    with gcd(channels, 8) groups; 'channel': GroupNorm with one group per channel
    (MedNeXt's choice, equal to an affine instance norm).
    """
    if kind == "instance":
        return _INSTANCE[check_dim(dim)](channels, affine=True)
    if kind == "batch":
        return _BATCH[check_dim(dim)](channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    if kind == "channel":
        return nn.GroupNorm(channels, channels)
    raise ValueError(f"unknown norm {kind!r}: choose 'instance', 'group', 'batch' or 'channel'")


def same_padding(kernel: Sequence[int]) -> tuple[int, ...]:
    """Padding that keeps the size for odd kernels (stride 1) and gives n/s for stride s."""
    return tuple(k // 2 for k in kernel)


class DropPath(nn.Module):
    """Stochastic depth: zero a whole sample's residual branch with probability p in training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, ...) -> (B, ...), each sample scaled by 0 or 1/(1-p)."""
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"
