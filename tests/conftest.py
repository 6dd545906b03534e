"""Shared test helpers: nnU-Net plans dicts as nnU-Net 2.8.1 writes them, and one nnU-Net
dataset trained by the benchmark runner for the end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from nnunetv2_glsp.data.synthetic import write_decathlon_task


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


# nnU-Net end to end: one synthetic Decathlon task, converted, planned, preprocessed and trained
# once per session by the benchmark runner; test_benchmark_integration checks the runner and
# test_pipeline_e2e goes on with the trained folds through nnU-Net's own commands.

TASK_ID, DATASET = 990, "Dataset990_Synthetic"
# the first is the differences' reference; the second is MedNeXt-B + GLSP, which learns enough in
# its 30 iterations for test_pipeline_e2e's Dice check (size S scored 0.043 there once)
TRAINERS = ["MedNeXtTrainer_S_tiny", "GLSPTrainer_tiny"]
FOLDS = (0, 1)  # two folds: the fewest with a standard deviation across folds
KILLED = ("GLSPTrainer_tiny", 1)  # shard 1's last fold, killed once its first epoch is saved


class NnUNet:
    """Runs nnU-Net commands with temporary nnUNet_raw/preprocessed/results folders."""

    def __init__(self, root: Path):
        self.root = root
        self.raw, self.results = root / "raw", root / "results"
        self.preprocessed = root / "preprocessed"
        self.env = os.environ | {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            "nnUNet_raw": str(self.raw),
            "nnUNet_preprocessed": str(self.preprocessed),
            "nnUNet_results": str(self.results),
            "nnUNet_compile": "f",
            "nnUNet_def_n_proc": "1",  # nnU-Net's export pools: 8 processes by default
            # idle OpenMP threads sleep instead of spinning: several times faster on a shared CPU
            "OMP_WAIT_POLICY": "PASSIVE",
        }
        # single-process data augmentation; not for planning (2.8.1 would set 0 torch threads)
        self.train_env = self.env | {"nnUNet_n_proc_DA": "0"}
        self.task = write_decathlon_task(root / "msd", task_id=TASK_ID, name="Synthetic",
                                         n_train=10, n_test=2, shape=(16, 16, 16), seed=0)

    def run(self, *command: str, train: bool = False) -> str:
        """Run a command to the end; its output, or a failed assertion showing its tail."""
        result = subprocess.run(command, env=self.train_env if train else self.env,
                                capture_output=True, text=True, cwd=self.root)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{output[-5000:]}"
        return output

    def fold_folder(self, trainer: str, fold: int, configuration: str = "3d_fullres") -> Path:
        return self.results / DATASET / f"{trainer}__nnUNetPlans__{configuration}" / f"fold_{fold}"


@dataclass
class BenchmarkRun:
    """What the benchmark runner did: its output folder, each shard's exit status and log, and
    the output of the unsharded run that finished the killed fold."""

    nnunet: NnUNet
    output: Path
    shard_status: list[int]
    shard_logs: list[str]
    resume_log: str


def _kill_when_epoch_saved(process: subprocess.Popen, log: Path, folder: Path) -> None:
    """SIGKILL the process group once the fold in ``folder`` has saved epoch 0's checkpoint;
    ``log``: the process's output, shown if it ends first."""
    deadline = time.monotonic() + 900
    try:
        # "Epoch 1" is logged after epoch 0's checkpoint is complete on disk
        while not any("Epoch 1" in path.read_text() for path in folder.glob("training_log_*.txt")):
            assert process.poll() is None, f"ended before the kill:\n{log.read_text()[-5000:]}"
            assert time.monotonic() < deadline, "no checkpoint after 15 minutes"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session")
def benchmark_run(tmp_path_factory) -> BenchmarkRun:
    """``nnunetv2_glsp benchmark run`` of TRAINERS x FOLDS as two concurrent shards (which must
    convert, plan and preprocess once); shard 1 is killed during its last fold (KILLED) once that
    fold's first epoch is saved; then the unsharded command runs again and continues it."""
    nnunet = NnUNet(tmp_path_factory.mktemp("nnunet"))
    output = nnunet.root / "benchmark"
    run = [sys.executable, "-m", "nnunetv2_glsp", "benchmark", "run", str(nnunet.task), "-tr",
           *TRAINERS, "-f", *map(str, FOLDS), "-o", str(output), "-np", "1", "-device", "cpu",
           "--env", "nnUNet_n_proc_DA=0"]
    logs = [nnunet.root / f"shard_{i}.log" for i in range(2)]
    shards = []
    try:
        for i, log in enumerate(logs):
            with open(log, "w") as handle:
                shards.append(subprocess.Popen([*run, "--shard", f"{i}/2"], stdout=handle,
                                               stderr=subprocess.STDOUT, env=nnunet.env,
                                               start_new_session=True))
        _kill_when_epoch_saved(shards[1], logs[1], nnunet.fold_folder(*KILLED))
        shards[0].wait()
    finally:
        for shard in shards:
            if shard.poll() is None:
                os.killpg(shard.pid, signal.SIGKILL)
                shard.wait()
    resume_log = nnunet.run(*run)
    return BenchmarkRun(nnunet, output, [shard.returncode for shard in shards],
                        [log.read_text() for log in logs], resume_log)
