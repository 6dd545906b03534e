"""The network's own record of its NetworkConfig, saved in every state_dict, checked on load.

nnU-Net rebuilds the network for prediction and ``--c`` from the trainer class and the plans,
then loads the checkpoint's weights. A changed class default (or package version) could load
the weights into a different network with no error, since parameter shapes need not change.
``ConfigRecord`` is a parameter-free submodule whose extra state (``<name>._extra_state`` in the
state_dict) is the config and the package version; loading a state_dict whose record differs
fails with the differing fields and the fix.
"""

from __future__ import annotations

import dataclasses
import warnings

from torch import nn

from nnunetv2_glsp import __version__
from nnunetv2_glsp.network.config import NetworkConfig

# changes how training runs, not the function the network computes
NOT_COMPARED = ("gradient_checkpointing",)


def config_differences(saved: dict, config: NetworkConfig) -> dict[str, tuple]:
    """{field: (saved value, this config's value)} for every field that differs.

    A field the record lacks (written before the field existed) counts as its default, which
    is the behaviour of the versions before it; a field this version does not know differs.
    """
    current = dataclasses.asdict(config)
    defaults = dataclasses.asdict(NetworkConfig())
    differences = {}
    for name in sorted(set(saved) | set(current)):
        if name in NOT_COMPARED:
            continue
        was = saved.get(name, defaults.get(name, "<not in this version>"))
        now = current.get(name, "<not in this version>")
        if was != now:
            differences[name] = (was, now)
    return differences


class ConfigRecord(nn.Module):
    """Holds the network's NetworkConfig; no parameters, no forward."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config

    def get_extra_state(self) -> dict:
        return {"network_config": dataclasses.asdict(self.config), "version": __version__}

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        """Compares the record instead of loading it (nothing to load: the config is fixed)."""
        record = state_dict.get(prefix + "_extra_state")
        if record is None:
            warnings.warn(
                "this checkpoint has no network config record (written by nnunetv2-glsp < 0.2): "
                "it loads into the network this trainer class builds now, unchecked. 0.2 changed "
                "the GLSP block's defaults to the design's (pw_activation=False, "
                "local_residual=False); a checkpoint trained with 0.1 needs a trainer with "
                "pw_activation = True and local_residual = True (GLSPTrainer_RWKVUNetBlock) or "
                "nnunetv2-glsp==0.1.0",
                stacklevel=2,
            )
            return
        differences = config_differences(record["network_config"], self.config)
        if differences:
            fields = "; ".join(f"{name}: checkpoint {was!r}, this network {now!r}"
                               for name, (was, now) in differences.items())
            attributes = ", ".join(f"{name} = {was!r}" for name, (was, _) in differences.items())
            version = record["version"]
            install = ("" if version == __version__ else
                       f"install the version that wrote it (pip install nnunetv2-glsp=={version}), "
                       "or ")
            error_msgs.append(
                f"the checkpoint was trained with a different network config ({fields}); it was "
                f"written by nnunetv2-glsp {version}, this is {__version__}. Fix: {install}use a "
                f"trainer subclass that sets {attributes}"
            )
