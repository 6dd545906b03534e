"""The GLSP block is the design document's block (design/3d-glsp.zh.txt, section 4), and every
NetworkConfig field is checked when the config or the block is made."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from nnunetv2_glsp.network import GLSP, NetworkConfig, VRWKV_SpatialMix, build_network

CONV = {2: nn.Conv2d, 3: nn.Conv3d}
INSTANCE_NORM = {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}


class DesignGLSP(nn.Module):
    """The design's steps, from plain torch modules (drop_path and dropout at 0: identities).

    ``rwkv_unet=True`` adds what RWKV-UNet's 2D block has beyond them: a SiLU after step 1 and
    a residual around step 3.
    """

    def __init__(self, dim_in: int, dim_out: int, dim: int, exp_ratio: float, se_ratio: float,
                 rwkv_unet: bool = False) -> None:
        super().__init__()
        conv, norm = CONV[dim], INSTANCE_NORM[dim]
        mid = int(dim_in * exp_ratio)
        self.rwkv_unet, self.has_skip = rwkv_unet, dim_in == dim_out
        self.conv1, self.norm1 = conv(dim_in, mid, 1, bias=False), norm(mid, affine=True)
        self.attn, self.ln = VRWKV_SpatialMix(mid, dim=dim), nn.LayerNorm(mid)
        self.dwconv = conv(mid, mid, 3, padding=1, groups=mid, bias=False)
        self.norm2 = norm(mid, affine=True)
        hidden = max(1, int(mid * se_ratio))
        self.se_reduce, self.se_expand = conv(mid, hidden, 1), conv(hidden, mid, 1)
        self.proj = conv(mid, dim_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(self.conv1(x))                         # 1. conv1 + norm, no activation
        if self.rwkv_unet:
            x = torch.nn.functional.silu(x)
        B, C, *S = x.shape
        seq = x.flatten(2).transpose(1, 2)                    # 2. (B, N, C)
        seq = seq + self.ln(self.attn(seq, S))                #    seq + LN(SpatialMix(seq))
        x = seq.transpose(1, 2).reshape(B, C, *S)
        y = torch.nn.functional.silu(self.norm2(self.dwconv(x)))  # 3. dwconv + norm + SiLU
        s = y.mean(dim=tuple(range(2, y.ndim)), keepdim=True)      #    SE3D
        y = y * torch.sigmoid(self.se_expand(torch.relu(self.se_reduce(s))))
        x = x + y if self.rwkv_unet else y
        x = self.proj(x)                                      # 4. proj, then the skip
        return shortcut + x if self.has_skip else x


def copy_block_into_design(block: GLSP, design: DesignGLSP) -> None:
    pairs = [(design.conv1, block.pw_in[0]), (design.norm1, block.pw_in[1]),
             (design.attn, block.token_mixer), (design.ln, block.mixer_norm),
             (design.dwconv, block.local[0]), (design.norm2, block.local[1]),
             (design.se_reduce, block.se.reduce), (design.se_expand, block.se.expand),
             (design.proj, block.proj)]
    for target, source in pairs:
        target.load_state_dict(source.state_dict(), strict=True)
    assert sum(p.numel() for p in design.parameters()) == sum(
        p.numel() for p in block.parameters())


@pytest.mark.parametrize(("dim", "dim_in", "dim_out", "exp_ratio"),
                         [(3, 12, 12, 1.0), (3, 12, 8, 2.0), (2, 12, 12, 1.0), (2, 8, 16, 1.5)])
@pytest.mark.parametrize("rwkv_unet", [False, True])
def test_default_block_is_the_designs_steps(dim, dim_in, dim_out, exp_ratio, rwkv_unet):
    torch.manual_seed(dim_in + dim)
    options = {"pw_activation": True, "local_residual": True} if rwkv_unet else {}
    block = GLSP(dim_in, dim_out, exp_ratio=exp_ratio, dim=dim, **options).double()
    with torch.no_grad():  # no parameter at its initial value (norms' 1 and 0, zero biases)
        for parameter in block.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    design = DesignGLSP(dim_in, dim_out, dim, exp_ratio, 0.25, rwkv_unet).double()
    copy_block_into_design(block, design)
    x = torch.randn(2, dim_in, *(4, 5, 6)[-dim:], dtype=torch.float64)
    torch.testing.assert_close(block(x), design(x), rtol=1e-12, atol=1e-12)
    if not rwkv_unet:  # the design differs from the RWKV-UNet block
        other = DesignGLSP(dim_in, dim_out, dim, exp_ratio, 0.25, rwkv_unet=True).double()
        copy_block_into_design(block, other)
        assert (block(x) - other(x)).abs().max() > 1e-3


def test_network_default_is_the_design_block():
    config = NetworkConfig()
    assert (config.pw_activation, config.local_residual) == (False, False)
    network = build_network(3, 1, 2, [8, 16, 32, 64], [[1, 1, 1]] + [[2, 2, 2]] * 3,
                            [[3, 3, 3]] * 4, config=dataclasses.replace(config, size="S"))
    blocks = [m for m in network.modules() if isinstance(m, GLSP)]
    assert blocks and all(isinstance(b.pw_in[2], nn.Identity) and not b.local_residual
                          for b in blocks)


BAD_FIELDS = [
    ("gamma", -0.1, r"gamma=-0.1 must be in \(0, 0.25\]"),
    ("gamma", 0.0, r"gamma=0.0 must be in \(0, 0.25\]"),
    ("gamma", 0.5, r"gamma=0.5 must be in \(0, 0.25\]"),
    ("dw_kernel", 4, r"dw_kernel=4 must be a positive odd integer"),
    ("kernel_size", 0, r"kernel_size=0 must be a positive odd integer"),
    ("conv_mixer_kernel", 6, r"conv_mixer_kernel=6 must be a positive odd integer"),
    ("exp_ratio", 0, r"exp_ratio=0 must be in \(0, 16\]"),
    ("se_ratio", -0.25, r"se_ratio=-0.25 must be in \[0, 1\]"),
    ("drop_path", 1.0, r"drop_path=1.0 must be in \[0, 1\)"),
    ("dropout", -0.1, r"dropout=-0.1 must be in \[0, 1\)"),
    ("start_level", -1, r"start_level=-1 must be >= 0"),
    ("blocks_per_level", 0, r"blocks_per_level=0 must be >= 1"),
    ("scan_orders", 4, r"scan_orders=4 must be between 1 and 3"),
    ("shift_pixel", 1.5, r"shift_pixel=1.5 must be an integer >= 0"),
    ("size", "XL", r"size='XL' is not a valid choice: use one of 'S', 'B', 'M', 'L'"),
    ("branch", "mamba", r"branch='mamba' is not a valid choice"),
    ("fusion", "mul", r"fusion='mul' is not a valid choice"),
    ("norm", "layer", r"norm='layer' is not a valid choice"),
    ("init", "zeros", r"init='zeros' is not a valid choice"),
    ("pw_activation", 1, r"pw_activation=1 must be True or False"),
    ("gradient_checkpointing", "yes", r"gradient_checkpointing='yes' must be True or False"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_FIELDS)
def test_bad_config_fields_raise_at_construction(field, value, message):
    with pytest.raises(ValueError, match=message):
        NetworkConfig(**{field: value})


def test_block_and_mixer_check_their_own_arguments():
    with pytest.raises(ValueError, match="dw_kernel=2 must be a positive odd integer"):
        GLSP(8, 8, dw_kernel=2)
    with pytest.raises(ValueError, match=r"exp_ratio=0.1 gives 0 middle channels"):
        GLSP(8, 8, exp_ratio=0.1)
    with pytest.raises(ValueError, match=r"se_ratio=2 must be in \[0, 1\]"):
        GLSP(8, 8, se_ratio=2)
    # 0.2 is a valid config value (2D allows 1/4) but too large for six 3D shift groups
    with pytest.raises(ValueError, match=r"gamma=0.2 is out of range for 3D: use 0 < gamma <= 1/6"):
        build_network(3, 1, 2, [8, 16, 32], [[1, 1, 1], [2, 2, 2], [2, 2, 2]], [[3, 3, 3]] * 3,
                      config=NetworkConfig(gamma=0.2, size="S"))
