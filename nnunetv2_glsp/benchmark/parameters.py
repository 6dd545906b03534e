"""Parameter count of the network a trainer builds for a dataset's plans."""

from __future__ import annotations

import json
from functools import cache

from nnunetv2_glsp.benchmark.environment import find_trainer_class, require_nnunet_paths


@cache
def count_parameters(dataset: str, trainer: str, plans: str, configuration: str) -> int:
    """Trainable parameters (deep-supervision heads included, as trained), counted on a network
    built the way nnU-Net builds it: the trainer class's ``build_network_architecture`` with the
    plans. Built on the meta device (no memory); on CPU if the network cannot be built there."""
    import torch
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    folder = require_nnunet_paths()["nnUNet_preprocessed"] / dataset
    plans_manager = PlansManager(str(folder / f"{plans}.json"))
    configuration_manager = plans_manager.get_configuration(configuration)
    dataset_json = json.loads((folder / "dataset.json").read_text())
    inputs = determine_num_input_channels(plans_manager, configuration_manager, dataset_json)
    outputs = plans_manager.get_label_manager(dataset_json).num_segmentation_heads
    trainer_class = find_trainer_class(trainer)
    for device in ("meta", "cpu"):
        try:
            with torch.device(device):
                network = trainer_class.build_network_architecture(
                    plans_manager, configuration_manager, inputs, outputs,
                    enable_deep_supervision=True,
                )
            break
        except Exception:  # a custom layer may not support the meta device; CPU then
            if device == "cpu":
                raise
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
