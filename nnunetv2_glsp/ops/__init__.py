"""The bidirectional WKV operator.

``wkv(w, u, k, v, causal=False)``: w, u of shape (C,), k, v of shape (B, T, C) -> (B, T, C).
``backend_info()``: which implementation runs (compiled extension or pure-PyTorch fallback).
``cpu_output_cache(limit_bytes=None)``: the CPU kernels' cache of freed output memory.
"""

from nnunetv2_glsp.ops.wkv import backend_info, cpu_output_cache, wkv

__all__ = ["backend_info", "cpu_output_cache", "wkv"]
