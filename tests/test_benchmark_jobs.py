"""Benchmark job planning, sharding, resume states and progress estimates."""

from __future__ import annotations

import itertools

import pytest

from nnunetv2_glsp.benchmark import BenchmarkError
from nnunetv2_glsp.benchmark.execute import (
    DONE,
    NEW,
    RESUME,
    VALIDATE,
    fold_state,
    train_arguments,
)
from nnunetv2_glsp.benchmark.jobs import Job, parse_shard, parse_trainer, plan_jobs, select_shard
from nnunetv2_glsp.benchmark.progress import Progress, clock
from nnunetv2_glsp.benchmark.records import record_path, recorded_wall_seconds, write_record

TRAINERS = ["GLSPTrainer", "MedNeXtTrainer", "GLSPConvBranchTrainer", "nnUNetTrainer"]


def all_jobs() -> list[Job]:
    return plan_jobs(["Dataset004_Hippocampus", "Dataset005_Prostate"], TRAINERS,
                     ["3d_fullres", "2d"], [0, 1, 2, 3, 4])


def test_plan_covers_every_combination_once_with_trainer_innermost():
    jobs = all_jobs()
    assert len(jobs) == 2 * 4 * 2 * 5
    assert len({job.job_id for job in jobs}) == len(jobs)
    assert [job.trainer for job in jobs[:4]] == TRAINERS
    expected = itertools.product(["Dataset004_Hippocampus", "Dataset005_Prostate"], TRAINERS,
                                 ["3d_fullres", "2d"], range(5))
    assert {(j.dataset, j.trainer, j.configuration, j.fold) for j in jobs} == set(expected)


def test_job_names_follow_nnunet_layout():
    job = Job("Dataset004_Hippocampus", "GLSPTrainer", "3d_fullres", 3)
    assert job.model_folder == "GLSPTrainer__nnUNetPlans__3d_fullres"
    assert job.job_id == "Dataset004_Hippocampus__GLSPTrainer__nnUNetPlans__3d_fullres__fold_3"


def test_duplicates_are_rejected():
    with pytest.raises(BenchmarkError, match="duplicate trainer"):
        plan_jobs(["Dataset004_X"], ["A", "A"], ["3d_fullres"], [0])


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7, 80, 100])
def test_shards_partition_the_jobs(count):
    jobs = all_jobs()
    shards = [select_shard(jobs, index, count) for index in range(count)]
    flat = [job for shard in shards for job in shard]
    assert sorted(flat, key=jobs.index) == jobs  # every job exactly once
    assert len(flat) == len(set(flat))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # balanced
    assert shards == [select_shard(all_jobs(), index, count) for index in range(count)]


@pytest.mark.parametrize(("text", "expected"),
                         [("0/1", (0, 1)), ("3/4", (3, 4)), (" 2 / 8", (2, 8))])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["4/4", "1/0", "-1/2", "1", "a/b", "1/2/3", ""])
def test_parse_shard_rejects(text):
    with pytest.raises(BenchmarkError, match="shard"):
        parse_shard(text)


def test_fold_state(tmp_path):
    assert fold_state(tmp_path) == NEW
    (tmp_path / "checkpoint_latest.pth").touch()
    assert fold_state(tmp_path) == RESUME
    (tmp_path / "checkpoint_final.pth").touch()
    assert fold_state(tmp_path) == VALIDATE
    (tmp_path / "validation").mkdir()
    (tmp_path / "validation" / "summary.json").touch()
    assert fold_state(tmp_path) == DONE


def test_train_arguments():
    job = Job("Dataset004_Hippocampus", "GLSPTrainer", "3d_fullres", 2)
    base = ["Dataset004_Hippocampus", "3d_fullres", "2", "-tr", "GLSPTrainer", "-p", "nnUNetPlans",
            "-device", "cuda", "--npz"]
    assert train_arguments(job, NEW, "cuda") == base
    assert train_arguments(job, RESUME, "cuda") == [*base, "--c"]
    assert train_arguments(job, VALIDATE, "cuda") == [*base, "--val"]


def test_progress_estimate():
    progress = Progress(total=10, to_run=4)
    assert "unknown" in progress.line(1, "x")
    progress.finished(60.0)
    progress.finished(120.0)
    line = progress.line(3, "job")
    assert line.startswith("[benchmark] job 3/10 job | elapsed 0:00:0")
    assert "left ~0:03:00 (2 job(s) x 0:01:30)" in line
    assert clock(3725) == "1:02:05"


def test_resumed_run_estimates_from_recorded_jobs(tmp_path):
    jobs = all_jobs()[:4]
    write_record({"wall_seconds": 600.0}, record_path(tmp_path, jobs[0]))
    write_record({"wall_seconds": None}, record_path(tmp_path, jobs[1]))  # trained outside
    write_record({"wall_seconds": 1200.0}, record_path(tmp_path, jobs[2]))
    assert recorded_wall_seconds(tmp_path, jobs) == [600.0, 1200.0]
    progress = Progress(total=4, to_run=2, earlier=recorded_wall_seconds(tmp_path, jobs))
    assert "left ~0:30:00 (2 job(s) x 0:15:00)" in progress.line(3, "job")
    progress.finished(300.0)
    assert "left ~0:11:40 (1 job(s) x 0:11:40)" in progress.line(4, "job")


@pytest.mark.parametrize(("spec", "expected"), [
    ("GLSPTrainer", ("GLSPTrainer", "MyPlans")),
    ("nnUNetTrainer@nnUNetResEncUNetMPlans", ("nnUNetTrainer", "nnUNetResEncUNetMPlans"))])
def test_parse_trainer(spec, expected):
    assert parse_trainer(spec, "MyPlans") == expected


@pytest.mark.parametrize("spec", ["", "@nnUNetPlans", "A@", "A@B@C"])
def test_parse_trainer_rejects(spec):
    with pytest.raises(BenchmarkError, match="TRAINER@PLANS"):
        parse_trainer(spec)


def test_trainers_with_their_own_plans():
    trainers = ["GLSPTrainer", "nnUNetTrainer@nnUNetResEncUNetMPlans"]
    jobs = plan_jobs(["Dataset004_Hippocampus"], trainers, ["3d_fullres"], [0])
    assert [(job.trainer, job.plans, job.label) for job in jobs] == [
        ("GLSPTrainer", "nnUNetPlans", "GLSPTrainer"),
        ("nnUNetTrainer", "nnUNetResEncUNetMPlans", "nnUNetTrainer@nnUNetResEncUNetMPlans")]
    assert jobs[1].model_folder == "nnUNetTrainer__nnUNetResEncUNetMPlans__3d_fullres"
    assert train_arguments(jobs[1], NEW, "cpu")[5:7] == ["-p", "nnUNetResEncUNetMPlans"]
    with pytest.raises(BenchmarkError, match="duplicate trainer"):
        plan_jobs(["Dataset004_X"], ["A", "A@nnUNetPlans"], ["3d_fullres"], [0])
