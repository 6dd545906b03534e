"""Write the real-anatomy Decathlon task (see ``nnunetv2_glsp.data.anatomy``).

Example: python scripts/make_anatomy_task.py /tmp/msd --preview
then:    nnUNetv2_convert_MSD_dataset -i /tmp/msd/Task992_DeepGrey
Needs Debian's mricron-data (installed on demand when run as root), or --atlas-dir.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nnunetv2_glsp.data.anatomy import write_decathlon_task
from nnunetv2_glsp.data.preview import render_preview


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="folder to write TaskNNN_Name into")
    parser.add_argument("--task-id", type=int, default=992)
    parser.add_argument("--name", default="DeepGrey", help="task name (no '_')")
    parser.add_argument("--n-train", type=int, default=24)
    parser.add_argument("--n-test", type=int, default=6)
    parser.add_argument("--spacing", type=float, default=2.5, help="isotropic voxel size, mm")
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
