"""The plans the figures describe: a user's plans file, or a built-in nnU-Net-like example."""

from __future__ import annotations

from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager, PlansManager
from torch import nn

from nnunetv2_glsp.network import NetworkConfig, build_network_from_plans


def example_plans(
    patch: tuple[int, ...] = (128, 128, 128),
    features: tuple[int, ...] = (32, 64, 128, 256, 320, 320),
    name: str = "3d_fullres",
) -> dict:
    """An nnU-Net 2.8.1-style plans dict with one configuration, isotropic stride-2 stages.

    The default is what nnU-Net plans for a 1 mm isotropic 128^3 patch (six stages, widths
    32 * 2^l capped at 320, 3x3x3 kernels).
    """
    dim, n = len(patch), len(features)
    arch_kwargs = {
        "n_stages": n,
        "features_per_stage": list(features),
        "conv_op": f"torch.nn.modules.conv.Conv{dim}d",
        "kernel_sizes": [[3] * dim for _ in range(n)],
        "strides": [[1] * dim] + [[2] * dim for _ in range(n - 1)],
        "n_conv_per_stage": [2] * n,
        "n_conv_per_stage_decoder": [2] * (n - 1),
        "conv_bias": True,
        "norm_op": f"torch.nn.modules.instancenorm.InstanceNorm{dim}d",
        "norm_op_kwargs": {"eps": 1e-05, "affine": True},
        "dropout_op": None,
        "dropout_op_kwargs": None,
        "nonlin": "torch.nn.LeakyReLU",
        "nonlin_kwargs": {"inplace": True},
    }
    configuration = {
        "data_identifier": f"nnUNetPlans_{name}",
        "preprocessor_name": "DefaultPreprocessor",
        "batch_size": 2,
        "patch_size": list(patch),
        "spacing": [1.0] * dim,
        "architecture": {
            "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
            "arch_kwargs": arch_kwargs,
            "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
        },
    }
    return {
        "dataset_name": "Dataset000_Example",
        "plans_name": "nnUNetPlans",
        "configurations": {name: configuration},
    }


def load_configuration(
    plans: str | dict | None, configuration: str
) -> tuple[PlansManager, ConfigurationManager]:
    """(PlansManager, ConfigurationManager) of a plans file or dict (None: ``example_plans()``)."""
    manager = PlansManager(example_plans() if plans is None else plans)
    return manager, manager.get_configuration(configuration)


def build(
    plans: str | dict | None,
    configuration: str,
    in_channels: int,
    num_classes: int,
    config: NetworkConfig,
) -> tuple[nn.Module, list[int]]:
    """The network nnU-Net would train (deep supervision on) and its patch size."""
    manager, cm = load_configuration(plans, configuration)
    net = build_network_from_plans(manager, cm, in_channels, num_classes, True, config)
    return net, list(cm.patch_size)
