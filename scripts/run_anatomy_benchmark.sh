#!/usr/bin/env bash
# The real-anatomy five-fold CPU benchmark of docs/results/Task992_DeepGrey: the task built from
# Debian's mricron-data, `nnunetv2_glsp benchmark run` of the four *_cpu trainers, then
# `nnunetv2_glsp benchmark test` (each trainer's five-fold ensemble on the test cases).
# About 5 hours on 2 CPU cores (4.75 h of training in our run); rerun the same command to
# resume. Creates ./.venv on first use.
# Usage: bash scripts/run_anatomy_benchmark.sh [WORK_DIR]   (default: work_dirs/anatomy)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
WORK="$(realpath -m "${1:-work_dirs/anatomy}")"
export PATH="$(realpath "${GLSP_VENV:-.venv}")/bin:$PATH"
export nnUNet_raw="$WORK/nnUNet_raw" nnUNet_preprocessed="$WORK/nnUNet_preprocessed"
export nnUNet_results="$WORK/nnUNet_results"
mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
TASK="$WORK/msd/Task992_DeepGrey"
TRAINERS=(GLSPTrainer_cpu MedNeXtTrainer_cpu GLSPConvBranchTrainer_cpu nnUNetTrainer_cpu)
[ -f "$TASK/dataset.json" ] || python scripts/make_anatomy_task.py "$WORK/msd" --preview
nnunetv2_glsp benchmark run "$TASK" -tr "${TRAINERS[@]}" -device cpu -np 2 \
    --env nnUNet_n_proc_DA=0 -o "$WORK/benchmark"
nnunetv2_glsp benchmark test "$TASK" -tr "${TRAINERS[@]}" -device cpu -o "$WORK/benchmark"
echo "[anatomy] results in $WORK/benchmark"
