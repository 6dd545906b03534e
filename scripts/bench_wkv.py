"""Benchmark the WKV operator: compiled kernel vs pure-PyTorch fallback vs a memory copy.

For B=2, C in --channels, T from --t-min to --t-max (x --t-step): forward and forward+backward
time of the kernel and of the fallback (up to --fallback-max-t), and the time of copying the
bytes the op must move (12 N bytes forward, 20 N backward, N = B T C, float32), timed in
alternation with the kernel: "x copy" is the median ratio of those pairs, times are the fastest
call.
At T=32768, C=64: forward+backward with the carries saved by glsp::wkv_with_carries against
recomputed in the backward; t(8T)/t(T) by alternating calls (T in --scaling-lengths, C=64).
CPU: also 1 thread vs all threads there, the 1-thread process CPU time, and that size on each
instruction set the CPU runs (AVX-512, AVX2, baseline; a process each, picked by GLSP_CPU_ISA),
in float32, bfloat16 and float16. CUDA: forward as % of the copy bound at B=2, T=32768, C=64.
Prints a table and writes bench_wkv.json and bench_wkv.png to --out.

    python scripts/bench_wkv.py --device cpu --out runs/bench_wkv
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from nnunetv2_glsp.ops import backend_info
from nnunetv2_glsp.ops.fallback import wkv_fallback
from nnunetv2_glsp.ops.wkv import CPU_ISAS

B = 2
T_SCALING = 32768


def timed_call(device: str, fn: Callable[[], object],
               clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds of one call of fn (on a GPU, from idle to finished)."""
    if device == "cuda":
        torch.cuda.synchronize()
    start = clock()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return clock() - start


def timer(device: str, fn: Callable[[], object], min_time: float, max_reps: int = 50,
          clock: Callable[[], float] = time.perf_counter) -> float:
    """Fastest of the timed calls, in seconds, after one warm-up call (clock: wall time, or process
    CPU time). The minimum, not the median: on shared machines the slower repeats measure the
    other jobs (the timeit rationale)."""
    fn()
    times: list[float] = []
    while len(times) < 3 or (sum(times) < min_time and len(times) < max_reps):
        times.append(timed_call(device, fn, clock))
    return min(times)


def paired_timer(device: str, fn: Callable[[], object], baseline: Callable[[], object],
                 min_time: float, max_reps: int = 50,
                 clock: Callable[[], float] = time.perf_counter) -> tuple[float, float, float]:
    """fn and baseline timed alternately after a warm-up call each: the fastest of each, and the
    median of the per-pair ratios fn / baseline. Both calls of a pair see the same load, so the
    ratio holds on shared machines, where timings taken one after the other drift apart."""
    fn()
    baseline()
    a: list[float] = []
    b: list[float] = []
    while len(a) < 3 or (sum(a) + sum(b) < min_time and len(a) < max_reps):
        a.append(timed_call(device, fn, clock))
        b.append(timed_call(device, baseline, clock))
    return min(a), min(b), statistics.median([x / y for x, y in zip(a, b, strict=True)])


def cpu_jiffies() -> tuple[int, int] | None:
    """(steal, total) CPU time of all cores from /proc/stat: steal is time a virtual machine's
    cores waited for the host, so it shows how far other guests disturbed a run. None off Linux."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])  # guest time is in user time


def inputs(T: int, C: int, device: str):
    g = torch.Generator().manual_seed(T + C)
    w = (torch.rand(C, generator=g) * 5 + 0.5) / T
    u = -(torch.rand(C, generator=g) * 3 + 0.5) / T
    k, v, gy = (torch.randn(B, T, C, generator=g) for _ in range(3))
    return [x.to(device) for x in (w, u, k, v, gy)]


def kernel_fns(w, u, k, v, gy, save_carries: bool | None = None):
    """The forward as inference runs it (glsp::wkv), and the forward+backward as autograd does:
    save_carries True: glsp::wkv_with_carries, then glsp::wkv_backward from its carries; False:
    glsp::wkv, then a backward that scans (k, v) itself; None: True if the build has
    glsp::wkv_with_carries (builds from before it, which compare_wkv_builds.py may time, have not).
    """
    if save_carries is None:
        save_carries = hasattr(torch.ops.glsp, "wkv_with_carries")

    def fwd():
        return torch.ops.glsp.wkv(w, u, k, v, False, 0)

    def fwd_bwd_saving():
        y, carries = torch.ops.glsp.wkv_with_carries(w, u, k, v, False, 0)
        return y, torch.ops.glsp.wkv_backward(gy, w, u, k, v, False, 0, carries)

    def fwd_bwd_recomputing():
        return fwd(), torch.ops.glsp.wkv_backward(gy, w, u, k, v, False, 0)

    return fwd, fwd_bwd_saving if save_carries else fwd_bwd_recomputing


def fallback_fns(w, u, k, v, gy):
    leaves = [x.clone().requires_grad_() for x in (w, u, k, v)]

    def fwd():
        with torch.no_grad():
            return wkv_fallback(w, u, k, v)

    def fwd_bwd():
        return torch.autograd.grad(wkv_fallback(*leaves), leaves, gy)

    return fwd, fwd_bwd


def copy_fn(n_bytes: int, device: str):
    """dst.copy_(src) moving n_bytes in total (half read, half written)."""
    src = torch.randn(n_bytes // 8, device=device)
    dst = torch.empty_like(src)
    return lambda: dst.copy_(src)


def measure(device: str, T: int, C: int, fallback_max_t: int, min_time: float) -> dict:
    w, u, k, v, gy = inputs(T, C, device)
    N = B * T * C
    row = {"T": T, "C": C, "N": N}
    fwd, fwd_bwd = kernel_fns(w, u, k, v, gy)
    row["kernel_fwd"], row["copy_fwd"], row["fwd_x_copy"] = paired_timer(
        device, fwd, copy_fn(12 * N, device), min_time)
    row["kernel_fwd_bwd"], row["copy_fwd_bwd"], row["fwd_bwd_x_copy"] = paired_timer(
        device, fwd_bwd, copy_fn(32 * N, device), min_time)
    if fallback_max_t >= T:
        fwd, fwd_bwd = fallback_fns(w, u, k, v, gy)
        row["fallback_fwd"] = timer(device, fwd, min_time, max_reps=3)
        row["fallback_fwd_bwd"] = timer(device, fwd_bwd, min_time, max_reps=3)
    return row


def saved_carries(device: str, min_time: float) -> dict:
    """At T=32768, C=64: forward+backward with the carries saved by the forward against recomputed
    in the backward, and the saving forward against the plain one (alternating calls)."""
    w, u, k, v, gy = inputs(T_SCALING, 64, device)
    fwd, saving = kernel_fns(w, u, k, v, gy, save_carries=True)
    recomputing = kernel_fns(w, u, k, v, gy, save_carries=False)[1]
    result = {"T": T_SCALING, "C": 64}
    result["fwd_bwd_saving"], result["fwd_bwd_recomputing"], result["fwd_bwd_ratio"] = (
        paired_timer(device, saving, recomputing, min_time))
    result["fwd_saving"], result["fwd_plain"], result["fwd_ratio"] = paired_timer(
        device, lambda: torch.ops.glsp.wkv_with_carries(w, u, k, v, False, 0), fwd, min_time)
    return result


def length_scaling(device: str, min_time: float, lengths: list[int]) -> list[dict]:
    """Forward+backward at 8T against T, C=64, for each T in lengths, by alternating calls (rows
    of the table are timed minutes apart, so their ratio also measures the machine's drift); the
    same for the 32N-byte copy, whose ratio shows where 8T leaves a cache level."""
    result = []
    for T in lengths:
        long_fn = kernel_fns(*inputs(8 * T, 64, device))[1]
        short_fn = kernel_fns(*inputs(T, 64, device))[1]
        row = {"T": T, "C": 64}
        row["fwd_bwd_8T"], row["fwd_bwd_T"], row["kernel_ratio"] = paired_timer(
            device, long_fn, short_fn, min_time)
        row["copy_8T"], row["copy_T"], row["copy_ratio"] = paired_timer(
            device, copy_fn(32 * B * 8 * T * 64, device), copy_fn(32 * B * T * 64, device),
            min_time)
        result.append(row)
    return result


def on_threads(n: int, fn: Callable[[], object]) -> Callable[[], object]:
    """fn run with n intra-op threads."""
    def call():
        torch.set_num_threads(n)
        return fn()
    return call


def thread_scaling(min_time: float) -> dict:
    """1 thread vs all at T=32768, C=64 (alternating calls), plus the 1-thread process CPU time of
    the kernel and of the copy: unlike wall time, it does not grow when other jobs share the
    cores."""
    w, u, k, v, gy = inputs(T_SCALING, 64, "cpu")
    fwd, fwd_bwd = kernel_fns(w, u, k, v, gy)
    threads = torch.get_num_threads()
    result = {"T": T_SCALING, "C": 64, "threads": threads}
    try:
        result["fwd_bwd_1_thread"], result["fwd_bwd_all_threads"], result["speedup"] = (
            paired_timer("cpu", on_threads(1, fwd_bwd), on_threads(threads, fwd_bwd), min_time))
        torch.set_num_threads(1)
        result["cpu_time_1_thread_fwd"] = timer("cpu", fwd, min_time, clock=time.process_time)
        (result["cpu_time_1_thread_fwd_bwd"], result["cpu_time_1_thread_copy_fwd_bwd"],
         result["cpu_time_1_thread_x_copy"]) = paired_timer(
            "cpu", fwd_bwd, copy_fn(32 * B * T_SCALING * 64, "cpu"), min_time,
            clock=time.process_time)
    finally:
        torch.set_num_threads(threads)
    return result


# the half-precision input types timed against float32 on each instruction set
HALF_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def isa_row(min_time: float) -> dict:
    """The T=32768, C=64 row on this process's instruction set, and each of HALF_DTYPES as input
    type against float32 (forward+backward, alternating calls)."""
    row = measure("cpu", T_SCALING, 64, 0, min_time)
    w, u, k, v, gy = inputs(T_SCALING, 64, "cpu")
    fp32 = kernel_fns(w, u, k, v, gy)[1]
    for name, dtype in HALF_DTYPES.items():
        half = kernel_fns(w, u, *(x.to(dtype) for x in (k, v, gy)))[1]
        row[f"{name}_fwd_bwd"], _, row[f"{name}_x_fp32"] = paired_timer("cpu", half, fp32,
                                                                         min_time)
    row["isa"] = torch.ops.glsp.cpu_isa()
    return row


def instruction_sets(min_time: float, rounds: int = 3) -> list[dict]:
    """isa_row on this process's instruction set and each below it, in a process each (the
    kernels read GLSP_CPU_ISA once), in `rounds` rotations: per instruction set the round with the
    lowest forward+backward / copy ratio (a fresh process on a shared VM often starts slow), with
    every round's ratio listed."""
    isas = CPU_ISAS[CPU_ISAS.index(torch.ops.glsp.cpu_isa()):]
    runs: dict[str, list[dict]] = {}
    for r in range(rounds):
        for isa in isas[r % len(isas):] + isas[:r % len(isas)]:  # each starts a round in turn
            run = subprocess.run(
                [sys.executable, __file__, "--isa-row", "--min-time", str(min_time)],
                env={**os.environ, "GLSP_CPU_ISA": isa}, capture_output=True, text=True,
                check=False)
            if run.returncode != 0:
                raise RuntimeError(f"the {isa} measurement failed:\n{run.stderr[-2000:]}")
            runs.setdefault(isa, []).append(json.loads(run.stdout.splitlines()[-1]))
    return [{**min(rows, key=lambda r: r["fwd_bwd_x_copy"]),
             "rounds_x_copy": [r["fwd_bwd_x_copy"] for r in rows]} for rows in runs.values()]


def isa_table(rows: list[dict]) -> str:
    head = (f"{'isa':>9} | {'fwd ms':>8} {'f+b ms':>8} {'x copy':>6}"
            + "".join(f" | {name + ' f+b':>8} {'x fp32':>6}" for name in HALF_DTYPES))
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['isa']:>9} | {1e3 * r['kernel_fwd']:8.2f} "
                     f"{1e3 * r['kernel_fwd_bwd']:8.2f} {r['fwd_bwd_x_copy']:6.2f}"
                     + "".join(f" | {1e3 * r[name + '_fwd_bwd']:8.2f} {r[name + '_x_fp32']:6.2f}"
                               for name in HALF_DTYPES))
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    """One line per row; t(8T)/t(T): forward+backward time at 8x the length over this row's, for
    the kernel and, for comparison, for the copy (which grows faster than 8x where the longer
    size no longer fits a cache level)."""
    head = (f"{'C':>4} {'T':>7} | {'fwd ms':>8} {'f+b ms':>8} | {'copy f+b':>8} {'x copy':>6} | "
            f"{'fallback f+b':>12} {'x faster':>8} | {'t(8T)/t(T)':>10} {'copy':>5}")
    lines = [head, "-" * len(head)]
    by_key = {(r["C"], r["T"]): r for r in rows}
    for r in rows:
        fb = r.get("fallback_fwd_bwd")
        longer = by_key.get((r["C"], 8 * r["T"]))
        growth = (f"{longer['kernel_fwd_bwd'] / r['kernel_fwd_bwd']:10.2f} "
                  f"{longer['copy_fwd_bwd'] / r['copy_fwd_bwd']:5.2f}" if longer else "")
        lines.append(
            f"{r['C']:>4} {r['T']:>7} | {1e3 * r['kernel_fwd']:8.2f} "
            f"{1e3 * r['kernel_fwd_bwd']:8.2f}"
            f" | {1e3 * r['copy_fwd_bwd']:8.2f} {r['fwd_bwd_x_copy']:6.2f} | "
            + (f"{1e3 * fb:12.1f} {fb / r['kernel_fwd_bwd']:8.1f}" if fb else
               f"{'(T capped)':>12} {'':>8}")
            + f" | {growth}".rstrip())
    return "\n".join(lines)


def cpu_targets(result: dict) -> list[dict]:
    """The CPU kernels' targets that this run measured: forward+backward / copy at T=32768, C=64
    (<= 6), t(8T)/t(T) (<= 9), all threads over 1 (>= 1.7 with 2 threads), kernel over fallback
    at the longest T the fallback ran (>= 5, the lowest over C), each {name, value, target, met}."""
    checks = []
    for r in result["rows"]:
        if (r["T"], r["C"]) == (T_SCALING, 64):
            checks.append((f"f+b / copy at T={T_SCALING}, C=64", r["fwd_bwd_x_copy"], "<=", 6.0))
    for s in result["length_scaling"]:
        checks.append((f"t(8T)/t(T) at T={s['T']}", s["kernel_ratio"], "<=", 9.0))
    s = result["thread_scaling"]
    checks.append((f"{s['threads']} threads / 1 thread speed-up", s["speedup"], ">=", 1.7))
    with_fallback = [r for r in result["rows"] if "fallback_fwd_bwd" in r]
    if with_fallback:
        T = max(r["T"] for r in with_fallback)
        faster = min(r["fallback_fwd_bwd"] / r["kernel_fwd_bwd"] for r in with_fallback
                     if r["T"] == T)
        checks.append((f"kernel / fallback speed-up at T={T}", faster, ">=", 5.0))
    return [{"name": name, "value": value, "target": f"{op} {bound:g}",
             "met": value <= bound if op == "<=" else value >= bound}
            for name, value, op, bound in checks]


def plot(rows: list[dict], path: Path, device: str, isa_rows: list[dict] | None = None) -> None:
    """Time against T per mode (log-log), and forward+backward per instruction set if measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3 if isa_rows else 2, figsize=(16 if isa_rows else 11, 4.2))
    for ax, mode in zip(axes, ("fwd", "fwd_bwd"), strict=False):
        for C in sorted({r["C"] for r in rows}):
            rs = [r for r in rows if r["C"] == C]
            for name, style in (("kernel", "-o"), ("fallback", "--s"), ("copy", ":^")):
                pts = [(r["T"], 1e3 * r[f"{name}_{mode}"]) for r in rs if f"{name}_{mode}" in r]
                if pts:
                    ax.loglog(*zip(*pts, strict=True), style, label=f"{name} C={C}")
        ax.set(title=f"WKV {mode.replace('_', '+')} ({device}, B={B})", xlabel="T",
               ylabel="ms")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    if isa_rows:
        ax = axes[2]
        names = [r["isa"] for r in isa_rows]
        x = range(len(names))
        bars = {"float32": "kernel"} | {str(dtype).removeprefix("torch."): name
                                        for name, dtype in HALF_DTYPES.items()}
        width = 0.8 / len(bars)
        for j, (label, key) in enumerate(bars.items()):
            ax.bar([i + (j - (len(bars) - 1) / 2) * width for i in x],
                   [1e3 * r[f"{key}_fwd_bwd"] for r in isa_rows], width, label=label)
        ax.set_xticks(list(x), names)
        ax.set(title=f"fwd+bwd per instruction set (T={T_SCALING}, C=64)", ylabel="ms")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--out", type=Path, default=Path("runs/bench_wkv"))
    parser.add_argument("--channels", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--t-min", type=int, default=512)
    parser.add_argument("--t-max", type=int, default=131072)
    parser.add_argument("--t-step", type=int, default=2, help="T multiplier between rows")
    parser.add_argument("--fallback-max-t", type=int, default=32768)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement")
    parser.add_argument("--scaling-lengths", type=int, nargs="*", default=[4096, 16384],
                        help="T of the t(8T)/t(T) measurements")
    parser.add_argument("--isa-rounds", type=int, default=3,
                        help="rotations over the instruction sets (the best round is kept)")
    parser.add_argument("--isa-row", action="store_true",
                        help="only print isa_row() as JSON (the per-instruction-set subprocess)")
    args = parser.parse_args()
    if args.isa_row:
        print(json.dumps(isa_row(args.min_time)))
        return
    info = backend_info()
    if args.device not in info["devices"]:
        raise SystemExit(f"no compiled WKV kernel for {args.device}: {info}")
    args.out.mkdir(parents=True, exist_ok=True)
    lengths = []
    T = args.t_min
    while args.t_max >= T:
        lengths.append(T)
        T *= args.t_step
    jiffies_before = cpu_jiffies()
    rows = []
    for C in args.channels:
        for T in lengths:
            rows.append(measure(args.device, T, C, args.fallback_max_t, args.min_time))
            print(f"measured C={C} T={T}", flush=True)
    result = {"device": args.device, "B": B, "backend": info, "torch": torch.__version__,
              "threads": torch.get_num_threads(), "rows": rows,
              "fallback_capped_above_T": args.fallback_max_t}
    result["saved_carries"] = saved_carries(args.device, args.min_time)
    result["length_scaling"] = length_scaling(args.device, args.min_time, args.scaling_lengths)
    if args.device == "cpu":
        result["thread_scaling"] = thread_scaling(args.min_time)
        result["instruction_sets"] = instruction_sets(args.min_time, args.isa_rounds)
        result["targets"] = cpu_targets(result)
    else:
        result["gpu"] = torch.cuda.get_device_name()
        bound = measure("cuda", T_SCALING, 64, 0, args.min_time)
        result["fwd_pct_of_copy_bound"] = 100 / bound["fwd_x_copy"]
    jiffies_after = cpu_jiffies()
    if jiffies_before and jiffies_after and jiffies_after[1] > jiffies_before[1]:
        result["host_steal_pct"] = 100 * ((jiffies_after[0] - jiffies_before[0])
                                          / (jiffies_after[1] - jiffies_before[1]))
    print(f"\nWKV benchmark, device={args.device}, B={B}, threads={torch.get_num_threads()}, "
          f"backend={info['backend']} ({info['source']}); copy = memory copy of 12N (fwd) / "
          f"32N (fwd+bwd) bytes, x copy = median ratio of alternating kernel/copy calls; times: "
          f"fastest call; fallback measured for T <= {args.fallback_max_t}")
    print(table(rows))
    s = result["saved_carries"]
    print(f"\nsaved carries at T={s['T']}, C=64: fwd+bwd {1e3 * s['fwd_bwd_saving']:.2f} ms "
          f"against {1e3 * s['fwd_bwd_recomputing']:.2f} ms recomputing them in the backward "
          f"({s['fwd_bwd_ratio']:.2f}x); the forward that saves them "
          f"{1e3 * s['fwd_saving']:.2f} ms against {1e3 * s['fwd_plain']:.2f} ms "
          f"({s['fwd_ratio']:.2f}x; median ratios of alternating calls)")
    for s in result["length_scaling"]:
        print(f"t(8T)/t(T) at T={s['T']}, C=64, alternating calls: fwd+bwd "
              f"{1e3 * s['fwd_bwd_8T']:.2f} / {1e3 * s['fwd_bwd_T']:.2f} ms = "
              f"{s['kernel_ratio']:.2f} (copy {s['copy_ratio']:.2f})")
    if "thread_scaling" in result:
        s = result["thread_scaling"]
        print(f"\nthreads at T={s['T']}, C=64: fwd+bwd 1 thread {1e3 * s['fwd_bwd_1_thread']:.1f} "
              f"ms, {s['threads']} threads {1e3 * s['fwd_bwd_all_threads']:.1f} ms, "
              f"speedup {s['speedup']:.2f}x (median ratio of alternating calls)")
        print(f"1-thread CPU time (process_time): fwd {1e3 * s['cpu_time_1_thread_fwd']:.1f} ms, "
              f"fwd+bwd {1e3 * s['cpu_time_1_thread_fwd_bwd']:.1f} ms, copy of 32N bytes "
              f"{1e3 * s['cpu_time_1_thread_copy_fwd_bwd']:.1f} ms: fwd+bwd = "
              f"{s['cpu_time_1_thread_x_copy']:.1f}x copy")
    if "instruction_sets" in result:
        print(f"\ninstruction sets at T={T_SCALING}, C=64 (GLSP_CPU_ISA, a process each, best of "
              f"{args.isa_rounds} rounds; x copy: median ratio of alternating calls; bf16 / fp16 "
              "x fp32: bfloat16 / float16 inputs against float32)")
        print(isa_table(result["instruction_sets"]))
    if "targets" in result:
        print("\nCPU targets:")
        for t in result["targets"]:
            print(f"  {t['name']}: {t['value']:.2f} (target {t['target']}: "
                  f"{'met' if t['met'] else 'MISSED'})")
    if "host_steal_pct" in result:
        print(f"host steal during the run: {result['host_steal_pct']:.1f}% of CPU time (time this "
              "virtual machine's cores waited for other guests)")
    if "fwd_pct_of_copy_bound" in result:
        print(f"\n{result['gpu']}: forward at B=2, T={T_SCALING}, C=64 runs at "
              f"{result['fwd_pct_of_copy_bound']:.0f}% of the memory-copy bound (12N bytes)")
    (args.out / "bench_wkv.json").write_text(json.dumps(result, indent=1))
    plot(rows, args.out / "bench_wkv.png", args.device, result.get("instruction_sets"))
    print(f"wrote {args.out / 'bench_wkv.json'} and {args.out / 'bench_wkv.png'}")


if __name__ == "__main__":
    main()
