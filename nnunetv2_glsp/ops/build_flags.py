"""Compiler flags of the WKV extension, shared by setup.py (ahead-of-time build) and the JIT
loader. Imports nothing, so setup.py can read it without importing torch or the package.

OpenMP: ATen's ``at::parallel_for`` is an ``#pragma omp parallel`` in a header, so the kernels
run on one thread unless the extension itself is compiled and linked with OpenMP (torch ships
the runtime, libgomp.so.1, which the extension then shares).
"""

import sys

_OPENMP = ["-fopenmp"] if sys.platform.startswith("linux") else []

# torch picks the C++ standard its headers need. -Wno-psabi: GCC notes that passing the 32- and
# 64-byte lane vectors (csrc/wkv_lanes.h) by value changes the ABI without AVX2 / AVX-512; they
# never cross a call boundary (every lane function is force-inlined).
CXX_FLAGS = ["-O3", "-Wno-psabi", *_OPENMP]
NVCC_FLAGS = ["-O3", "--threads", "0"]  # compile the target architectures in parallel
LINK_FLAGS = [*_OPENMP]
