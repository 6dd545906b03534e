"""Trainers with short schedules: quick experiments, smoke tests/CI, the README demo and the CPU
benchmark."""

from __future__ import annotations

from nnunetv2_glsp.trainers.configured import ClassConfiguredTrainer
from nnunetv2_glsp.trainers.glsp_trainer import GLSPTrainer
from nnunetv2_glsp.trainers.schedules import (
    CPUBenchmarkSchedule,
    DemoSchedule,
    FiveEpochSchedule,
    OneEpochSchedule,
    TinySchedule,
)
from nnunetv2_glsp.trainers.variants import GLSPConvBranchTrainer, GLSPTrainer_S, MedNeXtTrainer


class NoTestTimeMirroring:
    """Predicts without mirrored copies: one network pass per patch instead of 8 (3D) or 4 (2D)."""

    test_time_mirroring = False


class GLSPTrainer_1epoch(OneEpochSchedule, GLSPTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """GLSPTrainer for 1 epoch."""


class GLSPTrainer_5epochs(FiveEpochSchedule, GLSPTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """GLSPTrainer for 5 epochs."""


class GLSPTrainer_tiny(NoTestTimeMirroring, TinySchedule, GLSPTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """GLSPTrainer for a few iterations (smoke tests, CI)."""


class MedNeXtTrainer_tiny(NoTestTimeMirroring, TinySchedule, MedNeXtTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """MedNeXtTrainer for a few iterations (smoke tests, CI)."""


class GLSPConvBranchTrainer_tiny(NoTestTimeMirroring, TinySchedule, GLSPConvBranchTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """GLSPConvBranchTrainer for a few iterations (smoke tests, CI)."""


class GLSPTrainer_S_tiny(NoTestTimeMirroring, TinySchedule, GLSPTrainer_S):  # noqa: N801 (nnU-Net trainer naming)
    """GLSPTrainer_S for a few iterations: the smallest network with the branch (the suite's
    end-to-end runs)."""


class MedNeXtTrainer_S_tiny(NoTestTimeMirroring, TinySchedule, MedNeXtTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """MedNeXtTrainer at size S for a few iterations (the reference of GLSPTrainer_S_tiny)."""

    size = "S"


class GLSPTrainer_demo(DemoSchedule, GLSPTrainer_S):  # noqa: N801 (nnU-Net trainer naming)
    """GLSPTrainer_S on the README demo's schedule (S learns fastest in few iterations)."""


class GLSPTrainer_cpu(NoTestTimeMirroring, CPUBenchmarkSchedule, GLSPTrainer_S):  # noqa: N801 (nnU-Net trainer naming)
    """GLSPTrainer_S on the CPU benchmark's schedule."""


class MedNeXtTrainer_cpu(NoTestTimeMirroring, CPUBenchmarkSchedule, MedNeXtTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """MedNeXt-S without the branch on the CPU benchmark's schedule."""

    size = "S"


class GLSPConvBranchTrainer_cpu(NoTestTimeMirroring, CPUBenchmarkSchedule, GLSPConvBranchTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """The conv-branch ablation at size S on the CPU benchmark's schedule."""

    size = "S"


class nnUNetTrainer_cpu(NoTestTimeMirroring, CPUBenchmarkSchedule, ClassConfiguredTrainer):  # noqa: N801 (nnU-Net trainer naming)
    """nnU-Net's own trainer, network and recipe (SGD, lr 1e-2) on the CPU benchmark's
    schedule."""
