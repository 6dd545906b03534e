"""``ClassConfiguredTrainer``: nnU-Net's trainer whose schedule and test-time mirroring are class
attributes, so that a schedule is a mixin and a variant a subclass overriding a few values."""

from __future__ import annotations

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

# nnU-Net sets these as instance attributes in __init__; a class that defines one overrides it
SCHEDULE_ATTRIBUTES = ("initial_lr", "weight_decay", "num_epochs", "num_iterations_per_epoch",
                       "num_val_iterations_per_epoch", "save_every")
CUDA = torch.device("cuda")  # nnU-Net's default training device


class ClassConfiguredTrainer(nnUNetTrainer):
    """nnU-Net's trainer, network and recipe, except for the SCHEDULE_ATTRIBUTES a subclass (or
    a mixin before it in the bases) defines, and ``test_time_mirroring``."""

    # inference: False predicts without mirrored copies (training still mirrors); the choice is
    # stored in the checkpoints, so nnUNetv2_predict follows it
    test_time_mirroring = True

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = CUDA):
        super().__init__(plans, configuration, fold, dataset_json, device)
        for name in SCHEDULE_ATTRIBUTES:
            if hasattr(type(self), name):
                setattr(self, name, getattr(type(self), name))

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):  # noqa: N802 (nnU-Net's name)
        """nnU-Net's augmentation settings; mirroring axes for inference only if
        ``test_time_mirroring``."""
        settings = super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        if not self.test_time_mirroring:
            self.inference_allowed_mirroring_axes = None
        return settings
