"""Float64 O(T^2) reference of the bidirectional WKV operator (tests only).

Per batch b and channel c, with the Vision-RWKV v1 distance (|t-i| - 1):

    num_t = sum_{i != t} exp(-(|t-i|-1) w + k_i) v_i + exp(u + k_t) v_t
    den_t = sum_{i != t} exp(-(|t-i|-1) w + k_i)     + exp(u + k_t)
    y_t   = num_t / den_t

``causal=True`` keeps only i < t (the RWKV-4 form).
"""

from __future__ import annotations

import torch


def wkv_reference(
    w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False
) -> torch.Tensor:
    """w, u: (C,); k, v: (B, T, C) -> y: (B, T, C) in float64, computed densely."""
    w, u, k, v = (x.to(torch.float64) for x in (w, u, k, v))
    T = k.shape[1]
    pos = torch.arange(T, dtype=torch.float64, device=k.device)
    signed = pos[:, None] - pos[None, :]  # t - i, shape (T, T)
    distance = (signed.abs() - 1.0)[:, :, None]  # (T, T, 1)
    logits = -distance * w + k[:, None, :, :]  # (B, T, T, C): [b, t, i, c]
    eye = torch.eye(T, dtype=torch.bool, device=k.device)[:, :, None]
    logits = torch.where(eye, (u + k)[:, :, None, :].expand_as(logits), logits)
    if causal:
        logits = logits.masked_fill((signed < 0)[:, :, None], float("-inf"))
    weights = torch.softmax(logits, dim=2)
    return (weights * v[:, None, :, :]).sum(dim=2)
