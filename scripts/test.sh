#!/usr/bin/env bash
# The test command: set up ./.venv, lint, then run the whole suite (CPU; GPU tests skip with a
# reason) and list its 15 slowest tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
VENV="${GLSP_VENV:-.venv}"
"$VENV/bin/ruff" check nnunetv2_glsp scripts tests setup.py
# run from tests/ so the installed package (with its compiled extension) is the one imported
cd tests && exec "../$VENV/bin/python" -m pytest -ra --durations=15 "$@" .
