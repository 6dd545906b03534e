"""torch.library registrations of the compiled ops: fake (meta) kernels and autograd.

glsp::wkv(w, u, k, v, causal, chunk) -> y;  glsp::wkv_with_carries(...) -> (y, carries);
glsp::wkv_backward(gy, w, u, k, v, causal, chunk, carries=None) -> (gw, gu, gk, gv).
Shapes: w, u (C,); k, v, y, gy (B, T, C); carries (directions, 5, B, ceil(T / L), C) in k's
accumulation dtype, L = glsp::chunk_tokens(device, chunk), directions 2 (1 when causal): per
direction, the state entering each chunk.
"""

from __future__ import annotations

import torch

CARRY_FIELDS = 5  # e, a, b and the w-derivatives da, db of a scan state (csrc/wkv_math.h)


def _wkv_fake(w, u, k, v, causal=False, chunk=0):
    return k.new_empty(k.shape)


def _wkv_with_carries_fake(w, u, k, v, causal=False, chunk=0):
    B, T, C = k.shape
    tokens = torch.ops.glsp.chunk_tokens(k.device.type, chunk)
    dtype = torch.float64 if k.dtype == torch.float64 else torch.float32
    shape = (1 if causal else 2, CARRY_FIELDS, B, (T + tokens - 1) // tokens, C)
    carries = k.new_empty(shape, dtype=dtype)
    return k.new_empty(k.shape), carries


def _wkv_backward_fake(gy, w, u, k, v, causal=False, chunk=0, carries=None):
    return w.new_empty(w.shape), u.new_empty(u.shape), k.new_empty(k.shape), v.new_empty(v.shape)


def _save(ctx, inputs, carries=None) -> None:
    w, u, k, v, causal, chunk = inputs
    ctx.save_for_backward(w, u, k, v, carries)
    ctx.causal, ctx.chunk = causal, chunk


def _setup_context(ctx, inputs, output) -> None:
    _save(ctx, inputs)


def _setup_context_with_carries(ctx, inputs, output) -> None:
    ctx.mark_non_differentiable(output[1])
    _save(ctx, inputs, output[1])


def _backward(ctx, gy, *_carries_grad):
    """Gradients of w, u, k, v; the backward scans (k, v) itself unless carries were saved."""
    w, u, k, v, carries = ctx.saved_tensors
    grads = torch.ops.glsp.wkv_backward(gy, w, u, k, v, ctx.causal, ctx.chunk, carries)
    return *grads, None, None


def register() -> None:
    """Call once, after the extension defined the ops."""
    torch.library.register_fake("glsp::wkv")(_wkv_fake)
    torch.library.register_fake("glsp::wkv_with_carries")(_wkv_with_carries_fake)
    torch.library.register_fake("glsp::wkv_backward")(_wkv_backward_fake)
    torch.library.register_autograd("glsp::wkv", _backward, setup_context=_setup_context)
    torch.library.register_autograd("glsp::wkv_with_carries", _backward,
                                    setup_context=_setup_context_with_carries)
