"""scripts/dev/fit_exp_poly.py: the CPU kernels' exp polynomial (csrc/wkv_lanes.h) is the script's
degree-5 fit, and exp computed with it in float arithmetic keeps the error the header states."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "dev" / "fit_exp_poly.py"


def load_script():
    spec = importlib.util.spec_from_file_location("fit_exp_poly", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_header_polynomial_is_the_degree_5_fit():
    script = load_script()
    coefs, fit_error = script.fit(5)
    assert fit_error < 1e-7
    np.testing.assert_allclose(script.header_coefficients(), coefs, rtol=1e-6)


def test_float_exp_keeps_the_stated_error():
    script = load_script()
    assert script.float_error(script.header_coefficients()) < 1.7e-7
    # the measurement can fail: one degree less is 18x off
    assert script.float_error(script.fit(4)[0]) > 2e-6


def test_script_prints_the_table():
    run = subprocess.run([sys.executable, str(SCRIPT), "--degrees", "5"], capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[1].startswith("degree 5") and lines[2].startswith("header"), run.stdout
