"""End to end through nnU-Net's real CLI on CPU, on the folds the benchmark runner trained
(conftest.benchmark_run: convert, plan and preprocess, GLSPTrainer_tiny with one fold killed and
continued with --c): find the best configuration; plus a 2d fold of GLSPTrainer_S_tiny trained
with nnUNetv2_train. Prediction and evaluation of the test set: test_benchmark_integration
(`benchmark test` runs nnUNetv2_predict and nnUNetv2_evaluate_folder)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DATASET, FOLDS, TASK_ID, TRAINERS, BenchmarkRun

pytestmark = pytest.mark.slow

TRAINER = TRAINERS[1]  # the GLSP trainer of the benchmark run
TRAINER_2D = "GLSPTrainer_S_tiny"  # only has to train and validate


def test_find_best_configuration(benchmark_run: BenchmarkRun):
    nnunet, folds = benchmark_run.nnunet, [str(fold) for fold in FOLDS]
    job = f"{DATASET}__{TRAINER}__nnUNetPlans__3d_fullres__fold_{FOLDS[0]}"
    assert "WKV backend: " in (benchmark_run.output / "logs" / f"{job}.log").read_text()
    nnunet.run("nnUNetv2_find_best_configuration", str(TASK_ID), "-c", "3d_fullres", "-tr",
               TRAINER, "-f", *folds, "-np", "1")
    instructions = (nnunet.results / DATASET / "inference_instructions.txt").read_text()
    assert f"-tr {TRAINER}" in instructions


def test_2d_fold(benchmark_run: BenchmarkRun):
    nnunet = benchmark_run.nnunet
    nnunet.run("nnUNetv2_preprocess", "-d", str(TASK_ID), "-c", "2d", "-np", "1")
    output = nnunet.run("nnUNetv2_train", str(TASK_ID), "2d", "0", "-tr", TRAINER_2D, "-device",
                        "cpu", "--npz", train=True)
    assert "WKV backend: " in output
    folder = nnunet.fold_folder(TRAINER_2D, 0, "2d")
    assert (folder / "checkpoint_final.pth").is_file()
    summary = json.loads((folder / "validation" / "summary.json").read_text())
    assert np.isfinite(summary["foreground_mean"]["Dice"])
