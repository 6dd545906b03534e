"""Benchmark report statistics, tables, CSVs and plots against hand-made records, and the merge
of sharded records."""

from __future__ import annotations

import csv
import math

import pytest

from nnunetv2_glsp.benchmark.jobs import plan_jobs, select_shard
from nnunetv2_glsp.benchmark.plots import label_colours, write_plots
from nnunetv2_glsp.benchmark.records import load_records, write_record
from nnunetv2_glsp.benchmark.report import ensemble_rows, fold_rows, markdown, write_report
from nnunetv2_glsp.benchmark.stats import (
    OVERALL,
    estimate,
    paired_difference,
    summarise,
    trainer_order,
)

GB = 1024**3
CASES = ["c0.nii.gz", "c1.nii.gz"]
# per-fold Dice (class 1, class 2) by trainer; folds 0-2
DICE = {
    "GLSPTrainer": [(0.80, 0.70), (0.90, 0.60), (1.00, 0.80)],
    "MedNeXtTrainer": [(0.70, 0.70), (0.85, 0.50), (0.90, 0.75)],
}


def record(trainer: str, fold: int, dice: tuple[float, float], rank: int, **extra) -> dict:
    values = {"1": dice[0], "2": dice[1]}
    return {
        "job_id": f"Dataset004_Hippocampus__{trainer}__nnUNetPlans__3d_fullres__fold_{fold}",
        "dataset": "Dataset004_Hippocampus", "trainer": trainer, "trainer_rank": rank,
        "configuration": "3d_fullres", "plans": "nnUNetPlans", "fold": fold,
        "dice": values, "dice_mean": sum(values.values()) / 2,
        "class_names": {"1": "Anterior", "2": "Posterior"},
        "validation_cases": CASES, "summary_file": f"/x/fold_{fold}/validation/summary.json",
        "parameters": 1_000_000 * (rank + 1), "epochs": 10,
        "epoch_seconds_mean": 10.0 + fold + rank, "train_seconds": 100.0 + 10 * fold,
        "attempts": 1, "wall_seconds": 200.0, "peak_gpu_allocated_bytes": (fold + 1 + rank) * GB,
        "peak_gpu_reserved_bytes": (fold + 2) * GB, "peak_rss_bytes": 2 * GB,
        "device_name": "NVIDIA H100", "hosts": ["node1"], "recorded": "2026-01-01T00:00:00",
        **extra,
    }


def records() -> list[dict]:
    return [record(trainer, fold, dice, rank)
            for rank, (trainer, folds) in enumerate(DICE.items())
            for fold, dice in enumerate(folds)]


def test_estimate():
    value = estimate([0.8, 0.9, 1.0])
    assert value.mean == pytest.approx(0.9)
    assert value.sd == pytest.approx(0.1)
    assert value.n == 3
    assert estimate([0.5]).sd is None
    assert estimate([]) is None


def test_summary_per_class_overall_and_costs():
    summary = summarise(records(), "GLSPTrainer", ["1", "2", OVERALL])
    assert summary.folds == [0, 1, 2]
    assert summary.dice["1"].mean == pytest.approx(0.9)
    assert summary.dice["1"].sd == pytest.approx(0.1)
    assert summary.dice["2"].mean == pytest.approx(0.7)
    assert summary.dice["2"].sd == pytest.approx(0.1)
    overall = [0.75, 0.75, 0.90]
    assert summary.dice[OVERALL].mean == pytest.approx(0.8)
    sd = math.sqrt(sum((v - 0.8) ** 2 for v in overall) / 2)
    assert summary.dice[OVERALL].sd == pytest.approx(sd)
    assert summary.epoch_seconds.mean == pytest.approx(11.0)
    assert summary.train_hours == pytest.approx(330 / 3600)
    assert summary.wall_hours == pytest.approx(600 / 3600)
    assert summary.peak_gpu_gb == pytest.approx(3.0)
    assert summary.peak_rss_gb == pytest.approx(2.0)
    assert summary.parameters == 1_000_000


def test_paired_difference_uses_common_folds_only():
    data = [r for r in records() if not (r["trainer"] == "MedNeXtTrainer" and r["fold"] == 2)]
    pair = paired_difference(data, "GLSPTrainer", "MedNeXtTrainer", ["1", "2", OVERALL])
    assert pair.folds == [0, 1]
    assert pair.difference["1"].mean == pytest.approx(0.075)  # (0.10 + 0.05) / 2
    assert pair.difference["1"].sd == pytest.approx(math.sqrt(2 * 0.025**2))
    assert pair.difference["2"].mean == pytest.approx(0.05)  # (0.0 + 0.1) / 2
    assert pair.difference[OVERALL].mean == pytest.approx(0.0625)
    assert pair.difference[OVERALL].n == 2
    assert pair.mismatched_folds == []


def test_paired_interval_is_student_t():
    difference = paired_difference(records(), "GLSPTrainer", "MedNeXtTrainer",
                                   [OVERALL]).difference[OVERALL]
    half_width = 4.302653 * difference.sd / math.sqrt(3)  # t(0.975, 2 degrees), from tables
    assert difference.interval95 == pytest.approx((difference.mean - half_width,
                                                   difference.mean + half_width), abs=1e-6)
    one_fold = [r for r in records() if r["fold"] == 0]
    assert paired_difference(one_fold, "GLSPTrainer", "MedNeXtTrainer",
                             [OVERALL]).difference[OVERALL].interval95 is None


def test_mismatched_validation_cases_are_flagged():
    data = records()
    data[-1] = {**data[-1], "validation_cases": ["other.nii.gz"]}
    pair = paired_difference(data, "GLSPTrainer", "MedNeXtTrainer", [OVERALL])
    assert pair.mismatched_folds == [2]
    assert "WARNING: validation cases differ between GLSPTrainer and MedNeXtTrainer in folds [2]" \
        in markdown(data)


def test_trainer_order_follows_the_run_unless_given():
    data = records()
    assert trainer_order(data) == ["GLSPTrainer", "MedNeXtTrainer"]
    assert trainer_order(data, ["MedNeXtTrainer"]) == ["MedNeXtTrainer", "GLSPTrainer"]


def test_markdown_tables():
    text = markdown(records())
    assert ("| trainer | folds | Dice, overall | GLSPTrainer minus trainer [95 % interval] | "
            "epoch s | peak GPU GB | peak RSS GB | params M |") in text
    assert ("| GLSPTrainer | 3 | 0.800 ± 0.087 | reference | 11.0 ± 1.0 | 3.00 | 2.00 | 1.00 |"
            in text)
    assert ("| MedNeXtTrainer | 3 | 0.733 ± 0.080 | +0.067 ± 0.014 [+0.031, +0.103] (n = 3) | "
            "12.0 ± 1.0 | 4.00 | 2.00 | 2.00 |") in text
    assert "| trainer | folds | Anterior | Posterior | overall | epoch s |" in text
    assert "| GLSPTrainer | 3 | 0.9000 ± 0.1000 | 0.7000 ± 0.1000 | 0.8000 ± 0.0866 |" in text
    assert ("| MedNeXtTrainer | 3 | +0.0833 ± 0.0289 [+0.0116, +0.1550] | +0.0500 ± 0.0500 "
            "[-0.0742, +0.1742] | +0.0667 ± 0.0144 [+0.0308, +0.1025] |") in text
    assert "GPU: NVIDIA H100" in text and "epochs: 10" in text
    single = markdown([r for r in records() if r["fold"] == 0])
    assert "| GLSPTrainer | 1 | 0.8000 | 0.7000 | 0.7500 |" in single


def test_csv_files(tmp_path):
    write_report(records(), tmp_path)
    with open(tmp_path / "summary.csv") as handle:
        rows = {row["trainer"]: row for row in csv.DictReader(handle)}
    assert float(rows["GLSPTrainer"]["dice_Anterior_mean"]) == pytest.approx(0.9)
    assert float(rows["GLSPTrainer"]["dice_overall_sd"]) == pytest.approx(0.0866, abs=1e-4)
    assert rows["GLSPTrainer"]["diff_overall_mean"] == ""  # the reference has no difference
    assert float(rows["MedNeXtTrainer"]["diff_overall_mean"]) == pytest.approx(0.2 / 3)
    assert rows["MedNeXtTrainer"]["diff_overall_n"] == "3"
    other = rows["MedNeXtTrainer"]
    interval = [float(other["diff_overall_ci95_low"]), float(other["diff_overall_ci95_high"])]
    assert interval == pytest.approx([0.0308, 0.1025], abs=1e-4)
    assert float(rows["MedNeXtTrainer"]["peak_gpu_gb"]) == pytest.approx(4.0)
    with open(tmp_path / "folds.csv") as handle:
        folds = list(csv.DictReader(handle))
    assert len(folds) == 6
    assert float(folds[0]["dice_Posterior"]) == 0.7
    assert (tmp_path / "report.md").read_text() == markdown(records())


def test_csv_columns_follow_label_order():
    """nnU-Net's summary.json orders labels as strings ("1", "10", "2"); the CSVs must not."""
    dice = {"1": 0.5, "10": 0.4, "2": 0.3}
    names = {"1": "first", "2": "second", "10": "tenth"}
    fold = record("GLSPTrainer", 0, (0.0, 0.0), 0) | {"dice": dice, "class_names": names}
    tested = {"dataset": "D", "plans": "P", "configuration": "3d_fullres", "trainer": "T",
              "folds": [0, 1], "cases": CASES, "dice": dice, "class_names": names,
              "dice_mean": 0.4, "predict_seconds": 2.0, "seconds_per_case": 1.0, "device": "cpu"}
    expected = ["dice_first", "dice_second", "dice_tenth", "dice_overall"]
    for row in (fold_rows([fold])[0], ensemble_rows([tested])[0]):
        assert [column for column in row if column.startswith("dice_")] == expected
        assert [row[column] for column in expected] == [0.5, 0.3, 0.4, row["dice_overall"]]


def test_plots(tmp_path):
    [path] = write_plots(records(), tmp_path)
    assert path.name == "report_Dataset004_Hippocampus_nnUNetPlans_3d_fullres.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_label_colours_are_distinct_and_never_grey():
    from matplotlib.colors import rgb_to_hsv

    colours = [label_colours(12)(value)[:3] for value in range(1, 13)]
    assert len(set(colours)) == 12
    assert min(rgb_to_hsv(colour)[1] for colour in colours) > 0.15  # saturation: no grey
    assert label_colours(30).N == 31


def test_sharded_records_merge_to_the_unsharded_report(tmp_path):
    trainers = list(DICE)
    jobs = plan_jobs(["Dataset004_Hippocampus"], trainers, ["3d_fullres"], [0, 1, 2])

    def run(job_list, folder):  # stands in for execution: one record per finished job
        for job in job_list:
            rank = trainers.index(job.trainer)
            write_record(record(job.trainer, job.fold, DICE[job.trainer][job.fold], rank),
                         folder / "records" / f"{job.job_id}.json")

    run(jobs, tmp_path / "unsharded")
    for index in range(4):
        run(select_shard(jobs, index, 4), tmp_path / "sharded")
    unsharded, sharded = load_records(tmp_path / "unsharded"), load_records(tmp_path / "sharded")
    assert len(sharded) == len(jobs)
    assert markdown(sharded) == markdown(unsharded)


def test_trainers_with_their_own_plans_are_compared_with_the_others(tmp_path):
    resenc = "nnUNetTrainer@nnUNetResEncUNetMPlans"
    data = records() + [record(resenc, fold, (0.8, 0.6), 2, plans="nnUNetResEncUNetMPlans")
                        for fold in range(3)]
    text = markdown(data)
    assert "## Dataset004_Hippocampus, 3d_fullres (nnUNetPlans+nnUNetResEncUNetMPlans)" in text
    assert f"| {resenc} | 3 | +0.1000 ± 0.1000 [" in text
    write_report(data, tmp_path)
    with open(tmp_path / "summary.csv") as handle:
        plans = {row["trainer"]: row["plans"] for row in csv.DictReader(handle)}
    assert plans == {"GLSPTrainer": "nnUNetPlans", "MedNeXtTrainer": "nnUNetPlans",
                     resenc: "nnUNetResEncUNetMPlans"}
