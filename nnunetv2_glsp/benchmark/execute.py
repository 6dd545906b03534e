"""Execution of jobs: resume state of a fold, the nnUNetv2_train command, and the run loop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from nnunetv2_glsp.benchmark.jobs import Job
from nnunetv2_glsp.benchmark.progress import Progress, clock
from nnunetv2_glsp.benchmark.records import (
    attempts_folder,
    collect_record,
    fold_folder,
    record_path,
    recorded_wall_seconds,
    write_record,
)

DONE, VALIDATE, RESUME, NEW = "done", "validate", "resume", "new"


def fold_state(folder: Path) -> str:
    """done: final checkpoint and validation summary exist (never rerun); validate: training
    finished, validation missing (``--val``); resume: interrupted (``--c``); new: from scratch."""
    if (folder / "checkpoint_final.pth").is_file():
        return DONE if (folder / "validation" / "summary.json").is_file() else VALIDATE
    return RESUME if (folder / "checkpoint_latest.pth").is_file() else NEW


def train_arguments(job: Job, state: str, device: str) -> list[str]:
    """``nnUNetv2_train`` arguments for a fold in the given state."""
    flags = {NEW: [], RESUME: ["--c"], VALIDATE: ["--val"]}[state]
    return [job.dataset, job.configuration, str(job.fold), "-tr", job.trainer, "-p", job.plans,
            "-device", device, "--npz", *flags]


def tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def train(job: Job, state: str, device: str, output: Path, env: dict[str, str]) -> bool:
    """One training attempt through the measuring launcher; output appended to the job's log."""
    attempts = attempts_folder(output, job)
    attempts.mkdir(parents=True, exist_ok=True)
    stats = attempts / f"attempt_{len(list(attempts.glob('*.json'))) + 1:03d}.json"
    arguments = train_arguments(job, state, device)
    log = output / "logs" / f"{job.job_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as handle:
        handle.write(f"\n$ nnUNetv2_train {' '.join(arguments)}\n")
        handle.flush()
        command = [sys.executable, "-m", "nnunetv2_glsp.benchmark.launcher", str(stats), "--",
                   *arguments]
        code = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT,
                              env={**os.environ, **env}).returncode
    if code != 0:
        print(f"[benchmark] FAILED (exit {code}): {job.job_id}; log {log}, last lines:\n"
              f"{tail(log)}", flush=True)
    return code == 0


def run_jobs(jobs: list[Job], trainer_rank: dict[str, int], device: str, output: Path,
             env: dict[str, str]) -> list[Job]:
    """Run every job not yet done, write a record for each finished one; returns failed jobs.
    ``trainer_rank`` maps each job's label to its place in the run's trainer list."""
    states = {job: fold_state(fold_folder(job)) for job in jobs}
    progress = Progress(len(jobs), sum(state != DONE for state in states.values()),
                        recorded_wall_seconds(output, jobs))
    failed = []
    for index, job in enumerate(jobs, start=1):
        state = states[job]
        if state != DONE:
            print(progress.line(index, f"{job.job_id}: {state}"), flush=True)
            started = time.time()
            ok = train(job, state, device, output, env)
            progress.finished(time.time() - started)
            if not ok or fold_state(fold_folder(job)) != DONE:
                failed.append(job)
                continue
            print(f"[benchmark] job {index}/{len(jobs)} finished in {clock(time.time() - started)}",
                  flush=True)
        elif record_path(output, job).is_file():
            continue
        else:
            print(f"[benchmark] job {index}/{len(jobs)} {job.job_id}: already done, recording",
                  flush=True)
        record = collect_record(job, output, trainer_rank[job.label])
        write_record(record, record_path(output, job))
    return failed
