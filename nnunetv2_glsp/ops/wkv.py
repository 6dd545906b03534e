"""The public bidirectional WKV: compiled kernels when loaded, else the pure-PyTorch fallback."""

from __future__ import annotations

import os

import torch

from nnunetv2_glsp.ops import _loader, _registration
from nnunetv2_glsp.ops._validate import check_inputs, check_same_dtype
from nnunetv2_glsp.ops.fallback import wkv_fallback

BACKEND = _loader.load()
if BACKEND.name == "extension":
    _registration.register()

# Autograd's forward saves the scan's chunk carries for the backward (glsp::wkv_with_carries) on
# the CPU. On CUDA that path has not yet run on a GPU, so by default the CUDA backward rescans
# (k, v) itself, as validated on an H200; GLSP_CUDA_SAVED_CARRIES=1 opts in to saved carries.
CUDA_SAVED_CARRIES = os.environ.get("GLSP_CUDA_SAVED_CARRIES", "").strip().lower() in (
    "1", "true", "yes", "on")


def _autocast(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """Under torch.autocast: k, v in the autocast dtype, w, u in float32 (the op itself is not
    autocast-aware; its autocast dispatch key falls through)."""
    device = k.device.type
    if device in ("cpu", "cuda") and torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        return w.float(), u.float(), k.to(dtype), v.to(dtype)
    return w, u, k, v


def wkv(
    w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False
) -> torch.Tensor:
    """Bidirectional WKV (Vision-RWKV): w, u (C,); k, v (B, T, C) -> y (B, T, C), k's dtype.

    y_t = (sum_{i!=t} e^{-(|t-i|-1) w + k_i} v_i + e^{u+k_t} v_t) / (same with v = 1);
    causal=True keeps i < t only (RWKV-4). Accumulates in float32 (float64 for float64 inputs).
    """
    check_inputs(w, u, k, v)
    w, u, k, v = _autocast(w, u, k, v)
    check_same_dtype(k, v)
    if k.device.type in BACKEND.devices:
        saves_carries = k.device.type == "cpu" or CUDA_SAVED_CARRIES
        if saves_carries and torch.is_grad_enabled() and any(
                x.requires_grad for x in (w, u, k, v)):
            return torch.ops.glsp.wkv_with_carries(w, u, k, v, causal, 0)[0]  # faster backward
        return torch.ops.glsp.wkv(w, u, k, v, causal, 0)
    if BACKEND.error is not None:
        raise RuntimeError(BACKEND.error)
    return wkv_fallback(w, u, k, v, causal)


# The instruction sets the CPU kernels are compiled for, best first, as glsp::cpu_isa names them
# and GLSP_CPU_ISA takes them (csrc/wkv_cpu.cpp, kIsaNames).
CPU_ISAS = ("avx512", "avx2", "baseline")


def cpu_isa() -> str | None:
    """The instruction set of the compiled CPU kernels for float data ('avx512', 'avx2' or
    'baseline': the best the CPU has, or GLSP_CPU_ISA's), None without the extension."""
    if BACKEND.name != "extension":
        return None
    try:
        return torch.ops.glsp.cpu_isa()
    except RuntimeError as error:  # an instruction set this CPU cannot run (the doctor fails)
        return f"invalid: {str(error).splitlines()[0]}"


def backend_info() -> dict:
    """Which WKV backend is active and why (for ``nnunetv2_glsp doctor``)."""
    return {
        "backend": BACKEND.name,
        "requested": BACKEND.requested,
        "source": BACKEND.source,
        "path": BACKEND.path,
        "devices": sorted(BACKEND.devices),
        "reason": BACKEND.reason,
        "fix": BACKEND.fix,
        "cuda_saved_carries": CUDA_SAVED_CARRIES,
        "cpu_isa": cpu_isa(),
    }
