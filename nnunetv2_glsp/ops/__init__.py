"""The bidirectional WKV operator.

``wkv(w, u, k, v, causal=False)``: w, u of shape (C,), k, v of shape (B, T, C) -> (B, T, C).
"""

from nnunetv2_glsp.ops.fallback import wkv_fallback as wkv

__all__ = ["wkv"]
