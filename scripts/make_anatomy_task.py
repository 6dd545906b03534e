"""Write the real-anatomy Decathlon task (see ``nnunetv2_glsp.data.anatomy``).

Example: python scripts/make_anatomy_task.py /tmp/msd --preview
then:    nnUNetv2_convert_MSD_dataset -i /tmp/msd/Task992_DeepGrey
Needs Debian's mricron-data (installed on demand when run as root), or --atlas-dir.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nnunetv2_glsp.benchmark.plots import (
    canonical_volume,
    draw_slice,
    label_colours,
    label_legend,
)
from nnunetv2_glsp.data.anatomy import write_decathlon_task


def render_preview(task: Path, path: Path, n_cases: int = 2) -> Path:
    """Write ``path``: for each of the first ``n_cases`` training cases, the axial and coronal
    slice through the labelled voxels' median, labels coloured per class with a legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dataset = json.loads((task / "dataset.json").read_text())
    names = {int(value): name for value, name in dataset["labels"].items() if int(value)}
    colours = label_colours(max(names))
    figure, axes = plt.subplots(n_cases, 2, figsize=(8, 4 * n_cases), squeeze=False)
    for row, entry in zip(axes, dataset["training"][:n_cases], strict=False):
        image = canonical_volume(task / entry["image"])
        label = canonical_volume(task / entry["label"])
        _, y, z = np.median(np.argwhere(label), axis=0).astype(int)
        views = (("axial", image[:, :, z], label[:, :, z]),
                 ("coronal", image[:, y, :], label[:, y, :]))
        for axis, (view, pixels, classes) in zip(row, views, strict=True):
            draw_slice(axis, pixels, classes, colours, 0.6)
            axis.set_title(f"{Path(entry['image']).name}, {view}", fontsize=9)
            axis.text(0.02, 0.5, "L", transform=axis.transAxes, color="yellow", fontsize=12)
            axis.text(0.95, 0.5, "R", transform=axis.transAxes, color="yellow", fontsize=12)
    label_legend(figure, colours, names, ncol=4, fontsize=8)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="folder to write TaskNNN_Name into")
    parser.add_argument("--task-id", type=int, default=992)
    parser.add_argument("--name", default="DeepGrey", help="task name (no '_')")
    parser.add_argument("--n-train", type=int, default=24)
    parser.add_argument("--n-test", type=int, default=6)
    parser.add_argument("--spacing", type=float, default=3.0,
                        help="isotropic voxel size, mm (3: nnU-Net plans a 32x40x48 patch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--atlas-dir", help="folder holding ch2.nii.gz, aal.nii.gz, aal.nii.txt "
                                            "(default: $GLSP_MRICRON_DIR, then mricron-data's)")
    parser.add_argument("--preview", nargs="?", const="", metavar="PNG",
                        help="also render slices of two training cases with their labels "
                             "(default file: OUT_DIR/TaskNNN_Name_preview.png)")
    args = parser.parse_args()
    start = time.perf_counter()
    task = write_decathlon_task(args.out_dir, task_id=args.task_id, name=args.name,
                                n_train=args.n_train, n_test=args.n_test, spacing=args.spacing,
                                seed=args.seed, atlas_dir=args.atlas_dir)
    seconds = time.perf_counter() - start
    print(f"{task} ({args.n_train + args.n_test} cases in {seconds:.1f} s)")
    if args.preview is not None:
        png = Path(args.preview or Path(args.out_dir) / f"{task.name}_preview.png")
        print(render_preview(task, png))


if __name__ == "__main__":
    main()
