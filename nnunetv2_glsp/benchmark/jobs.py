"""Job planning and sharding: which (dataset, configuration, fold, trainer) trainings run where."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nnunetv2_glsp.benchmark import BenchmarkError

DEFAULT_PLANS = "nnUNetPlans"


@dataclass(frozen=True)
class Job:
    """One nnU-Net training of one fold."""

    dataset: str  # nnU-Net dataset name, DatasetXXX_Name
    trainer: str
    configuration: str
    fold: int
    plans: str = DEFAULT_PLANS

    @property
    def job_id(self) -> str:
        """A file-name-safe identifier, unique within a benchmark."""
        return f"{self.dataset}__{self.model_folder}__fold_{self.fold}"

    @property
    def model_folder(self) -> str:
        """The nnU-Net results sub-folder of this trainer, plans and configuration."""
        return f"{self.trainer}__{self.plans}__{self.configuration}"

    @property
    def label(self) -> str:
        """The name the report gives this trainer and plans pair (see :func:`trainer_label`)."""
        return trainer_label(self.trainer, self.plans)


def trainer_label(trainer: str, plans: str) -> str:
    """``TRAINER`` with nnU-Net's default plans, else ``TRAINER@PLANS``."""
    return trainer if plans == DEFAULT_PLANS else f"{trainer}@{plans}"


def parse_trainer(spec: str, plans: str = DEFAULT_PLANS) -> tuple[str, str]:
    """(trainer, plans) of ``TRAINER`` (with ``plans``) or ``TRAINER@PLANS``."""
    trainer, sep, own = spec.partition("@")
    if not trainer or (sep and (not own or "@" in own)):
        raise BenchmarkError(f"trainer {spec!r} must be TRAINER or TRAINER@PLANS, "
                             "e.g. nnUNetTrainer@nnUNetResEncUNetMPlans")
    return trainer, own or plans


def plan_jobs(
    datasets: list[str],
    trainers: list[str],
    configurations: list[str],
    folds: list[int],
    plans: str = DEFAULT_PLANS,
) -> list[Job]:
    """All jobs in a fixed order: dataset, configuration, fold, then trainer innermost, so an
    interrupted run has finished the trainers of a fold together (paired comparisons come early).
    ``trainers`` are ``TRAINER`` (trained with ``plans``) or ``TRAINER@PLANS``."""
    pairs = [parse_trainer(spec, plans) for spec in trainers]
    labels = [trainer_label(*pair) for pair in pairs]
    for name, values in (("dataset", datasets), ("trainer", labels),
                         ("configuration", configurations), ("fold", folds)):
        if len(set(values)) != len(values):
            raise BenchmarkError(f"duplicate {name} in {values}")
    return [
        Job(dataset, trainer, configuration, fold, trainer_plans)
        for dataset in datasets
        for configuration in configurations
        for fold in folds
        for trainer, trainer_plans in pairs
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
