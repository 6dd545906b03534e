"""End to end through nnU-Net's real CLI on CPU, on the folds the benchmark runner trained
(conftest.benchmark_run: convert, plan and preprocess, GLSPTrainer_tiny with one fold killed and
continued with --c): find the best configuration -> predict the test set -> evaluate; plus a 2d
fold of GLSPTrainer_S_tiny trained with nnUNetv2_train."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813 (the usual alias)
from conftest import DATASET, FOLDS, TASK_ID, TRAINERS, BenchmarkRun

pytestmark = pytest.mark.slow

TRAINER = TRAINERS[1]  # the GLSP trainer of the benchmark run
TRAINER_2D = "GLSPTrainer_S_tiny"  # only has to train and validate


def test_find_best_predict_evaluate(benchmark_run: BenchmarkRun):
    nnunet, folds = benchmark_run.nnunet, [str(fold) for fold in FOLDS]
    job = f"{DATASET}__{TRAINER}__nnUNetPlans__3d_fullres__fold_{FOLDS[0]}"
    assert "WKV backend: " in (benchmark_run.output / "logs" / f"{job}.log").read_text()
    nnunet.run("nnUNetv2_find_best_configuration", str(TASK_ID), "-c", "3d_fullres", "-tr",
               TRAINER, "-f", *folds, "-np", "1")
    instructions = (nnunet.results / DATASET / "inference_instructions.txt").read_text()
    assert f"-tr {TRAINER}" in instructions

    images, predictions = nnunet.raw / DATASET / "imagesTs", nnunet.root / "predictions"
    nnunet.run("nnUNetv2_predict", "-i", str(images), "-o", str(predictions), "-d", str(TASK_ID),
               "-c", "3d_fullres", "-tr", TRAINER, "-f", *folds, "-chk", "checkpoint_final.pth",
               "-device", "cpu", "-npp", "1", "-nps", "1", train=True)

    truth = nnunet.task / "labelsTs"
    cases = sorted(path.name for path in truth.glob("*.nii.gz"))
    assert len(cases) == 2
    for case in cases:
        image = sitk.ReadImage(str(images / case.replace(".nii.gz", "_0000.nii.gz")))
        prediction = sitk.ReadImage(str(predictions / case))
        for attribute in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
            expected = getattr(image, attribute)()
            assert np.allclose(getattr(prediction, attribute)(), expected), attribute
        assert set(np.unique(sitk.GetArrayFromImage(prediction))) <= {0, 1, 2, 3}
        assert all(np.any(sitk.GetArrayFromImage(sitk.ReadImage(str(truth / case))) == label)
                   for label in (1, 2, 3))

    nnunet.run("nnUNetv2_evaluate_folder", str(truth), str(predictions), "-djfile",
               str(predictions / "dataset.json"), "-pfile", str(predictions / "plans.json"))
    dice = json.loads((predictions / "summary.json").read_text())["foreground_mean"]["Dice"]
    print("test-set mean Dice:", dice)
    # every label is in every test case, so an all-background guess scores 0
    assert dice > 0.05


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
