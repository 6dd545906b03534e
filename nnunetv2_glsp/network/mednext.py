"""MedNeXt v1 (Roy et al., MICCAI 2023) laid out by nnU-Net's plans.

Stages, per-axis strides and kernels come from the plans, widths from ``features_per_stage``;
the size (S/B/M/L) sets expansion ratios and block counts. The paper's values exist for five
levels (encoder levels 0-3 and the bottleneck; the decoder mirrors the encoder). Mapped onto
a plan with n stages: encoder/decoder level l takes the paper's level min(l, 3), the bottleneck
(level n-1) takes the paper's bottleneck. So a 4-stage plan (Hippocampus) uses paper levels
0-2 + bottleneck, a 6-stage plan repeats paper level 3 at level 4.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from nnunetv2_glsp.network import layers

# size -> (expansion ratio per paper level 0..3, bottleneck), (blocks per level 0..3, bottleneck)
SIZES: dict[str, tuple[tuple[Sequence[int], int], tuple[Sequence[int], int]]] = {
    "S": (((2, 2, 2, 2), 2), ((2, 2, 2, 2), 2)),
    "B": (((2, 3, 4, 4), 4), ((2, 2, 2, 2), 2)),
    "M": (((2, 3, 4, 4), 4), ((3, 4, 4, 4), 4)),
    "L": (((3, 4, 8, 8), 8), ((3, 4, 8, 8), 8)),
}


def stage_settings(size: str, n_stages: int) -> tuple[list[int], list[int]]:
    """Expansion ratio and block count per level 0..n_stages-1 (last = bottleneck)."""
    if size not in SIZES:
        raise ValueError(f"unknown MedNeXt size {size!r}: choose one of {sorted(SIZES)}")
    (exp_levels, exp_bottleneck), (blocks_levels, blocks_bottleneck) = SIZES[size]
    exp = [exp_levels[min(level, 3)] for level in range(n_stages - 1)] + [exp_bottleneck]
    blocks = [blocks_levels[min(level, 3)] for level in range(n_stages - 1)] + [blocks_bottleneck]
    return exp, blocks


class MedNeXtBlock(nn.Module):
    """ConvNeXt-style block; also the resampling block with ``resample`` 'down' or 'up'.

    x: (B, c_in, *S) -> (B, c_out, *S') with S' = S (None), S / stride ('down'),
    S * stride ('up'):
        y = depthwise conv k (strided / transposed when resampling)
        y = GroupNorm(groups = channels)(y)
        y = conv1x1(y) to exp * c_in;  GELU;  conv1x1 to c_out
        out = residual(x) + y, residual = identity, strided 1x1 conv or 1x1 transposed conv
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        exp: int,
        kernel: Sequence[int],
        dim: int,
        stride: Sequence[int] | None = None,
        resample: str | None = None,
    ) -> None:
        super().__init__()
        stride = tuple(stride) if stride is not None else (1,) * dim
        kernel, padding = tuple(kernel), layers.same_padding(kernel)
        conv = layers.conv(dim)
        if resample == "up":
            extra = tuple(s - 1 for s in stride)  # odd kernels: output exactly n * s
            convt = layers.conv_transpose(dim)
            self.dw = convt(c_in, c_in, kernel, stride, padding, extra, groups=c_in)
            self.residual = convt(c_in, c_out, 1, stride, 0, extra)
        elif resample == "down":
            self.dw = conv(c_in, c_in, kernel, stride, padding, groups=c_in)
            self.residual = conv(c_in, c_out, 1, stride)
        elif resample is None and c_in == c_out:
            self.dw = conv(c_in, c_in, kernel, 1, padding, groups=c_in)
            self.residual = nn.Identity()
        else:
            raise ValueError(f"MedNeXtBlock: resample={resample!r}, c_in={c_in}, c_out={c_out}")
        self.norm = layers.norm("channel", dim, c_in)
        self.expand = conv(c_in, exp * c_in, 1)
        self.act = nn.GELU()
        self.compress = conv(exp * c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.compress(self.act(self.expand(self.norm(self.dw(x)))))
        return self.residual(x) + y


class Stage(nn.Sequential):
    """Blocks run in sequence, each recomputed in backward when ``checkpointing`` is on."""

    def __init__(self, blocks: Sequence[nn.Module], checkpointing: bool = False) -> None:
        super().__init__(*blocks)
        self.checkpointing = checkpointing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self:
            if self.checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x


def _kernels(plan_kernels: Sequence[Sequence[int]], kernel_size: int) -> list[tuple[int, ...]]:
    """The MedNeXt kernel on every axis where the plans' kernel is > 1, else 1."""
    return [tuple(kernel_size if k > 1 else 1 for k in ks) for ks in plan_kernels]


class MedNeXtEncoder(nn.Module):
    """Stem (1x1 conv) + per level [down block] + blocks. x -> features of levels 0..n-1."""

    def __init__(
        self,
        in_channels: int,
        features: Sequence[int],
        strides: Sequence[Sequence[int]],
        kernels: Sequence[Sequence[int]],
        exp: Sequence[int],
        blocks: Sequence[int],
        dim: int,
        checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.stem = layers.conv(dim)(in_channels, features[0], 1)
        self.downs = nn.ModuleList()
        self.stages = nn.ModuleList()
        for level, (c, e, k) in enumerate(zip(features, exp, kernels, strict=True)):
            if level > 0:
                self.downs.append(
                    MedNeXtBlock(features[level - 1], c, e, k, dim, strides[level], "down")
                )
            stage = [MedNeXtBlock(c, c, e, k, dim) for _ in range(blocks[level])]
            self.stages.append(Stage(stage, checkpointing))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (B, in, *S) -> [(B, features[l], *S / prod(strides[:l+1])) for each level l]."""
        x = self.stages[0](self.stem(x))
        skips = [x]
        for down, stage in zip(self.downs, self.stages[1:], strict=True):
            x = stage(down(x))
            skips.append(x)
        return skips


class MedNeXtDecoder(nn.Module):
    """Per level from n-2 up: up block + additive skip + blocks; 1x1 heads on every level.

    ``deep_supervision`` (toggled by nnU-Net's trainer): True returns the n-1 logit maps,
    highest resolution first; False only the full-resolution one. All heads always exist.
    """

    def __init__(
        self,
        num_classes: int,
        features: Sequence[int],
        strides: Sequence[Sequence[int]],
        kernels: Sequence[Sequence[int]],
        exp: Sequence[int],
        blocks: Sequence[int],
        dim: int,
        deep_supervision: bool = True,
        checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.deep_supervision = deep_supervision
        conv = layers.conv(dim)
        levels = range(len(features) - 1)
        self.ups = nn.ModuleList(
            MedNeXtBlock(
                features[i + 1], features[i], exp[i], kernels[i + 1], dim, strides[i + 1], "up"
            )
            for i in levels
        )
        self.stages = nn.ModuleList(
            Stage(
                [
                    MedNeXtBlock(features[i], features[i], exp[i], kernels[i], dim)
                    for _ in range(blocks[i])
                ],
                checkpointing,
            )
            for i in levels
        )
        self.heads = nn.ModuleList(conv(features[i], num_classes, 1) for i in levels)

    def forward(self, skips: Sequence[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        x = skips[-1]
        outputs = []
        for level in reversed(range(len(self.ups))):
            x = self.stages[level](self.ups[level](x) + skips[level])
            if self.deep_supervision or level == 0:
                outputs.append(self.heads[level](x))
        return outputs[::-1] if self.deep_supervision else outputs[0]


class MedNeXt(nn.Module):
    """MedNeXt U-Net from explicit plan values. x: (B, in_channels, *patch) -> logits.

    ``fuse`` is the hook where subclasses change the encoder features before decoding.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        features_per_stage: Sequence[int],
        strides: Sequence[Sequence[int]],
        kernel_sizes: Sequence[Sequence[int]],
        size: str = "B",
        kernel_size: int = 3,
        deep_supervision: bool = True,
        checkpointing: bool = False,
    ) -> None:
        super().__init__()
        n = len(features_per_stage)
        self.dim = layers.check_dim(len(strides[0]))
        if not len(strides) == len(kernel_sizes) == n or n < 2:
            raise ValueError(
                f"plans disagree: {n} features_per_stage, {len(strides)} strides, "
                f"{len(kernel_sizes)} kernel_sizes (need equal counts, at least 2 stages)"
            )
        self.in_channels = in_channels
        self.strides = [tuple(s) for s in strides]
        self.divisors = tuple(prod(s[a] for s in self.strides) for a in range(self.dim))
        exp, blocks = stage_settings(size, n)
        kernels = _kernels(kernel_sizes, kernel_size)
        self.encoder = MedNeXtEncoder(
            in_channels, features_per_stage, strides, kernels, exp, blocks, self.dim, checkpointing
        )
        self.decoder = MedNeXtDecoder(
            num_classes,
            features_per_stage,
            strides,
            kernels,
            exp,
            blocks,
            self.dim,
            deep_supervision,
            checkpointing,
        )

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError naming the problem when x cannot pass through the network."""
        if x.ndim != self.dim + 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"input of shape {tuple(x.shape)}: expected (B, {self.in_channels}, "
                f"{self.dim} spatial axes) for this {self.dim}D network"
            )
        spatial = tuple(x.shape[2:])
        if any(s % d for s, d in zip(spatial, self.divisors, strict=True)):
            raise ValueError(
                f"input spatial size {spatial} is not divisible by the product of the plans' "
                f"strides {self.divisors} per axis; crop or pad the input to a multiple "
                "(nnU-Net's sliding window uses the planned patch size, which is)"
            )

    def fuse(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        """Encoder features per level -> features the decoder uses (plain MedNeXt: as is)."""
        return skips

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """x: (B, in, *S) -> logits (B, classes, *S); with deep supervision n-1 of them."""
        self.check_input(x)
        return self.decoder(self.fuse(self.encoder(x)))
