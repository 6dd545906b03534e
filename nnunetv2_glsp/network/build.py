"""Build the network from explicit values or from nnU-Net's plans."""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy
from math import prod

from nnunetv2_glsp.network import layers
from nnunetv2_glsp.network.config import NetworkConfig
from nnunetv2_glsp.network.mednext import MedNeXt
from nnunetv2_glsp.network.model import MedNeXtGLSP
from nnunetv2_glsp.network.record import ConfigRecord


def build_network(
    dim: int,
    in_channels: int,
    num_classes: int,
    features_per_stage: Sequence[int],
    strides: Sequence[Sequence[int]],
    kernel_sizes: Sequence[Sequence[int]],
    deep_supervision: bool = True,
    config: NetworkConfig | None = None,
) -> MedNeXt:
    """MedNeXt (config.branch 'none') or MedNeXtGLSP ('rwkv' / 'conv') from plan values, with
    a ``config_record`` (see ``record``): its state_dict carries the config.

    strides / kernel_sizes: one per stage, each with ``dim`` entries (strides[0] all ones).
    """
    config = config or NetworkConfig()
    layers.check_dim(dim)
    for name, per_stage in (("strides", strides), ("kernel_sizes", kernel_sizes)):
        bad = [list(s) for s in per_stage if len(s) != dim]
        if bad:
            raise ValueError(f"{name} entries {bad} do not have {dim} axes for a {dim}D network")
    if config.branch == "none":
        network = MedNeXt(
            in_channels,
            num_classes,
            features_per_stage,
            strides,
            kernel_sizes,
            deep_supervision=deep_supervision,
            **config.backbone_kwargs(),
        )
    else:
        network = MedNeXtGLSP(
            in_channels,
            num_classes,
            features_per_stage,
            strides,
            kernel_sizes,
            config,
            deep_supervision,
        )
    network.config_record = ConfigRecord(config)  # checked whenever a state_dict is loaded
    return network


def build_network_from_plans(
    plans_manager,
    configuration_manager,
    num_input_channels: int,
    num_output_channels: int,
    enable_deep_supervision: bool = True,
    config: NetworkConfig | None = None,
) -> MedNeXt:
    """The network for an nnU-Net configuration (2D plans give the 2D network).

    Reads ``network_arch_init_kwargs`` (features_per_stage, strides, kernel_sizes) and
    ``patch_size``; the plans' conv/block counts are replaced by the MedNeXt size's.
    ``plans_manager`` is accepted for nnU-Net's signature and not needed.
    """
    arch = deepcopy(dict(configuration_manager.network_arch_init_kwargs))
    patch = list(configuration_manager.patch_size)
    features, strides, kernels = arch["features_per_stage"], arch["strides"], arch["kernel_sizes"]
    n = arch.get("n_stages", len(features))
    if not len(features) == len(strides) == len(kernels) == n:
        raise ValueError(
            f"plans disagree: n_stages={n}, {len(features)} features_per_stage, "
            f"{len(strides)} strides, {len(kernels)} kernel_sizes; rerun nnUNetv2_plan_experiment"
        )
    layers.check_dim(len(patch))
    divisors = [prod(s[a] for s in strides) for a in range(len(patch))]
    if any(p % d for p, d in zip(patch, divisors, strict=True)):
        raise ValueError(
            f"patch_size {patch} is not divisible by the product of the strides {divisors} per "
            "axis; set a patch size that is a multiple of it in the plans"
        )
    return build_network(
        len(patch),
        num_input_channels,
        num_output_channels,
        features,
        strides,
        kernels,
        enable_deep_supervision,
        config,
    )
