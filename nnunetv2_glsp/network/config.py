"""Hyperparameters of the MedNeXt + 3D-GLSP network that do not come from nnU-Net's plans.

Trainers set these as class attributes (see ``nnunetv2_glsp.trainers``), so inference rebuilds
exactly the trained network from the trainer class and the plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class NetworkConfig:
    """Everything beyond the plans (stages, widths, strides, kernels) that shapes the network.

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
        exp_ratio, se_ratio, dw_kernel, drop_path, dropout: GLSP block settings (RWKV-UNet
            defaults, SE on at 0.25).
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
