"""Checks of the nnU-Net environment: path variables, trainer names, stock commands, device."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
from pathlib import Path

from nnunetv2_glsp.benchmark import BenchmarkError

PATH_VARIABLES = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")
EXT_TRAINER = "nnUNet_extTrainer"


def require_nnunet_paths() -> dict[str, Path]:
    """The three nnU-Net folders, or an error naming every variable that is not set."""
    missing = [name for name in PATH_VARIABLES if not os.environ.get(name)]
    if missing:
        raise BenchmarkError(
            f"environment variable(s) {', '.join(missing)} not set: nnU-Net needs nnUNet_raw, "
            "nnUNet_preprocessed and nnUNet_results (export them, e.g. "
            "export nnUNet_raw=/data/nnUNet_raw; see nnU-Net's documentation/setting_up_paths.md)"
        )
    return {name: Path(os.environ[name]) for name in PATH_VARIABLES}


def find_trainer_class(name: str) -> type:
    """The class nnU-Net would use for ``-tr name`` (its own tree, then nnUNet_extTrainer)."""
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    with contextlib.redirect_stdout(io.StringIO()):  # the lookup narrates every folder it searches
        try:
            return recursive_find_trainer_class_by_name(name)
        except (RuntimeError, AssertionError) as error:
            raise BenchmarkError(
                f"unknown trainer {name!r}: nnU-Net finds no such class in "
                f"nnunetv2.training.nnUNetTrainer or in the folders of nnUNet_extTrainer="
                f"{os.environ.get(EXT_TRAINER, '')!r} ({error})"
            ) from None


def check_trainers(names: list[str]) -> None:
    """Resolve every trainer name before any work starts; report all unknown names at once."""
    problems = []
    for name in names:
        try:
            find_trainer_class(name)
        except BenchmarkError as error:
            problems.append(str(error))
    if problems:
        raise BenchmarkError("\n".join(problems))


def stock_command(name: str) -> str:
    """Path of an nnU-Net console script, preferring the one beside this interpreter."""
    local = Path(sys.executable).parent / name
    if local.is_file():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise BenchmarkError(f"{name} not found: is nnunetv2 installed in this Python environment?")
    return found


def default_device() -> str:
    """``cuda`` when a CUDA device is visible, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
