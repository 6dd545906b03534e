"""scripts/bench_wkv.py end to end in a subprocess on tiny sizes: the table, JSON and PNG it
promises, with every time and ratio measured (positive and finite), and the CPU targets."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from wkv_helpers import require_extension

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_wkv.py"


def test_bench_wkv_writes_table_json_and_png(tmp_path):
    require_extension()
    out = tmp_path / "bench"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--out", str(out), "--channels", "3",
         "--t-min", "64", "--t-max", "128", "--fallback-max-t", "64", "--min-time", "0.01",
         "--isa-rounds", "1", "--scaling-lengths", "16"],
        capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    result = json.loads((out / "bench_wkv.json").read_text())
    assert [(r["C"], r["T"]) for r in result["rows"]] == [(3, 64), (3, 128)]
    for row in result["rows"]:
        for key in ("kernel_fwd", "kernel_fwd_bwd", "copy_fwd", "copy_fwd_bwd", "fwd_x_copy",
                    "fwd_bwd_x_copy"):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row)
        assert ("fallback_fwd_bwd" in row) == (row["T"] <= 64)
    scaling = result["thread_scaling"]
    for key in ("fwd_bwd_1_thread", "fwd_bwd_all_threads", "speedup", "cpu_time_1_thread_x_copy"):
        assert math.isfinite(scaling[key]) and scaling[key] > 0, (key, scaling)
    carries = result["saved_carries"]
    for key in ("fwd_bwd_saving", "fwd_bwd_recomputing", "fwd_bwd_ratio", "fwd_ratio"):
        assert math.isfinite(carries[key]) and carries[key] > 0, (key, carries)
    assert "recomputing them in the backward" in run.stdout
    (scaling,) = result["length_scaling"]
    assert scaling["T"] == 16 and scaling["kernel_ratio"] > 0 and scaling["copy_ratio"] > 0
    assert "t(8T)/t(T) at T=16, C=64, alternating calls" in run.stdout
    targets = {t["name"]: t for t in result["targets"]}
    threads = result["thread_scaling"]["threads"]
    assert set(targets) == {"t(8T)/t(T) at T=16", f"{threads} threads / 1 thread speed-up",
                            "kernel / fallback speed-up at T=64"}, targets
    ratio = targets["t(8T)/t(T) at T=16"]
    assert ratio["value"] == scaling["kernel_ratio"] and ratio["met"] == (ratio["value"] <= 9)
    assert "CPU targets:" in run.stdout
    isas = [r["isa"] for r in result["instruction_sets"]]
    assert result["backend"]["cpu_isa"] in isas and isas[-1] == "baseline", isas
    for row in result["instruction_sets"]:
        for key in ("kernel_fwd_bwd", "fwd_bwd_x_copy", "bf16_fwd_bwd", "bf16_x_fp32",
                    "fp16_fwd_bwd", "fp16_x_fp32"):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row)
    assert (out / "bench_wkv.png").stat().st_size > 10_000
    table_rows = [line for line in run.stdout.splitlines() if line.lstrip().startswith("3 ")]
    assert len(table_rows) == 2 and "(T capped)" in table_rows[1], run.stdout
