"""Hyperparameters of the MedNeXt + 3D-GLSP network that do not come from nnU-Net's plans.

Trainers set these as class attributes (see ``nnunetv2_glsp.trainers``), so inference rebuilds
exactly the trained network from the trainer class and the plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args, get_origin, get_type_hints

from nnunetv2_glsp.network import validate


@dataclass(frozen=True)
class NetworkConfig:
    """Everything beyond the plans (stages, widths, strides, kernels) that shapes the network.
    Every field is checked when a config is made (ValueError naming it and its valid range).

    MedNeXt:
        size: block counts and expansion ratios of MedNeXt S/B/M/L (paper values mapped onto
            the plans' stages, see ``mednext.SIZES``).
        kernel_size: depthwise kernel (3 or 5) on every axis where the plans' kernel is > 1;
            axes the plans keep at 1 (anisotropic data) stay 1.
        gradient_checkpointing: recompute blocks in backward; None means on for M and L.

    Encoder branch:
        branch: token mixer of the branch, 'rwkv' (bidirectional WKV), 'conv' (the
            equal-cost convolutional ablation) or 'none' (plain MedNeXt).
        fusion: 'gated_add' (x + g*y, g per channel, zero-initialised: the untrained network
            equals plain MedNeXt), 'add' (x + y) or 'concat' (1x1 conv over [x, y],
            initialised to pass x through: also equals plain MedNeXt untrained).
        norm: normalisation inside GLSP blocks, 'instance', 'group' or 'batch'. Default
            'instance' by measurement (see the ``glsp`` module docstring).
        start_level: MedNeXt level whose features feed the branch (2: the 4C level); capped at
            n_stages - 2 for plans with few stages, so the branch keeps one GLSP level.
        blocks_per_level: GLSP blocks per branch level.
        exp_ratio, dw_kernel, drop_path, dropout: GLSP block settings (defaults: dim_mid =
            dim_in, a 3x3x3 depthwise conv, no stochastic depth or dropout).
        se_ratio: SE3D hidden width / dim_mid; 0 switches SE off. Ours is 0.25 because the
            design document lists SE3D among the block's components (RWKV-UNet's own default
            is 0.0, SE off).
        pw_activation: SiLU after the first 1x1 conv + norm (RWKV-UNet's 2D block). Off: the
            design's block has no activation there.
        local_residual: residual around depthwise conv + norm + SiLU + SE (RWKV-UNet's 2D
            block). Off: the design's block has none.
        gamma: fraction of channels per q-shift group; None means 1/(2*dim) (all channels
            shifted: 1/6 in 3D, 1/4 in 2D).
        shift_pixel: q-shift distance in voxels (0 disables token-shift mixing).
        init: 'fancy' (Vision-RWKV, depends on layer depth) or 'global' (RWKV-UNet).
        scan_orders: flatten orders averaged in the WKV, 1 (raster D-H-W) up to dim
            (cyclic D-H-W, H-W-D, W-D-H), weights shared.
        conv_mixer_kernel: depthwise kernel of the 'conv' ablation's token mixer.
    """

    size: Literal["S", "B", "M", "L"] = "B"
    kernel_size: int = 3
    branch: Literal["rwkv", "conv", "none"] = "rwkv"
    fusion: Literal["gated_add", "add", "concat"] = "gated_add"
    norm: Literal["instance", "group", "batch"] = "instance"
    start_level: int = 2
    blocks_per_level: int = 1
    gradient_checkpointing: bool | None = None
    exp_ratio: float = 1.0
    se_ratio: float = 0.25
    dw_kernel: int = 3
    drop_path: float = 0.0
    dropout: float = 0.0
    gamma: float | None = None
    shift_pixel: int = 1
    init: Literal["fancy", "global"] = "fancy"
    scan_orders: int = 1
    conv_mixer_kernel: int = 7
    pw_activation: bool = False
    local_residual: bool = False

    def __post_init__(self) -> None:
        """Check every field; a bad value raises a ValueError naming it and its valid range."""
        for name, hint in get_type_hints(NetworkConfig).items():
            if get_origin(hint) is Literal:
                validate.one_of(name, getattr(self, name), get_args(hint))
        validate.odd_kernel("kernel_size", self.kernel_size)
        validate.integer("start_level", self.start_level, 0)
        validate.integer("blocks_per_level", self.blocks_per_level, 1)
        if self.gradient_checkpointing is not None:
            validate.boolean("gradient_checkpointing", self.gradient_checkpointing)
        validate.number("exp_ratio", self.exp_ratio, 0, 16, low_open=True)
        validate.number("se_ratio", self.se_ratio, 0, 1)
        validate.odd_kernel("dw_kernel", self.dw_kernel)
        validate.number("drop_path", self.drop_path, 0, 1, high_open=True)
        validate.number("dropout", self.dropout, 0, 1, high_open=True)
        if self.gamma is not None:  # 1/4 fits 2D; 3D networks check <= 1/6 when built
            validate.number("gamma", self.gamma, 0, 1 / 4, low_open=True)
        validate.integer("shift_pixel", self.shift_pixel, 0)
        validate.integer("scan_orders", self.scan_orders, 1, 3)
        validate.odd_kernel("conv_mixer_kernel", self.conv_mixer_kernel)
        validate.boolean("pw_activation", self.pw_activation)
        validate.boolean("local_residual", self.local_residual)

    @property
    def checkpointing(self) -> bool:
        """Whether blocks recompute activations in backward (None: on for sizes M and L)."""
        if self.gradient_checkpointing is None:
            return self.size in ("M", "L")
        return self.gradient_checkpointing

    def backbone_kwargs(self) -> dict:
        """MedNeXt's keyword arguments taken from this config (size, kernel, checkpointing)."""
        return {"size": self.size, "kernel_size": self.kernel_size,
                "checkpointing": self.checkpointing}
