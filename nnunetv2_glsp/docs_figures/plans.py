"""The plans the figures describe: a user's plans file, or a built-in nnU-Net-like example."""

from __future__ import annotations

from collections.abc import Sequence

from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager, PlansManager
from torch import nn

from nnunetv2_glsp.network import NetworkConfig, build_network_from_plans


def plain_unet_configuration(
    patch: Sequence[int],
    strides: Sequence[Sequence[int]],
    kernels: Sequence[Sequence[int]],
    features: Sequence[int],
    spacing: Sequence[float] | None = None,
    name: str = "3d_fullres",
) -> dict:
    """One entry of plans["configurations"], as nnU-Net 2.8.1 writes it for a PlainConvUNet of
    len(strides) stages (spacing: 1 mm on every axis unless given)."""
    dim = len(patch)
    return {
        "data_identifier": f"nnUNetPlans_{name}",
        "preprocessor_name": "DefaultPreprocessor",
        "batch_size": 2,
        "patch_size": list(patch),
        "median_image_size_in_voxels": list(patch),
        "spacing": list(spacing) if spacing is not None else [1.0] * dim,
        "normalization_schemes": ["ZScoreNormalization"],
        "use_mask_for_norm": [False],
        "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": {},
        "resampling_fn_seg_kwargs": {},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {},
        "batch_dice": False,
        "architecture": {
            "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
            "arch_kwargs": {
                "n_stages": len(strides),
                "features_per_stage": list(features),
                "conv_op": f"torch.nn.modules.conv.Conv{dim}d",
                "kernel_sizes": [list(k) for k in kernels],
                "strides": [list(s) for s in strides],
                "n_conv_per_stage": [2] * len(strides),
                "n_conv_per_stage_decoder": [2] * (len(strides) - 1),
                "conv_bias": True,
                "norm_op": f"torch.nn.modules.instancenorm.InstanceNorm{dim}d",
                "norm_op_kwargs": {"eps": 1e-05, "affine": True},
                "dropout_op": None,
                "dropout_op_kwargs": None,
                "nonlin": "torch.nn.LeakyReLU",
                "nonlin_kwargs": {"inplace": True},
            },
            "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
        },
    }


def plans_dict(
    configurations: dict[str, dict], shape: Sequence[int], spacing: Sequence[float]
) -> dict:
    """A plans dict with these configurations; shape, spacing: the dataset's median ones."""
    dim = len(shape)
    return {
        "dataset_name": "Dataset000_Example",
        "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": list(spacing),
        "original_median_shape_after_transp": list(shape),
        "image_reader_writer": "SimpleITKIO",
        "transpose_forward": list(range(dim)),
        "transpose_backward": list(range(dim)),
        "configurations": configurations,
        "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {},
    }


def example_plans(
    patch: tuple[int, ...] = (128, 128, 128),
    features: tuple[int, ...] = (32, 64, 128, 256, 320, 320),
    name: str = "3d_fullres",
) -> dict:
    """Plans with one configuration of isotropic stride-2 stages and 3-wide kernels.

    The default is what nnU-Net plans for a 1 mm isotropic 128^3 patch (six stages, widths
    32 * 2^l capped at 320, 3x3x3 kernels).
    """
    dim, n = len(patch), len(features)
    strides = [[1] * dim] + [[2] * dim for _ in range(n - 1)]
    kernels = [[3] * dim for _ in range(n)]
    config = plain_unet_configuration(patch, strides, kernels, features, name=name)
    return plans_dict({name: config}, patch, [1.0] * dim)


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
