"""Report statistics from records: mean ± sd over folds per trainer, and the paired per-fold
difference of the reference trainer against each other trainer with its 95 % interval."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

OVERALL = "overall"  # the foreground mean Dice of nnU-Net's summary.json
GB = 1024**3


@dataclass(frozen=True)
class Estimate:
    """Mean, sample standard deviation (None for n < 2) and number of values."""

    mean: float
    sd: float | None
    n: int

    @property
    def interval95(self) -> tuple[float, float] | None:
        """Student-t 95 % confidence interval of the mean (None for n < 2)."""
        if self.sd is None:
            return None
        from scipy.stats import t

        half_width = t.ppf(0.975, self.n - 1) * self.sd / math.sqrt(self.n)
        return self.mean - half_width, self.mean + half_width


def estimate(values: list[float]) -> Estimate | None:
    if not values:
        return None
    return Estimate(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None,
                    len(values))


def dice(record: dict, metric: str) -> float:
    return record["dice_mean"] if metric == OVERALL else record["dice"][metric]


def group_records(records: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    """Records by (dataset, plans, configuration): one comparison each, where ``plans`` joins
    the group's plans identifiers with '+' (trainers with their own plans, ``TRAINER@PLANS``,
    are compared with the others of their dataset and configuration)."""
    by_task: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for record in records:
        by_task[record["dataset"], record["configuration"]].append(record)
    groups = {(dataset, "+".join(sorted({r["plans"] for r in group})), configuration): group
              for (dataset, configuration), group in by_task.items()}
    return dict(sorted(groups.items()))


def trainer_order(records: list[dict], explicit: list[str] | None = None) -> list[str]:
    """Trainers in the order given, else in the order of the run's trainer list (the first is the
    reference); trainers not listed follow by name."""
    present = {r["trainer"]: r["trainer_rank"] for r in records}
    listed = [t for t in explicit or [] if t in present]
    rest = sorted(set(present) - set(listed), key=lambda t: (present[t], t))
    return listed + rest


def class_keys(records: list[dict]) -> list[str]:
    """Class keys in label order: numeric ones by value ("2" before "10"), then regions."""
    keys = {key for r in records for key in r["dice"]}
    return sorted(keys, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))


def metrics(records: list[dict]) -> list[str]:
    """Class keys in label order, then the overall Dice."""
    return [*class_keys(records), OVERALL]


def metric_names(records: list[dict]) -> dict[str, str]:
    names = {key: name for r in records for key, name in r["class_names"].items()}
    return {**names, OVERALL: OVERALL}


@dataclass(frozen=True)
class TrainerSummary:
    """One trainer's row: Dice estimates per metric and its costs."""

    trainer: str
    folds: list[int]
    dice: dict[str, Estimate | None]
    epoch_seconds: Estimate | None
    train_hours: float | None  # summed epoch time over folds
    wall_hours: float | None  # summed launcher wall time (training + validation) over folds
    peak_gpu_gb: float | None  # max over folds of torch.cuda.max_memory_allocated
    peak_rss_gb: float | None  # max over folds of the training process's max RSS
    parameters: int | None


def _total(values: list[float | None], scale: float) -> float | None:
    return None if not values or None in values else sum(values) / scale


def _peak(values: list[int | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) / GB if present else None


def summarise(records: list[dict], trainer: str, metric_keys: list[str]) -> TrainerSummary:
    """Summary over the folds of one trainer within one group."""
    own = sorted((r for r in records if r["trainer"] == trainer), key=lambda r: r["fold"])
    return TrainerSummary(
        trainer=trainer,
        folds=[r["fold"] for r in own],
        dice={m: estimate([dice(r, m) for r in own if m == OVERALL or m in r["dice"]])
              for m in metric_keys},
        epoch_seconds=estimate([r["epoch_seconds_mean"] for r in own
                                if r["epoch_seconds_mean"] is not None]),
        train_hours=_total([r["train_seconds"] for r in own], 3600),
        wall_hours=_total([r["wall_seconds"] for r in own], 3600),
        peak_gpu_gb=_peak([r["peak_gpu_allocated_bytes"] for r in own]),
        peak_rss_gb=_peak([r["peak_rss_bytes"] for r in own]),
        parameters=own[0]["parameters"] if own else None,
    )


@dataclass(frozen=True)
class PairedDifference:
    """Reference minus trainer, per fold both have finished, summarised per metric."""

    reference: str
    trainer: str
    folds: list[int]
    difference: dict[str, Estimate | None]
    mismatched_folds: list[int]  # folds whose validation cases differ between the two


def paired_difference(records: list[dict], reference: str, trainer: str,
                      metric_keys: list[str]) -> PairedDifference:
    by_fold = defaultdict(dict)
    for r in records:
        by_fold[r["fold"]][r["trainer"]] = r
    pairs = [(fold, runs[reference], runs[trainer]) for fold, runs in sorted(by_fold.items())
             if reference in runs and trainer in runs]
    return PairedDifference(
        reference=reference,
        trainer=trainer,
        folds=[fold for fold, _, _ in pairs],
        difference={m: estimate([dice(a, m) - dice(b, m) for _, a, b in pairs
                                 if m == OVERALL or (m in a["dice"] and m in b["dice"])])
                    for m in metric_keys},
        mismatched_folds=[fold for fold, a, b in pairs
                          if a["validation_cases"] != b["validation_cases"]],
    )
