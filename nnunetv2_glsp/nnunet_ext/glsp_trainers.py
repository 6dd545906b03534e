"""Re-exports the GLSP trainers for nnU-Net's lookup (imported as a top-level module)."""

from nnunetv2_glsp.trainers import (
    GLSPConvBranchTrainer,
    GLSPConvBranchTrainer_tiny,
    GLSPTrainer,
    GLSPTrainer_1epoch,
    GLSPTrainer_5epochs,
    GLSPTrainer_B,
    GLSPTrainer_demo,
    GLSPTrainer_k5,
    GLSPTrainer_L,
    GLSPTrainer_M,
    GLSPTrainer_S,
    GLSPTrainer_tiny,
    MedNeXtTrainer,
    MedNeXtTrainer_tiny,
)

__all__ = [
    "GLSPConvBranchTrainer",
    "GLSPConvBranchTrainer_tiny",
    "GLSPTrainer",
    "GLSPTrainer_1epoch",
    "GLSPTrainer_5epochs",
    "GLSPTrainer_B",
    "GLSPTrainer_L",
    "GLSPTrainer_M",
    "GLSPTrainer_S",
    "GLSPTrainer_demo",
    "GLSPTrainer_k5",
    "GLSPTrainer_tiny",
    "MedNeXtTrainer",
    "MedNeXtTrainer_tiny",
]
