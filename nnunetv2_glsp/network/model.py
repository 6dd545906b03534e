"""MedNeXt with the RWKV (or conv-ablation) encoder branch fused at levels start_level..n-1."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from torch import nn

from nnunetv2_glsp.network.config import NetworkConfig
from nnunetv2_glsp.network.conv_mixer import ConvSpatialMix
from nnunetv2_glsp.network.fusion import Fusion
from nnunetv2_glsp.network.mednext import MedNeXt
from nnunetv2_glsp.network.rwkv_encoder import LayerMixerFactory, RWKV_UNet_3D_Encoder
from nnunetv2_glsp.network.spatial_mix import VRWKV_SpatialMix


def token_mixer_factory(config: NetworkConfig, dim: int) -> LayerMixerFactory:
    """(channels, layer_id=, n_layers=) -> the configured branch's token mixer."""
    if config.branch == "rwkv":
        return partial(
            VRWKV_SpatialMix,
            dim=dim,
            shift_pixel=config.shift_pixel,
            gamma=config.gamma,
            init=config.init,
            scan_orders=config.scan_orders,
        )
    if config.branch == "conv":

        def conv_mixer(channels: int, layer_id: int = 0, n_layers: int = 1) -> nn.Module:
            return ConvSpatialMix(channels, dim, config.conv_mixer_kernel)

        return conv_mixer
    raise ValueError(f"branch {config.branch!r} has no token mixer: choose 'rwkv' or 'conv'")


class MedNeXtGLSP(MedNeXt):
    """MedNeXt + encoder branch. x: (B, in, *patch) -> logits (list with deep supervision).

    The branch reads MedNeXt's level-``start_level`` encoder features; its outputs for levels
    start_level .. n-1 (n-1: bottleneck) are fused into the encoder features that the decoder
    uses as skips / bottleneck input. MedNeXt's own encoder path is unchanged.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        features_per_stage: Sequence[int],
        strides: Sequence[Sequence[int]],
        kernel_sizes: Sequence[Sequence[int]],
        config: NetworkConfig,
        deep_supervision: bool = True,
    ) -> None:
        super().__init__(
            in_channels,
            num_classes,
            features_per_stage,
            strides,
            kernel_sizes,
            deep_supervision=deep_supervision,
            **config.backbone_kwargs(),
        )
        self.branch = RWKV_UNet_3D_Encoder(
            features_per_stage,
            strides,
            config.start_level,
            config.blocks_per_level,
            token_mixer_factory(config, self.dim),
            dim=self.dim,
            norm=config.norm,
            checkpointing=config.checkpointing,
            exp_ratio=config.exp_ratio,
            se_ratio=config.se_ratio,
            dw_kernel=config.dw_kernel,
            drop_path=config.drop_path,
            dropout=config.dropout,
            pw_activation=config.pw_activation,
            local_residual=config.local_residual,
        )
        self.start_level = self.branch.start_level
        self.fusions = nn.ModuleList(
            Fusion(c, config.fusion, self.dim) for c in features_per_stage[self.start_level :]
        )

    def fuse(self, skips: list):
        feats = self.branch(skips[self.start_level])
        fused = [
            f(x, y) for f, x, y in zip(self.fusions, skips[self.start_level :], feats, strict=True)
        ]
        return skips[: self.start_level] + fused
