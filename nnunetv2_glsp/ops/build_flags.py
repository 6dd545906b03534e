"""Compiler flags of the WKV extension, shared by setup.py (ahead-of-time build) and the JIT
loader. Imports nothing, so setup.py can read it without importing torch or the package.

OpenMP: ATen's ``at::parallel_for`` is an ``#pragma omp parallel`` in a header, so the kernels
run on one thread unless the extension itself is compiled and linked with OpenMP (torch ships
the runtime, libgomp.so.1, which the extension then shares).
"""

import sys

_OPENMP = ["-fopenmp"] if sys.platform.startswith("linux") else []

CXX_FLAGS = ["-O3", *_OPENMP]  # torch picks the C++ standard its headers need
NVCC_FLAGS = ["-O3", "--threads", "0"]  # compile the target architectures in parallel
LINK_FLAGS = [*_OPENMP]
