"""Argument checks of ``wkv``, raised in Python before any kernel runs."""

from __future__ import annotations

import torch

KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_inputs(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """w, u: (C,) floating; k, v: (B, T, C) of one floating dtype; one device; w, u finite.

    The finiteness check of w, u runs in eager mode only (it would break a torch.compile graph);
    k and v are not scanned for NaN/inf (a pass over all of them): non-finite k or v give NaN.
    """
    for name, t in (("w", w), ("u", u), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"wkv: {name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dtype not in KERNEL_DTYPES:
            raise TypeError(f"wkv: {name} must be float16, bfloat16, float32 or float64, "
                            f"got {t.dtype}")
        if t.device != k.device:
            raise ValueError(f"wkv: all inputs must be on one device; k is on {k.device}, "
                             f"{name} on {t.device}")
    if k.ndim != 3:
        raise ValueError(f"wkv: k must have shape (B, T, C), got {tuple(k.shape)}")
    if v.shape != k.shape:
        raise ValueError(f"wkv: v must have the shape of k {tuple(k.shape)}, got {tuple(v.shape)}")
    if min(k.shape) < 1:
        raise ValueError(f"wkv: B, T and C must be >= 1, got k of shape {tuple(k.shape)}")
    C = k.shape[2]
    for name, t in (("w", w), ("u", u)):
        if t.shape != (C,):
            raise ValueError(f"wkv: {name} must have shape ({C},) (one value per channel of k), "
                             f"got {tuple(t.shape)}")
    if not torch.compiler.is_compiling():
        for name, t in (("w", w), ("u", u)):
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"wkv: {name} contains NaN or inf")


def check_same_dtype(k: torch.Tensor, v: torch.Tensor) -> None:
    if k.dtype != v.dtype:
        raise TypeError(f"wkv: k and v must share a dtype, got k {k.dtype} and v {v.dtype} "
                        "(under torch.autocast both are cast to the autocast dtype)")
