"""Job planning and sharding: which (dataset, configuration, fold, trainer) trainings run where."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nnunetv2_glsp.benchmark import BenchmarkError


@dataclass(frozen=True)
class Job:
    """One nnU-Net training of one fold."""

    dataset: str  # nnU-Net dataset name, DatasetXXX_Name
    trainer: str
    configuration: str
    fold: int
    plans: str = "nnUNetPlans"

    @property
    def job_id(self) -> str:
        """A file-name-safe identifier, unique within a benchmark."""
        return f"{self.dataset}__{self.model_folder}__fold_{self.fold}"

    @property
    def model_folder(self) -> str:
        """The nnU-Net results sub-folder of this trainer, plans and configuration."""
        return f"{self.trainer}__{self.plans}__{self.configuration}"


def plan_jobs(
    datasets: list[str],
    trainers: list[str],
    configurations: list[str],
    folds: list[int],
    plans: str = "nnUNetPlans",
) -> list[Job]:
    """All jobs in a fixed order: dataset, configuration, fold, then trainer innermost, so an
    interrupted run has finished the trainers of a fold together (paired comparisons come early)."""
    for name, values in (("dataset", datasets), ("trainer", trainers),
                         ("configuration", configurations), ("fold", folds)):
        if len(set(values)) != len(values):
            raise BenchmarkError(f"duplicate {name} in {values}")
    return [
        Job(dataset, trainer, configuration, fold, plans)
        for dataset in datasets
        for configuration in configurations
        for fold in folds
        for trainer in trainers
    ]


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``i/n`` (0 <= i < n), e.g. ``--shard $SLURM_ARRAY_TASK_ID/5``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise BenchmarkError(f"--shard must look like i/n with 0 <= i < n (e.g. 0/4), got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or index >= count:
        raise BenchmarkError(f"--shard {text}: need n >= 1 and 0 <= i < n (shards are 0-based)")
    return index, count


def select_shard(jobs: list[Job], index: int, count: int) -> list[Job]:
    """Shard ``index`` of ``count``: every count-th job starting at index. Deterministic, and the
    shards partition the job list for any count."""
    return jobs[index::count]
