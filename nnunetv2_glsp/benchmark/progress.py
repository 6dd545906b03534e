"""Progress lines: which job runs (i/n), time elapsed and an estimate of the time left."""

from __future__ import annotations

import time


def clock(seconds: float) -> str:
    """``H:MM:SS``."""
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Estimates the time left as the mean duration of the jobs run so far times the jobs left."""

    def __init__(self, total: int, to_run: int) -> None:
        self.total = total
        self.to_run = to_run
        self.started = time.time()
        self.durations: list[float] = []

    def estimate(self) -> str:
        """Time left for the jobs not yet finished, from the jobs run in this session."""
        if not self.durations:
            return "unknown until a job finishes"
        left = self.to_run - len(self.durations)
        mean = sum(self.durations) / len(self.durations)
        return f"~{clock(mean * left)} ({left} job(s) x {clock(mean)})"

    def line(self, index: int, text: str) -> str:
        """``[benchmark] job i/n text | elapsed ... | left ...``."""
        elapsed = clock(time.time() - self.started)
        return (f"[benchmark] job {index}/{self.total} {text} | elapsed {elapsed} "
                f"| left {self.estimate()}")

    def finished(self, seconds: float) -> None:
        """Count one job that ran (skipped jobs do not enter the estimate)."""
        self.durations.append(seconds)
