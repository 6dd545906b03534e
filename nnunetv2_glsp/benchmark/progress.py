"""Progress lines: which job runs (i/n), time elapsed and an estimate of the time left."""

from __future__ import annotations

import time


def clock(seconds: float) -> str:
    """``H:MM:SS``."""
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Estimates the time left as the mean duration of the jobs timed so far times the jobs left;
    ``earlier`` holds the wall times of jobs finished by earlier runs, so a resumed run has an
    estimate from its first line."""

    def __init__(self, total: int, to_run: int, earlier: list[float] | None = None) -> None:
        self.total = total
        self.to_run = to_run
        self.started = time.time()
        self.earlier = list(earlier or [])
        self.durations: list[float] = []

    def estimate(self) -> str:
        """Time left for the jobs not yet finished."""
        timed = self.earlier + self.durations
        if not timed:
            return "unknown until a job finishes"
        left = self.to_run - len(self.durations)
        mean = sum(timed) / len(timed)
        return f"~{clock(mean * left)} ({left} job(s) x {clock(mean)})"

    def line(self, index: int, text: str) -> str:
        """``[benchmark] job i/n text | elapsed ... | left ...``."""
        elapsed = clock(time.time() - self.started)
        return (f"[benchmark] job {index}/{self.total} {text} | elapsed {elapsed} "
                f"| left {self.estimate()}")

    def finished(self, seconds: float) -> None:
        """Count one job that ran in this session."""
        self.durations.append(seconds)
