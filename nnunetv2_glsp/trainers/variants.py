"""Model variants: MedNeXt sizes, kernel 5, the encoder-branch ablations, RWKV-UNet's block."""

from __future__ import annotations

from nnunetv2_glsp.trainers.glsp_trainer import GLSPTrainer


class GLSPTrainer_S(GLSPTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """MedNeXt-S backbone."""

    size = "S"


class GLSPTrainer_B(GLSPTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """MedNeXt-B backbone (the same network as GLSPTrainer, named explicitly)."""

    size = "B"


class GLSPTrainer_M(GLSPTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """MedNeXt-M backbone (gradient checkpointing on)."""

    size = "M"


class GLSPTrainer_L(GLSPTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """MedNeXt-L backbone (gradient checkpointing on)."""

    size = "L"


class GLSPTrainer_k5(GLSPTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """MedNeXt-B with 5x5x5 depthwise kernels."""

    kernel_size = 5


class MedNeXtTrainer(GLSPTrainer):
    """Ablation: plain MedNeXt-B, no encoder branch."""

    branch = "none"


class GLSPConvBranchTrainer(GLSPTrainer):
    """Ablation: the branch with a depthwise-convolution token mixer instead of the WKV."""

    branch = "conv"


class GLSPTrainer_RWKVUNetBlock(GLSPTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """GLSP blocks as in RWKV-UNet's 2D block: a SiLU after the first 1x1 conv + norm and a
    residual around depthwise conv + SE (the design's block has neither; nnunetv2-glsp 0.1's
    default)."""

    pw_activation = True
    local_residual = True
