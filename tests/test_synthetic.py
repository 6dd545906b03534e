"""The synthetic Decathlon task: layout and dataset.json as nnUNetv2_convert_MSD_dataset reads
them, geometry, labels, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813 (the usual alias)

from nnunetv2_glsp.data.synthetic import write_decathlon_task


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return write_decathlon_task(tmp_path_factory.mktemp("msd"), task_id=7, name="Blobs",
                                n_train=5, n_test=2, shape=(16, 24, 24), seed=3)


def test_layout_and_dataset_json(task):
    assert task.name == "Task07_Blobs"
    dataset = json.loads((task / "dataset.json").read_text())
    assert dataset["modality"] == {"0": "MRI"} and dataset["tensorImageSize"] == "3D"
    assert dataset["labels"] == {"0": "background", "1": "ellipsoid", "2": "tube", "3": "shell"}
    assert (dataset["numTraining"], dataset["numTest"]) == (5, 2)
    for entry in dataset["training"]:
        assert entry["image"].startswith("./imagesTr/") and entry["label"].startswith("./labelsTr/")
        assert (task / entry["image"]).is_file() and (task / entry["label"]).is_file()
    assert [(task / path).is_file() for path in dataset["test"]] == [True, True]
    test_labels = sorted(path.name for path in (task / "labelsTs").iterdir())
    assert test_labels == sorted(path.split("/")[-1] for path in dataset["test"])


def test_volumes(task):
    for image_file in sorted((task / "imagesTr").iterdir()) + sorted((task / "imagesTs").iterdir()):
        label_file = task / image_file.parent.name.replace("images", "labels") / image_file.name
        image, label = sitk.ReadImage(str(image_file)), sitk.ReadImage(str(label_file))
        assert image.GetDimension() == 3 and image.GetSize() == (24, 24, 16)
        assert image.GetSpacing() == (1.0, 1.0, 1.5)
        assert image.GetDirection() != (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
        for attribute in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
            assert getattr(image, attribute)() == getattr(label, attribute)()
        values = sitk.GetArrayFromImage(label)
        assert set(np.unique(values)) == {0, 1, 2, 3}  # every structure is present
        pixels = sitk.GetArrayFromImage(image)
        assert pixels.dtype == np.float32 and pixels.std() > 0


def test_seed_determines_the_task(tmp_path):
    first = write_decathlon_task(tmp_path / "a", n_train=5, n_test=1, shape=16, seed=1)
    second = write_decathlon_task(tmp_path / "b", n_train=5, n_test=1, shape=16, seed=1)
    other = write_decathlon_task(tmp_path / "c", n_train=5, n_test=1, shape=16, seed=2)
    case = "imagesTr/synthetic_000.nii.gz"

    def read(folder):
        return sitk.GetArrayFromImage(sitk.ReadImage(str(folder / case)))

    assert np.array_equal(read(first), read(second))
    assert not np.array_equal(read(first), read(other))


@pytest.mark.parametrize(("kwargs", "message"), [({"name": "My_Task"}, "without '_'"),
                                                 ({"n_train": 4}, "5 folds")])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        write_decathlon_task(tmp_path, **kwargs)
