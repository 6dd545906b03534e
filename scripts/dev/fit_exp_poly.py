"""Fit the polynomial of the CPU kernels' exp (csrc/wkv_lanes.h, exp_poly) and check it.

The kernels compute exp(x), x in [-87, 0], as 2^n e^r with n = round(x / ln 2), |r| <= ln(2)/2,
and e^r ~ 1 + c_1 r + ... + c_d r^d. This fits c_1..c_d to the smallest largest relative
error on that interval (a linear program over a grid), then measures the error of exp as the
kernels compute it in float arithmetic (two-constant reduction, Horner's rule with fused
multiply-adds) on 2M points of [-87, 0], for each degree and for the coefficients in the header.

    python scripts/dev/fit_exp_poly.py [--degrees 5 6]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

HEADER = Path(__file__).resolve().parents[2] / "csrc" / "wkv_lanes.h"
LN2_HI, LN2_LO = 0.693145751953125, 1.42860682030941723e-6  # the header's split of ln 2
ROUND = 12582912.0  # 1.5 * 2^23: x + ROUND - ROUND rounds x to an integer in float


def fit(degree: int, points: int = 4001) -> tuple[list[float], float]:
    """Coefficients (highest first, rounded to float, ending in the fixed 1) and the fit's
    relative error."""
    from scipy.optimize import linprog

    half = np.log(2) / 2
    r = np.linspace(-half, half, points)
    # (1 + sum c_i r^i) e^-r - 1 = A c - b, within +-t; minimise t. In units of 1e-9, since the
    # solver resolves constraints to ~1e-7 only.
    scale = 1e9
    A = scale * np.stack([r**i * np.exp(-r) for i in range(1, degree + 1)], axis=1)
    b = scale * (1 - np.exp(-r))
    ones = np.ones((points, 1))
    result = linprog(np.r_[np.zeros(degree), 1.0],
                     A_ub=np.block([[A, -ones], [-A, -ones]]), b_ub=np.r_[b, -b],
                     bounds=[(None, None)] * degree + [(0, None)], method="highs")
    if not result.success:
        raise RuntimeError(f"the degree-{degree} fit failed: {result.message}")
    coefs = [float(np.float32(c)) for c in result.x[degree - 1::-1]] + [1.0]
    return coefs, float(result.x[-1]) / scale


def fma32(a: np.ndarray, b: np.ndarray | float, c: np.ndarray | float) -> np.ndarray:
    """a * b + c rounded once to float32 (the float32 product is exact in float64)."""
    return (np.float64(a) * np.float64(b) + np.float64(c)).astype(np.float32)


def float_exp(x: np.ndarray, coefs: list[float]) -> np.ndarray:
    """exp(x) as the kernels compute it, in float32 (x in [-87, 0])."""
    x = x.astype(np.float32)
    n = fma32(x, np.float32(1 / np.log(2)), np.float32(ROUND)) - np.float32(ROUND)
    r = fma32(-n, np.float32(LN2_HI), x)
    r = fma32(-n, np.float32(LN2_LO), r)
    p = np.full_like(x, np.float32(coefs[0]))
    for c in coefs[1:]:
        p = fma32(p, r, np.float32(c))
    return np.ldexp(p.astype(np.float64), n.astype(np.int64))


def float_error(coefs: list[float], points: int = 2_000_001) -> float:
    """Largest relative error of float_exp on [-87, 0]."""
    x = np.linspace(-87.0, 0.0, points).astype(np.float32)
    exact = np.exp(x.astype(np.float64))
    return float(np.max(np.abs(float_exp(x, coefs) / exact - 1)))


def header_coefficients(path: Path = HEADER) -> list[float]:
    """The polynomial's coefficients in exp_poly, highest first."""
    body = path.read_text().split("GLSP_HD V exp_poly(V x) {", 1)[1].split("}", 1)[0]
    first = re.search(r"V p = splat<V>\(([-0-9.e]+)f\);", body)
    rest = re.findall(r"p = p \* r \+ ([-0-9.e]+)f;", body)
    if first is None or not rest:
        raise ValueError(f"no polynomial found in exp_poly of {path}")
    return [float(first.group(1))] + [float(c) for c in rest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--degrees", type=int, nargs="+", default=[5, 6])
    args = parser.parse_args()
    print(f"{'polynomial':<12} {'fit error':>10} {'float error':>12}  coefficients (highest first)")
    for degree in args.degrees:
        coefs, err = fit(degree)
        print(f"{f'degree {degree}':<12} {err:10.2e} {float_error(coefs):12.2e}  "
              + ", ".join(f"{c:.9e}" for c in coefs))
    coefs = header_coefficients()
    print(f"{'header':<12} {'':>10} {float_error(coefs):12.2e}  "
          + ", ".join(f"{c:.9e}" for c in coefs))


if __name__ == "__main__":
    main()
