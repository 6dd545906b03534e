"""Compare builds of the WKV kernel: the same timings for each build, each in its own process,
in rounds that alternate between the builds, so drift on a shared machine hits all of them alike.

A build is LABEL=DIR, DIR a source tree with an in-place build (`python setup.py build_ext
--inplace`): its worker imports nnunetv2_glsp from DIR with GLSP_WKV_BACKEND=extension. For each
C:T size a worker times the forward and the forward+backward (B=2, fp32) two ways: from idle
(synchronize, one call, synchronize; the fastest of --reps calls: what one call costs, launches
included) and streamed (--reps calls back to back, per call: the device time), and likewise a
memory copy of the 12N bytes the forward must move (N = B*T*C). Prints each build's times, the
forward as % of the copy (from idle, same process) and the ratio to the first build (fastest
over the rounds); writes compare_wkv_builds.json and .png to --out. --from-json re-renders a
saved result (for example one copied back from a GPU machine).

    python scripts/dev/compare_wkv_builds.py --device cuda --build new=. --build old=/tmp/old
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

METRICS = ("fwd_idle_us", "fwd_stream_us", "fwd_bwd_idle_us", "fwd_bwd_stream_us",
           "copy12_idle_us", "copy12_stream_us")


def streamed(device: str, fn, reps: int) -> float:
    """Seconds per call of reps calls issued back to back."""
    import torch

    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / reps


def worker(label: str, device: str, sizes: list[tuple[int, int]], reps: int) -> None:
    """Prints one JSON row per size (this process's build of the op)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/, for bench_wkv
    from bench_wkv import B, copy_fn, inputs, kernel_fns, timed_call

    for C, T in sizes:
        w, u, k, v, gy = inputs(T, C, device)
        fwd, fwd_bwd = kernel_fns(w, u, k, v, gy)
        row: dict = {"label": label, "C": C, "T": T}
        for name, fn in (("fwd", fwd), ("fwd_bwd", fwd_bwd),
                         ("copy12", copy_fn(12 * B * T * C, device))):
            fn()
            row[f"{name}_idle_us"] = 1e6 * min(timed_call(device, fn) for _ in range(reps))
            row[f"{name}_stream_us"] = 1e6 * streamed(device, fn, reps)
        print(json.dumps(row), flush=True)


def run_builds(builds: dict[str, Path], device: str, sizes: str, reps: int,
               rounds: int) -> list[dict]:
    """Rows of every build and round, the builds alternating within each round and the order
    rotating between rounds (round r starts with build r), so no build always runs first."""
    rows = []
    for r in range(rounds):
        order = list(builds.items())
        for label, path in order[r % len(order):] + order[:r % len(order)]:
            env = dict(os.environ, PYTHONPATH=str(path), GLSP_WKV_BACKEND="extension")
            run = subprocess.run(
                [sys.executable, __file__, "--worker", label, "--device", device, "--sizes",
                 sizes, "--reps", str(reps)], env=env, capture_output=True, text=True,
                check=False)
            if run.returncode != 0:
                raise SystemExit(f"build {label} ({path}) failed:\n{run.stderr[-2000:]}")
            rows += [dict(json.loads(line), round=r) for line in run.stdout.splitlines()]
            print(f"round {r + 1}/{rounds}: {label} done", flush=True)
    return rows


def fastest(rows: list[dict]) -> dict[tuple[str, int, int], dict[str, float]]:
    """(label, C, T) -> each metric's fastest value over the rounds."""
    best: dict[tuple[str, int, int], dict[str, float]] = {}
    for row in rows:
        cur = best.setdefault((row["label"], row["C"], row["T"]), {})
        for m in METRICS:
            cur[m] = min(cur.get(m, float("inf")), row[m])
    return best


def table(rows: list[dict]) -> str:
    """Times in us; the ratios to the first build are of the times from idle."""
    best = fastest(rows)
    base = rows[0]["label"]
    n = max(len("build"), *(len(label) for label, _, _ in best))
    head = (f"{'build':>{n}} {'C':>4} {'T':>7} | {'fwd idle':>9} {'stream':>8} {'% copy':>6} | "
            f"{'f+b idle':>9} {'stream':>8} | {'fwd / base':>10} {'f+b / base':>10}")
    lines = [head, "-" * len(head)]
    for (label, C, T), m in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        b = best[(base, C, T)]
        lines.append(
            f"{label:>{n}} {C:>4} {T:>7} | {m['fwd_idle_us']:9.1f} {m['fwd_stream_us']:8.1f} "
            f"{100 * m['copy12_idle_us'] / m['fwd_idle_us']:6.1f} | {m['fwd_bwd_idle_us']:9.1f} "
            f"{m['fwd_bwd_stream_us']:8.1f} | {m['fwd_idle_us'] / b['fwd_idle_us']:10.2f} "
            f"{m['fwd_bwd_idle_us'] / b['fwd_bwd_idle_us']:10.2f}")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = fastest(rows)
    labels = list(dict.fromkeys(r["label"] for r in rows))
    sizes = sorted({(C, T) for _, C, T in best})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / len(labels)
    for ax, mode in zip(axes, ("fwd", "fwd_bwd"), strict=True):
        for i, label in enumerate(labels):
            xs = [j + i * width for j in range(len(sizes))]
            ax.bar(xs, [best[(label, *s)][f"{mode}_idle_us"] for s in sizes], width,
                   label=f"{label} (from idle)")
            ax.plot(xs, [best[(label, *s)][f"{mode}_stream_us"] for s in sizes], "k_", ms=12)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(sizes))],
                      [f"C={C}\nT={T}" for C, T in sizes], fontsize=8)
        ax.set(title=f"WKV {mode.replace('_', '+')}, {title} (bars: from idle, -: streamed)",
               ylabel="us")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def parse_builds(specs: list[str]) -> dict[str, Path]:
    builds = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or not label or not Path(path).is_dir():
            raise SystemExit(f"--build {spec!r}: expected LABEL=DIR with DIR a source tree")
        if not (Path(path) / "nnunetv2_glsp").is_dir():
            raise SystemExit(f"--build {spec!r}: {path} has no nnunetv2_glsp package")
        builds[label] = Path(path).resolve()
    return builds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="append", default=[], metavar="LABEL=DIR",
                        help="a build to time (repeat; the first is the baseline)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--sizes", default="64:4096,64:32768,64:131072,128:32768",
                        help="C:T pairs, comma-separated")
    parser.add_argument("--reps", type=int, default=50, help="calls per timing")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/compare_wkv_builds"))
    parser.add_argument("--from-json", type=Path, help="re-render a saved result")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [(int(c), int(t)) for c, t in (s.split(":") for s in args.sizes.split(","))]
    if args.worker:
        worker(args.worker, args.device, sizes, args.reps)
        return
    if args.from_json:
        result = json.loads(args.from_json.read_text())
    else:
        if len(args.build) < 1:
            parser.error("give at least one --build LABEL=DIR")
        builds = parse_builds(args.build)
        result = {"device": args.device, "builds": {k: str(v) for k, v in builds.items()},
                  "reps": args.reps,
                  "rows": run_builds(builds, args.device, args.sizes, args.reps, args.rounds)}
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"\nWKV builds on {result['device']}, B=2, fp32, times in us, fastest over the rounds; "
          f"% copy: a 12N-byte copy / the forward, both from idle in the same process; base: "
          f"{result['rows'][0]['label']}")
    print(table(result["rows"]))
    (args.out / "compare_wkv_builds.json").write_text(json.dumps(result, indent=1))
    plot(result["rows"], args.out / "compare_wkv_builds.png", result.get("gpu", result["device"]))
    print(f"wrote {args.out / 'compare_wkv_builds.json'} and .png")


if __name__ == "__main__":
    main()
