"""The README's main job: synthetic Decathlon task -> the whole nnU-Net pipeline with a GLSP
trainer on CPU -> Dice table per test case and class, and a PNG overlaying prediction and ground
truth.

Steps (stock nnU-Net commands, as a user would run them): nnUNetv2_convert_MSD_dataset,
nnUNetv2_plan_and_preprocess, nnUNetv2_train (fold 0), nnUNetv2_find_best_configuration,
nnUNetv2_predict, nnUNetv2_evaluate_folder. Usage: python scripts/run_demo.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import numpy as np
import SimpleITK as sitk  # noqa: N813 (the usual alias)

from nnunetv2_glsp.data.synthetic import LABELS, write_decathlon_task

matplotlib.use("Agg")
import matplotlib.pyplot as plt

TASK_ID, DATASET = 991, "Dataset991_Synthetic"
# nnU-Net output lines worth showing while it runs (everything goes to the step's log file)
PROGRESS = re.compile(r"Epoch \d+$|train_loss|val_loss|Pseudo dice|Epoch time|Mean Validation|"
                      r"predicting|Done with|Best|Preprocessing|Configuration:")
START = time.monotonic()


def say(message: str) -> None:
    print(f"[demo {time.monotonic() - START:6.0f}s] {message}", flush=True)


def run(step: str, command: list[str], env: dict[str, str], logs: Path) -> None:
    """Run one nnU-Net command, echo its progress lines, keep the full output in logs/step.log."""
    say(f"{step}: {' '.join(command)}")
    log_file = logs / f"{step.replace(' ', '_')}.log"
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    with log_file.open("w") as log, process:
        for line in process.stdout:
            log.write(line)
            if PROGRESS.search(line):
                say("  " + line.strip()[:150])
    if process.returncode != 0:
        sys.exit(f"{step} failed (exit {process.returncode}); last lines of {log_file}:\n"
                 + "".join(log_file.read_text().splitlines(keepends=True)[-30:]))


def dice_table(summary: dict) -> tuple[str, float]:
    """Per test case and class Dice from nnU-Net's summary.json, and the mean over both."""
    names = [LABELS[str(label)] for label in sorted(int(key) for key in summary["mean"])]
    header = f"{'case':<18}" + "".join(f"{name:>11}" for name in names) + f"{'mean':>11}"
    rows = [header, "-" * len(header)]
    for case in summary["metric_per_case"]:
        dice = [case["metrics"][key]["Dice"] for key in sorted(case["metrics"], key=int)]
        name = Path(case["reference_file"]).name.removesuffix(".nii.gz")
        row = "".join(f"{d:>11.3f}" for d in dice)
        rows.append(f"{name:<18}{row}{np.nanmean(dice):>11.3f}")
    means = [summary["mean"][key]["Dice"] for key in sorted(summary["mean"], key=int)]
    mean = summary["foreground_mean"]["Dice"]
    rows += ["-" * len(header),
             f"{'mean':<18}" + "".join(f"{d:>11.3f}" for d in means) + f"{mean:>11.3f}"]
    return "\n".join(rows), mean


def overlay_figure(images: Path, truth: Path, predictions: Path, out: Path) -> None:
    """One row per test case: the slice with most foreground, ground truth and prediction."""
    cases = sorted(path.name for path in truth.glob("*.nii.gz"))
    figure, axes = plt.subplots(len(cases), 3, figsize=(9, 3 * len(cases)), squeeze=False)
    colours = matplotlib.colors.ListedColormap(["none", "tab:orange", "tab:cyan", "tab:pink"])
    for row, case in zip(axes, cases, strict=True):
        image_file = images / case.replace(".nii.gz", "_0000.nii.gz")
        image = sitk.GetArrayFromImage(sitk.ReadImage(str(image_file)))
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(truth / case)))
        prediction = sitk.GetArrayFromImage(sitk.ReadImage(str(predictions / case)))
        z = int(np.argmax((label > 0).sum(axis=(1, 2))))
        for axis, overlay, title in zip(row, (None, label, prediction),
                                        ("image", "ground truth", "prediction"), strict=True):
            axis.imshow(image[z], cmap="gray")
            if overlay is not None:
                axis.imshow(np.ma.masked_equal(overlay[z], 0), cmap=colours, vmin=0, vmax=3,
                            alpha=0.6, interpolation="nearest")
            axis.set_title(f"{case.removesuffix('.nii.gz')} z={z}: {title}", fontsize=8)
            axis.axis("off")
    handles = [matplotlib.patches.Patch(color=colours(k), label=LABELS[str(k)]) for k in (1, 2, 3)]
    figure.legend(handles=handles, loc="lower center", ncol=3)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    figure.savefig(out, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("work_dirs/demo"),
                        help="working folder (emptied first)")
    parser.add_argument("--trainer", default="GLSPTrainer_demo")
    parser.add_argument("--n-train", type=int, default=20)
    parser.add_argument("--n-test", type=int, default=5)
    parser.add_argument("--shape", type=int, nargs=3, default=(24, 32, 32), metavar=("Z", "Y", "X"))
    args = parser.parse_args()

    out = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    logs = out / "logs"
    logs.mkdir(parents=True)
    cpus = str(os.cpu_count() or 1)
    env = os.environ | {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "nnUNet_raw": str(out / "nnUNet_raw"),
        "nnUNet_preprocessed": str(out / "nnUNet_preprocessed"),
        "nnUNet_results": str(out / "nnUNet_results"),
        "nnUNet_compile": "f",
        "nnUNet_def_n_proc": cpus,
        # idle OpenMP threads sleep instead of spinning: several times faster on a shared CPU
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    }
    train_env = env | {"nnUNet_n_proc_DA": "0"}  # not for planning: breaks it in nnU-Net 2.8.1

    say(f"writing the synthetic task ({args.n_train} training, {args.n_test} test cases of "
        f"{'x'.join(map(str, args.shape))} voxels)")
    task = write_decathlon_task(out / "msd", task_id=TASK_ID, n_train=args.n_train,
                                n_test=args.n_test, shape=tuple(args.shape), seed=0)
    run("convert", ["nnUNetv2_convert_MSD_dataset", "-i", str(task), "-np", cpus], env, logs)
    run("plan and preprocess", ["nnUNetv2_plan_and_preprocess", "-d", str(TASK_ID), "-c",
                                "3d_fullres", "-np", cpus, "-npfp", cpus], env, logs)
    run("train", ["nnUNetv2_train", str(TASK_ID), "3d_fullres", "0", "-tr", args.trainer,
                  "-device", "cpu", "--npz"], train_env, logs)
    run("find best configuration", ["nnUNetv2_find_best_configuration", str(TASK_ID), "-c",
                                    "3d_fullres", "-tr", args.trainer, "-f", "0", "-np", cpus],
        env, logs)
    images, predictions = out / "nnUNet_raw" / DATASET / "imagesTs", out / "predictions"
    run("predict", ["nnUNetv2_predict", "-i", str(images), "-o", str(predictions), "-d",
                    str(TASK_ID), "-c", "3d_fullres", "-tr", args.trainer, "-f", "0", "-chk",
                    "checkpoint_final.pth", "-device", "cpu"], train_env, logs)
    run("evaluate", ["nnUNetv2_evaluate_folder", str(task / "labelsTs"), str(predictions),
                     "-djfile", str(predictions / "dataset.json"), "-pfile",
                     str(predictions / "plans.json")], env, logs)

    table, mean = dice_table(json.loads((predictions / "summary.json").read_text()))
    figure = out / "demo_overlay.png"
    overlay_figure(images, task / "labelsTs", predictions, figure)
    print(f"\nTest-set Dice ({args.trainer}, fold 0, {len(list(predictions.glob('*.nii.gz')))} "
          f"cases):\n{table}\n")
    say(f"mean Dice {mean:.3f}; overlay: {figure}; logs: {logs}")


if __name__ == "__main__":
    main()
