"""The compiled WKV kernel on the CPU against the float64 O(T^2) reference.

Imports only nnunetv2_glsp.ops (these tests also run on GPU machines without nnU-Net).
"""

from __future__ import annotations

import pytest
import torch
from wkv_helpers import (
    check_saved_carries,
    make_inputs,
    op,
    op_grads,
    op_with_carries,
    reference,
    reference_grads,
    rel_err,
    require_extension,
    saved_carries_cases,
)

from nnunetv2_glsp.ops.fallback import wkv_fallback


@pytest.fixture(autouse=True)
def _extension() -> None:
    require_extension()


# (T, B, C): every T of the issue, B and C cycled through {1, 2, 3} x {1, 3, 32, 80}; both signs
# of w/u and both directions for all but the largest (the O(T^2) reference dominates the run time)
SMALL = [(1, 1, 1), (2, 2, 3), (3, 3, 32), (27, 1, 80), (31, 2, 1), (32, 3, 3), (33, 1, 32),
         (100, 2, 80), (1000, 3, 3)]
GRID = [(*shape, sign, causal)
        for shape in SMALL for sign in (1.0, -1.0) for causal in (False, True)]
LARGE = [(1000, 1, 32, 1.0, False), (1000, 1, 32, -1.0, True), (5000, 1, 3, 1.0, False),
         (5000, 1, 3, -1.0, True)]


@pytest.mark.parametrize(("T", "B", "C", "sign", "causal"), GRID + LARGE)
def test_forward_matches_reference(T, B, C, sign, causal):
    w, u, k, v = make_inputs(B, T, C, sign, seed=T + C)
    assert rel_err(op(w, u, k, v, causal), reference(w, u, k, v, causal)) <= 1e-5


@pytest.mark.parametrize(("B", "C"), [(2, 3), (1, 17), (2, 17)])
@pytest.mark.parametrize("chunk", [1, 3, 8, 31, 64])
@pytest.mark.parametrize("T", [1, 27, 100, 211])
def test_any_chunk_size_gives_the_same_result(T, chunk, B, C):
    """Many chunks, partial last chunks and chunks longer than T: the shared CPU/CUDA algorithm.

    With B C < 32 (2 B C < 64 scan lanes) the CPU runs phase 2 in segments of ~sqrt(n) chunks,
    the schedule the CUDA kernel always uses: C=3 on single channels, C=17 on a 16-channel group
    plus a single channel; with B=2, C=17 in one segment.
    """
    w, u, k, v = make_inputs(B, T, C, seed=chunk)
    for causal in (False, True):
        ref = reference(w, u, k, v, causal)
        assert rel_err(op(w, u, k, v, causal, chunk), ref) <= 1e-5
        gy = torch.randn(B, T, C, dtype=torch.float64)
        got = op_grads(*(x.double() for x in (w, u, k, v)), gy, causal, chunk)
        for g, r in zip(got, reference_grads(w, u, k, v, gy, causal), strict=True):
            assert rel_err(g, r) <= 1e-10


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize(("T", "B", "C"), [(2, 1, 1), (33, 2, 3), (100, 3, 32), (1000, 1, 3)])
def test_gradients_match_reference(T, B, C, sign, causal):
    w, u, k, v = make_inputs(B, T, C, sign, seed=T)
    gy = torch.randn(B, T, C, generator=torch.Generator().manual_seed(1))
    ref = reference_grads(w, u, k, v, gy, causal)
    got64 = op_grads(*(x.double() for x in (w, u, k, v)), gy.double(), causal)
    got32 = op_grads(w, u, k, v, gy, causal)
    for name, g64, g32, r in zip("wukv", got64, got32, ref, strict=True):
        assert g64.dtype == torch.float64 and g32.dtype == torch.float32
        assert rel_err(g64, r) <= 1e-10, name
        assert rel_err(g32, r) <= 2e-5, name


@saved_carries_cases([(1, 1, 1, 0), (100, 2, 3, 8), (211, 1, 17, 0), (333, 2, 17, 31),
                      (1000, 2, 80, 0)])
def test_saved_carries_change_nothing(T, B, C, chunk, causal, dtype):
    """Segmented phase 2 (2 B C < 64: B=2 with C=3, B=1 with C=17) and not (B=2, C=17 or 80)."""
    check_saved_carries("cpu", B, T, C, chunk, causal, dtype)


def test_chunk_tokens():
    assert [torch.ops.glsp.chunk_tokens("cpu", c) for c in (0, 1, 17, 64)] == [64, 1, 17, 64]
    assert [torch.ops.glsp.chunk_tokens("cuda", c) for c in (0, 1, 17, 64)] == [16, 1, 16, 16]


@pytest.mark.parametrize("saving", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck_float64(causal, saving):
    """Through glsp::wkv (the backward scans (k, v)) and glsp::wkv_with_carries (it does not)."""
    w, u, k, v = (x.double().requires_grad_() for x in make_inputs(2, 9, 3, seed=5))

    def fn(*args):
        return op_with_carries(*args, causal, 4)[0] if saving else op(*args, causal, 4)

    assert torch.autograd.gradcheck(fn, (w, u, k, v))


def test_autograd_through_public_wkv():
    from nnunetv2_glsp.ops import wkv

    w, u, k, v = (x.requires_grad_() for x in make_inputs(2, 50, 5, seed=2))
    gy = torch.randn(2, 50, 5)
    torch.autograd.backward(wkv(w, u, k, v), gy)
    ref = reference_grads(w, u, k, v, gy)
    for x, r in zip((w, u, k, v), ref, strict=True):
        assert rel_err(x.grad, r) <= 2e-5


@pytest.mark.parametrize("causal", [False, True])
def test_fallback_agrees_with_kernel(causal):
    w, u, k, v = make_inputs(2, 300, 24, seed=3)
    assert rel_err(wkv_fallback(w, u, k, v, causal), op(w, u, k, v, causal)) <= 1e-5


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)])
def test_half_precision_inputs(dtype, tol):
    """k, v in half precision with w, u in float32 (as autocast leaves them)."""
    w, u, k, v = make_inputs(2, 200, 16, seed=4)
    kh, vh = k.to(dtype), v.to(dtype)
    y = op(w, u, kh, vh)
    assert y.dtype == dtype
    assert rel_err(y, reference(w, u, kh, vh)) <= tol
    gy = torch.randn(2, 200, 16)
    gw, gu, gk, gv = op_grads(w, u, kh, vh, gy.to(dtype))
    assert (gw.dtype, gu.dtype, gk.dtype, gv.dtype) == (torch.float32,) * 2 + (dtype,) * 2
    ref = reference_grads(w, u, kh, vh, gy.to(dtype))
    for g, r in zip((gw, gu, gk, gv), ref, strict=True):
        assert rel_err(g, r) <= 4 * tol


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("causal", [False, True])
def test_half_precision_is_float_arithmetic_rounded_once(dtype, causal):
    """Half inputs convert exactly to float and each half result rounds once: y, gk, gv are bitwise
    the float32 kernel's on the same values, rounded (C=40: two register-wide channel groups and 8
    single channels). gw, gu stay float; the compiler may fuse their multiply-adds differently in
    the two builds of the kernel (1 ulp apart in causal fp16)."""
    w, u, k, v = make_inputs(2, 300, 40, seed=10)
    kh, vh, gyh = k.to(dtype), v.to(dtype), torch.randn(2, 300, 40).to(dtype)
    assert torch.equal(op(w, u, kh, vh, causal), op(w, u, kh.float(), vh.float(), causal).to(dtype))
    gw, gu, gk, gv = op_grads(w, u, kh, vh, gyh, causal)
    fgw, fgu, fgk, fgv = op_grads(w, u, kh.float(), vh.float(), gyh.float(), causal)
    assert torch.equal(gk, fgk.to(dtype)) and torch.equal(gv, fgv.to(dtype))
    assert rel_err(gw, fgw) <= 1e-6 and rel_err(gu, fgu) <= 1e-6


def test_deterministic_and_independent_of_thread_count():
    w, u, k, v = make_inputs(2, 3000, 80, seed=6)
    gy = torch.randn(2, 3000, 80)
    threads = torch.get_num_threads()
    runs = []
    try:
        for n in (threads, threads, 1, threads + 1):  # other splits of the work items
            torch.set_num_threads(n)
            runs.append((op(w, u, k, v), *op_grads(w, u, k, v, gy)))
    finally:
        torch.set_num_threads(threads)
    for run in runs[1:]:
        for a, b in zip(runs[0], run, strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_large_keys_stay_finite(dtype):
    scale = 80.0 if dtype == torch.float32 else 6e4
    w, u, k, v = make_inputs(2, 257, 8, seed=7)
    sign = torch.where(torch.rand(2, 257, 8) < 0.5, -1.0, 1.0)
    k = (sign * scale * torch.rand(2, 257, 8)).to(dtype)
    v = v.to(dtype)
    y = op(w, u, k, v)
    grads = op_grads(w, u, k, v, torch.ones_like(y))
    assert all(torch.isfinite(t).all() for t in (y, *grads))
    if dtype == torch.float32:  # one token dominates every sum: still exact
        assert rel_err(y, reference(w, u, k, v)) <= 1e-5


def test_non_contiguous_inputs():
    w, u, k, v = make_inputs(2, 64, 10, seed=8)
    kt = k.transpose(0, 1).contiguous().transpose(0, 1)  # (B, T, C) view with permuted strides
    vs = torch.stack([v, -v], dim=3).flatten(2)[:, :, ::2]  # strided channels
    ws = torch.stack([w, w], dim=1)[:, 0]
    assert not (kt.is_contiguous() or vs.is_contiguous() or ws.is_contiguous())
    assert torch.equal(op(ws, u, kt, vs), op(w, u, k, v))
    gy = torch.randn(2, 10, 64).transpose(1, 2)
    for a, b in zip(op_grads(ws, u, kt, vs, gy), op_grads(w, u, k, v, gy.contiguous()),
                    strict=True):
        assert torch.equal(a, b)
