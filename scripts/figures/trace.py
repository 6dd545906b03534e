"""One forward pass with hooks: output shape, multiply-adds and output bytes of every module.

The pass runs on a meta-device copy of the network (shapes and dtypes only, no arithmetic, no
memory), so a full-size patch costs nothing but the Python overhead of the forward. In that
copy each spatial mix's WKV (``VRWKV_SpatialMix.bi_wkv``) returns an empty tensor of its output
shape: the op's cost is counted analytically (``WKV_MACS``) and it cannot run on meta tensors.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from math import prod

import torch
from torch import nn

from nnunetv2_glsp.network import VRWKV_SpatialMix

# Multiply-adds of one WKV evaluation per (batch, token, channel): each of the two scans
# updates A = e^{-w} A + e^{k} v (2) and B = e^{-w} B + e^{k} (1); the combination adds the
# token's own term e^{u+k} v to the numerator and e^{u+k} to the denominator (2).
# Exponentials and the division are not counted.
WKV_MACS = 8

Shape = tuple[int, ...]


@dataclass
class Record:
    """What one module did in the traced forward pass."""

    kind: str  # class name
    in_shape: Shape | None  # first tensor input
    out_shape: Shape | list[Shape] | None  # a list for modules that return several maps
    macs: int  # Conv / ConvTranspose / Linear multiply-adds, or the analytic WKV count
    out_bytes: int  # bytes of a leaf module's new output tensor or of the WKV's, else 0


def wkv_calls(mix: VRWKV_SpatialMix) -> int:
    """WKV evaluations per forward of a spatial mix (one per flatten order)."""
    return mix.scan_orders


def _macs(module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> int:
    """Multiply-adds of a weight layer (bias additions not counted), else 0."""
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return x.numel() * module.out_channels // module.groups * prod(module.kernel_size)
    if isinstance(module, nn.modules.conv._ConvNd):
        return out.numel() * module.in_channels // module.groups * prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    if isinstance(module, VRWKV_SpatialMix):
        return WKV_MACS * x.numel() * wkv_calls(module)
    return 0


def _wkv_shape_only(k: torch.Tensor, v: torch.Tensor, resolution: Shape) -> torch.Tensor:
    """Stand-in for the WKV on meta tensors: the (B, N, C) output, no values."""
    return torch.empty_like(v)


def _shape(out) -> Shape | list[Shape] | None:
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    if isinstance(out, list | tuple):
        return [tuple(o.shape) for o in out if isinstance(o, torch.Tensor)]
    return None


def trace(net: nn.Module, input_shape: Shape) -> dict[str, Record]:
    """Records keyed by module name ('' is the network) for one forward of zeros(input_shape).

    The WKV is not a module: its multiply-adds and output bytes go to the VRWKV_SpatialMix
    that calls it.
    """
    meta = copy.deepcopy(net).to("meta").eval()
    for module in meta.modules():
        if isinstance(module, VRWKV_SpatialMix):
            module.bi_wkv = _wkv_shape_only
    records: dict[str, Record] = {}

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple, out) -> None:
            x = next((i for i in inputs if isinstance(i, torch.Tensor)), None)
            leaf = next(module.children(), None) is None
            fresh = isinstance(out, torch.Tensor) and out is not x  # not in place / identity
            out_bytes = out.numel() * out.element_size() if leaf and fresh else 0
            if isinstance(module, VRWKV_SpatialMix):
                out_bytes = x.numel() * x.element_size() * wkv_calls(module)
            records[name] = Record(
                type(module).__name__,
                None if x is None else tuple(x.shape),
                _shape(out),
                _macs(module, x, out) if x is not None else 0,
                out_bytes,
            )

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in meta.named_modules()]
    try:
        with torch.no_grad():
            meta(torch.zeros(input_shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return records
