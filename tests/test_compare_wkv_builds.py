"""scripts/dev/compare_wkv_builds.py end to end on the CPU: two builds (the installed one twice), a
worker process per build and round, the table, JSON and PNG; a bad --build names the problem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from wkv_helpers import require_extension

import nnunetv2_glsp

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "dev" / "compare_wkv_builds.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=600, check=False)


def test_compare_builds_writes_table_json_and_png(tmp_path):
    require_extension()
    tree = str(Path(nnunetv2_glsp.__file__).resolve().parents[1])
    out = tmp_path / "cmp"
    done = run("--build", f"a={tree}", "--build", f"b={tree}", "--sizes", "3:64,5:100",
               "--reps", "3", "--rounds", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "compare_wkv_builds.json").read_text())
    rows = result["rows"]
    # builds alternate within a round, and the order rotates between rounds
    assert [(r["label"], r["round"]) for r in rows[::2]] == [("a", 0), ("b", 0), ("b", 1),
                                                           ("a", 1)]
    assert {(r["C"], r["T"]) for r in rows} == {(3, 64), (5, 100)}
    for row in rows:
        for key in ("fwd_idle_us", "fwd_stream_us", "fwd_bwd_idle_us", "copy12_idle_us"):
            assert 0 < row[key] < 1e7, (key, row)
    lines = [line.split() for line in done.stdout.splitlines() if line.lstrip()[:2] in ("a ",
                                                                                         "b ")]
    assert len(lines) == 4 and all(line[-2] != "nan" for line in lines), done.stdout
    assert [line[-2:] for line in lines if line[0] == "a"] == [["1.00", "1.00"]] * 2
    assert (out / "compare_wkv_builds.png").stat().st_size > 10_000
    rerender = run("--from-json", str(out / "compare_wkv_builds.json"), "--out",
                   str(tmp_path / "again"))
    assert rerender.returncode == 0 and (tmp_path / "again" / "compare_wkv_builds.png").exists()


def test_bad_build_spec_is_named(tmp_path):
    done = run("--build", f"x={tmp_path}", "--out", str(tmp_path / "o"))
    assert done.returncode != 0 and "has no nnunetv2_glsp package" in done.stderr
    done = run("--build", "no-equals-sign", "--out", str(tmp_path / "o"))
    assert done.returncode != 0 and "expected LABEL=DIR" in done.stderr
