"""Helpers of the WKV kernel tests: inputs at Vision-RWKV's scale, the raw ops, the float64
reference (blockwise for long sequences), relative error, and the saved-carries check that the
CPU and CUDA tests share."""

from __future__ import annotations

import os

import pytest
import torch

from nnunetv2_glsp.ops import backend_info
from nnunetv2_glsp.ops.reference import wkv_reference


def require_extension() -> None:
    """Kernel tests fail when the extension did not load, unless the fallback was asked for."""
    info = backend_info()
    if info["backend"] != "extension":
        if os.environ.get("GLSP_WKV_BACKEND") == "fallback":
            pytest.skip("GLSP_WKV_BACKEND=fallback: the compiled kernels are not loaded")
        pytest.fail(f"the compiled WKV extension did not load: {info['reason']}")


def op(w, u, k, v, causal=False, chunk=0):
    return torch.ops.glsp.wkv(w, u, k, v, causal, chunk)


def op_grads(w, u, k, v, gy, causal=False, chunk=0):
    return torch.ops.glsp.wkv_backward(gy, w, u, k, v, causal, chunk)


def make_inputs(B, T, C, sign=1.0, dtype=torch.float32, device="cpu", seed=0):
    """Vision-RWKV scale: w = decay / T, u = first / T with decay, first of order 1..5."""
    g = torch.Generator().manual_seed(seed)
    w = sign * (torch.rand(C, generator=g) * 5 + 0.5) / T
    u = -sign * (torch.rand(C, generator=g) * 3 + 0.5) / T
    k = torch.randn(B, T, C, generator=g)
    v = torch.randn(B, T, C, generator=g)
    return [x.to(device=device, dtype=dtype) for x in (w, u, k, v)]


def reference(w, u, k, v, causal=False, rows=256):
    """wkv_reference, evaluated on blocks of query rows to bound memory at large T."""
    w, u, k, v = (x.detach().cpu().double() for x in (w, u, k, v))
    T = k.shape[1]
    if rows >= T:
        return wkv_reference(w, u, k, v, causal)
    pos = torch.arange(T, dtype=torch.float64)
    out = []
    for start in range(0, T, rows):
        t = pos[start:start + rows, None]
        signed = t - pos[None, :]
        logits = -(signed.abs() - 1.0)[:, :, None] * w + k[:, None]
        diag = (signed == 0)[:, :, None]
        logits = torch.where(diag, (u + k[:, start:start + rows])[:, :, None], logits)
        if causal:
            logits = logits.masked_fill((signed < 0)[:, :, None], float("-inf"))
        out.append((torch.softmax(logits, dim=2) * v[:, None]).sum(dim=2))
    return torch.cat(out, dim=1)


def reference_grads(w, u, k, v, gy, causal=False):
    leaves = [x.detach().cpu().double().requires_grad_() for x in (w, u, k, v)]
    y = wkv_reference(*leaves, causal)
    return torch.autograd.grad(y, leaves, gy.detach().cpu().double())


def rel_err(x, ref) -> float:
    """max |x - ref| / max |ref| (0 when both vanish)."""
    x, ref = x.detach().cpu().double(), ref.detach().cpu().double()
    scale = ref.abs().max().item()
    err = (x - ref).abs().max().item()
    return err / scale if scale > 0 else err


def op_with_carries(w, u, k, v, causal=False, chunk=0):
    return torch.ops.glsp.wkv_with_carries(w, u, k, v, causal, chunk)


def check_saved_carries(device, B, T, C, chunk, causal, dtype):
    """glsp::wkv_with_carries gives wkv's y bitwise, and carries of shape (directions, 5, B,
    ceil(T / L), C) that spare wkv_backward its (k, v) scan without changing a bit of the
    gradients."""
    w, u, k, v = make_inputs(B, T, C, seed=T + chunk, device=device)
    k, v = k.to(dtype), v.to(dtype)
    y, carries = op_with_carries(w, u, k, v, causal, chunk)
    tokens = torch.ops.glsp.chunk_tokens(device, chunk)
    assert carries.shape == (1 if causal else 2, 5, B, -(-T // tokens), C)
    assert carries.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    assert torch.equal(y, op(w, u, k, v, causal, chunk))
    gy = torch.randn(B, T, C, generator=torch.Generator().manual_seed(T)).to(device, dtype)
    recomputed = op_grads(w, u, k, v, gy, causal, chunk)
    saved = torch.ops.glsp.wkv_backward(gy, w, u, k, v, causal, chunk, carries)
    for a, b in zip(saved, recomputed, strict=True):
        assert torch.equal(a, b)


def saved_carries_cases(shapes):
    """Parametrizes a check_saved_carries test: (T, B, C, chunk) in shapes x causal x dtype."""
    marks = (pytest.mark.parametrize(("T", "B", "C", "chunk"), shapes),
             pytest.mark.parametrize("causal", [False, True]),
             pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16]))

    def apply(test):
        for mark in marks:
            test = mark(test)
        return test

    return apply
