"""The report: markdown tables and CSV files from whatever records exist (any shards)."""

from __future__ import annotations

import csv
from pathlib import Path

from nnunetv2_glsp.benchmark.stats import (
    OVERALL,
    Estimate,
    PairedDifference,
    TrainerSummary,
    class_keys,
    group_records,
    metric_names,
    metrics,
    paired_difference,
    summarise,
    trainer_order,
)

FOLD_COLUMNS = ("dataset", "plans", "configuration", "trainer", "fold", "epochs",
                "epoch_seconds_mean", "train_seconds", "wall_seconds", "peak_gpu_allocated_bytes",
                "peak_gpu_reserved_bytes", "peak_rss_bytes", "parameters",
                "device_name", "summary_file")


def fmt(value: Estimate | None, signed: bool = False, digits: int = 4,
        interval: bool = False) -> str:
    """``0.8123 ± 0.0101`` (sd omitted for one fold), with ``interval`` followed by the 95 %
    interval ``[0.7998, 0.8248]`` (from two folds on); ``n/a`` for no value."""
    if value is None:
        return "n/a"
    sign = "+" if signed else ""
    text = f"{value.mean:{sign}.{digits}f}"
    if value.sd is not None:
        text += f" ± {value.sd:.{digits}f}"
    if interval and value.interval95 is not None:
        low, high = value.interval95
        text += f" [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"
    return text


def fmt_number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def dice_table(rows: list[TrainerSummary], keys: list[str], names: dict[str, str]) -> list[str]:
    header = ["trainer", "folds", *[names[k] for k in keys], "epoch s", "train h", "wall h",
              "peak GPU GB", "peak RSS GB", "params M"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.trainer, str(len(row.folds)), *[fmt(row.dice[k]) for k in keys],
                 fmt(row.epoch_seconds, digits=2), fmt_number(row.train_hours, 3),
                 fmt_number(row.wall_hours, 3), fmt_number(row.peak_gpu_gb),
                 fmt_number(row.peak_rss_gb),
                 fmt_number(None if row.parameters is None else row.parameters / 1e6, 3)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def overview_table(rows: list[TrainerSummary], pairs: list[PairedDifference]) -> list[str]:
    """At a glance: overall Dice, the reference minus each trainer with its 95 % interval, and
    the costs; one line per trainer, the reference first."""
    reference = rows[0].trainer
    header = ["trainer", "folds", "Dice, overall", f"{reference} minus trainer [95 % interval]",
              "epoch s", "peak GPU GB", "peak RSS GB", "params M"]
    differences = {p.trainer: p for p in pairs}
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        pair = differences.get(row.trainer)
        difference = ("reference" if pair is None else
                      f"{fmt(pair.difference[OVERALL], signed=True, digits=3, interval=True)} "
                      f"(n = {len(pair.folds)})")
        cells = [row.trainer, str(len(row.folds)), fmt(row.dice[OVERALL], digits=3), difference,
                 fmt(row.epoch_seconds, digits=1), fmt_number(row.peak_gpu_gb),
                 fmt_number(row.peak_rss_gb),
                 fmt_number(None if row.parameters is None else row.parameters / 1e6)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def paired_table(rows: list[PairedDifference], keys: list[str], names: dict[str, str]) -> list[str]:
    header = ["trainer", "n", *[names[k] for k in keys]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        differences = [fmt(row.difference[k], signed=True, interval=True) for k in keys]
        cells = [row.trainer, str(len(row.folds)), *differences]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(records: list[dict], order: list[str] | None = None) -> str:
    """The whole report: per (dataset, plans, configuration) an overview, a per-class Dice/cost
    table and the paired per-class differences of the reference (first) trainer."""
    out = ["# Five-fold benchmark", ""]
    for (dataset, plans, configuration), group in group_records(records).items():
        trainers = trainer_order(group, order)
        keys, names = metrics(group), metric_names(group)
        reference = trainers[0]
        devices = sorted({r["device_name"] for r in group if r["device_name"]})
        epochs = sorted({r["epochs"] for r in group})
        out += [f"## {dataset}, {configuration} ({plans})", "",
                f"Dice on nnU-Net's validation folds (mean ± sd over folds), and the paired "
                f"per-fold difference of {reference} against each trainer over the n folds both "
                f"finished (from two folds on with its Student-t 95 % interval); epochs: "
                f"{', '.join(map(str, epochs))}; GPU: {', '.join(devices) or 'none recorded'}.", ""]
        summaries = [summarise(group, t, keys) for t in trainers]
        pairs = [paired_difference(group, reference, t, keys) for t in trainers[1:]]
        out += overview_table(summaries, pairs)
        out += ["", "Per class:", ""]
        out += dice_table(summaries, keys, names)
        if pairs:
            out += ["", f"Paired per-fold difference, {reference} minus each trainer "
                        "(mean ± sd over the n folds both finished [Student-t 95 % interval "
                        "of the mean]; an interval that excludes 0 is a difference at 5 %):",
                    ""]
            out += paired_table(pairs, keys, names)
            out += [f"\nWARNING: validation cases differ between {p.reference} and {p.trainer} in "
                    f"folds {p.mismatched_folds}" for p in pairs if p.mismatched_folds]
        out.append("")
    out += ["Columns: epoch s = mean epoch time (nnU-Net's epoch timestamps) ± sd over folds; "
            "train h = summed epoch time of all folds; wall h = summed wall time of the training "
            "processes (training + validation, runs of this runner only); peak GPU GB = max over "
            "folds of torch.cuda.max_memory_allocated in the training process; peak RSS GB = max "
            "over folds of that process's max resident memory; params M = trainable parameters "
            "of the network (deep-supervision heads included).", ""]
    return "\n".join(out)


def summary_rows(records: list[dict], order: list[str] | None = None) -> list[dict]:
    """One CSV row per (dataset, plans, configuration, trainer)."""
    rows = []
    for (dataset, _, configuration), group in group_records(records).items():
        trainers = trainer_order(group, order)
        keys, names = metrics(group), metric_names(group)
        for trainer in trainers:
            summary = summarise(group, trainer, keys)
            pair = paired_difference(group, trainers[0], trainer, keys)
            own_plans = next(r["plans"] for r in group if r["trainer"] == trainer)
            row = {"dataset": dataset, "plans": own_plans, "configuration": configuration,
                   "trainer": trainer, "reference": trainers[0], "folds": len(summary.folds)}
            for key in keys:
                column = "dice_" + names[key]
                row.update(_estimate_columns(column, summary.dice[key]))
                if trainer != trainers[0]:
                    row.update(_estimate_columns("diff_" + names[key], pair.difference[key],
                                                 interval=True))
            row.update(_estimate_columns("epoch_seconds", summary.epoch_seconds))
            row.update(train_hours=summary.train_hours, wall_hours=summary.wall_hours,
                       peak_gpu_gb=summary.peak_gpu_gb, peak_rss_gb=summary.peak_rss_gb,
                       parameters=summary.parameters)
            rows.append(row)
    return rows


def _estimate_columns(prefix: str, value: Estimate | None, interval: bool = False) -> dict:
    """``_mean``, ``_sd``, ``_n`` (and with ``interval`` the 95 % interval's ``_ci95_low`` and
    ``_ci95_high``) columns of an estimate."""
    bounds = None if value is None else value.interval95
    columns = {f"{prefix}_mean": None if value is None else value.mean,
               f"{prefix}_sd": None if value is None else value.sd,
               f"{prefix}_n": 0 if value is None else value.n}
    if interval:
        columns |= {f"{prefix}_ci95_low": None if bounds is None else bounds[0],
                    f"{prefix}_ci95_high": None if bounds is None else bounds[1]}
    return columns


def fold_rows(records: list[dict]) -> list[dict]:
    """One CSV row per fold record: the raw per-fold values behind the tables."""
    rows = []
    for r in sorted(records, key=lambda r: (r["dataset"], r["plans"], r["configuration"],
                                            r["trainer_rank"], r["trainer"], r["fold"])):
        row = {column: r[column] for column in FOLD_COLUMNS}
        row.update({f"dice_{r['class_names'][k]}": r["dice"][k] for k in class_keys([r])})
        row[f"dice_{OVERALL}"] = r["dice_mean"]
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(column for row in rows for column in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def write_report(records: list[dict], output: Path, order: list[str] | None = None) -> list[Path]:
    """report.md, summary.csv and folds.csv under ``output``; returns their paths."""
    output.mkdir(parents=True, exist_ok=True)
    paths = [output / "report.md", output / "summary.csv", output / "folds.csv"]
    paths[0].write_text(markdown(records, order))
    write_csv(summary_rows(records, order), paths[1])
    write_csv(fold_rows(records), paths[2])
    return paths


def ensemble_markdown(records: list[dict]) -> str:
    """The test-set table: Dice of each trainer's fold ensemble per class and overall, and the
    prediction time per case."""
    keys, names = metrics(records), metric_names(records)
    folds = sorted({" ".join(map(str, r["folds"])) for r in records})
    devices = sorted({r["device"] for r in records})
    header = ["trainer", *[names[k] for k in keys], "s/case"]
    lines = [f"# Test set, {records[0]['dataset']}", "",
             f"Dice of each trainer's ensemble of folds {', '.join(folds)} (nnUNetv2_predict -f, "
             f"nnUNetv2_evaluate_folder) on {len(records[0]['cases'])} test cases; s/case = "
             f"wall time of nnUNetv2_predict on {', '.join(devices)} per case, start-up and "
             "checkpoint loading included.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in records:
        cells = [r["trainer"], *[f"{r['dice_mean'] if k == OVERALL else r['dice'][k]:.4f}"
                                 for k in keys], f"{r['seconds_per_case']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


def ensemble_rows(records: list[dict]) -> list[dict]:
    """The test-set CSV: one row per trainer, Dice of its fold ensemble per class and overall,
    prediction times."""
    names = metric_names(records)
    return [{"dataset": r["dataset"], "plans": r["plans"], "configuration": r["configuration"],
             "trainer": r["trainer"], "folds": " ".join(map(str, r["folds"])),
             "cases": len(r["cases"]),
             **{f"dice_{names[k]}": r["dice"][k] for k in class_keys([r])},
             f"dice_{OVERALL}": r["dice_mean"], "predict_seconds": r["predict_seconds"],
             "seconds_per_case": r["seconds_per_case"], "device": r["device"]}
            for r in records]
