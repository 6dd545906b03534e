#!/usr/bin/env bash
# One-shot check of the WKV CUDA kernel on a GPU machine (about 6 minutes, no internet needed):
# build the extension in place, run the WKV tests, a compute-sanitizer memcheck of small cases and
# the CUDA benchmark. Every step runs even if an earlier one fails; each step's exit status goes to
# $OUT/status.txt. Needs python3 with torch (CUDA), ninja, pytest, matplotlib; not nnU-Net.
#
#   OUT=/path/to/out bash scripts/gpu_check.sh        (from anywhere; default OUT=./gpu_check_out)
#
# Writes to $OUT: status.txt info.log build.log tests.log sanitizer.log bench.log
#                 bench_wkv.json bench_wkv.png
set -x
cd "$(dirname "$0")/.." || exit 1
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 MAX_JOBS="${MAX_JOBS:-16}" GLSP_BUILD_CUDA=1
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the in-place build, not an installed copy
export GLSP_WKV_BACKEND=extension                    # a missing kernel is an error, not a fallback
# Link with the C++ driver: with Python's default "x86_64-linux-gnu-gcc -shared" the extension came
# out with its own copy of __cxa_throw and every TORCH_CHECK error segfaulted (torch 2.11, H200 box).
export LDSHARED="${CXX:-g++} -shared"
if [ -z "${CUDA_HOME:-}" ] && [ -x /usr/local/cuda/bin/nvcc ]; then export CUDA_HOME=/usr/local/cuda; fi
: > "$OUT/status.txt"
step() {  # step NAME LOG TIMEOUT_S CMD...: run, tee the log, record the status
  local name=$1 log=$2 limit=$3
  shift 3
  local start=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$log"
  local rc=${PIPESTATUS[0]}
  echo "$name: rc=$rc ($((SECONDS - start)) s)" | tee -a "$OUT/status.txt"
}

step info info.log 60 bash -c "nvidia-smi; command -v nvcc; nvcc --version; $PY -c 'import torch; \
print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())'"
step build build.log 200 "$PY" setup.py build_ext --inplace
step backend info.log.backend 60 "$PY" -c "import json; from nnunetv2_glsp.ops import backend_info; \
print(json.dumps(backend_info(), indent=1))"
cat "$OUT/info.log.backend" >> "$OUT/info.log" && rm -f "$OUT/info.log.backend"
step tests tests.log 150 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_wkv_cuda.py \
  tests/test_wkv_api.py tests/test_wkv_cpu.py
if command -v compute-sanitizer > /dev/null; then
  step sanitizer sanitizer.log 90 compute-sanitizer --tool memcheck --error-exitcode 9 "$PY" -c "
import torch
from nnunetv2_glsp.ops import wkv
for T, B, C in ((27, 1, 3), (1000, 2, 80)):
    for causal in (False, True):
        for dtype in (torch.float32, torch.float16):
            k, v = (torch.randn(B, T, C, device='cuda', dtype=dtype, requires_grad=True) for _ in range(2))
            w, u = (torch.randn(C, device='cuda', requires_grad=True) / T for _ in range(2))
            wkv(w, u, k, v, causal).float().square().sum().backward()
torch.cuda.synchronize()
print('memcheck cases done')"
else
  echo "compute-sanitizer not on PATH: skipped" | tee "$OUT/sanitizer.log"
  echo "sanitizer: skipped (not on PATH)" >> "$OUT/status.txt"
fi
step bench bench.log 120 "$PY" scripts/bench_wkv.py --device cuda --out "$OUT" --min-time 0.1 \
  --fallback-max-t 8192
cat "$OUT/status.txt"
