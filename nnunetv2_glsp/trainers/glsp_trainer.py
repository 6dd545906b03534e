"""``GLSPTrainer``: nnU-Net's trainer with the MedNeXt + 3D-GLSP network and the MedNeXt recipe."""

from __future__ import annotations

import dataclasses
import os

import torch
from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler
from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager, PlansManager
from torch import nn

from nnunetv2_glsp.network import build_network_from_plans
from nnunetv2_glsp.network.config import NetworkConfig
from nnunetv2_glsp.ops import backend_info
from nnunetv2_glsp.trainers.configured import ClassConfiguredTrainer


def wkv_backend_summary() -> str:
    """One line naming the active WKV backend and why it was chosen."""
    info = backend_info()
    where = f"{info['source']}, devices {info['devices']}"
    where += f", CPU kernels {info['cpu_isa']}" if info["cpu_isa"] else ""
    summary = f"{info['backend']} ({where}): {info['reason']}"
    return summary + (f"; fix: {info['fix']}" if info["fix"] else "")


class GLSPTrainer(ClassConfiguredTrainer):
    """MedNeXt-B (k3) with the RWKV 3D-GLSP encoder branch, trained with AdamW + poly decay.

    Every hyperparameter is a class attribute, so a variant is a subclass overriding a few of
    them, and inference (which calls ``build_network_architecture`` on the class) rebuilds the
    trained network from the trainer name and the plans alone.
    """

    # network: one class attribute per NetworkConfig field, with NetworkConfig's default (set
    # below the class); a variant overrides some, e.g. ``size = "S"``

    # optimisation (MedNeXt recipe) and schedule
    initial_lr = 1e-3
    adam_eps = 1e-4
    weight_decay = 3e-5
    num_epochs = 1000
    num_iterations_per_epoch = 250
    num_val_iterations_per_epoch = 50
    save_every = 10  # epochs between checkpoint_latest.pth writes

    @classmethod
    def network_config(cls) -> NetworkConfig:
        """The NetworkConfig given by this class's attributes."""
        return NetworkConfig(**{field.name: getattr(cls, field.name)
                                for field in dataclasses.fields(NetworkConfig)})

    @classmethod
    def build_network_architecture(cls, plans_manager: PlansManager,
                                   configuration_manager: ConfigurationManager,
                                   num_input_channels: int, num_output_channels: int,
                                   enable_deep_supervision: bool = True) -> nn.Module:
        return build_network_from_plans(plans_manager, configuration_manager, num_input_channels,
                                        num_output_channels, enable_deep_supervision,
                                        config=cls.network_config())

    def initialize(self) -> None:
        super().initialize()
        self.print_to_log_file(f"{type(self).__name__}: {self.network_config()}")
        self.print_to_log_file(f"WKV backend: {wkv_backend_summary()}")

    def configure_optimizers(self) -> tuple[torch.optim.Optimizer, PolyLRScheduler]:
        optimizer = torch.optim.AdamW(self.network.parameters(), lr=self.initial_lr,
                                      eps=self.adam_eps, weight_decay=self.weight_decay)
        return optimizer, PolyLRScheduler(optimizer, self.initial_lr, self.num_epochs)

    def _do_i_compile(self) -> bool:
        """torch.compile only when ``nnUNet_compile`` is set (nnU-Net compiles by default);
        nnU-Net's own exclusions (CPU, MPS, Windows) still apply."""
        return "nnUNet_compile" in os.environ and super()._do_i_compile()


for _field in dataclasses.fields(NetworkConfig):  # the network attributes and their defaults
    setattr(GLSPTrainer, _field.name, _field.default)
