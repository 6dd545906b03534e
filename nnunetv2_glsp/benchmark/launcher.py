"""Run ``nnUNetv2_train`` in this process and record what it cost.

    python -m nnunetv2_glsp.benchmark.launcher STATS.json -- <nnUNetv2_train arguments>

Calls nnU-Net's own entry point (the function behind the ``nnUNetv2_train`` console script), so
the training is the stock one; because it runs in this process, ``torch.cuda`` peak-memory
counters cover the whole training and validation. On exit (also on an error or SIGTERM, which
schedulers send before killing a job) it writes STATS.json: wall time, peak CUDA memory
allocated/reserved by PyTorch, max RSS of this process, device name and exit status.
(Children's ru_maxrss is not recorded: on Linux a forked child inherits its parent's high-water
mark, so it would not measure the data-augmentation workers.)
"""

from __future__ import annotations

import json
import resource
import signal
import socket
import sys
import time
from pathlib import Path


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def cuda_stats() -> dict:
    """Peak memory counters of this process's CUDA device, or nothing if CUDA was not used."""
    import torch

    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return {}
    return {
        "peak_gpu_allocated_bytes": torch.cuda.max_memory_allocated(),
        "peak_gpu_reserved_bytes": torch.cuda.max_memory_reserved(),
        "device_name": torch.cuda.get_device_name(),
    }


def max_rss_bytes() -> int:
    """This process's ru_maxrss in bytes (Linux reports KiB, macOS bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (
        1 if sys.platform == "darwin" else 1024)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    stats_file, train_args = Path(argv[0]), argv[2:]
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    start = time.time()
    status = 1
    try:
        from nnunetv2.run.run_training import run_training_entry

        sys.argv = ["nnUNetv2_train", *train_args]
        run_training_entry()
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
        raise
    finally:
        stats = {
            "command": ["nnUNetv2_train", *train_args],
            "exit_status": status,
            "start_time": start,
            "wall_seconds": time.time() - start,
            "host": socket.gethostname(),
            "peak_rss_bytes": max_rss_bytes(),
            **cuda_stats(),
        }
        stats_file.parent.mkdir(parents=True, exist_ok=True)
        stats_file.write_text(json.dumps(stats, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
