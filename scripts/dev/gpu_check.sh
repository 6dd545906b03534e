#!/usr/bin/env bash
# One-shot check of the WKV CUDA kernel on a GPU machine (about 6 minutes, no internet needed):
# build the extension in place, run the CUDA tests (WKV and network) with the default CUDA backward
# (it rescans k, v) and again with saved carries (GLSP_CUDA_SAVED_CARRIES=1, opt-in until this
# passes on a GPU), the GLSPTrainer GPU tests (AMP, torch.compile), a bad-input check of the raw
# op, a compute-sanitizer memcheck of small cases, the CUDA benchmark and a per-kernel profile.
# Every step runs even if an earlier one fails; each step's exit status goes to $OUT/status.txt.
# Needs python3 with torch (CUDA), ninja, pytest, matplotlib; the trainer tests also need nnU-Net
# 2.8 (where it is missing, put its wheels and their missing dependencies in .whl/: they are
# installed into /tmp/site first).
#
#   OUT=/path/to/out bash scripts/dev/gpu_check.sh    (from anywhere; default OUT=./gpu_check_out)
#
# Writes to $OUT: status.txt info.log build.log tests.log tests_saved_carries.log trainers.log
#                 badinput.log sanitizer.log bench.log profile.log bench_wkv.json bench_wkv.png
set -x
cd "$(dirname "$0")/../.." || exit 1
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 MAX_JOBS="${MAX_JOBS:-16}" GLSP_BUILD_CUDA=1
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the in-place build, not an installed copy
export GLSP_WKV_BACKEND=extension                    # a missing kernel is an error, not a fallback
# Build with the system compiler when there is one. On the H200 box the only g++ is a wrapper,
# /opt/gcc/bin/g++ (GCC 13.3), and an extension built with it segfaults on every TORCH_CHECK error
# thrown from the raw op (torch 2.11), linked by Python's "x86_64-linux-gnu-gcc -shared" or by g++
# alike; the same sources built with a plain system GCC raise RuntimeError as they should.
if [ -z "${CXX:-}" ] && [ -x /usr/bin/g++ ]; then export CXX=/usr/bin/g++ CC=/usr/bin/gcc; fi
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

step info info.log 60 bash -c "nvidia-smi; command -v nvcc; nvcc --version; ${CXX:-g++} --version; \
$PY -c 'import torch; \
print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())'"
step build build.log 200 "$PY" setup.py build_ext --inplace
step backend info.log.backend 60 "$PY" -c "import json; from nnunetv2_glsp.ops import backend_info; \
print(json.dumps(backend_info(), indent=1))"
cat "$OUT/info.log.backend" >> "$OUT/info.log" && rm -f "$OUT/info.log.backend"
if ls .whl/*.whl > /dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
step tests tests.log 240 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_wkv_cuda.py \
  tests/test_wkv_api.py ${GLSP_GPU_EXTRA_TESTS-tests/test_network_cuda.py}
step tests_saved_carries tests_saved_carries.log 240 env GLSP_CUDA_SAVED_CARRIES=1 "$PY" -m pytest \
  -q -rs -p no:cacheprovider tests/test_wkv_cuda.py ${GLSP_GPU_EXTRA_TESTS-tests/test_network_cuda.py}
step trainers trainers.log 300 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_trainers_gpu.py
# a TORCH_CHECK thrown from the raw op must reach Python as RuntimeError (it once segfaulted)
step badinput badinput.log 60 "$PY" -c "
import torch, nnunetv2_glsp.ops
k = torch.randn(2, 8, 4, device='cuda')
try:
    torch.ops.glsp.wkv(torch.zeros(3, device='cuda'), torch.zeros(4, device='cuda'), k, k)
except RuntimeError as e:
    print('RuntimeError as expected:', str(e).splitlines()[0])
else:
    raise SystemExit('no error for a w of the wrong shape')"
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
step bench bench.log 120 "$PY" scripts/bench_wkv.py --device cuda --out "$OUT" --min-time 0.05 \
  --fallback-max-t 8192
step profile profile.log 60 "$PY" -c "
import torch, nnunetv2_glsp.ops
from torch.profiler import profile, ProfilerActivity
B, T, C = 2, 32768, 64
k, v, gy = (torch.randn(B, T, C, device='cuda') for _ in range(3))
w, u = torch.rand(C, device='cuda') / T, -torch.rand(C, device='cuda') / T
def inference():
    torch.ops.glsp.wkv(w, u, k, v)
def training():  # as autograd runs it by default on CUDA: the backward rescans k, v
    torch.ops.glsp.wkv(w, u, k, v)
    torch.ops.glsp.wkv_backward(gy, w, u, k, v, False, 0)
def training_saved():  # GLSP_CUDA_SAVED_CARRIES=1: the forward keeps the carries for the backward
    y, carries = torch.ops.glsp.wkv_with_carries(w, u, k, v)
    torch.ops.glsp.wkv_backward(gy, w, u, k, v, False, 0, carries)
for name, step in (('inference forward', inference), ('training forward+backward', training),
                   ('training forward+backward, saved carries', training_saved)):
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(10):
            step()
        torch.cuda.synchronize()
    print(name, '(10 calls)')
    print(prof.key_averages().table(sort_by='cuda_time_total', row_limit=20,
                                    max_name_column_width=60))"
cat "$OUT/status.txt"
