"""Find the compiled WKV kernels: the prebuilt ``nnunetv2_glsp._C``, else a cached JIT build of
the C++/CUDA sources, else none (the pure-PyTorch fallback is then used).

``GLSP_WKV_BACKEND`` chooses: ``auto`` (default; fall back with one warning), ``extension``
(the kernels or an error at the first ``wkv`` call), ``fallback`` (never load the extension).
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nnunetv2_glsp.ops import build_flags

ENV_VAR = "GLSP_WKV_BACKEND"
CHOICES = ("auto", "extension", "fallback")
_PACKAGE = Path(__file__).resolve().parent.parent  # nnunetv2_glsp/
_JIT_NAME = "nnunetv2_glsp_wkv"


@dataclass(frozen=True)
class Backend:
    """Which WKV implementation is active, and why."""

    name: str  # "extension" or "fallback"
    requested: str  # value of GLSP_WKV_BACKEND
    source: str | None = None  # "prebuilt" or "jit" when name == "extension"
    path: str | None = None  # the loaded shared library
    devices: frozenset[str] = field(default_factory=frozenset)  # device types with kernels
    reason: str = ""
    fix: str | None = None
    error: str | None = None  # raised at the first call when the extension was required


def _kernel_devices() -> frozenset[str]:
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    return frozenset(d for d, key in (("cpu", "CPU"), ("cuda", "CUDA")) if has("glsp::wkv", key))


def _source_dir() -> Path:
    """The kernel sources: installed next to the package, or the repository's csrc/."""
    for candidate in (_PACKAGE / "csrc", _PACKAGE.parent / "csrc"):
        if (candidate / "wkv_math.h").is_file():
            return candidate
    raise FileNotFoundError(f"no WKV sources in {_PACKAGE / 'csrc'} or {_PACKAGE.parent / 'csrc'}")


def _load_prebuilt() -> str:
    return importlib.import_module("nnunetv2_glsp._C").__file__


def _load_jit() -> str:
    """Build the sources once with torch.utils.cpp_extension (cached in TORCH_EXTENSIONS_DIR)."""
    from torch.utils import cpp_extension

    src = _source_dir()
    sources = sorted(str(p) for p in src.glob("*.cpp"))
    cuda = torch.cuda.is_available() and cpp_extension.CUDA_HOME is not None
    flags = list(build_flags.CXX_FLAGS)
    if cuda:
        sources += sorted(str(p) for p in src.glob("*.cu"))
        flags.append("-DGLSP_WITH_CUDA")
    tag = "".join(ch if ch.isalnum() else "_" for ch in torch.__version__)
    build_dir = Path(cpp_extension.get_default_build_root()) / f"{_JIT_NAME}_{tag}"
    build_dir.mkdir(parents=True, exist_ok=True)
    cpp_extension.load(
        name=_JIT_NAME,
        sources=sources,
        extra_cflags=flags,
        extra_cuda_cflags=build_flags.NVCC_FLAGS,
        extra_ldflags=build_flags.LINK_FLAGS,
        extra_include_paths=[str(src)],
        build_directory=str(build_dir),
        is_python_module=False,
    )
    return str(build_dir / f"{_JIT_NAME}.so")


def _cuda_note(devices: frozenset[str]) -> str:
    if torch.cuda.is_available() and "cuda" not in devices:
        return "; it has no CUDA kernels, so CUDA inputs use the fallback"
    return ""


def load() -> Backend:
    """Resolve the backend once (at import of nnunetv2_glsp.ops); never raises."""
    requested = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if requested not in CHOICES:
        warnings.warn(f"{ENV_VAR}={requested!r} is not one of {CHOICES}; using 'auto'",
                      stacklevel=3)
        requested = "auto"
    if requested == "fallback":
        return Backend("fallback", requested, reason=f"{ENV_VAR}=fallback")
    errors = []
    for source, loader in (("prebuilt", _load_prebuilt), ("jit", _load_jit)):
        try:
            path = loader()
        except Exception as exc:  # any failure to import or build means: try the next source
            errors.append(f"{source}: {type(exc).__name__}: {str(exc).strip().splitlines()[-1:]}")
            continue
        devices = _kernel_devices()
        return Backend("extension", requested, source, path, devices,
                       reason=f"loaded the {source} extension{_cuda_note(devices)}")
    reason = "the compiled WKV extension is unavailable (" + "; ".join(errors) + ")"
    fix = ("reinstall with a C++ compiler (and CUDA_HOME for GPU kernels): "
           "pip install --no-build-isolation --force-reinstall nnunetv2-glsp, "
           f"or set {ENV_VAR}=fallback to silence this")
    if requested == "extension":
        return Backend("fallback", requested, reason=reason, fix=fix,
                       error=f"{ENV_VAR}=extension but {reason}. Fix: {fix}")
    warnings.warn(f"nnunetv2_glsp: {reason}; using the slower pure-PyTorch WKV. Fix: {fix}",
                  RuntimeWarning, stacklevel=3)
    return Backend("fallback", requested, reason=reason, fix=fix)
