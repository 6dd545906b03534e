"""Vision-RWKV spatial mix: the bidirectional-WKV token mixer, for 2D and 3D token grids."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from nnunetv2_glsp.network.shift import q_shift
from nnunetv2_glsp.ops import wkv


def scan_permutation(dim: int, order: int) -> tuple[int, ...]:
    """Axis order of flatten order ``order``: 0 -> (D, H, W), 1 -> (H, W, D), 2 -> (W, D, H)."""
    return tuple((a + order) % dim for a in range(dim))


class VRWKV_SpatialMix(nn.Module):  # noqa: N801 (name of the Vision-RWKV module)
    """Token mixing by bidirectional WKV over a flattened grid.

    forward(x (B, N, C), patch_resolution) -> (B, N, C):
        xk, xv, xr = x interpolated with q_shift(x) by mix_k, mix_v, mix_r (no shift mixing
        when shift_pixel <= 0); k, v = Linear(xk), Linear(xv); r = sigmoid(Linear(xr));
        y = WKV(spatial_decay / N, spatial_first / N, k, v), averaged over ``scan_orders``
        flatten orders; y = output(r * key_norm(y)).

    init: 'fancy' (Vision-RWKV: decay, first and mixes depend on channel and on
    layer_id / n_layers) or 'global' (RWKV-UNet: decay = first = 0, mixes 0.5).
    """

    def __init__(
        self,
        channels: int,
        dim: int = 3,
        shift_pixel: int = 1,
        gamma: float | None = None,
        init: str = "fancy",
        layer_id: int = 0,
        n_layers: int = 1,
        scan_orders: int = 1,
    ) -> None:
        super().__init__()
        if not 1 <= scan_orders <= dim:
            raise ValueError(f"scan_orders={scan_orders} must be between 1 and {dim} in {dim}D")
        if gamma is not None and not 0 < gamma <= 1 / (2 * dim) + 1e-9:
            raise ValueError(
                f"q-shift gamma={gamma} is out of range for {dim}D: use 0 < gamma <= 1/{2 * dim} "
                "(or shift_pixel=0 for no shift)"
            )
        self.dim, self.shift_pixel, self.gamma = dim, shift_pixel, gamma
        self.scan_orders = scan_orders
        self.spatial_decay = nn.Parameter(torch.zeros(channels))
        self.spatial_first = nn.Parameter(torch.zeros(channels))
        self.spatial_mix_k = nn.Parameter(torch.full((1, 1, channels), 0.5))
        self.spatial_mix_v = nn.Parameter(torch.full((1, 1, channels), 0.5))
        self.spatial_mix_r = nn.Parameter(torch.full((1, 1, channels), 0.5))
        self.key = nn.Linear(channels, channels, bias=False)
        self.value = nn.Linear(channels, channels, bias=False)
        self.receptance = nn.Linear(channels, channels, bias=False)
        self.key_norm = nn.LayerNorm(channels)
        self.output = nn.Linear(channels, channels, bias=False)
        if init == "fancy":
            self.fancy_init(layer_id, n_layers)
        elif init != "global":
            raise ValueError(f"unknown SpatialMix init {init!r}: choose 'fancy' or 'global'")

    @torch.no_grad()
    def fancy_init(self, layer_id: int, n_layers: int) -> None:
        """Vision-RWKV init: decay from -5 to 3 over channels, zigzag first, graded mixes."""
        C = self.spatial_decay.numel()
        r01 = layer_id / (n_layers - 1) if n_layers > 1 else 0.0
        r10 = 1.0 - layer_id / n_layers
        h = torch.arange(C, dtype=torch.float32)
        self.spatial_decay.copy_(-5 + 8 * (h / max(C - 1, 1)) ** (0.7 + 1.3 * r01))
        zigzag = 0.5 * (((h + 1) % 3) - 1)
        self.spatial_first.copy_(math.log(0.3) + zigzag)
        x = (h / C).view(1, 1, C)
        self.spatial_mix_k.copy_(x**r10)
        self.spatial_mix_v.copy_(x**r10 + 0.3 * r01)
        self.spatial_mix_r.copy_(x ** (0.5 * r10))

    def forward(self, x: torch.Tensor, patch_resolution: Sequence[int]) -> torch.Tensor:
        """x: (B, N, C), N = prod(patch_resolution) -> (B, N, C)."""
        if self.shift_pixel > 0:
            xx = q_shift(x, patch_resolution, self.shift_pixel, self.gamma)
            xk = x * self.spatial_mix_k + xx * (1 - self.spatial_mix_k)
            xv = x * self.spatial_mix_v + xx * (1 - self.spatial_mix_v)
            xr = x * self.spatial_mix_r + xx * (1 - self.spatial_mix_r)
        else:
            xk = xv = xr = x
        k, v = self.key(xk), self.value(xv)
        r = torch.sigmoid(self.receptance(xr))
        y = self.bi_wkv(k, v, patch_resolution)
        return self.output(r * self.key_norm(y))

    def bi_wkv(self, k: torch.Tensor, v: torch.Tensor, resolution: Sequence[int]) -> torch.Tensor:
        """WKV of (B, N, C) k, v in raster order, averaged over the configured flatten orders."""
        T = k.shape[1]
        w, u = self.spatial_decay / T, self.spatial_first / T
        if self.scan_orders == 1:
            return wkv(w, u, k, v)
        B, C = k.shape[0], k.shape[2]
        grid_k = k.reshape(B, *resolution, C)
        grid_v = v.reshape(B, *resolution, C)
        total = None
        for order in range(self.scan_orders):
            perm = (0, *(1 + a for a in scan_permutation(self.dim, order)), self.dim + 1)
            ks = grid_k.permute(perm).reshape(B, T, C)
            vs = grid_v.permute(perm).reshape(B, T, C)
            shape = [grid_k.shape[p] for p in perm]
            y = wkv(w, u, ks, vs).reshape(shape).permute(_inverse(perm)).reshape(B, T, C)
            total = y if total is None else total + y
        return total / self.scan_orders


def _inverse(perm: Sequence[int]) -> tuple[int, ...]:
    """Inverse of a permutation."""
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)
