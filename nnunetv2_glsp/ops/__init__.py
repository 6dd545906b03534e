"""The bidirectional WKV operator.

``wkv(w, u, k, v, causal=False)``: w, u of shape (C,), k, v of shape (B, T, C) -> (B, T, C).
``backend_info()``: which implementation runs (compiled extension or pure-PyTorch fallback).
"""

from nnunetv2_glsp.ops.wkv import backend_info, wkv

__all__ = ["backend_info", "wkv"]
