#!/usr/bin/env bash
# Create (or reuse) ./.venv with torch, nnU-Net and this package installed, the extension built.
# Usage: bash scripts/setup_env.sh   (idempotent; set GLSP_VENV to use another folder)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GLSP_VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
echo "[setup] installing torch, nnU-Net and build tools (a few minutes on a fresh machine)"
"${PIP[@]}" install "nnunetv2>=2.8,<2.9" ninja setuptools wheel pytest ruff matplotlib 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c "import torch, nnunetv2" || { echo "[setup] torch/nnunetv2 failed to install"; exit 1; }
if [ -z "${CUDA_HOME:-}" ] && [ -d /usr/local/cuda ]; then export CUDA_HOME=/usr/local/cuda; fi
echo "[setup] building and installing nnunetv2-glsp (compiles the WKV extension)"
"${PIP[@]}" install --no-build-isolation --no-deps --force-reinstall . 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c "import nnunetv2_glsp" || { echo "[setup] nnunetv2-glsp failed to install"; exit 1; }
