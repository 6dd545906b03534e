"""Interpreter start-up hook of nnunetv2-glsp, run by ``nnunetv2_glsp.pth`` (and its PEP 829
twin ``nnunetv2_glsp.start``): registers the GLSP trainers with nnU-Net, so that
``nnUNetv2_train ... -tr GLSPTrainer`` works in any fresh shell.

Runs at every interpreter start, so it stays cheap (standard library and the registration
module only, no torch) and never raises. Opt out with ``NNUNETV2_GLSP_NO_AUTOREGISTER=1``.
"""

import os
import sys

OPT_OUT_VAR = "NNUNETV2_GLSP_NO_AUTOREGISTER"


def opted_out() -> bool:
    """Whether the user switched automatic registration off."""
    return os.environ.get(OPT_OUT_VAR, "").strip().lower() not in ("", "0", "false", "no", "off")


def autoregister() -> None:
    """Register the trainers unless opted out; a broken install only prints a warning."""
    if opted_out():
        return
    try:
        from nnunetv2_glsp.registration import register

        register()
    except Exception as error:  # never break interpreter start-up
        print(f"nnunetv2-glsp: automatic trainer registration failed ({error!r}); run "
              f"'python -m nnunetv2_glsp doctor'", file=sys.stderr)
