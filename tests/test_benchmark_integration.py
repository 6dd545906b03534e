"""End to end: the benchmark runner on a synthetic Decathlon task with the tiny trainers, five
folds, run as two concurrent shards; the report must reproduce nnU-Net's summary.json values."""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time

import pytest

from nnunetv2_glsp.cli import main
from nnunetv2_glsp.data.synthetic import LABELS, write_decathlon_task
from nnunetv2_glsp.registration import EXT_TRAINER_DIR

TRAINERS = ["GLSPTrainer_tiny", "MedNeXtTrainer_tiny"]
CLASSES = {key: name for key, name in LABELS.items() if key != "0"}


def nnunet_summaries(results) -> dict[str, dict[int, dict]]:
    """trainer -> fold -> nnU-Net's validation summary.json."""
    def load(trainer: str, fold: int) -> dict:
        folder = results / f"{trainer}__nnUNetPlans__3d_fullres" / f"fold_{fold}"
        return json.loads((folder / "validation" / "summary.json").read_text())

    return {trainer: {fold: load(trainer, fold) for fold in range(5)} for trainer in TRAINERS}


def approx(value: float):
    return pytest.approx(value, rel=1e-12, abs=1e-12, nan_ok=True)


@pytest.mark.slow
def test_five_fold_benchmark_matches_nnunet_summaries(tmp_path, monkeypatch):
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / name))
    monkeypatch.setenv("nnUNet_extTrainer", EXT_TRAINER_DIR)
    monkeypatch.setenv("nnUNet_compile", "f")
    monkeypatch.setenv("nnUNet_def_n_proc", "1")  # validation export/metrics: one worker
    # idle OpenMP threads sleep instead of spinning: the two shards share the CPU cores
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    # 16^3 voxels: 3 stages, and the tiny trainers learn enough for non-zero Dice per fold
    task = write_decathlon_task(tmp_path / "msd", task_id=61, name="Synthetic", n_train=10,
                                n_test=1, shape=(16, 16, 16), seed=0)
    output = tmp_path / "benchmark"
    run = [sys.executable, "-m", "nnunetv2_glsp", "benchmark", "run", str(task), "-tr", *TRAINERS,
           "-o", str(output), "-np", "1", "-device", "cpu", "--env", "nnUNet_n_proc_DA=0"]

    started = time.time()
    shards = [subprocess.Popen([*run, "--shard", f"{i}/2"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
              for i in range(2)]
    logs = [shard.communicate()[0] for shard in shards]
    for shard, log in zip(shards, logs, strict=True):
        assert shard.returncode == 0, log[-5000:]
    print(f"two shards, 10 folds: {time.time() - started:.0f} s")
    assert sum(log.count("nnUNetv2_plan_and_preprocess") for log in logs) == 1  # prepared once

    rerun = subprocess.run(run, capture_output=True, text=True, env=dict(os.environ))
    assert rerun.returncode == 0, rerun.stdout[-5000:] + rerun.stderr[-5000:]
    assert "[benchmark] job " not in rerun.stdout  # every fold done and recorded: nothing reruns
    merged = (output / "report.md").read_text()
    assert main(["benchmark", "report", "-o", str(output)]) == 0
    assert (output / "report.md").read_text() == merged

    summaries = nnunet_summaries(tmp_path / "nnUNet_results" / "Dataset061_Synthetic")
    with open(output / "folds.csv") as handle:
        folds = list(csv.DictReader(handle))
    assert len(folds) == 10
    for row in folds:
        summary = summaries[row["trainer"]][int(row["fold"])]
        for key, name in CLASSES.items():
            assert float(row[f"dice_{name}"]) == approx(summary["mean"][key]["Dice"])
        assert float(row["dice_overall"]) == approx(summary["foreground_mean"]["Dice"])
        assert int(row["epochs"]) == 2 and int(row["parameters"]) > 0
        assert float(row["epoch_seconds_mean"]) > 0 and int(row["peak_rss_bytes"]) > 0

    def per_fold(trainer: str, key: str | None) -> list[float]:
        return [summaries[trainer][f]["foreground_mean"]["Dice"] if key is None
                else summaries[trainer][f]["mean"][key]["Dice"] for f in range(5)]

    with open(output / "summary.csv") as handle:
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
    assert rows[TRAINERS[1]]["diff_overall_n"] == "5"

    overall = [per_fold(TRAINERS[0], None)]
    cell = f"{statistics.fmean(overall[0]):.4f} ± {statistics.stdev(overall[0]):.4f}"
    assert f"| {TRAINERS[0]} | 5 |" in merged and cell in merged
    assert (output / "report_Dataset061_Synthetic_nnUNetPlans_3d_fullres.png").is_file()
    print(merged)
