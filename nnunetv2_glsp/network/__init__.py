"""MedNeXt + RWKV 3D-GLSP encoder branch, built from nnU-Net plans.

Module map: config (NetworkConfig), validate (its argument checks), record (ConfigRecord, the
config in every state_dict), layers (2D/3D ops table, norms, DropPath), shift (q_shift),
spatial_mix (VRWKV_SpatialMix), conv_mixer (ConvSpatialMix, the conv ablation), glsp (GLSP,
SqueezeExcite), mednext (MedNeXt blocks, encoder, decoder, sizes), rwkv_encoder
(RWKV_UNet_3D_Encoder), fusion (Fusion), model (MedNeXtGLSP), build (builders).
"""

from nnunetv2_glsp.network.build import build_network, build_network_from_plans
from nnunetv2_glsp.network.config import NetworkConfig
from nnunetv2_glsp.network.glsp import GLSP, SqueezeExcite
from nnunetv2_glsp.network.mednext import MedNeXt
from nnunetv2_glsp.network.model import MedNeXtGLSP
from nnunetv2_glsp.network.shift import q_shift, q_shift_2d, q_shift_3d
from nnunetv2_glsp.network.spatial_mix import VRWKV_SpatialMix

__all__ = [
    "GLSP",
    "MedNeXt",
    "MedNeXtGLSP",
    "NetworkConfig",
    "SqueezeExcite",
    "VRWKV_SpatialMix",
    "build_network",
    "build_network_from_plans",
    "q_shift",
    "q_shift_2d",
    "q_shift_3d",
]
