"""Test-set scores of each trainer's fold ensemble: ``nnUNetv2_predict -f FOLDS`` on the test
images, timed, then ``nnUNetv2_evaluate_folder`` against the test labels. One record per trainer
under ``<output>/test/<trainer>/``; a trainer with a record is not predicted again."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from nnunetv2_glsp.benchmark import BenchmarkError
from nnunetv2_glsp.benchmark.environment import stock_command
from nnunetv2_glsp.benchmark.records import class_names, write_record

NIFTI = ".nii.gz"


@dataclass(frozen=True)
class TestSet:
    """Test images (nnU-Net's raw layout, ``CASE_0000.nii.gz``) and their reference labels."""

    dataset: str  # nnU-Net dataset name
    images: Path
    labels: Path

    def cases(self) -> list[str]:
        """Case identifiers of the images, each of which must have a label."""
        cases = sorted(p.name[: -len("_0000" + NIFTI)] for p in self.images.glob("*_0000" + NIFTI))
        if not cases:
            raise BenchmarkError(f"no test images (CASE_0000{NIFTI}) in {self.images}")
        missing = [c for c in cases if not (self.labels / f"{c}{NIFTI}").is_file()]
        if missing:
            raise BenchmarkError(f"{len(missing)} test image(s) without a label in {self.labels} "
                                 f"(e.g. {missing[0]}{NIFTI}); pass the reference labels with "
                                 "--labels")
        return cases


def folder_of(output: Path, label: str) -> Path:
    """Where the predictions and record of one trainer (report label) go."""
    return output / "test" / label.replace("@", "__")


def _run(arguments: list[str], log: Path) -> float:
    """Run an nnU-Net console script with its output appended to ``log``; wall seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as handle:
        handle.write(f"\n$ {' '.join(arguments)}\n")
        handle.flush()
        started = time.perf_counter()
        code = subprocess.run([stock_command(arguments[0]), *arguments[1:]], stdout=handle,
                              stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise BenchmarkError(f"{arguments[0]} failed (exit {code}); log {log}:\n{tail}")
    return time.perf_counter() - started


def score_trainer(test_set: TestSet, label: str, trainer: str, plans: str, configuration: str,
                  folds: list[int], device: str, processes: int | None, output: Path) -> dict:
    """Predict the test set with the ensemble of ``folds`` (``processes`` for nnU-Net's
    preprocessing and export, None: its default) and score it; returns the record."""
    folder = folder_of(output, label)
    predictions = folder / "predictions"
    cases = test_set.cases()
    pools = ["-npp", str(processes), "-nps", str(processes)] if processes else []
    seconds = _run(["nnUNetv2_predict", "-i", str(test_set.images), "-o", str(predictions),
                    "-d", test_set.dataset, "-tr", trainer, "-p", plans, "-c", configuration,
                    "-f", *map(str, folds), "-device", device, *pools], folder / "predict.log")
    _run(["nnUNetv2_evaluate_folder", str(test_set.labels), str(predictions),
          "-djfile", str(predictions / "dataset.json"), "-pfile", str(predictions / "plans.json")],
         folder / "predict.log")
    summary = json.loads((predictions / "summary.json").read_text())
    names = class_names(test_set.dataset)
    return {
        "dataset": test_set.dataset,
        "trainer": label,
        "configuration": configuration,
        "plans": plans,
        "folds": folds,
        "cases": cases,
        "predict_seconds": seconds,
        "seconds_per_case": seconds / len(cases),
        "device": device,
        "dice": {key: metrics["Dice"] for key, metrics in summary["mean"].items()},
        "dice_mean": summary["foreground_mean"]["Dice"],
        "class_names": {key: names.get(key, key) for key in summary["mean"]},
        "predictions": str(predictions),
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def score_all(test_set: TestSet, trainers: list[tuple[str, str, str]], configuration: str,
              folds: list[int], device: str, processes: int | None, output: Path) -> list[dict]:
    """Records of every (label, trainer, plans), scoring those without one; in the given order."""
    records = []
    for index, (label, trainer, plans) in enumerate(trainers, start=1):
        path = folder_of(output, label) / "record.json"
        if not path.is_file() or json.loads(path.read_text())["folds"] != folds:
            print(f"[benchmark] test {index}/{len(trainers)}: {label}, folds "
                  f"{' '.join(map(str, folds))}", flush=True)
            write_record(score_trainer(test_set, label, trainer, plans, configuration, folds,
                                       device, processes, output), path)
        records.append(json.loads(path.read_text()))
    return records
