"""End to end: the benchmark runner on a synthetic Decathlon task with two tiny trainers and two
folds, run as two concurrent shards, one killed mid-fold and resumed; the report must reproduce
nnU-Net's summary.json values."""

from __future__ import annotations

import csv
import json
import os
import statistics

import pytest
from conftest import DATASET, FOLDS, KILLED, TRAINERS, BenchmarkRun

from nnunetv2_glsp.cli import main
from nnunetv2_glsp.data.synthetic import LABELS

pytestmark = pytest.mark.slow
CLASSES = {key: name for key, name in LABELS.items() if key != "0"}


def nnunet_summaries(run: BenchmarkRun) -> dict[str, dict[int, dict]]:
    """trainer -> fold -> nnU-Net's validation summary.json."""
    def load(trainer: str, fold: int) -> dict:
        folder = run.nnunet.fold_folder(trainer, fold)
        return json.loads((folder / "validation" / "summary.json").read_text())

    return {trainer: {fold: load(trainer, fold) for fold in FOLDS} for trainer in TRAINERS}


def approx(value: float):
    return pytest.approx(value, rel=1e-12, abs=1e-12, nan_ok=True)


def job_log(run: BenchmarkRun, trainer: str, fold: int) -> str:
    job = f"{DATASET}__{trainer}__nnUNetPlans__3d_fullres__fold_{fold}"
    return (run.output / "logs" / f"{job}.log").read_text()


def test_shards_prepare_once_and_a_killed_fold_continues(benchmark_run):
    run = benchmark_run
    assert run.shard_status[0] == 0, run.shard_logs[0][-5000:]
    assert run.shard_status[1] < 0  # killed
    logs = [*run.shard_logs, run.resume_log]
    assert sum(log.count("$ nnUNetv2_plan_and_preprocess") for log in logs) == 1
    assert sum(log.count("$ nnUNetv2_convert_MSD_dataset") for log in logs) == 1
    for trainer in TRAINERS:
        for fold in FOLDS:
            commands = [line for line in job_log(run, trainer, fold).splitlines()
                        if line.startswith("$ nnUNetv2_train")]
            if (trainer, fold) == KILLED:  # started by shard 1, continued by the rerun
                assert len(commands) == 2 and commands[1].endswith(" --c"), commands
            else:  # finished by a shard: never run again
                assert len(commands) == 1 and not commands[0].endswith(" --c"), commands
    folder = run.nnunet.fold_folder(*KILLED)
    continued = max(folder.glob("training_log_*.txt"), key=os.path.getmtime).read_text()
    assert "Epoch 1" in continued and "Epoch 0\n" not in continued
    assert (folder / "checkpoint_final.pth").is_file()


def test_report_matches_nnunet_summaries(benchmark_run, monkeypatch):
    run = benchmark_run
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, run.nnunet.env[name])
    merged = (run.output / "report.md").read_text()
    assert main(["benchmark", "report", "-o", str(run.output)]) == 0
    assert (run.output / "report.md").read_text() == merged

    summaries = nnunet_summaries(run)
    with open(run.output / "folds.csv") as handle:
        folds = list(csv.DictReader(handle))
    assert len(folds) == len(TRAINERS) * len(FOLDS)
    for row in folds:
        summary = summaries[row["trainer"]][int(row["fold"])]
        for key, name in CLASSES.items():
            assert float(row[f"dice_{name}"]) == approx(summary["mean"][key]["Dice"])
        assert float(row["dice_overall"]) == approx(summary["foreground_mean"]["Dice"])
        assert int(row["epochs"]) == 2 and int(row["parameters"]) > 0
        assert float(row["epoch_seconds_mean"]) > 0 and int(row["peak_rss_bytes"]) > 0

    def per_fold(trainer: str, key: str | None) -> list[float]:
        return [summaries[trainer][f]["foreground_mean"]["Dice"] if key is None
                else summaries[trainer][f]["mean"][key]["Dice"] for f in FOLDS]

    with open(run.output / "summary.csv") as handle:
        rows = {row["trainer"]: row for row in csv.DictReader(handle)}
    for trainer in TRAINERS:
        for key, name in [*CLASSES.items(), (None, "overall")]:
            values = per_fold(trainer, key)
            assert float(rows[trainer][f"dice_{name}_mean"]) == approx(statistics.fmean(values))
            assert float(rows[trainer][f"dice_{name}_sd"]) == approx(statistics.stdev(values))
    reference, other = (per_fold(t, None) for t in TRAINERS)
    differences = [a - b for a, b in zip(reference, other, strict=True)]
    assert float(rows[TRAINERS[1]]["diff_overall_mean"]) == approx(statistics.fmean(differences))
    assert float(rows[TRAINERS[1]]["diff_overall_sd"]) == approx(statistics.stdev(differences))
    assert rows[TRAINERS[1]]["diff_overall_n"] == str(len(FOLDS))

    cell = f"{statistics.fmean(reference):.4f} ± {statistics.stdev(reference):.4f}"
    assert f"| {TRAINERS[0]} | {len(FOLDS)} |" in merged and cell in merged
    assert (run.output / f"report_{DATASET}_nnUNetPlans_3d_fullres.png").is_file()


def _dice(truth, prediction, value: int) -> float:
    truth, prediction = truth == value, prediction == value
    both = truth.sum() + prediction.sum()
    return float("nan") if both == 0 else 2 * (truth & prediction).sum() / both


def test_test_set_ensembles_are_scored_against_the_labels(benchmark_run, monkeypatch, capsys):
    import nibabel as nib
    import numpy as np

    run = benchmark_run
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_def_n_proc",
                 "OMP_WAIT_POLICY", "PATH"):
        monkeypatch.setenv(name, run.nnunet.env[name])
    output = run.nnunet.root / "test_set"
    trainer = TRAINERS[1]  # one trainer: scoring is a loop over trainers, each costs ~12 s
    command = ["benchmark", "test", str(run.nnunet.task), "-tr", trainer, "-o", str(output),
               "-device", "cpu", "-np", "1", "-f"]
    assert main([*command, *map(str, FOLDS), "2"]) == 2  # fold 2 was never trained
    assert f"{trainer}__nnUNetPlans__3d_fullres__fold_2" in capsys.readouterr().err
    assert main([*command, *map(str, FOLDS)]) == 0

    labels, images = run.nnunet.task / "labelsTs", run.nnunet.raw / DATASET / "imagesTs"
    with open(output / "test.csv") as handle:
        rows = {row["trainer"]: row for row in csv.DictReader(handle)}
    record = json.loads((output / "test" / trainer / "record.json").read_text())
    assert record["folds"] == list(FOLDS) and record["seconds_per_case"] > 0
    assert f"-f {' '.join(map(str, FOLDS))}" in (output / "test" / trainer / "predict.log"
                                                   ).read_text()
    predictions = output / "test" / trainer / "predictions"
    for case in record["cases"]:  # nnU-Net writes each prediction in its image's geometry
        image, prediction = (nib.load(images / f"{case}_0000.nii.gz"),
                             nib.load(predictions / f"{case}.nii.gz"))
        assert prediction.shape == image.shape and np.allclose(prediction.affine, image.affine)
    for key, name in CLASSES.items():  # Dice recomputed from the files, averaged over cases
        per_case = [_dice(np.asarray(nib.load(labels / f"{case}.nii.gz").dataobj),
                          np.asarray(nib.load(predictions / f"{case}.nii.gz").dataobj),
                          int(key)) for case in record["cases"]]
        assert float(rows[trainer][f"dice_{name}"]) == pytest.approx(np.nanmean(per_case))
    assert list(rows) == [trainer] and f"| {trainer} | " in (output / "test.md").read_text()
    # every class is in every test case, so an all-background guess scores 0 (the B-sized GLSP
    # trainer learns enough in its 30 iterations; size S scored 0.043 once)
    assert float(rows[trainer]["dice_overall"]) > 0.05
    assert (output / "test_overlay.png").stat().st_size > 10_000

    capsys.readouterr()
    assert main([*command, *map(str, FOLDS)]) == 0  # scored trainers are not predicted again
    assert "[benchmark] test 1/" not in capsys.readouterr().out
