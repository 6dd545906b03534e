"""The CUDA kernel: built into the extension, and (on a GPU machine) equal to the CPU kernel."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import torch
from wkv_helpers import (
    check_saved_carries,
    make_inputs,
    op,
    op_grads,
    reference,
    rel_err,
    require_extension,
    saved_carries_cases,
)

from nnunetv2_glsp.ops import backend_info

CUDA_HOME = os.environ.get("CUDA_HOME", "/usr/local/cuda")
NVCC = shutil.which("nvcc") or (os.path.join(CUDA_HOME, "bin", "nvcc")
                                if os.path.exists(os.path.join(CUDA_HOME, "bin", "nvcc")) else None)
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.skipif(NVCC is None, reason="nvcc not found: the extension is built without CUDA")
def test_extension_contains_cuda_kernels_for_sm80_and_sm90():
    require_extension()
    info = backend_info()
    if os.environ.get("GLSP_BUILD_CUDA", "").lower() in ("0", "false", "no", "off"):
        pytest.skip("GLSP_BUILD_CUDA=0: built without CUDA on purpose")
    if info["source"] != "prebuilt":
        pytest.skip(f"the loaded extension is a {info['source']} build, not the installed one")
    for name in ("glsp::wkv", "glsp::wkv_with_carries", "glsp::wkv_backward"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(name, "CUDA"), (name, info)
    cuobjdump = shutil.which("cuobjdump") or os.path.join(os.path.dirname(NVCC), "cuobjdump")
    if not os.path.exists(cuobjdump):  # the kernels are registered; the arch list needs cuobjdump
        return
    listing = subprocess.run([cuobjdump, "--list-elf", info["path"]], capture_output=True,
                             text=True, check=True).stdout
    arch_list = os.environ.get("TORCH_CUDA_ARCH_LIST", "8.0;8.6;9.0+PTX")
    for arch in ("sm_80", "sm_90"):
        if arch[3:5] in arch_list.replace(".", ""):
            assert arch in listing, listing


def _to(device, *xs):
    return [x.to(device) for x in xs]


# (T, B, C): single tokens and chunks; a last tile of 7 chunks, the last one short (1000); 40
# tiles, so the tile scan has empty ranges (5000); many tiles per range (32768, 131072)
CASES = [(1, 1, 1), (2, 1, 3), (27, 1, 3), (100, 2, 80), (1000, 2, 80), (1000, 3, 33),
         (5000, 2, 40), (32768, 2, 64), (131072, 1, 8)]


@gpu
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("T", "B", "C"), CASES)
def test_cuda_matches_cpu_float32(T, B, C, causal):
    require_extension()
    w, u, k, v = make_inputs(B, T, C, seed=T + B)
    gy = torch.randn(B, T, C)
    y_cpu = op(w, u, k, v, causal)
    g_cpu = op_grads(w, u, k, v, gy, causal)
    y = op(*_to("cuda", w, u, k, v), causal)
    g = op_grads(*_to("cuda", w, u, k, v), gy.cuda(), causal)
    assert rel_err(y, y_cpu) <= 1e-5
    for a, b in zip(g, g_cpu, strict=True):
        assert rel_err(a, b) <= 1e-4
    if T <= 1000:
        assert rel_err(y, reference(w, u, k, v, causal)) <= 1e-5


@gpu
@saved_carries_cases([(1, 1, 1, 0), (100, 2, 3, 8), (1000, 3, 33, 0), (5000, 2, 40, 0),
                      (32768, 2, 64, 0)])
def test_cuda_saved_carries_change_nothing(T, B, C, chunk, causal, dtype):
    """The forward kernel's saved entry states are the ones the backward would build itself."""
    require_extension()
    check_saved_carries("cuda", B, T, C, chunk, causal, dtype)


@gpu
@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_cuda_forced_chunks_float64_exact(chunk):
    require_extension()
    w, u, k, v = (x.double() for x in make_inputs(2, 211, 5, seed=chunk))
    gy = torch.randn(2, 211, 5, dtype=torch.float64)
    for causal in (False, True):
        y = op(*_to("cuda", w, u, k, v), causal, chunk)
        assert rel_err(y, reference(w, u, k, v, causal)) <= 1e-12
        g = op_grads(*_to("cuda", w, u, k, v), gy.cuda(), causal, chunk)
        for a, b in zip(g, op_grads(w, u, k, v, gy, causal, chunk), strict=True):
            assert rel_err(a, b) <= 1e-12


@gpu
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)])
def test_cuda_half_precision(dtype, tol):
    require_extension()
    w, u, k, v = make_inputs(2, 4097, 48, seed=21)
    kh, vh = k.to(dtype), v.to(dtype)
    y = op(*_to("cuda", w, u, kh, vh))
    assert y.dtype == dtype
    assert rel_err(y, op(w, u, kh.float(), vh.float())) <= tol
    gy = torch.randn(2, 4097, 48).to(dtype)
    g = op_grads(*_to("cuda", w, u, kh, vh), gy.cuda())
    for a, b in zip(g, op_grads(w, u, kh.float(), vh.float(), gy.float()), strict=True):
        assert rel_err(a, b) <= 4 * tol


@gpu
def test_cuda_deterministic_and_large_keys_finite():
    require_extension()
    w, u, k, v = _to("cuda", *make_inputs(2, 20000, 64, seed=22))
    gy = torch.randn_like(k)
    first = (op(w, u, k, v), *op_grads(w, u, k, v, gy))
    second = (op(w, u, k, v), *op_grads(w, u, k, v, gy))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    big = 80 * torch.sign(torch.randn_like(k)) * torch.rand_like(k)
    out = (op(w, u, big, v), *op_grads(w, u, big, v, gy))
    assert all(torch.isfinite(t).all() for t in out)


@gpu
def test_cuda_autocast_and_autograd():
    require_extension()
    from nnunetv2_glsp.ops import wkv

    w, u, k, v = _to("cuda", *make_inputs(2, 300, 16, seed=23))
    k.requires_grad_()
    with torch.autocast("cuda", dtype=torch.float16):
        y = wkv(w, u, k, v)
    assert y.dtype == torch.float16
    y.float().sum().backward()
    assert k.grad.dtype == torch.float32 and torch.isfinite(k.grad).all()
    assert rel_err(y, op(w, u, k.detach(), v)) <= 2e-3
