"""torch.library registrations of the compiled ops: fake (meta) kernels and autograd.

glsp::wkv(w, u, k, v, causal, chunk) -> y;  glsp::wkv_backward(gy, w, u, k, v, causal, chunk)
-> (gw, gu, gk, gv). Shapes: w, u (C,); k, v, y, gy (B, T, C).
"""

from __future__ import annotations

import torch


def _wkv_fake(w, u, k, v, causal=False, chunk=0):
    return k.new_empty(k.shape)


def _wkv_backward_fake(gy, w, u, k, v, causal=False, chunk=0):
    return w.new_empty(w.shape), u.new_empty(u.shape), k.new_empty(k.shape), v.new_empty(v.shape)


def _setup_context(ctx, inputs, output) -> None:
    w, u, k, v, causal, chunk = inputs
    ctx.save_for_backward(w, u, k, v)
    ctx.causal, ctx.chunk = causal, chunk


def _backward(ctx, gy):
    w, u, k, v = ctx.saved_tensors
    gw, gu, gk, gv = torch.ops.glsp.wkv_backward(gy, w, u, k, v, ctx.causal, ctx.chunk)
    return gw, gu, gk, gv, None, None


def register() -> None:
    """Call once, after the extension defined the ops."""
    torch.library.register_fake("glsp::wkv")(_wkv_fake)
    torch.library.register_fake("glsp::wkv_backward")(_wkv_backward_fake)
    torch.library.register_autograd("glsp::wkv", _backward, setup_context=_setup_context)
