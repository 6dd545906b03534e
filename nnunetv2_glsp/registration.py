"""Make nnU-Net find the GLSP trainers: put the re-export folder on ``nnUNet_extTrainer``.

nnU-Net 2.8.1 reads ``nnUNet_extTrainer`` (``os.pathsep``-separated folders) at every trainer
lookup and imports each top-level ``.py`` of those folders. ``EXT_TRAINER_DIR`` holds only
``glsp_trainers.py``, which re-exports the trainer classes from ``nnunetv2_glsp.trainers``.

Standard library only: the interpreter start-up hook imports this module.
"""

from __future__ import annotations

import os

ENV_VAR = "nnUNet_extTrainer"
EXT_TRAINER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nnunet_ext")


def _entries(value: str) -> list[str]:
    return [entry for entry in value.split(os.pathsep) if entry.strip()]


def is_registered() -> bool:
    """Whether ``nnUNet_extTrainer`` lists ``EXT_TRAINER_DIR``."""
    target = os.path.normcase(os.path.realpath(EXT_TRAINER_DIR))
    entries = _entries(os.environ.get(ENV_VAR, ""))
    return any(os.path.normcase(os.path.realpath(entry)) == target for entry in entries)


def register() -> str:
    """Append ``EXT_TRAINER_DIR`` to ``nnUNet_extTrainer`` in this process (and so in every
    process it starts), keeping the folders already listed. Idempotent. Returns the new value."""
    if not is_registered():
        entries = _entries(os.environ.get(ENV_VAR, ""))
        os.environ[ENV_VAR] = os.pathsep.join([*entries, EXT_TRAINER_DIR])
    return os.environ[ENV_VAR]
