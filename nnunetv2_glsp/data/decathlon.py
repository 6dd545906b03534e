"""Decathlon task layout shared by the generators: the task folder, case files, dataset.json.

``TaskNNN_Name/{imagesTr, labelsTr, imagesTs, labelsTs}`` and ``dataset.json`` as
``nnUNetv2_convert_MSD_dataset`` reads them; ``labelsTs`` holds the test cases' ground truth.
Case ``i`` is ``name_iii.nii.gz``, a training case when ``i < n_train``, else a test case.
"""

from __future__ import annotations

import json
from pathlib import Path


def make_task_dir(out_dir: str | Path, task_id: int, name: str, n_train: int) -> Path:
    """Create and return ``out_dir/TaskNNN_Name`` with its four case folders."""
    if "_" in name or not name:
        raise ValueError(f"task name {name!r} must be non-empty without '_' "
                         f"(nnUNetv2_convert_MSD_dataset splits the folder name at '_')")
    if n_train < 5:
        raise ValueError("n_train must be >= 5: nnU-Net cross-validates over 5 folds")
    task = Path(out_dir) / f"Task{task_id:02d}_{name}"
    for folder in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        (task / folder).mkdir(parents=True, exist_ok=True)
    return task


def _case_name(task: Path, index: int) -> str:
    return f"{task.name.split('_', 1)[1].lower()}_{index:03d}.nii.gz"


def case_files(task: Path, index: int, n_train: int) -> tuple[Path, Path]:
    """(image, label) paths of case ``index``."""
    split = "Tr" if index < n_train else "Ts"
    name = _case_name(task, index)
    return task / f"images{split}" / name, task / f"labels{split}" / name


def write_dataset_json(task: Path, n_train: int, n_test: int, **fields: object) -> None:
    """dataset.json with ``fields`` (name, description, reference, licence, modality, labels,
    ...) and the case lists of ``n_train`` training and ``n_test`` test cases."""
    names = [_case_name(task, index) for index in range(n_train + n_test)]
    dataset = {
        **fields,
        "numTraining": n_train,
        "numTest": n_test,
        "training": [{"image": f"./imagesTr/{case}", "label": f"./labelsTr/{case}"}
                     for case in names[:n_train]],
        "test": [f"./imagesTs/{case}" for case in names[n_train:]],
    }
    (task / "dataset.json").write_text(json.dumps(dataset, indent=4))
