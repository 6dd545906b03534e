"""Five-fold benchmark of nnU-Net trainers (stock nnU-Net commands; resumable, shardable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nnunetv2_glsp.benchmark import BenchmarkError
from nnunetv2_glsp.benchmark.jobs import DEFAULT_PLANS, Job, parse_trainer, trainer_label
from nnunetv2_glsp.benchmark.testset import TestSet

DEFAULT_TRAINERS = ["GLSPTrainer", "MedNeXtTrainer", "GLSPConvBranchTrainer", "nnUNetTrainer"]
DEFAULT_OUTPUT = "glsp_benchmark"

RUN_HELP = """\
Prepare each dataset once (nnUNetv2_convert_MSD_dataset for a Decathlon TaskNN_Name folder,
nnUNetv2_plan_and_preprocess for each plans identifier of -tr/-p unless preprocessed data
exists), then train and validate every (trainer, configuration, fold) with nnUNetv2_train --npz.
Finished folds (checkpoint_final.pth and validation/summary.json) are never rerun; interrupted
ones continue with --c. Each finished fold writes OUTPUT/records/<job>.json; at the end the
report of all records in OUTPUT is written.
Needs nnUNet_raw, nnUNet_preprocessed and nnUNet_results."""

TEST_HELP = """\
Predict the test images with each trainer's ensemble of the given folds (nnUNetv2_predict -f),
timed, and score them against the reference labels (nnUNetv2_evaluate_folder); then write
OUTPUT/test.md, test.csv and test_overlay.png (one case, every trainer side by side). Run after
`benchmark run` has finished the folds. Trainers already scored with the same folds are not
predicted again."""

REPORT_HELP = """\
Merge every record under OUTPUT (from any number of shards) into report.md, summary.csv,
folds.csv and one PNG per dataset/configuration. The first trainer (of -tr, else of the run's
trainer list) is the reference of the paired differences."""


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("datasets", nargs="+", metavar="DATASET",
                        help="Decathlon task folder (TaskNN_Name, e.g. Task04_Hippocampus) or "
                             "an existing nnU-Net dataset id or name (4, Dataset004_Hippocampus)")
    parser.add_argument("-c", "--configurations", nargs="+", default=["3d_fullres"],
                        metavar="CONFIG", help="nnU-Net configurations (default: 3d_fullres)")
    parser.add_argument("-tr", "--trainers", nargs="+", default=DEFAULT_TRAINERS,
                        metavar="TRAINER[@PLANS]",
                        help="trainer class names, each optionally with its own plans identifier "
                             "(e.g. nnUNetTrainer@nnUNetResEncUNetMPlans; reported under that "
                             "name); the first is the reference of the paired differences "
                             f"(default: {' '.join(DEFAULT_TRAINERS)}). Each plans identifier "
                             "needed is planned once: nnUNetPlans and nnU-Net's residual-encoder "
                             "presets (nnUNetResEncUNet{M,L,XL}Plans) with their planner, others "
                             "must exist")
    parser.add_argument("-p", "--plans", default=DEFAULT_PLANS,
                        help=f"plans identifier of trainers given without @PLANS "
                             f"(default: {DEFAULT_PLANS})")
    parser.add_argument("-np", "--num-processes", type=int, default=None, metavar="N",
                        help="processes for conversion, fingerprinting and preprocessing "
                             "(default: nnU-Net's)")


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, default=Path(DEFAULT_OUTPUT),
                        help=f"the benchmark's folder of records, logs and reports (default: "
                             f"./{DEFAULT_OUTPUT}); the same for all shards and `benchmark test`")
    parser.add_argument("-device", "--device", choices=["cuda", "cpu", "mps"], default=None,
                        help="passed to nnU-Net's -device (default: cuda if available, else cpu)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``benchmark`` sub-commands: run, prepare, test, report."""
    parser.description = __doc__
    actions = parser.add_subparsers(dest="action", required=True,
                                    metavar="{run,prepare,test,report}")

    run = actions.add_parser("run", help="train and validate all (or one shard of the) folds",
                             description=RUN_HELP)
    _add_dataset_arguments(run)
    run.add_argument("-f", "--folds", nargs="+", type=int, default=[0, 1, 2, 3, 4], metavar="FOLD",
                     help="folds to run (default: 0 1 2 3 4)")
    run.add_argument("--shard", metavar="i/n",
                     help="run only shard i of n (0-based) of all jobs, e.g. "
                          "--shard $SLURM_ARRAY_TASK_ID/8; shards partition the jobs")
    _add_output_arguments(run)
    run.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                     help="environment variable for the training processes only, repeatable "
                          "(e.g. --env nnUNet_n_proc_DA=0 --env nnUNet_compile=f)")
    run.set_defaults(handler=run_command)

    prepare = actions.add_parser("prepare", help="only convert, plan, preprocess and split "
                                                 "(run once before launching shards, with the "
                                                 "run's -tr and -p)")
    _add_dataset_arguments(prepare)
    prepare.set_defaults(handler=prepare_command)

    test = actions.add_parser("test", help="score each trainer's fold ensemble on the test set",
                              description=TEST_HELP)
    test.add_argument("dataset", metavar="DATASET",
                      help="the Decathlon task folder given to `benchmark run`, or an nnU-Net "
                           "dataset id or name")
    test.add_argument("-c", "--configuration", default="3d_fullres", metavar="CONFIG")
    test.add_argument("-tr", "--trainers", nargs="+", default=DEFAULT_TRAINERS,
                      metavar="TRAINER[@PLANS]", help="as for `benchmark run`")
    test.add_argument("-p", "--plans", default=DEFAULT_PLANS,
                      help="plans identifier of trainers given without @PLANS")
    test.add_argument("-f", "--folds", nargs="+", type=int, default=[0, 1, 2, 3, 4],
                      metavar="FOLD", help="folds of the ensemble (default: 0 1 2 3 4)")
    test.add_argument("--images", type=Path, default=None,
                      help="test images, CASE_0000.nii.gz (default: nnUNet_raw/DATASET/imagesTs)")
    test.add_argument("--labels", type=Path, default=None,
                      help="reference labels, CASE.nii.gz (default: the task folder's labelsTs)")
    test.add_argument("--case", default=None, help="case of the overlay (default: the first)")
    test.add_argument("-np", "--num-processes", type=int, default=None, metavar="N",
                      help="nnUNetv2_predict's preprocessing and export processes (-npp, -nps; "
                           "default: nnU-Net's)")
    _add_output_arguments(test)
    test.set_defaults(handler=test_command)

    report = actions.add_parser("report", help="merge the records into tables and plots",
                                description=REPORT_HELP)
    report.add_argument("-o", "--output", type=Path, default=Path(DEFAULT_OUTPUT),
                        help=f"the run's output folder (default: ./{DEFAULT_OUTPUT})")
    report.add_argument("-tr", "--trainers", nargs="+", default=None, metavar="TRAINER[@PLANS]",
                        help="trainer order for the tables (first = reference), named as in "
                             "the report")
    report.set_defaults(handler=report_command)


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BenchmarkError(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def trainer_pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(trainer, plans) of every -tr entry."""
    return [parse_trainer(spec, args.plans) for spec in args.trainers]


def prepare_all(args: argparse.Namespace) -> list[str]:
    """Check every dataset argument first, then prepare each for every plans identifier the
    trainers need; returns nnU-Net dataset names."""
    from nnunetv2_glsp.benchmark.datasets import existing_dataset_name, msd_task, prepare_dataset
    from nnunetv2_glsp.benchmark.environment import require_nnunet_paths

    require_nnunet_paths()
    plans = list(dict.fromkeys(plans for _, plans in trainer_pairs(args)))
    for spec in args.datasets:
        msd_task(Path(spec)) if Path(spec).is_dir() else existing_dataset_name(spec)
    return [prepare_dataset(spec, args.configurations, plans, args.num_processes)
            for spec in args.datasets]


def run_command(args: argparse.Namespace) -> int:
    from nnunetv2_glsp.benchmark.environment import (
        check_trainers,
        default_device,
        require_nnunet_paths,
    )
    from nnunetv2_glsp.benchmark.execute import run_jobs
    from nnunetv2_glsp.benchmark.jobs import parse_shard, plan_jobs, select_shard

    shard = parse_shard(args.shard) if args.shard else (0, 1)
    require_nnunet_paths()
    if any(fold < 0 for fold in args.folds):
        raise BenchmarkError(f"folds must be >= 0, got {args.folds}")
    env = parse_env(args.env)
    pairs = trainer_pairs(args)
    check_trainers(list(dict.fromkeys(trainer for trainer, _ in pairs)))
    device = args.device or default_device()
    names = prepare_all(args)
    jobs = plan_jobs(names, args.trainers, args.configurations, args.folds, args.plans)
    mine = select_shard(jobs, *shard)
    print(f"[benchmark] {len(mine)} of {len(jobs)} jobs (shard {shard[0]}/{shard[1]}), "
          f"device {device}, output {args.output}", flush=True)
    ranks = {trainer_label(*pair): rank for rank, pair in enumerate(pairs)}
    failed = run_jobs(mine, ranks, device, args.output, env)
    if failed:
        print(f"[benchmark] {len(failed)} job(s) failed: {', '.join(j.job_id for j in failed)}; "
              "rerun the same command to retry them (finished folds are kept)", file=sys.stderr)
    write_outputs(args.output, list(ranks))
    return 1 if failed else 0


def prepare_command(args: argparse.Namespace) -> int:
    for name in prepare_all(args):
        print(f"[benchmark] {name} is ready", flush=True)
    return 0


def write_outputs(output: Path, order: list[str] | None) -> None:
    """Write report, CSVs and plots from the records in ``output`` and print the report."""
    from nnunetv2_glsp.benchmark.plots import write_plots
    from nnunetv2_glsp.benchmark.records import load_records
    from nnunetv2_glsp.benchmark.report import markdown, write_report

    records = load_records(output)
    if not records:
        raise BenchmarkError(f"no records under {output / 'records'} (has a run finished a fold?)")
    paths = write_report(records, output, order) + write_plots(records, output, order)
    print(markdown(records, order))
    print("[benchmark] wrote " + ", ".join(str(p) for p in paths), flush=True)


def test_set(args: argparse.Namespace) -> TestSet:
    """The test images and labels of ``args.dataset`` (their folders checked; the cases are
    checked by ``TestSet.cases``)."""
    from nnunetv2_glsp.benchmark.datasets import existing_dataset_name, msd_task
    from nnunetv2_glsp.benchmark.environment import require_nnunet_paths

    folder = Path(args.dataset)
    if folder.is_dir():
        task_id, name = msd_task(folder)
        dataset, labels = f"Dataset{task_id:03d}_{name}", args.labels or folder / "labelsTs"
    else:
        dataset, labels = existing_dataset_name(args.dataset), args.labels
        if labels is None:
            raise BenchmarkError("--labels is needed for a dataset given by id or name")
    images = args.images or require_nnunet_paths()["nnUNet_raw"] / dataset / "imagesTs"
    if not images.is_dir() or not labels.is_dir():
        missing = images if not images.is_dir() else labels
        raise BenchmarkError(f"{missing} is not a folder (run `benchmark run` first, or pass "
                             "--images/--labels)")
    return TestSet(dataset, images, labels)


def test_command(args: argparse.Namespace) -> int:
    from nnunetv2_glsp.benchmark.environment import check_trainers, default_device
    from nnunetv2_glsp.benchmark.plots import plot_test_overlay
    from nnunetv2_glsp.benchmark.records import fold_folder
    from nnunetv2_glsp.benchmark.report import ensemble_markdown, ensemble_rows, write_csv
    from nnunetv2_glsp.benchmark.testset import score_all

    pairs = trainer_pairs(args)
    check_trainers(list(dict.fromkeys(trainer for trainer, _ in pairs)))
    tests = test_set(args)
    jobs = [Job(tests.dataset, trainer, args.configuration, fold, plans)
            for trainer, plans in pairs for fold in args.folds]
    unfinished = [job.job_id for job in jobs
                  if not (fold_folder(job) / "checkpoint_final.pth").is_file()]
    if unfinished:
        raise BenchmarkError(f"{len(unfinished)} fold(s) not trained: {', '.join(unfinished)}; "
                             "finish them with `benchmark run` first")
    cases = tests.cases()
    case = args.case or cases[0]
    if case not in cases:
        raise BenchmarkError(f"--case {case!r} is not a test case (e.g. {cases[0]})")
    records = score_all(tests, [(trainer_label(*pair), *pair) for pair in pairs],
                        args.configuration, args.folds, args.device or default_device(),
                        args.num_processes, args.output)
    text = ensemble_markdown(records)
    (args.output / "test.md").write_text(text)
    write_csv(ensemble_rows(records), args.output / "test.csv")
    figure = plot_test_overlay(tests.images, tests.labels, records, case,
                               args.output / "test_overlay.png")
    print(text)
    print(f"[benchmark] wrote {args.output / 'test.md'}, {args.output / 'test.csv'}, {figure}",
          flush=True)
    return 0


def report_command(args: argparse.Namespace) -> int:
    write_outputs(args.output, args.trainers)
    return 0


def main(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action; user errors are printed without a traceback."""
    try:
        return args.handler(args)
    except BenchmarkError as error:
        print(f"nnunetv2_glsp benchmark: error: {error}", file=sys.stderr)
        return 2
