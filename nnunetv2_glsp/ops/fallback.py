"""Pure-PyTorch O(T) bidirectional WKV: the fallback when the compiled extension is missing.

The sequence is cut into chunks of ``CHUNK`` tokens. Two sequential passes over the chunks
carry the prefix and suffix sums (scaled by a log offset, so nothing overflows) into each
chunk; inside a chunk every token combines its ``CHUNK`` in-chunk terms with the two carries
in one log-sum-exp. Differentiable by autograd; same formula as ``reference.wkv_reference``.
"""

from __future__ import annotations

import torch

CHUNK = 16
_NEG_INF = float("-inf")


def _carries(
    w: torch.Tensor, logits: torch.Tensor, values: torch.Tensor, valid: torch.Tensor, reverse: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """State entering each chunk from one side.

    logits, values: (B, n, L, C) per-token log weight k_i and value v_i; valid: (n, L, 1).
    Returns (num, den, offset), each (B, n, C): the sum over all tokens before the chunk
    (after it when ``reverse``) of exp(-(distance - 1) w + k_i) [v_i | 1], measured from the
    chunk's first (last) token, as num * exp(offset).
    """
    B, n, L, C = logits.shape
    steps = torch.arange(L, device=logits.device, dtype=logits.dtype)
    # distance from token j to the next chunk's boundary token, minus one
    gap = steps.flip(0) if not reverse else steps
    token_logits = torch.where(valid, logits - gap[:, None] * w, _NEG_INF)  # (B, n, L, C)
    num = logits.new_zeros(B, C)
    den = logits.new_zeros(B, C)
    offset = logits.new_full((B, C), _NEG_INF)
    nums, dens, offsets = [], [], []
    order = range(n - 1, -1, -1) if reverse else range(n)
    for c in order:
        nums.append(num)
        dens.append(den)
        offsets.append(offset)
        carried = offset - L * w
        new_offset = torch.maximum(carried, token_logits[:, c].amax(dim=1))
        scale_old = torch.exp(carried - new_offset)
        scale_tok = torch.exp(token_logits[:, c] - new_offset[:, None])  # (B, L, C)
        num = num * scale_old + (scale_tok * values[:, c]).sum(dim=1)
        den = den * scale_old + scale_tok.sum(dim=1)
        offset = new_offset
    if reverse:
        nums, dens, offsets = nums[::-1], dens[::-1], offsets[::-1]
    return torch.stack(nums, 1), torch.stack(dens, 1), torch.stack(offsets, 1)


def wkv_fallback(
    w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False
) -> torch.Tensor:
    """w, u: (C,); k, v: (B, T, C) -> y: (B, T, C) in k's dtype, accumulated in float32."""
    out_dtype = k.dtype
    compute = torch.promote_types(k.dtype, torch.float32)
    w, u, k, v = (x.to(compute) for x in (w, u, k, v))
    B, T, C = k.shape
    L = min(CHUNK, T)
    n = -(-T // L)
    pad = n * L - T
    k_chunks = torch.nn.functional.pad(k, (0, 0, 0, pad)).view(B, n, L, C)
    v_chunks = torch.nn.functional.pad(v, (0, 0, 0, pad)).view(B, n, L, C)
    valid = (torch.arange(n * L, device=k.device) < T).view(n, L, 1)

    # in-chunk logits [b, n, j, i, c]: -(|j-i|-1) w + k_i, the bonus u + k_j on the diagonal
    pos = torch.arange(L, device=k.device, dtype=compute)
    signed = pos[:, None] - pos[None, :]
    inner = -(signed.abs() - 1.0)[:, :, None] * w + k_chunks[:, :, None, :, :]
    diag = torch.eye(L, dtype=torch.bool, device=k.device)[:, :, None]
    inner = torch.where(diag, (u + k_chunks)[:, :, :, None, :].expand_as(inner), inner)
    keep = valid.view(n, 1, L, 1)
    if causal:
        keep = keep & (signed >= 0)[:, :, None]
    inner = torch.where(keep, inner, _NEG_INF)

    # carried sums from the other chunks, shifted from the chunk boundary to token j
    pre_num, pre_den, pre_off = _carries(w, k_chunks, v_chunks, valid, reverse=False)
    pre_logit = pre_off[:, :, None, :] - pos[:, None] * w  # (B, n, L, C)
    logit_terms = [inner, pre_logit[:, :, :, None, :]]
    num_terms = [v_chunks[:, :, None, :, :].expand_as(inner), pre_num[:, :, None, None, :]]
    den_terms = [torch.ones_like(inner), pre_den[:, :, None, None, :]]
    if not causal:
        suf_num, suf_den, suf_off = _carries(w, k_chunks, v_chunks, valid, reverse=True)
        suf_logit = suf_off[:, :, None, :] - (L - 1 - pos)[:, None] * w
        logit_terms.append(suf_logit[:, :, :, None, :])
        num_terms.append(suf_num[:, :, None, None, :])
        den_terms.append(suf_den[:, :, None, None, :])

    logits = torch.cat([t.expand(B, n, L, -1, C) for t in logit_terms], dim=3)
    nums = torch.cat([t.expand(B, n, L, -1, C) for t in num_terms], dim=3)
    dens = torch.cat([t.expand(B, n, L, -1, C) for t in den_terms], dim=3)
    peak = logits.amax(dim=3, keepdim=True).detach()
    scale = torch.exp(logits - peak)
    y = (scale * nums).sum(dim=3) / (scale * dens).sum(dim=3)
    return y.reshape(B, n * L, C)[:, :T].to(out_dtype)
