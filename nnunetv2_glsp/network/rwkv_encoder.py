"""The RWKV encoder branch: GLSP blocks on MedNeXt's features from ``start_level`` down."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import nn

from nnunetv2_glsp.network import layers
from nnunetv2_glsp.network.glsp import GLSP
from nnunetv2_glsp.network.mednext import Stage

# (channels, layer_id=, n_layers=) -> token mixer module(x (B, N, C), resolution) -> (B, N, C)
LayerMixerFactory = Callable[..., nn.Module]


class Downsample(nn.Sequential):
    """Patch-merging downsampling: conv with kernel = stride, then norm.

    x: (B, c_in, *S) -> (B, c_out, *S / stride).
    """

    def __init__(self, c_in: int, c_out: int, stride: Sequence[int], norm: str, dim: int) -> None:
        stride = tuple(stride)
        super().__init__(
            layers.conv(dim)(c_in, c_out, stride, stride, bias=False),
            layers.norm(norm, dim, c_out),
        )


class RWKV_UNet_3D_Encoder(nn.Module):  # noqa: N801 (name of the design document)
    """Encoder branch fed by MedNeXt's level-``start_level`` features.

    x = in_proj(f_start)                                  # 1x1 conv, C_s -> C_s
    for l in start_level .. n-2:
        x = GLSP(C_l -> C_l) x blocks_per_level;  rwkv_feat_l = x
        x = Downsample(C_l -> C_{l+1}, strides[l+1])
    rwkv_feat_{n-1} = x                                   # the bottleneck feature

    forward(f_start (B, C_s, *S_s)) -> [rwkv_feat_l for l = start_level .. n-1].
    Standard 5 levels (start 2): GLSP(4C)+Down(4C->8C), GLSP(8C)+Down(8C->16C).
    Plans with fewer than start_level + 2 stages (tiny images) start at level n-2 instead.
    ``token_mixer(channels, layer_id=, n_layers=)`` builds each GLSP's mixer; layer ids count
    the branch's GLSP blocks from 0 (Vision-RWKV's fancy init depends on them).
    """

    def __init__(
        self,
        features: Sequence[int],
        strides: Sequence[Sequence[int]],
        start_level: int,
        blocks_per_level: int,
        token_mixer: LayerMixerFactory,
        dim: int = 3,
        norm: str = "instance",
        checkpointing: bool = False,
        **glsp_kwargs,
    ) -> None:
        super().__init__()
        n = len(features)
        if start_level < 0:
            raise ValueError(f"start_level={start_level} must be >= 0 (NetworkConfig.start_level)")
        start_level = min(start_level, n - 2)  # small plans: keep at least one GLSP level
        self.start_level = start_level
        levels = range(start_level, n - 1)
        n_layers = len(levels) * blocks_per_level
        conv = layers.conv(dim)
        self.in_proj = conv(features[start_level], features[start_level], 1)
        self.stages = nn.ModuleList()
        self.downs = nn.ModuleList()
        for i, level in enumerate(levels):
            c = features[level]
            blocks = [
                GLSP(
                    c,
                    c,
                    norm=norm,
                    dim=dim,
                    token_mixer=partial(
                        token_mixer, layer_id=i * blocks_per_level + j, n_layers=n_layers
                    ),
                    **glsp_kwargs,
                )
                for j in range(blocks_per_level)
            ]
            self.stages.append(Stage(blocks, checkpointing))
            self.downs.append(Downsample(c, features[level + 1], strides[level + 1], norm, dim))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.in_proj(x)
        feats = []
        for stage, down in zip(self.stages, self.downs, strict=True):
            x = stage(x)
            feats.append(x)
            x = down(x)
        feats.append(x)
        return feats
