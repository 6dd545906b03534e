"""The plans the figures describe: a user's plans file, or the example next to this module."""

from __future__ import annotations

from pathlib import Path

from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager, PlansManager
from torch import nn

from nnunetv2_glsp.network import NetworkConfig, build_network_from_plans

# what nnU-Net 2.8.1 plans for a 1 mm isotropic 128^3 patch: six stages, widths 32 * 2^l capped
# at 320, 3x3x3 kernels, stride 2 on every axis
EXAMPLE_PLANS = Path(__file__).resolve().parent / "example_plans.json"


def load_configuration(
    plans: str | None, configuration: str
) -> tuple[PlansManager, ConfigurationManager]:
    """(PlansManager, ConfigurationManager) of a plans file (None: ``EXAMPLE_PLANS``)."""
    manager = PlansManager(str(EXAMPLE_PLANS) if plans is None else plans)
    return manager, manager.get_configuration(configuration)


def build(
    plans: str | None,
    configuration: str,
    in_channels: int,
    num_classes: int,
    config: NetworkConfig,
) -> tuple[nn.Module, list[int]]:
    """The network nnU-Net would train (deep supervision on) and its patch size."""
    manager, cm = load_configuration(plans, configuration)
    net = build_network_from_plans(manager, cm, in_channels, num_classes, True, config)
    return net, list(cm.patch_size)
