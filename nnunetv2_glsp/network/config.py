"""Hyperparameters of the MedNeXt + 3D-GLSP network that do not come from nnU-Net's plans.

Trainers set these as class attributes (see ``nnunetv2_glsp.trainers``), so inference rebuilds
exactly the trained network from the trainer class and the plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class NetworkConfig:
    """Everything beyond the plans (stages, widths, strides, kernels) that shapes the network."""

    size: Literal["S", "B", "M", "L"] = "B"  # MedNeXt size: block counts and expansion ratios
    kernel_size: int = 3  # MedNeXt depthwise kernel (3 or 5), capped per axis by the plans
    branch: Literal["rwkv", "conv", "none"] = "rwkv"  # token mixer of the encoder branch
    fusion: str = "gated_add"  # how branch features enter the U-Net (see network docs)
    norm: str = "instance"  # normalisation inside GLSP blocks
    start_level: int = 2  # MedNeXt level whose features feed the branch
    blocks_per_level: int = 1  # GLSP blocks per branch level
    gradient_checkpointing: bool | None = None  # None: on for sizes M and L
