"""Unit tests of the network's building blocks: q-shift, spatial mix, GLSP, SE, fusion."""

from __future__ import annotations

import math

import pytest
import torch

from nnunetv2_glsp.network import (
    GLSP,
    SqueezeExcite,
    VRWKV_SpatialMix,
    q_shift_2d,
    q_shift_3d,
)
from nnunetv2_glsp.network.conv_mixer import ConvSpatialMix
from nnunetv2_glsp.network.fusion import Fusion
from nnunetv2_glsp.network.spatial_mix import scan_permutation
from nnunetv2_glsp.ops import wkv

torch.manual_seed(0)


def _grid(B: int, C: int, res: tuple[int, ...]) -> torch.Tensor:
    """(B, C, *res) of distinct positive values."""
    n = B * C * math.prod(res)
    return torch.arange(1, n + 1, dtype=torch.float32).reshape(B, C, *res)


def _to_seq(grid: torch.Tensor) -> torch.Tensor:
    return grid.flatten(2).transpose(1, 2)


def _to_grid(seq: torch.Tensor, res: tuple[int, ...]) -> torch.Tensor:
    return seq.transpose(1, 2).reshape(seq.shape[0], seq.shape[2], *res)


def test_q_shift_3d_moves_each_group_the_right_way_with_zero_fill():
    res, C, s = (3, 4, 5), 14, 1  # g = int(14/6) = 2 channels per group, 2 left unshifted
    x = _grid(2, C, res)
    out = _to_grid(q_shift_3d(_to_seq(x), res, shift_pixel=s, gamma=1 / 6), res)
    g = 2
    grp = [slice(i * g, (i + 1) * g) for i in range(6)]
    # +W: out[..., w] = x[..., w-1]; first W column zero
    assert torch.equal(out[:, grp[0], :, :, 1:], x[:, grp[0], :, :, :-1])
    assert (out[:, grp[0], :, :, 0] == 0).all()
    # -W
    assert torch.equal(out[:, grp[1], :, :, :-1], x[:, grp[1], :, :, 1:])
    assert (out[:, grp[1], :, :, -1] == 0).all()
    # +H, -H
    assert torch.equal(out[:, grp[2], :, 1:], x[:, grp[2], :, :-1])
    assert (out[:, grp[2], :, 0] == 0).all()
    assert torch.equal(out[:, grp[3], :, :-1], x[:, grp[3], :, 1:])
    assert (out[:, grp[3], :, -1] == 0).all()
    # +D, -D
    assert torch.equal(out[:, grp[4], 1:], x[:, grp[4], :-1])
    assert (out[:, grp[4], 0] == 0).all()
    assert torch.equal(out[:, grp[5], :-1], x[:, grp[5], 1:])
    assert (out[:, grp[5], -1] == 0).all()
    # the rest is unchanged
    assert torch.equal(out[:, 6 * g :], x[:, 6 * g :])


def test_q_shift_larger_shift_and_shift_beyond_axis():
    res = (2, 3, 4)
    x = _grid(1, 6, res)
    out = _to_grid(q_shift_3d(_to_seq(x), res, shift_pixel=2), res)
    assert torch.equal(out[:, 0, :, :, 2:], x[:, 0, :, :, :2])
    assert (out[:, 0, :, :, :2] == 0).all()
    assert (out[:, 4] == 0).all() and (out[:, 5] == 0).all()  # D = 2: all shifted out


def test_q_shift_2d_four_groups():
    res = (3, 4)
    x = _grid(1, 9, res)  # g = 2, channel 8 unshifted
    out = _to_grid(q_shift_2d(_to_seq(x), res), res)
    assert torch.equal(out[:, 0:2, :, 1:], x[:, 0:2, :, :-1])
    assert torch.equal(out[:, 2:4, :, :-1], x[:, 2:4, :, 1:])
    assert torch.equal(out[:, 4:6, 1:], x[:, 4:6, :-1])
    assert torch.equal(out[:, 6:8, :-1], x[:, 6:8, 1:])
    assert torch.equal(out[:, 8], x[:, 8])


def test_q_shift_gamma_too_large_is_a_clear_error():
    x = torch.zeros(1, 8, 12)
    with pytest.raises(ValueError, match=r"gamma=0.2.*1/6"):
        q_shift_3d(x, (2, 2, 2), gamma=0.2)
    with pytest.raises(ValueError, match=r"1/4"):
        q_shift_2d(torch.zeros(1, 4, 12), (2, 2), gamma=0.3)
    with pytest.raises(ValueError, match="gamma"):
        VRWKV_SpatialMix(12, dim=3, gamma=0.25)


def test_spatial_mix_without_shift_does_not_mix():
    mix = VRWKV_SpatialMix(12, dim=3, shift_pixel=0)
    x = torch.randn(2, 8, 12)
    mix(x, (2, 2, 2)).sum().backward()
    for p in (mix.spatial_mix_k, mix.spatial_mix_v, mix.spatial_mix_r):
        assert p.grad is None
    # and the output is WKV of the unshifted tokens
    k, v = mix.key(x), mix.value(x)
    y = wkv(mix.spatial_decay / 8, mix.spatial_first / 8, k, v)
    expected = mix.output(torch.sigmoid(mix.receptance(x)) * mix.key_norm(y))
    torch.testing.assert_close(mix(x, (2, 2, 2)), expected)


def test_spatial_mix_with_shift_uses_the_mixes():
    mix = VRWKV_SpatialMix(12, dim=3, shift_pixel=1)
    mix(torch.randn(2, 8, 12), (2, 2, 2)).sum().backward()
    assert mix.spatial_mix_k.grad.abs().sum() > 0


def test_spatial_mix_fancy_init():
    C, n = 10, 4
    mix = VRWKV_SpatialMix(C, init="fancy", layer_id=1, n_layers=n)
    r01, r10 = 1 / 3, 1 - 1 / 4
    h = torch.arange(C, dtype=torch.float32)
    torch.testing.assert_close(mix.spatial_decay, -5 + 8 * (h / (C - 1)) ** (0.7 + 1.3 * r01))
    assert mix.spatial_decay[0].item() == pytest.approx(-5) and mix.spatial_decay[-1] == 3
    first = [math.log(0.3) + 0.5 * (((i + 1) % 3) - 1) for i in range(C)]
    torch.testing.assert_close(mix.spatial_first, torch.tensor(first))
    xi = (h / C).view(1, 1, C)
    torch.testing.assert_close(mix.spatial_mix_k, xi**r10)
    torch.testing.assert_close(mix.spatial_mix_v, xi**r10 + 0.3 * r01)
    torch.testing.assert_close(mix.spatial_mix_r, xi ** (0.5 * r10))
    VRWKV_SpatialMix(C, init="fancy", layer_id=0, n_layers=1)  # n = 1 guarded


def test_spatial_mix_global_init():
    mix = VRWKV_SpatialMix(6, init="global")
    assert (mix.spatial_decay == 0).all() and (mix.spatial_first == 0).all()
    assert (mix.spatial_mix_k == 0.5).all() and (mix.spatial_mix_r == 0.5).all()
    with pytest.raises(ValueError, match="init"):
        VRWKV_SpatialMix(6, init="zeros")


def test_spatial_mix_scan_orders_average_the_permuted_scans():
    res, C = (2, 3, 4), 6
    mix = VRWKV_SpatialMix(C, shift_pixel=0, scan_orders=2)
    k, v = torch.randn(1, 24, C), torch.randn(1, 24, C)
    got = mix.bi_wkv(k, v, res)
    assert scan_permutation(3, 1) == (1, 2, 0)
    w, u = mix.spatial_decay / 24, mix.spatial_first / 24
    y0 = wkv(w, u, k, v)
    kg, vg = k.reshape(1, *res, C), v.reshape(1, *res, C)
    perm = (0, 2, 3, 1, 4)  # H, W, D
    y1 = wkv(w, u, kg.permute(perm).reshape(1, 24, C), vg.permute(perm).reshape(1, 24, C))
    y1 = y1.reshape(1, 3, 4, 2, C).permute(0, 3, 1, 2, 4).reshape(1, 24, C)
    torch.testing.assert_close(got, (y0 + y1) / 2)
    with pytest.raises(ValueError, match="scan_orders"):
        VRWKV_SpatialMix(C, dim=2, scan_orders=3)


@pytest.mark.parametrize("norm", ["instance", "group", "batch"])
def test_glsp_3d_shapes_and_skip(norm):
    block = GLSP(8, 8, exp_ratio=2.0, se_ratio=0.25, norm=norm)
    x = torch.randn(2, 8, 3, 4, 5)
    y = block(x)
    assert y.shape == x.shape and block.has_skip
    y.sum().backward()
    assert block.token_mixer.key.weight.grad is not None
    # zeroing the projection leaves only the skip
    with torch.no_grad():
        block.proj.weight.zero_()
        block.proj.bias.zero_()
    torch.testing.assert_close(block(x), x)


def test_glsp_without_skip_changes_width_and_2d():
    block = GLSP(8, 12, se_ratio=0.0)
    assert not block.has_skip
    assert block(torch.randn(1, 8, 2, 3, 4)).shape == (1, 12, 2, 3, 4)
    block2 = GLSP(8, 8, dim=2)
    assert block2(torch.randn(2, 8, 5, 6)).shape == (2, 8, 5, 6)
    assert block2.token_mixer.dim == 2


def test_squeeze_excite_reweights_channels():
    se = SqueezeExcite(8, se_ratio=0.25, dim=3)
    assert se.reduce.out_channels == 2
    x = torch.randn(2, 8, 3, 4, 5)
    y = se(x)
    ratio = y / x
    # one factor in (0, 1) per sample and channel
    flat = ratio.flatten(2)
    torch.testing.assert_close(flat, flat[..., :1].expand_as(flat))
    assert ((flat > 0) & (flat < 1)).all()


def test_conv_mixer_matches_spatial_mix_interface_and_size():
    C = 32
    conv, rwkv = ConvSpatialMix(C, dim=3, kernel=7), VRWKV_SpatialMix(C, dim=3)
    x = torch.randn(2, 60, C)
    assert conv(x, (3, 4, 5)).shape == x.shape
    n_conv = sum(p.numel() for p in conv.parameters())
    n_rwkv = sum(p.numel() for p in rwkv.parameters())
    assert 1.0 <= n_conv / n_rwkv < 1.15


@pytest.mark.parametrize("mode", ["gated_add", "concat", "add"])
def test_fusion_modes(mode):
    fusion = Fusion(6, mode, dim=3)
    x, y = torch.randn(2, 6, 2, 3, 4), torch.randn(2, 6, 2, 3, 4)
    out = fusion(x, y)
    if mode == "add":
        torch.testing.assert_close(out, x + y)
    else:  # identity on x at initialisation
        torch.testing.assert_close(out, x)
    with pytest.raises(ValueError, match="fusion"):
        Fusion(6, "mul")
