"""Paired network-level A/B of builds of this package on the CPU, in one run.

Each tree (a checkout whose extension is built in place) gets one persistent worker process
(PYTHONPATH=tree). The driver runs the measurements in rounds, one worker at a time, in an order
that rotates from round to round; each B's time is divided by A's of the same round.
Measurements (MedNeXt+GLSP, nnU-Net-planned shapes, 1 input channel, 3 classes):
  train-64       training step at batch 2, patch 64^3, 5 stages (widths 32..320, strides 2):
                 forward, nnU-Net's deep-supervision Dice + CE, backward, gradient clipping,
                 AdamW step
  train-aniso    the same at patch 16x64x64 with first strides (1, 2, 2)
  predict        nnU-Net's sliding-window prediction (nnUNetPredictor, step 0.5, Gaussian
                 weighting, no mirroring) of a 96x128x96 case with the 64^3 network (without
                 deep supervision, as nnU-Net predicts)
Reports per B and measurement the median of the paired ratios B/A and their min/max; writes
ab_network.json and ab_network.png to --out.

    python scripts/ab_network.py --a /path/to/A --b /path/to/B [/path/to/C ...] --out DIR
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

CLASSES = 3
FEATURES = [32, 64, 128, 256, 320]
# name -> (patch, strides, kernels) as nnU-Net plans them
PLANS = {
    "iso": ((64, 64, 64), [[1, 1, 1]] + [[2, 2, 2]] * 4, [[3, 3, 3]] * 5),
    "aniso": ((16, 64, 64), [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]],
              [[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]),
}
MEASUREMENTS = ("train-64", "train-aniso", "predict")
CASE = (96, 128, 96)  # the predicted case, several 64^3 patches


def network(plan: str, size: str, deep_supervision: bool):
    """The GLSPTrainer network (MedNeXt+GLSP) for one of PLANS."""
    from nnunetv2_glsp.network import NetworkConfig, build_network

    _, strides, kernels = PLANS[plan]
    return build_network(3, 1, CLASSES, FEATURES, strides, kernels, deep_supervision,
                         NetworkConfig(size=size))


def train_step(plan: str, size: str) -> Callable[[], None]:
    """One training step at batch 2 as GLSPTrainer runs it (nnU-Net's loss, AdamW, clipping)."""
    import torch
    import torch.nn.functional as F
    from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
    from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

    net = network(plan, size, True)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, eps=1e-4, weight_decay=3e-5)
    x = torch.randn(2, 1, *PLANS[plan][0])
    with torch.no_grad():
        shapes = [out.shape[2:] for out in net(x)]
    label = torch.randint(0, CLASSES, (2, 1, *PLANS[plan][0])).float()
    targets = [F.interpolate(label, size=s, mode="nearest") for s in shapes]
    weights = [0.5**i for i in range(len(shapes))]
    weights[-1] = 0.0  # nnU-Net ignores the lowest resolution
    dice_ce = DC_and_CE_loss({"batch_dice": False, "smooth": 1e-5, "do_bg": False, "ddp": False},
                             {}, weight_ce=1, weight_dice=1, dice_class=MemoryEfficientSoftDiceLoss)
    loss_fn = DeepSupervisionWrapper(dice_ce, [w / sum(weights) for w in weights])

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), targets).backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 12)
        opt.step()

    return step


def prediction(size: str) -> Callable[[], None]:
    """nnU-Net's sliding-window prediction of one CASE-sized image (1 channel)."""
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.plans_handling.plans_handler import (
        ConfigurationManager,
        PlansManager,
    )

    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=False,
                                perform_everything_on_device=False, device=torch.device("cpu"),
                                allow_tqdm=False)
    config = {"patch_size": list(PLANS["iso"][0]), "architecture": {}}
    plans = PlansManager({"configurations": {"3d_fullres": config},
                          "label_manager": "LabelManager"})
    labels = {"labels": {"background": 0, **{f"c{i}": i for i in range(1, CLASSES)}}}
    net = network("iso", size, False)  # nnU-Net predicts without deep supervision
    predictor.manual_initialization(net, plans, ConfigurationManager(config), None, labels,
                                    "GLSPTrainer", None)
    image = torch.randn(1, *CASE)
    return lambda: predictor.predict_sliding_window_return_logits(image)


def worker(tree: Path, size: str) -> None:
    """Serves measurements of the package in tree: one name a line in, seconds a line out (on the
    original stdout; what the libraries print goes to stderr)."""
    reply = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.path.insert(0, str(tree))
    import torch

    import nnunetv2_glsp
    from nnunetv2_glsp.ops import backend_info

    info = backend_info()
    assert Path(nnunetv2_glsp.__file__).is_relative_to(tree), nnunetv2_glsp.__file__
    assert info["backend"] == "extension", info
    torch.manual_seed(0)
    fns = {"train-64": train_step("iso", size), "train-aniso": train_step("aniso", size),
           "predict": prediction(size)}
    print(json.dumps({"path": info["path"], "cpu_isa": info["cpu_isa"],
                      "threads": torch.get_num_threads()}), file=reply, flush=True)
    for line in sys.stdin:
        t0 = time.perf_counter()
        fns[line.strip()]()
        print(time.perf_counter() - t0, file=reply, flush=True)


class Worker:
    """A worker process for one tree."""

    def __init__(self, tree: Path, size: str):
        env = dict(os.environ, PYTHONPATH=str(tree))
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(tree), "--size", size],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self._line())

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.proc.wait()}")
        return line

    def time(self, measurement: str) -> float:
        self.proc.stdin.write(measurement + "\n")
        self.proc.stdin.flush()
        return float(self._line())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def compare(trees: list[Path], size: str, pairs: int, warmup: int) -> dict:
    """Times of every tree per measurement and round; rounds < warmup are discarded."""
    workers = [Worker(t, size) for t in trees]
    times = {m: [[] for _ in trees] for m in MEASUREMENTS}
    try:
        for r in range(warmup + pairs):
            order = [(i + r) % len(trees) for i in range(len(trees))]
            for m in MEASUREMENTS:
                for i in order:
                    t = workers[i].time(m)
                    if r >= warmup:
                        times[m][i].append(t)
            print(f"round {r + 1}/{warmup + pairs}: "
                  + ", ".join(f"{m} {times[m][0][-1]:.2f} s" for m in MEASUREMENTS
                              if r >= warmup), flush=True)
    finally:
        for w in workers:
            w.close()
    return {"trees": [str(t) for t in trees], "workers": [w.info for w in workers],
            "size": size, "pairs": pairs, "warmup": warmup, "times_s": times}


def summary(result: dict) -> list[dict]:
    """Per B and measurement: A's median time and the median, min and max of B/A per round."""
    rows = []
    for b in range(1, len(result["trees"])):
        for m in MEASUREMENTS:
            a_s, b_s = result["times_s"][m][0], result["times_s"][m][b]
            ratios = [y / x for x, y in zip(a_s, b_s, strict=True)]
            rows.append({"b": result["trees"][b], "measurement": m,
                         "a_median_s": statistics.median(a_s), "ratio": statistics.median(ratios),
                         "min": min(ratios), "max": max(ratios)})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| B | measurement | A median (s) | B/A median | min | max |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {Path(r['b']).name} | {r['measurement']} | {r['a_median_s']:.2f} | "
              f"{r['ratio']:.3f} | {r['min']:.3f} | {r['max']:.3f} |" for r in rows]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    for y, r in enumerate(rows):
        ax.plot([r["min"], r["max"]], [y, y], color="0.6")
        ax.plot(r["ratio"], y, "o", color="C0")
    ax.set_yticks(range(len(rows)), [f"{Path(r['b']).name}: {r['measurement']}" for r in rows])
    for x in (0.97, 1.0, 1.03):
        ax.axvline(x, color="k" if x == 1 else "0.8", lw=0.8, ls="-" if x == 1 else "--")
    ax.invert_yaxis()
    ax.set_xlabel("time B / A (median of paired rounds, min-max)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--a", type=Path, help="the reference tree")
    p.add_argument("--b", type=Path, nargs="+", help="trees compared with A")
    p.add_argument("--out", type=Path, default=Path("ab_network_out"))
    p.add_argument("--size", default="B", choices=["S", "B", "M", "L"], help="MedNeXt size")
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.worker.resolve(), args.size)
    if args.a is None or not args.b:
        p.error("--a and --b are required")
    result = compare([t.resolve() for t in (args.a, *args.b)], args.size, args.pairs, args.warmup)
    result["rows"] = summary(result)
    text = table(result["rows"])
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ab_network.json").write_text(json.dumps(result, indent=1))
    plot(result["rows"], args.out / "ab_network.png",
         f"A = {args.a}, MedNeXt-{args.size}+GLSP, CPU, {result['workers'][0]['threads']} threads")
    print(f"wrote {args.out / 'ab_network.json'} and .png")


if __name__ == "__main__":
    main()
