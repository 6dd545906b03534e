"""The GLSPTrainer family. nnU-Net finds trainers by class name (checkpoints store it), so
these names are permanent."""

from nnunetv2_glsp.trainers.glsp_trainer import GLSPTrainer
from nnunetv2_glsp.trainers.short import (
    GLSPConvBranchTrainer_cpu,
    GLSPConvBranchTrainer_tiny,
    GLSPTrainer_1epoch,
    GLSPTrainer_5epochs,
    GLSPTrainer_cpu,
    GLSPTrainer_demo,
    GLSPTrainer_S_tiny,
    GLSPTrainer_tiny,
    MedNeXtTrainer_cpu,
    MedNeXtTrainer_S_tiny,
    MedNeXtTrainer_tiny,
    nnUNetTrainer_cpu,
)
from nnunetv2_glsp.trainers.variants import (
    GLSPConvBranchTrainer,
    GLSPTrainer_B,
    GLSPTrainer_k5,
    GLSPTrainer_L,
    GLSPTrainer_M,
    GLSPTrainer_RWKVUNetBlock,
    GLSPTrainer_S,
    MedNeXtTrainer,
)

__all__ = [
    "GLSPConvBranchTrainer",
    "GLSPConvBranchTrainer_cpu",
    "GLSPConvBranchTrainer_tiny",
    "GLSPTrainer",
    "GLSPTrainer_1epoch",
    "GLSPTrainer_5epochs",
    "GLSPTrainer_B",
    "GLSPTrainer_L",
    "GLSPTrainer_M",
    "GLSPTrainer_RWKVUNetBlock",
    "GLSPTrainer_S",
    "GLSPTrainer_S_tiny",
    "GLSPTrainer_cpu",
    "GLSPTrainer_demo",
    "GLSPTrainer_k5",
    "GLSPTrainer_tiny",
    "MedNeXtTrainer",
    "MedNeXtTrainer_S_tiny",
    "MedNeXtTrainer_cpu",
    "MedNeXtTrainer_tiny",
    "nnUNetTrainer_cpu",
]
