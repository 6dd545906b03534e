"""Per-fold records: one JSON per job under ``<output>/records``, built from nnU-Net's own files
(validation summary.json, checkpoint_final.pth logging) and the launcher's cost measurements."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from nnunetv2_glsp.benchmark.environment import require_nnunet_paths
from nnunetv2_glsp.benchmark.jobs import Job
from nnunetv2_glsp.benchmark.parameters import count_parameters


def fold_folder(job: Job) -> Path:
    """nnU-Net's output folder of this job's fold."""
    results = require_nnunet_paths()["nnUNet_results"]
    return results / job.dataset / job.model_folder / f"fold_{job.fold}"


def attempts_folder(output: Path, job: Job) -> Path:
    """Where the launcher writes one stats file per training attempt of the job."""
    return output / "runs" / job.job_id


def record_path(output: Path, job: Job) -> Path:
    return output / "records" / f"{job.job_id}.json"


def class_names(dataset: str) -> dict[str, str]:
    """summary.json key ("1", or "(1, 2)" for a region) -> label name from dataset.json."""
    labels = json.loads(
        (require_nnunet_paths()["nnUNet_preprocessed"] / dataset / "dataset.json").read_text()
    )["labels"]
    keys = {name: str(value) if isinstance(value, int) else str(tuple(value))
            for name, value in labels.items()}
    return {key: name for name, key in keys.items() if key not in ("0", "(0,)")}


def epoch_timing(checkpoint: Path) -> dict:
    """Epoch count and durations from the logging nnU-Net stores in its checkpoint."""
    import torch

    logging = torch.load(checkpoint, map_location="cpu", weights_only=False)["logging"]
    durations = [end - start for start, end in zip(logging["epoch_start_timestamps"],
                                                   logging["epoch_end_timestamps"], strict=False)]
    return {
        "epochs": len(durations),
        "epoch_seconds_mean": sum(durations) / len(durations) if durations else None,
        "train_seconds": sum(durations),
    }


def cost_measurements(output: Path, job: Job) -> dict:
    """Launcher measurements summed (wall time) or maximised (memory) over the job's attempts;
    None where the fold was not trained by this runner."""
    files = sorted(attempts_folder(output, job).glob("*.json"))
    attempts = [json.loads(p.read_text()) for p in files]

    def peak(key: str) -> int | None:
        values = [a[key] for a in attempts if a.get(key) is not None]
        return max(values) if values else None

    devices = sorted({a["device_name"] for a in attempts if "device_name" in a})
    return {
        "attempts": len(attempts),
        "wall_seconds": sum(a["wall_seconds"] for a in attempts) if attempts else None,
        "peak_gpu_allocated_bytes": peak("peak_gpu_allocated_bytes"),
        "peak_gpu_reserved_bytes": peak("peak_gpu_reserved_bytes"),
        "peak_rss_bytes": peak("peak_rss_bytes"),
        "device_name": ", ".join(devices) or None,
        "hosts": sorted({a["host"] for a in attempts}),
    }


def collect_record(job: Job, output: Path, trainer_rank: int) -> dict:
    """The record of a finished fold; its trainer is the job's label (``TRAINER@PLANS`` unless
    the plans are nnU-Net's default)."""
    folder = fold_folder(job)
    summary_file = folder / "validation" / "summary.json"
    summary = json.loads(summary_file.read_text())
    names = class_names(job.dataset)
    return {
        "job_id": job.job_id,
        "dataset": job.dataset,
        "trainer": job.label,
        "trainer_rank": trainer_rank,
        "configuration": job.configuration,
        "plans": job.plans,
        "fold": job.fold,
        "dice": {key: metrics["Dice"] for key, metrics in summary["mean"].items()},
        "dice_mean": summary["foreground_mean"]["Dice"],
        "class_names": {key: names.get(key, key) for key in summary["mean"]},
        "validation_cases": sorted(Path(case["reference_file"]).name
                                   for case in summary["metric_per_case"]),
        "summary_file": str(summary_file),
        "parameters": count_parameters(job.dataset, job.trainer, job.plans, job.configuration),
        **epoch_timing(folder / "checkpoint_final.pth"),
        **cost_measurements(output, job),
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_record(record: dict, path: Path) -> None:
    """Atomic write, so a concurrent ``report`` never reads half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".json.{os.getpid()}.partial")
    partial.write_text(json.dumps(record, indent=2))
    os.replace(partial, path)


def load_records(output: Path) -> list[dict]:
    """Every record under ``<output>/records`` (written by any shard)."""
    return [json.loads(p.read_text()) for p in sorted((output / "records").glob("*.json"))]


def recorded_wall_seconds(output: Path, jobs: list[Job]) -> list[float]:
    """Wall times of those jobs that earlier runs finished and timed (a resume's first estimate)."""
    paths = [record_path(output, job) for job in jobs]
    seconds = [json.loads(p.read_text()).get("wall_seconds") for p in paths if p.is_file()]
    return [s for s in seconds if s]
