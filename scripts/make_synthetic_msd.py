"""Write the synthetic Decathlon task (see ``nnunetv2_glsp.data.synthetic``).

Example: python scripts/make_synthetic_msd.py /tmp/msd --task-id 990 --n-train 20 --n-test 5
then:    nnUNetv2_convert_MSD_dataset -i /tmp/msd/Task990_Synthetic
"""

from __future__ import annotations

import argparse

from nnunetv2_glsp.data.synthetic import write_decathlon_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="folder to write TaskNNN_Name into")
    parser.add_argument("--task-id", type=int, default=990)
    parser.add_argument("--name", default="Synthetic", help="task name (no '_')")
    parser.add_argument("--n-train", type=int, default=20)
    parser.add_argument("--n-test", type=int, default=5)
    parser.add_argument("--shape", type=int, nargs=3, default=(32, 48, 48), metavar=("Z", "Y", "X"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    task = write_decathlon_task(args.out_dir, task_id=args.task_id, name=args.name,
                                n_train=args.n_train, n_test=args.n_test, shape=tuple(args.shape),
                                seed=args.seed)
    print(task)


if __name__ == "__main__":
    main()
