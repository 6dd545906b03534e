"""Benchmark command line: clear errors before any work starts, and the measuring launcher."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nnunetv2_glsp.cli import main

PATHS = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")


@pytest.fixture
def nnunet_env(tmp_path, monkeypatch):
    for name in PATHS:
        monkeypatch.setenv(name, str(tmp_path / name))
    return tmp_path


def error_of(argv: list[str], capsys) -> str:
    assert main(["benchmark", *argv]) == 2
    return capsys.readouterr().err


def test_missing_nnunet_variables(monkeypatch, capsys):
    for name in PATHS:
        monkeypatch.delenv(name, raising=False)
    message = error_of(["run", "4", "-tr", "nnUNetTrainer"], capsys)
    assert "nnUNet_raw, nnUNet_preprocessed, nnUNet_results not set" in message


@pytest.mark.parametrize("shard", ["2/2", "x", "1/0"])
def test_bad_shard(nnunet_env, capsys, shard):
    assert "--shard" in error_of(["run", "4", "--shard", shard], capsys)


def test_bad_env_pair(nnunet_env, capsys):
    assert "KEY=VALUE" in error_of(["run", "4", "--env", "nnUNet_n_proc_DA"], capsys)


def test_unknown_trainers_are_all_named(nnunet_env, capsys):
    message = error_of(["run", "4", "-tr", "nnUNetTrainer", "NoSuchTrainer", "NorThis"], capsys)
    assert "unknown trainer 'NoSuchTrainer'" in message
    assert "unknown trainer 'NorThis'" in message
    assert "'nnUNetTrainer'" not in message


def test_folder_that_is_not_a_decathlon_task(nnunet_env, capsys):
    folder = nnunet_env / "Task04_Hippo_campus"
    (folder / "imagesTr").mkdir(parents=True)
    message = error_of(["run", str(folder), "-tr", "nnUNetTrainer"], capsys)
    assert "does not look like a Decathlon task folder" in message
    assert "not TaskNN_Name" in message
    assert "labelsTr/ missing" in message
    assert "dataset.json missing" in message


def test_dataset_argument_that_is_neither_folder_nor_id(nnunet_env, capsys):
    message = error_of(["run", "Hippocampus", "-tr", "nnUNetTrainer"], capsys)
    assert "neither a Decathlon task folder nor an nnU-Net dataset" in message


def test_report_without_records(tmp_path, capsys):
    assert "no records" in error_of(["report", "-o", str(tmp_path)], capsys)


def test_launcher_records_a_failed_training(nnunet_env):
    stats = nnunet_env / "stats.json"
    command = [sys.executable, "-m", "nnunetv2_glsp.benchmark.launcher", str(stats), "--",
               "999", "3d_fullres", "0", "-device", "cpu"]
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode != 0
    recorded = json.loads(stats.read_text())
    assert recorded["exit_status"] != 0
    assert recorded["command"] == ["nnUNetv2_train", "999", "3d_fullres", "0", "-device", "cpu"]
    assert recorded["peak_rss_bytes"] > 10 * 1024**2
    assert "peak_gpu_allocated_bytes" not in recorded  # CUDA never used
