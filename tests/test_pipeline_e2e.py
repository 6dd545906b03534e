"""End to end through nnU-Net's real CLI on CPU: synthetic Decathlon task -> convert -> plan and
preprocess -> 5-fold training with GLSPTrainer_tiny (one run killed and continued with --c) ->
find best configuration -> predict the test set -> evaluate; plus a 2d fold."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813 (the usual alias)

from nnunetv2_glsp.data.synthetic import write_decathlon_task

pytestmark = pytest.mark.slow

TASK_ID, DATASET = 990, "Dataset990_Synthetic"
TRAINER = "GLSPTrainer_tiny"
PLANS_AND_CONFIG = f"{TRAINER}__nnUNetPlans__3d_fullres"


class Pipeline:
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
        self.timings: dict[str, float] = {}
        self.task = root / "msd"  # the Decathlon task folder, set by the fixture

    def run(self, name: str, *command: str, train: bool = False) -> str:
        start = time.monotonic()
        result = subprocess.run(command, env=self.train_env if train else self.env,
                                capture_output=True, text=True, cwd=self.root)
        self.timings[name] = time.monotonic() - start
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{output[-5000:]}"
        return output

    def train(self, configuration: str, fold: int, *extra: str) -> str:
        return self.run(" ".join(["train", configuration, str(fold), *extra]), "nnUNetv2_train",
                        str(TASK_ID), configuration, str(fold), "-tr", TRAINER, "-device", "cpu",
                        "--npz", *extra, train=True)

    def fold_folder(self, fold: int, config: str = PLANS_AND_CONFIG) -> Path:
        return self.results / DATASET / config / f"fold_{fold}"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Pipeline:
    pipe = Pipeline(tmp_path_factory.mktemp("e2e"))
    pipe.task = write_decathlon_task(pipe.root / "msd", task_id=TASK_ID, n_train=10, n_test=2,
                                     shape=(16, 24, 24), seed=0)
    pipe.run("convert", "nnUNetv2_convert_MSD_dataset", "-i", str(pipe.task), "-np", "1")
    pipe.run("plan and preprocess", "nnUNetv2_plan_and_preprocess", "-d", str(TASK_ID),
             "-c", "2d", "3d_fullres", "-np", "1", "-npfp", "1")
    yield pipe
    print("\ne2e timings (s):", {name: round(t, 1) for name, t in pipe.timings.items()})


def kill_after_first_checkpoint(pipe: Pipeline, fold: int) -> None:
    """Start training and SIGKILL it once epoch 0's checkpoint_latest.pth is written."""
    folder = pipe.fold_folder(fold)
    command = ["nnUNetv2_train", str(TASK_ID), "3d_fullres", str(fold), "-tr", TRAINER, "-device",
               "cpu", "--npz"]
    process = subprocess.Popen(command, env=pipe.train_env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        # "Epoch 1" is logged after epoch 0's checkpoint is complete on disk
        while not any("Epoch 1" in log.read_text() for log in folder.glob("training_log_*.txt")):
            assert process.poll() is None, "training ended before it could be interrupted"
            assert time.monotonic() < deadline, "no checkpoint after 10 minutes"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert (folder / "checkpoint_latest.pth").is_file()
    assert not (folder / "checkpoint_final.pth").exists()


def test_five_folds_find_best_predict_evaluate(pipeline):
    pipe = pipeline
    kill_after_first_checkpoint(pipe, 0)
    output = pipe.train("3d_fullres", 0, "--c")
    continued_log = max(pipe.fold_folder(0).glob("training_log_*.txt"), key=os.path.getmtime)
    assert "Epoch 1" in continued_log.read_text() and "Epoch 0\n" not in continued_log.read_text()
    assert "WKV backend: " in output
    for fold in range(1, 5):
        pipe.train("3d_fullres", fold)
    for fold in range(5):
        assert (pipe.fold_folder(fold) / "checkpoint_final.pth").is_file()
        assert (pipe.fold_folder(fold) / "validation" / "summary.json").is_file()

    pipe.run("find best configuration", "nnUNetv2_find_best_configuration", str(TASK_ID), "-c",
             "3d_fullres", "-tr", TRAINER, "-np", "1")
    instructions = (pipe.results / DATASET / "inference_instructions.txt").read_text()
    assert f"-tr {TRAINER}" in instructions

    images, predictions = pipe.raw / DATASET / "imagesTs", pipe.root / "predictions"
    pipe.run("predict", "nnUNetv2_predict", "-i", str(images), "-o", str(predictions), "-d",
             str(TASK_ID), "-c", "3d_fullres", "-tr", TRAINER, "-f", "0", "1", "2", "3", "4",
             "-chk", "checkpoint_final.pth", "-device", "cpu", "-npp", "1", "-nps", "1", train=True)

    truth = pipe.task / "labelsTs"
    cases = sorted(path.name for path in truth.glob("*.nii.gz"))
    assert len(cases) == 2
    trivial = pipe.root / "trivial"
    trivial.mkdir()
    for case in cases:
        image = sitk.ReadImage(str(images / case.replace(".nii.gz", "_0000.nii.gz")))
        prediction = sitk.ReadImage(str(predictions / case))
        for attribute in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
            expected = getattr(image, attribute)()
            assert np.allclose(getattr(prediction, attribute)(), expected), attribute
        assert set(np.unique(sitk.GetArrayFromImage(prediction))) <= {0, 1, 2, 3}
        background = sitk.Image(prediction.GetSize(), sitk.sitkUInt8)
        background.CopyInformation(prediction)
        sitk.WriteImage(background, str(trivial / case))

    scores = {}
    for name, folder in (("model", predictions), ("trivial", trivial)):
        pipe.run(f"evaluate {name}", "nnUNetv2_evaluate_folder", str(truth), str(folder), "-djfile",
                 str(predictions / "dataset.json"), "-pfile", str(predictions / "plans.json"))
        summary = json.loads((folder / "summary.json").read_text())
        scores[name] = summary["foreground_mean"]["Dice"]
    print("test-set mean Dice:", scores)
    assert scores["model"] > scores["trivial"] + 0.05


def test_2d_fold(pipeline):
    pipeline.train("2d", 0)
    folder = pipeline.fold_folder(0, f"{TRAINER}__nnUNetPlans__2d")
    assert (folder / "checkpoint_final.pth").is_file()
    summary = json.loads((folder / "validation" / "summary.json").read_text())
    assert np.isfinite(summary["foreground_mean"]["Dice"])
