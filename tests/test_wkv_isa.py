"""The CPU kernels on each instruction set they are compiled for: AVX-512, AVX2 + FMA, baseline.

The best one the CPU has runs unless GLSP_CPU_ISA names another. The choice is made once per
process, so the kernel tests of test_wkv_cpu.py run again in a subprocess for every instruction
set other than this process's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from wkv_helpers import require_extension

from nnunetv2_glsp.ops import backend_info
from nnunetv2_glsp.ops.wkv import CPU_ISAS

REFUSED = "is not an instruction set this CPU runs"
# the tests against the float64 reference, of gradients, of saved carries, of extreme inputs
KERNEL_TESTS = ("reference or chunk_size or saved_carries or gradcheck or half_precision"
                " or large_keys")


def extension_isa() -> str:
    """This process's instruction set (the kernel tests require the extension)."""
    require_extension()
    return backend_info()["cpu_isa"]


def python(code: str, isa: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GLSP_CPU_ISA": isa}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)


def best_from_cpuinfo() -> str | None:
    """The instruction set the kernels should pick by default, from the CPU flags Linux lists
    (None where there is no such list, or the machine is not x86)."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return None
    if "sse2" not in flags:
        return None
    if {"avx512f", "avx512vl", "avx512bw", "avx512dq"} <= set(flags):
        return "avx512"
    return "avx2" if {"avx2", "fma"} <= set(flags) else "baseline"


def test_the_default_is_the_best_the_cpu_has_and_the_variable_overrides_it():
    current = extension_isa()
    requested = os.environ.get("GLSP_CPU_ISA")
    expected = requested or best_from_cpuinfo()
    if expected is None:
        pytest.skip("no x86 CPU flags in /proc/cpuinfo to compare with")
    assert current == expected == torch.ops.glsp.cpu_isa()


def test_an_instruction_set_the_cpu_lacks_is_refused_with_the_choices():
    require_extension()
    ones = "torch.ones(2), torch.ones(2), torch.ones(1, 3, 2), torch.ones(1, 3, 2)"
    run = python(f"import torch, nnunetv2_glsp.ops; torch.ops.glsp.wkv({ones})", "sse9")
    assert run.returncode != 0
    assert f"GLSP_CPU_ISA=sse9 {REFUSED}: use one of baseline" in run.stderr, run.stderr[-2000:]


@pytest.mark.parametrize("isa", CPU_ISAS)
def test_kernels_match_the_reference_on_every_instruction_set(isa):
    if extension_isa() == isa:
        pytest.skip(f"{isa} is this process's instruction set: test_wkv_cpu.py covers it")
    probe = python("import torch, nnunetv2_glsp.ops; print(torch.ops.glsp.cpu_isa())", isa)
    if REFUSED in probe.stderr:
        pytest.skip(f"this CPU cannot run {isa}")
    assert probe.returncode == 0 and probe.stdout.split()[-1] == isa, probe.stderr[-2000:]
    here = Path(__file__).parent
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", KERNEL_TESTS,
         str(here / "test_wkv_cpu.py")],
        capture_output=True, text=True, env={**os.environ, "GLSP_CPU_ISA": isa}, cwd=here,
        timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
