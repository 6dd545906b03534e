"""nnunetv2-glsp: MedNeXt with an RWKV 3D global-local spatial perception (3D-GLSP) branch,
as an nnU-Net v2 plugin.

Importing this package is cheap: torch, nnU-Net and the compiled extension load only when
the submodules that need them are imported.
"""

from nnunetv2_glsp.registration import register

__version__ = "0.2.0"
__all__ = ["register"]
