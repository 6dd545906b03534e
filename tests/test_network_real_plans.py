"""Build the network from plans written by nnU-Net itself (tiny synthetic dataset)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from math import prod
from pathlib import Path

import numpy as np
import pytest
import torch
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from nnunetv2_glsp.network import NetworkConfig, build_network_from_plans

sitk = pytest.importorskip("SimpleITK")
BIN = Path(sys.executable).parent


def _write_dataset(raw: Path, n_cases: int = 3) -> None:
    folder = raw / "Dataset999_Tiny"
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    shape = (24, 48, 40)  # z, y, x; spacing 2.5 x 1 x 1 mm: anisotropic
    for i in range(n_cases):
        label = np.zeros(shape, np.uint8)
        label[5:19, 10:38, 8:30] = 1
        label[9:14, 18:28, 14:24] = 2
        image = rng.normal(size=shape).astype(np.float32) + label
        for array, path in (
            (image, folder / "imagesTr" / f"case{i:03d}_0000.nii.gz"),
            (label, folder / "labelsTr" / f"case{i:03d}.nii.gz"),
        ):
            img = sitk.GetImageFromArray(array)
            img.SetSpacing((1.0, 1.0, 2.5))
            sitk.WriteImage(img, str(path))
    dataset = {
        "channel_names": {"0": "MRI"},
        "labels": {"background": 0, "a": 1, "b": 2},
        "numTraining": n_cases,
        "file_ending": ".nii.gz",
    }
    (folder / "dataset.json").write_text(json.dumps(dataset))


@pytest.fixture(scope="module")
def plans_file(tmp_path_factory) -> Path:
    if shutil.which("nnUNetv2_plan_experiment", path=str(BIN)) is None:
        pytest.skip("nnU-Net command line tools not found next to the interpreter")
    root = tmp_path_factory.mktemp("nnunet")
    env = dict(os.environ)
    env.pop("nnUNet_n_proc_DA", None)  # 0 breaks planning in 2.8.1
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        env[name] = str(root / name)
        (root / name).mkdir()
    _write_dataset(root / "nnUNet_raw")
    for cmd in (
        ["nnUNetv2_extract_fingerprint", "-d", "999", "-np", "1", "--no_pbar"],
        ["nnUNetv2_plan_experiment", "-d", "999"],
    ):
        subprocess.run([str(BIN / cmd[0]), *cmd[1:]], env=env, check=True, capture_output=True)
    return root / "nnUNet_preprocessed" / "Dataset999_Tiny" / "nnUNetPlans.json"


@pytest.mark.parametrize("configuration", ["3d_fullres", "2d"])
def test_build_from_real_nnunet_plans(plans_file, configuration):
    pm = PlansManager(str(plans_file))
    cm = pm.get_configuration(configuration)
    arch = cm.network_arch_init_kwargs
    print(configuration, cm.patch_size, arch["strides"], arch["features_per_stage"])
    torch.manual_seed(0)
    net = build_network_from_plans(pm, cm, 1, 3, True, NetworkConfig(size="S"))
    patch, strides = list(cm.patch_size), arch["strides"]
    x = torch.randn(1, 1, *patch)
    out = net(x)
    assert len(out) == arch["n_stages"] - 1
    for i, o in enumerate(out):
        scale = [prod(s[a] for s in strides[: i + 1]) for a in range(len(patch))]
        assert list(o.shape[2:]) == [p // s for p, s in zip(patch, scale, strict=True)]
    out[0].mean().backward()
    net.decoder.deep_supervision = False
    assert net(x).shape == (1, 3, *patch)
