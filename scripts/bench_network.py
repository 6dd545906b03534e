"""Training-step benchmark of MedNeXt, MedNeXt+GLSP, the conv ablation and nnU-Net's U-Net.

Per (patch, model): a fresh subprocess builds the network (5 stages, widths 32..320 as nnU-Net
plans them, isotropic strides 2, kernel 3, 1 input channel, 3 classes, deep supervision),
runs ``--warmup`` + ``--steps`` training steps (forward, deep-supervision cross-entropy,
backward, AdamW step) at batch 2, and reports:
  - step time: median of the timed steps;
  - peak memory: CUDA, torch.cuda.max_memory_allocated; CPU, the process's peak resident set
    (resource.getrusage ru_maxrss) minus the peak reached before the network was built
    (imports, allocator); both figures are written;
  - for GLSP: the WKV share of the step: every wkv call of one step is recorded (shapes),
    then each is re-run alone (forward + backward) and timed; share = sum / step time.

``--norm-study``: the measurement behind GLSP's default norm (tiny network, batch 2).

    python scripts/bench_network.py --out bench_out [--device cuda] [--patches 32 64]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if (REPO / "nnunetv2_glsp").is_dir():  # benchmark this checkout, not an installed copy
    sys.path.insert(0, str(REPO))

MODELS = ("unet", "mednext", "glsp", "conv")
LABELS = {
    "unet": "PlainConvUNet (nnU-Net)",
    "mednext": "MedNeXt",
    "glsp": "MedNeXt+GLSP (rwkv)",
    "conv": "MedNeXt+GLSP (conv ablation)",
}
FEATURES = [32, 64, 128, 256, 320]
STRIDES = [[1, 1, 1]] + [[2, 2, 2]] * 4


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def build_model(name: str, size: str, dim: int = 3, in_ch: int = 1, classes: int = 3):
    import torch
    from dynamic_network_architectures.architectures.unet import PlainConvUNet

    from nnunetv2_glsp.network import NetworkConfig, build_network

    strides = [s[:dim] for s in STRIDES]
    kernels = [[3] * dim] * len(FEATURES)
    if name == "unet":
        conv = torch.nn.Conv3d if dim == 3 else torch.nn.Conv2d
        norm = torch.nn.InstanceNorm3d if dim == 3 else torch.nn.InstanceNorm2d
        return PlainConvUNet(
            in_ch,
            len(FEATURES),
            FEATURES,
            conv,
            kernels,
            strides,
            2,
            classes,
            2,
            True,
            norm,
            {"eps": 1e-5, "affine": True},
            None,
            None,
            torch.nn.LeakyReLU,
            {"inplace": True},
            deep_supervision=True,
        )
    branch = {"mednext": "none", "glsp": "rwkv", "conv": "conv"}[name]
    config = NetworkConfig(size=size, branch=branch)
    return build_network(dim, in_ch, classes, FEATURES, strides, kernels, True, config)


def ds_loss(outputs, target):
    import torch.nn.functional as F

    loss = 0.0
    for i, out in enumerate(outputs):
        t = F.interpolate(target[:, None].float(), size=out.shape[2:], mode="nearest")
        loss = loss + 0.5**i * F.cross_entropy(out, t[:, 0].long())
    return loss


def worker(args: argparse.Namespace) -> dict:
    import torch

    import nnunetv2_glsp.network.spatial_mix as spatial_mix
    from nnunetv2_glsp.ops import backend_info, wkv

    torch.manual_seed(0)
    device = torch.device(args.device)
    rss_before = _peak_rss_mb()
    net = build_model(args.model, args.size).to(device)
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, eps=1e-4, weight_decay=3e-5)
    x = torch.randn(2, 1, *[args.patch] * 3, device=device)
    y = torch.randint(0, 3, (2, *[args.patch] * 3), device=device)
    calls: list[tuple] = []

    def recording_wkv(w, u, k, v, causal=False):
        calls.append((tuple(k.shape), k.dtype))
        return wkv(w, u, k, v, causal)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = ds_loss(net(x), y)
        loss.backward()
        opt.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(args.warmup + args.steps):
        spatial_mix.wkv = recording_wkv if i == 0 else wkv
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    spatial_mix.wkv = wkv
    step_s = statistics.median(times)
    result = {
        "model": args.model,
        "patch": args.patch,
        "size": args.size,
        "device": args.device,
        "params": params,
        "step_s": step_s,
        "step_times_s": times,
        "wkv_calls": len(calls),
        "wkv_backend": backend_info()["backend"],
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        result["peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = _peak_rss_mb()
        result["peak_rss_mb"] = peak
        result["peak_mem_mb"] = peak - rss_before
    if calls:
        wkv_s = []
        for _ in range(args.steps):
            total = 0.0
            for shape, dtype in calls:
                C = shape[-1]
                w = torch.randn(C, device=device, requires_grad=True)
                u = torch.randn(C, device=device, requires_grad=True)
                k = torch.randn(shape, device=device, dtype=dtype, requires_grad=True)
                v = torch.randn(shape, device=device, dtype=dtype, requires_grad=True)
                g = torch.randn(shape, device=device, dtype=dtype)
                sync()
                t0 = time.perf_counter()
                wkv(w / shape[1], u / shape[1], k, v).backward(g)
                sync()
                total += time.perf_counter() - t0
            wkv_s.append(total)
        result["wkv_s"] = statistics.median(wkv_s)
        result["wkv_share"] = result["wkv_s"] / step_s
    return result


def run_all(args: argparse.Namespace) -> list[dict]:
    results = []
    for patch in args.patches:
        for model in args.models:
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                "--model",
                model,
                "--patch",
                str(patch),
                "--size",
                args.size,
                "--device",
                args.device,
                "--steps",
                str(args.steps),
                "--warmup",
                str(args.warmup),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                results.append({"model": model, "patch": patch, "error": proc.stderr[-500:]})
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(res)
            print(
                f"  {model:8s} {patch}^3: {res['step_s']:.3f} s/step, {res['peak_mem_mb']:.0f} MB",
                flush=True,
            )
    return results


def table(results: list[dict]) -> str:
    rows = [
        "| patch | model | params (M) | step (s) | peak mem (MB) | time vs MedNeXt | "
        "mem vs MedNeXt | WKV share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['patch']}^3 | {LABELS[r['model']]} | error | | | | | |")
            continue
        base = next(
            (
                b
                for b in results
                if b.get("model") == "mednext" and b["patch"] == r["patch"] and "error" not in b
            ),
            None,
        )
        t_ratio = f"{r['step_s'] / base['step_s']:.2f}x" if base else ""
        m_ratio = f"{r['peak_mem_mb'] / base['peak_mem_mb']:.2f}x" if base else ""
        share = f"{100 * r['wkv_share']:.1f} %" if "wkv_share" in r else ""
        rows.append(
            f"| {r['patch']}^3 | {LABELS[r['model']]} | {r['params'] / 1e6:.2f} | "
            f"{r['step_s']:.3f} | {r['peak_mem_mb']:.0f} | {t_ratio} | {m_ratio} | {share} |"
        )
    return "\n".join(rows)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if "error" not in r]
    patches = sorted({r["patch"] for r in ok})
    models = [m for m in MODELS if any(r["model"] == m for r in ok)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(len(models), 1)
    for j, (key, title) in enumerate(
        (("step_s", "training step (s)"), ("peak_mem_mb", "peak memory (MB)"))
    ):
        ax = axes[j]
        for i, m in enumerate(models):
            vals = [
                next((r[key] for r in ok if r["model"] == m and r["patch"] == p), 0)
                for p in patches
            ]
            ax.bar([k + i * width for k in range(len(patches))], vals, width, label=LABELS[m])
        ax.set_xticks([k + width * (len(models) - 1) / 2 for k in range(len(patches))])
        ax.set_xticklabels([f"{p}^3" for p in patches])
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"batch 2, {ok[0]['device'] if ok else ''}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def norm_study(args: argparse.Namespace) -> list[dict]:
    """Train a tiny MedNeXt+GLSP (fusion 'add', so the branch is used from step 0) on
    synthetic blobs at batch 2 with each GLSP norm; report train loss, held-out loss in eval
    mode and the train/eval mode gap on the held-out batches."""
    import torch
    import torch.nn.functional as F

    from nnunetv2_glsp.network import NetworkConfig, build_network

    device = torch.device(args.device)

    def batch(gen):
        grid = torch.stack(torch.meshgrid(*[torch.arange(16.0)] * 3, indexing="ij"))
        centres = torch.rand(2, 3, 1, 1, 1, generator=gen) * 10 + 3
        radius = torch.rand(2, 1, 1, 1, generator=gen) * 3 + 2
        mask = ((grid[None] - centres) ** 2).sum(1) < radius**2
        image = mask[:, None].float() * 2 + torch.randn(2, 1, 16, 16, 16, generator=gen)
        return image.to(device), mask.long().to(device)

    results = []
    strides = [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]]
    for norm in ("instance", "group", "batch"):
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            cfg = NetworkConfig(size="S", norm=norm, fusion="add")
            net = build_network(3, 1, 2, [8, 16, 32, 64], strides, [[3, 3, 3]] * 4, False, cfg)
            net = net.to(device)
            opt = torch.optim.AdamW(net.parameters(), lr=1e-3, eps=1e-4, weight_decay=3e-5)
            gen = torch.Generator().manual_seed(100 + seed)
            losses = []
            for _ in range(args.study_steps):
                x, y = batch(gen)
                loss = F.cross_entropy(net(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
            held = [batch(torch.Generator().manual_seed(10_000 + i)) for i in range(4)]
            with torch.no_grad():
                net.eval()
                eval_loss = statistics.mean(F.cross_entropy(net(x), y).item() for x, y in held)
                net.train()
                train_mode = statistics.mean(F.cross_entropy(net(x), y).item() for x, y in held)
            res = {
                "norm": norm,
                "seed": seed,
                "train_loss_last10": statistics.mean(losses[-10:]),
                "heldout_eval_mode": eval_loss,
                "heldout_train_mode": train_mode,
                "eval_minus_train_mode": eval_loss - train_mode,
            }
            print(json.dumps(res), flush=True)
            results.append(res)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("bench_network_out"))
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--patches",
        type=int,
        nargs="+",
        default=None,
        help="cubic patch sizes (default 32 64 on cpu, 32 64 128 on cuda)",
    )
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--size", default="B", choices=["S", "B", "M", "L"])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--norm-study", action="store_true")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--study-steps", type=int, default=60)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--patch", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    if args.norm_study:
        res = norm_study(args)
        (args.out / "norm_study.json").write_text(json.dumps(res, indent=1))
        return
    if args.patches is None:
        args.patches = [32, 64, 128] if args.device.startswith("cuda") else [32, 64]
    from nnunetv2_glsp.ops import backend_info

    info = backend_info()
    print(f"WKV backend: {info['backend']} ({info['reason']}); device {args.device}", flush=True)
    results = run_all(args)
    text = table(results)
    print(text)
    (args.out / "bench_network.json").write_text(
        json.dumps({"wkv_backend": info, "results": results}, indent=1)
    )
    (args.out / "bench_network.md").write_text(text + "\n")
    plot(results, args.out / "bench_network.png")


if __name__ == "__main__":
    main()
