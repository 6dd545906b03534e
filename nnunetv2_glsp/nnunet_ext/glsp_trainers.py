"""Re-exports the GLSP trainers for nnU-Net's lookup (imported as a top-level module).

The list of names lives in ``nnunetv2_glsp.trainers.__all__``; this module only mirrors it.
"""

from nnunetv2_glsp.trainers import *  # noqa: F403
from nnunetv2_glsp.trainers import __all__  # noqa: F401
