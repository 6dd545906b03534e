"""Shared test helpers: nnU-Net plans dicts as nnU-Net 2.8.1 writes them."""

from __future__ import annotations

from collections.abc import Sequence


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


def _configuration(patch: list[int], strides: list[list[int]], spacing: list[float]) -> dict:
    features = [min(32 * 2**i, 320) for i in range(len(strides))]
    kernels = [[3] * len(patch) for _ in strides]
    name = f"{len(patch)}d"
    return plain_unet_configuration(patch, strides, kernels, features, spacing, name)


def make_plans() -> dict:
    """Plans as nnU-Net writes them, with all four configurations (small patches)."""
    fullres = _configuration(
        [16, 32, 32], [[1, 1, 1], [2, 2, 2], [2, 2, 2], [1, 2, 2]], [1.5, 1, 1]
    )
    lowres = _configuration([16, 16, 16], [[1, 1, 1], [2, 2, 2], [2, 2, 2]], [3.0, 2, 2])
    lowres |= {"data_identifier": "nnUNetPlans_3d_lowres", "next_stage": "3d_cascade_fullres"}
    configurations = {
        "2d": _configuration([32, 32], [[1, 1], [2, 2], [2, 2], [2, 2]], [1, 1]),
        "3d_fullres": fullres,
        "3d_lowres": lowres,
        "3d_cascade_fullres": {"inherits_from": "3d_fullres", "previous_stage": "3d_lowres"},
    }
    return plans_dict(configurations, [16, 32, 32], [1.5, 1, 1])
