"""Dataset preparation with the stock nnU-Net commands: Decathlon conversion, planning and
preprocessing (each at most once per dataset), and the shared five-fold split."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nnunetv2_glsp.benchmark import BenchmarkError
from nnunetv2_glsp.benchmark.environment import require_nnunet_paths, stock_command

# nnUNetv2_convert_MSD_dataset splits the folder name at "_" into exactly two parts
MSD_FOLDER = re.compile(r"Task(\d+)_([^_]+)")
MSD_JSON_KEYS = ("modality", "labels", "training", "test")
# plans identifier -> the nnU-Net experiment planner that writes it (-pl)
PLANNERS = {
    "nnUNetPlans": "ExperimentPlanner",
    "nnUNetResEncUNetMPlans": "nnUNetPlannerResEncM",
    "nnUNetResEncUNetLPlans": "nnUNetPlannerResEncL",
    "nnUNetResEncUNetXLPlans": "nnUNetPlannerResEncXL",
}


def msd_task(folder: Path) -> tuple[int, str]:
    """Task id and name of a Decathlon task folder, or an error listing what is wrong."""
    problems = []
    match = MSD_FOLDER.fullmatch(folder.name)
    if match is None:
        problems.append(f"folder name {folder.name!r} is not TaskNN_Name (one underscore)")
    problems += [f"{sub}/ missing" for sub in ("imagesTr", "labelsTr", "imagesTs")
                 if not (folder / sub).is_dir()]
    dataset_json = folder / "dataset.json"
    if not dataset_json.is_file():
        problems.append("dataset.json missing")
    else:
        keys = json.loads(dataset_json.read_text())
        problems += [f"dataset.json has no {key!r}" for key in MSD_JSON_KEYS if key not in keys]
    if problems:
        raise BenchmarkError(f"{folder} does not look like a Decathlon task folder: "
                             + "; ".join(problems))
    assert match is not None
    return int(match.group(1)), match.group(2)


@contextmanager
def dataset_lock(dataset_id: int) -> Iterator[None]:
    """Exclusive lock so concurrent shards prepare a dataset once (the others wait, then skip)."""
    folder = require_nnunet_paths()["nnUNet_preprocessed"]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".benchmark_lock_Dataset{dataset_id:03d}", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_stock(arguments: list[str]) -> None:
    """Run an nnU-Net console script; its output goes to the terminal."""
    command = [stock_command(arguments[0]), *arguments[1:]]
    print("[benchmark] $ " + " ".join(arguments), flush=True)
    if subprocess.run(command).returncode != 0:
        raise BenchmarkError(f"{arguments[0]} failed (command: {' '.join(arguments)})")


def existing_dataset_name(spec: str) -> str:
    """nnU-Net dataset name for an id (``4``) or a name (``Dataset004_Hippocampus``)."""
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    if not re.fullmatch(r"\d+|Dataset\d{3}_.+", spec):
        raise BenchmarkError(f"{spec!r} is neither a Decathlon task folder nor an nnU-Net dataset "
                             "id/name (e.g. 4 or Dataset004_Hippocampus)")
    try:
        return maybe_convert_to_dataset_name(spec)
    except RuntimeError as error:
        raise BenchmarkError(str(error)) from None


def convert_msd(folder: Path, num_processes: int | None) -> str:
    """Convert a Decathlon task unless nnUNet_raw already holds it; returns the dataset name."""
    from nnunetv2.utilities.dataset_name_id_conversion import find_candidate_datasets

    task_id, name = msd_task(folder)
    dataset_name = f"Dataset{task_id:03d}_{name}"
    if (require_nnunet_paths()["nnUNet_raw"] / dataset_name / "dataset.json").is_file():
        return dataset_name
    others = [str(c) for c in find_candidate_datasets(task_id) if str(c) != dataset_name]
    if others:
        raise BenchmarkError(f"dataset id {task_id} is already taken by {others}; "
                             "convert by hand with nnUNetv2_convert_MSD_dataset -overwrite_id")
    np_args = ["-np", str(num_processes)] if num_processes else []
    run_stock(["nnUNetv2_convert_MSD_dataset", "-i", str(folder), *np_args])
    return dataset_name


def preprocess(dataset_name: str, configurations: list[str], plans: str,
               num_processes: int | None) -> None:
    """Plan and preprocess if the plans are missing (with the planner of PLANNERS, reusing the
    dataset fingerprint); preprocess configurations lacking data."""
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    dataset_id = dataset_name[7:10]
    folder = require_nnunet_paths()["nnUNet_preprocessed"] / dataset_name
    plans_file = folder / f"{plans}.json"
    np_args = ["-np", *[str(num_processes)] * len(configurations)] if num_processes else []
    if not plans_file.is_file():
        if plans not in PLANNERS:
            raise BenchmarkError(f"{plans_file} missing, and no nnU-Net planner is known to write "
                                 f"{plans!r} (known: {', '.join(PLANNERS)}): plan it yourself "
                                 "(nnUNetv2_plan_and_preprocess -pl ... -overwrite_plans_name), "
                                 "then rerun")
        npfp = ["-npfp", str(num_processes)] if num_processes else []
        run_stock(["nnUNetv2_plan_and_preprocess", "-d", dataset_id, "-pl", PLANNERS[plans],
                   "-c", *configurations, *np_args, *npfp])
    manager = PlansManager(str(plans_file))
    unknown = [c for c in configurations if c not in manager.available_configurations]
    if unknown:
        raise BenchmarkError(f"configuration(s) {unknown} not in {plans_file} "
                             f"(available: {manager.available_configurations})")
    missing = [c for c in configurations
               if not any((folder / manager.get_configuration(c).data_identifier).glob("*"))]
    if missing:
        run_stock(["nnUNetv2_preprocess", "-d", dataset_id, "-plans_name", plans, "-c", *missing,
                   *(["-np", *[str(num_processes)] * len(missing)] if num_processes else [])])


def ensure_splits(dataset_name: str, configuration: str, plans: str) -> None:
    """Write splits_final.json exactly as nnUNetTrainer.do_split would (seeded five-fold split of
    the preprocessed cases), so concurrent shards never race to create it."""
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class
    from nnunetv2.utilities.crossval_split import generate_crossval_split
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    base = require_nnunet_paths()["nnUNet_preprocessed"] / dataset_name
    splits_file = base / "splits_final.json"
    if splits_file.is_file():
        return
    manager = PlansManager(str(base / f"{plans}.json"))
    data = str(base / manager.get_configuration(configuration).data_identifier)
    identifiers = sorted(infer_dataset_class(data).get_identifiers(data))
    splits = generate_crossval_split(identifiers, seed=12345, n_splits=5)
    partial = splits_file.with_suffix(".json.partial")
    partial.write_text(json.dumps(splits, indent=4))
    os.replace(partial, splits_file)


def prepare_dataset(spec: str, configurations: list[str], plans: list[str],
                    num_processes: int | None) -> str:
    """Convert (Decathlon folder) or look up (id/name) a dataset, plan and preprocess it for
    each plans identifier and split it, once; returns the nnU-Net dataset name."""
    require_nnunet_paths()
    folder = Path(spec)
    if folder.is_dir():
        task_id, _ = msd_task(folder)
        with dataset_lock(task_id):
            name = convert_msd(folder.resolve(), num_processes)
            _plan_all(name, configurations, plans, num_processes)
        return name
    name = existing_dataset_name(spec)
    with dataset_lock(int(name[7:10])):
        _plan_all(name, configurations, plans, num_processes)
    return name


def _plan_all(name: str, configurations: list[str], plans: list[str],
              num_processes: int | None) -> None:
    for identifier in plans:
        preprocess(name, configurations, identifier, num_processes)
    ensure_splits(name, configurations[0], plans[0])
