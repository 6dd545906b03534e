"""Quad/hex token shift (q-shift) of Vision-RWKV, for 2D and 3D token sequences.

Channel group j of g = int(C * gamma) channels moves by ``shift_pixel`` voxels along one axis
and direction, in the order +W, -W, +H, -H (, +D, -D); vacated voxels are zero; channels past
the last group are unchanged. "+W" means the content moves towards larger W indices:
``out[..., w] = x[..., w - shift]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import torch


def max_gamma(dim: int) -> float:
    """Largest valid gamma: 2 * dim groups must fit into the channels (1/6 in 3D, 1/4 in 2D)."""
    return 1.0 / (2 * dim)


def _shift_axis(x: torch.Tensor, axis: int, shift: int) -> torch.Tensor:
    """Move x's content by ``shift`` (either sign) along ``axis``, filling with zeros."""
    length = x.shape[axis]
    n = min(abs(shift), length)
    zeros = x.new_zeros((*x.shape[:axis], n, *x.shape[axis + 1 :]))
    if shift > 0:
        return torch.cat([zeros, x.narrow(axis, 0, length - n)], dim=axis)
    return torch.cat([x.narrow(axis, n, length - n), zeros], dim=axis)


def q_shift(
    x: torch.Tensor,
    patch_resolution: Sequence[int],
    shift_pixel: int = 1,
    gamma: float | None = None,
) -> torch.Tensor:
    """q-shift of a flattened 2D or 3D token grid.

    x: (B, N, C) with N = prod(patch_resolution) in raster order ((D,) H, W) -> (B, N, C).
    gamma: channel fraction per group, at most 1/(2*dim); None means 1/(2*dim).
    """
    dim = len(patch_resolution)
    limit = max_gamma(dim)
    gamma = limit if gamma is None else gamma
    if not 0.0 <= gamma <= limit + 1e-9:
        raise ValueError(
            f"q-shift gamma={gamma} is out of range for {dim}D: {2 * dim} channel groups of "
            f"int(C*gamma) channels need gamma <= 1/{2 * dim} ({limit:.4f}); lower gamma"
        )
    B, N, C = x.shape
    if prod(patch_resolution) != N:
        raise ValueError(f"q-shift got {N} tokens for a {tuple(patch_resolution)} grid")
    grid = x.transpose(1, 2).reshape(B, C, *patch_resolution)
    g = int(C * gamma)
    if g == 0 or shift_pixel <= 0:
        return x
    pieces = []
    for j in range(2 * dim):
        axis = grid.ndim - 1 - j // 2  # W, then H, then D
        sign = 1 if j % 2 == 0 else -1
        pieces.append(_shift_axis(grid[:, j * g : (j + 1) * g], axis, sign * shift_pixel))
    pieces.append(grid[:, 2 * dim * g :])
    return torch.cat(pieces, dim=1).flatten(2).transpose(1, 2)


def q_shift_3d(
    x: torch.Tensor, patch_resolution: Sequence[int], shift_pixel: int = 1, gamma: float = 1 / 6
) -> torch.Tensor:
    """3D q-shift: x (B, D*H*W, C) -> (B, D*H*W, C); groups +W,-W,+H,-H,+D,-D; gamma <= 1/6."""
    if len(patch_resolution) != 3:
        raise ValueError(f"q_shift_3d needs a (D, H, W) resolution, got {tuple(patch_resolution)}")
    return q_shift(x, patch_resolution, shift_pixel, gamma)


def q_shift_2d(
    x: torch.Tensor, patch_resolution: Sequence[int], shift_pixel: int = 1, gamma: float = 1 / 4
) -> torch.Tensor:
    """2D q-shift: x (B, H*W, C) -> (B, H*W, C); groups +W,-W,+H,-H; gamma <= 1/4."""
    if len(patch_resolution) != 2:
        raise ValueError(f"q_shift_2d needs an (H, W) resolution, got {tuple(patch_resolution)}")
    return q_shift(x, patch_resolution, shift_pixel, gamma)
