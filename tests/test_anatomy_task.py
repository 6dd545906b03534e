"""The real-anatomy Decathlon task from Debian's mricron-data: layout and dataset.json, geometry,
every class present, left and right classes on their own side of the midline, determinism.

The atlas files are installed on demand (root with apt-get, as on CI); elsewhere without them
the tests skip with the error that says what to install."""

from __future__ import annotations

import json
import subprocess

import nibabel as nib
import numpy as np
import pytest

from nnunetv2_glsp.data import anatomy
from nnunetv2_glsp.data.mricron import AtlasUnavailableError, find_atlas_dir, load_atlas

SPACING = 5.0  # coarse, so that the whole module takes a few seconds
LABELLED_BOX_MM = np.array([81, 69, 55])  # the twelve structures' box in the template


@pytest.fixture(scope="module")
def atlas_dir():
    try:
        return find_atlas_dir()
    except AtlasUnavailableError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def task(atlas_dir, tmp_path_factory):
    return anatomy.write_decathlon_task(tmp_path_factory.mktemp("msd"), task_id=5, name="Grey",
                                        n_train=5, n_test=1, spacing=SPACING, seed=2,
                                        atlas_dir=atlas_dir)


def test_layout_and_dataset_json(task):
    assert task.name == "Task05_Grey"
    dataset = json.loads((task / "dataset.json").read_text())
    assert dataset["modality"] == {"0": "T1"} and dataset["tensorImageSize"] == "3D"
    assert dataset["labels"]["0"] == "background" and len(dataset["labels"]) == 13
    assert dataset["labels"]["1"] == "left hippocampus"
    assert dataset["labels"]["12"] == "right thalamus"
    assert (dataset["numTraining"], dataset["numTest"]) == (5, 1)
    for entry in dataset["training"]:
        assert (task / entry["image"]).is_file() and (task / entry["label"]).is_file()
    assert dataset["test"] == ["./imagesTs/grey_005.nii.gz"]
    assert (task / "labelsTs" / "grey_005.nii.gz").is_file()


def _cases(task):
    for image_file in sorted((task / "imagesTr").iterdir()) + sorted((task / "imagesTs").iterdir()):
        label_file = task / image_file.parent.name.replace("images", "labels") / image_file.name
        yield nib.load(image_file), nib.load(label_file)


def test_geometry_and_classes(task):
    for image, label in _cases(task):
        assert image.shape == label.shape and np.allclose(image.affine, label.affine)
        assert image.header.get_zooms() == (SPACING,) * 3
        extent = np.array(image.shape) * SPACING  # the labelled box plus 12-30 mm a side
        assert np.all(extent >= LABELLED_BOX_MM + 24 - SPACING)
        assert np.all(extent <= LABELLED_BOX_MM + 60 + SPACING)
        assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
        pixels, classes = image.get_fdata(), np.asarray(label.dataobj)
        assert image.get_data_dtype() == np.float32 and pixels.std() > 0
        assert set(np.unique(classes)) == set(range(13))


def test_left_and_right_lie_on_their_sides(task):
    for _, label in _cases(task):
        classes = np.asarray(label.dataobj)
        x = {value: np.argwhere(classes == value)[:, 0].mean() * label.affine[0, 0]
             for value in range(1, 13)}
        midline = np.mean(list(x.values()))
        for left in range(1, 13, 2):  # RAS: x grows to the patient's right
            assert x[left] < midline < x[left + 1], anatomy.LABELS[str(left)]


def test_seed_determines_the_case(atlas_dir):
    atlas = anatomy.antialias(load_atlas(atlas_dir, anatomy.REGIONS), SPACING)

    def case(seed):
        return anatomy.synthesize_case(atlas, SPACING, np.random.default_rng(seed))

    first, second, other = case(1), case(1), case(2)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)
    assert first[0].shape != other[0].shape or not np.array_equal(first[0], other[0])


def test_missing_files_say_what_to_install(tmp_path, monkeypatch):
    with pytest.raises(AtlasUnavailableError, match=r"does not hold all of ch2\.nii\.gz"):
        find_atlas_dir(tmp_path)
    monkeypatch.delenv("GLSP_MRICRON_DIR", raising=False)
    monkeypatch.setattr("nnunetv2_glsp.data.mricron.SEARCH_DIRS", (tmp_path,))
    with pytest.raises(AtlasUnavailableError, match=r"sudo apt-get install mricron-data"):
        find_atlas_dir(install=False)


def test_install_runs_apt_get_update_when_the_plain_install_fails(tmp_path, monkeypatch):
    calls = []

    def run(command, **_):
        calls.append(command[1])
        templates = tmp_path / "templates"
        if calls == ["install", "update", "install"]:  # the package is known after the update
            templates.mkdir()
            for name in ("ch2.nii.gz", "aal.nii.gz", "aal.nii.txt"):
                (templates / name).touch()
        return subprocess.CompletedProcess(command, int(calls == ["install"]), "", "unknown")

    monkeypatch.delenv("GLSP_MRICRON_DIR", raising=False)
    monkeypatch.setattr("nnunetv2_glsp.data.mricron.SEARCH_DIRS", (tmp_path / "templates",))
    monkeypatch.setattr("nnunetv2_glsp.data.mricron.subprocess.run", run)
    monkeypatch.setattr("nnunetv2_glsp.data.mricron.os.geteuid", lambda: 0, raising=False)
    monkeypatch.setattr("nnunetv2_glsp.data.mricron.shutil.which", lambda _: "/usr/bin/apt-get")
    assert find_atlas_dir() == tmp_path / "templates"
    assert calls == ["install", "update", "install"]
