#!/usr/bin/env bash
# Main job: synthetic Decathlon task -> the whole nnU-Net pipeline with GLSPTrainer_demo on CPU ->
# Dice table and overlay PNG (work_dirs/demo/demo_overlay.png). Creates ./.venv on first use.
# Usage: bash scripts/run_demo.sh [--out DIR] [--trainer NAME]   (see scripts/run_demo.py)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup_env.sh
"${GLSP_VENV:-.venv}/bin/python" scripts/run_demo.py "$@"
echo "[demo] wall time including setup: $(( $(date +%s) - start )) s"
