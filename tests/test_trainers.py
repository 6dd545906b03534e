"""The GLSPTrainer family: configuration by class attributes, optimiser, compile policy, and the
network built for each nnU-Net configuration (2d, 3d_fullres, 3d_lowres, 3d_cascade_fullres)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import warnings
from copy import deepcopy

import pytest
import torch
from conftest import make_plans
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

import nnunetv2_glsp
from nnunetv2_glsp import trainers
from nnunetv2_glsp.network.config import NetworkConfig
from nnunetv2_glsp.trainers import (
    GLSPConvBranchTrainer_cpu,
    GLSPConvBranchTrainer_tiny,
    GLSPTrainer,
    GLSPTrainer_cpu,
    GLSPTrainer_demo,
    GLSPTrainer_k5,
    GLSPTrainer_RWKVUNetBlock,
    GLSPTrainer_S,
    GLSPTrainer_S_tiny,
    GLSPTrainer_tiny,
    MedNeXtTrainer,
    MedNeXtTrainer_cpu,
    MedNeXtTrainer_S_tiny,
    MedNeXtTrainer_tiny,
    nnUNetTrainer_cpu,
)
from nnunetv2_glsp.trainers.configured import ClassConfiguredTrainer
from nnunetv2_glsp.trainers.schedules import CPUBenchmarkSchedule, TinySchedule

DATASET_JSON = {
    "channel_names": {"0": "MRI"},
    "labels": {"background": 0, "a": 1, "b": 2},
    "numTraining": 5,
    "file_ending": ".nii.gz",
}


def make_trainer(
    cls: type, configuration: str = "3d_fullres", device: str = "cpu"
) -> nnUNetTrainer:
    plans = make_plans() | {"continue_training": False}
    return cls(plans, configuration, 0, DATASET_JSON, torch.device(device))


@pytest.fixture(autouse=True)
def results_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("nnUNet_results", str(tmp_path))
    monkeypatch.setenv("nnUNet_preprocessed", str(tmp_path))


def test_every_network_field_is_a_class_attribute_with_its_default():
    for field in dataclasses.fields(NetworkConfig):
        assert field.name in vars(GLSPTrainer), f"GLSPTrainer lacks attribute {field.name}"
    assert GLSPTrainer.network_config() == NetworkConfig()


def test_variants_change_only_what_they_name():
    default = NetworkConfig()
    assert GLSPTrainer_S.network_config() == dataclasses.replace(default, size="S")
    assert GLSPTrainer_k5.network_config() == dataclasses.replace(default, kernel_size=5)
    assert MedNeXtTrainer.network_config() == dataclasses.replace(default, branch="none")
    assert GLSPConvBranchTrainer_tiny.network_config() == dataclasses.replace(
        default, branch="conv"
    )
    assert MedNeXtTrainer_tiny.network_config() == MedNeXtTrainer.network_config()
    assert GLSPTrainer_S_tiny.network_config() == GLSPTrainer_S.network_config()
    assert MedNeXtTrainer_S_tiny.network_config() == dataclasses.replace(
        default, branch="none", size="S")
    for name in trainers.__all__:
        cls = getattr(trainers, name)
        assert issubclass(cls, ClassConfiguredTrainer) and cls.__name__ == name
        assert list(inspect.signature(cls.__init__).parameters) == [
            "self",
            "plans",
            "configuration",
            "fold",
            "dataset_json",
            "device",
        ]


def test_schedule_and_optimiser():
    trainer = make_trainer(GLSPTrainer_tiny)
    names = ("num_epochs", "num_iterations_per_epoch", "num_val_iterations_per_epoch", "save_every")
    applied = [getattr(trainer, name) for name in names]
    assert applied == [getattr(TinySchedule, name) for name in names]
    assert applied[0] < 1000 and applied[1] < 250 and applied[-1] == 1  # not nnU-Net's defaults
    demo = make_trainer(GLSPTrainer_demo)
    assert demo.num_epochs == GLSPTrainer_demo.num_epochs and demo.save_every < demo.num_epochs
    full = make_trainer(GLSPTrainer)
    assert (full.num_epochs, full.num_iterations_per_epoch, full.initial_lr) == (1000, 250, 1e-3)
    full.network = torch.nn.Linear(2, 2)
    optimizer, scheduler = full.configure_optimizers()
    assert isinstance(optimizer, torch.optim.AdamW) and isinstance(scheduler, PolyLRScheduler)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["eps"], group["weight_decay"]) == (1e-3, 1e-4, 3e-5)
    scheduler.step(500)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5**0.9)


def test_cpu_benchmark_trainers_share_one_schedule_and_keep_their_recipes():
    names = ("num_epochs", "num_iterations_per_epoch", "num_val_iterations_per_epoch", "save_every")
    schedule = [getattr(CPUBenchmarkSchedule, name) for name in names]
    size_s = NetworkConfig(size="S")
    expected = {GLSPTrainer_cpu: size_s,
                MedNeXtTrainer_cpu: dataclasses.replace(size_s, branch="none"),
                GLSPConvBranchTrainer_cpu: dataclasses.replace(size_s, branch="conv")}
    for cls, config in expected.items():
        trainer = make_trainer(cls)
        assert [getattr(trainer, name) for name in names] == schedule
        assert cls.network_config() == config and trainer.initial_lr == 1e-3
    stock = make_trainer(nnUNetTrainer_cpu)
    reference = make_trainer(nnUNetTrainer)
    assert [getattr(stock, name) for name in names] == schedule
    assert [getattr(reference, name) for name in names] != schedule
    assert (stock.initial_lr, stock.weight_decay) == (reference.initial_lr, reference.weight_decay)
    assert type(stock).build_network_architecture is nnUNetTrainer.build_network_architecture
    assert type(stock).configure_optimizers is nnUNetTrainer.configure_optimizers
    *_, training_axes = stock.configure_rotation_dummyDA_mirroring_and_inital_patch_size()
    assert training_axes == (0, 1, 2) and stock.inference_allowed_mirroring_axes is None


@pytest.mark.parametrize("configuration", ["2d", "3d_fullres"])
def test_tiny_trainers_mirror_in_training_only(configuration):
    axes = (0, 1) if configuration == "2d" else (0, 1, 2)
    for cls, inference_axes in ((GLSPTrainer, axes), (GLSPTrainer_tiny, None)):
        trainer = make_trainer(cls, configuration)
        *_, training_axes = trainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        assert training_axes == axes
        assert trainer.inference_allowed_mirroring_axes == inference_axes


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("1", True), ("f", False)])
def test_compile_only_when_requested(monkeypatch, value, expected):
    monkeypatch.delenv("nnUNet_compile", raising=False)
    if value is not None:
        monkeypatch.setenv("nnUNet_compile", value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GradScaler warns when CUDA is missing
        trainer = make_trainer(GLSPTrainer, device="cuda")
    assert trainer._do_i_compile() is expected
    assert nnUNetTrainer._do_i_compile(trainer) is (value != "f")  # nnU-Net's default is on
    assert make_trainer(GLSPTrainer)._do_i_compile() is False  # nnU-Net never compiles on CPU


@pytest.mark.parametrize("configuration", ["2d", "3d_fullres", "3d_lowres", "3d_cascade_fullres"])
def test_network_for_each_configuration(configuration):
    plans_manager = PlansManager(make_plans())
    manager = plans_manager.get_configuration(configuration)
    channels = determine_num_input_channels(plans_manager, manager, DATASET_JSON)
    assert channels == (3 if configuration == "3d_cascade_fullres" else 1)  # + one-hot lowres seg
    torch.manual_seed(0)
    network = GLSPTrainer_S.build_network_architecture(plans_manager, manager, channels, 3, True)
    patch = manager.patch_size
    outputs = network(torch.randn(1, channels, *patch))
    strides = torch.tensor(manager.pool_op_kernel_sizes)
    assert len(outputs) == len(strides) - 1
    for level, output in enumerate(outputs):
        expected = torch.tensor(patch) // torch.prod(strides[: level + 1], dim=0)
        assert list(output.shape) == [1, 3, *expected.tolist()]
    # inference builds without deep supervision and loads the training checkpoint strictly
    inference = GLSPTrainer_S.build_network_architecture(plans_manager, manager, channels, 3, False)
    inference.load_state_dict(network.state_dict(), strict=True)
    inference.eval()
    with torch.no_grad():
        assert inference(torch.randn(1, channels, *patch)).shape == (1, 3, *patch)


def test_trainer_toggles_deep_supervision():
    trainer = make_trainer(GLSPTrainer_S)
    trainer.network = trainer.build_network_architecture(
        trainer.plans_manager, trainer.configuration_manager, 1, 3, True
    )
    trainer.set_deep_supervision_enabled(False)
    trainer.network.eval()
    with torch.no_grad():
        assert isinstance(trainer.network(torch.randn(1, 1, 16, 32, 32)), torch.Tensor)


def test_bad_patch_and_unsupported_dimension_explain_the_fix():
    plans = make_plans()
    plans["configurations"]["3d_fullres"]["patch_size"] = [16, 30, 32]
    broken = deepcopy(plans["configurations"]["2d"]) | {"patch_size": [32]}
    broken["architecture"]["arch_kwargs"]["strides"] = [[1], [2], [2], [2]]
    plans["configurations"]["1d"] = broken
    manager = PlansManager(plans)
    with pytest.raises(ValueError, match=r"patch_size \[16, 30, 32\] is not divisible .* multiple"):
        GLSPTrainer.build_network_architecture(
            manager, manager.get_configuration("3d_fullres"), 1, 3
        )
    with pytest.raises(ValueError, match="use a 2d or 3d_\\* nnU-Net configuration"):
        GLSPTrainer.build_network_architecture(manager, manager.get_configuration("1d"), 1, 3)


def test_block_variant_adds_rwkv_unet_steps_only():
    assert GLSPTrainer_RWKVUNetBlock.network_config() == dataclasses.replace(
        NetworkConfig(), pw_activation=True, local_residual=True)


def _trained(cls: type, folder) -> nnUNetTrainer:
    """A trainer of ``cls`` (initialised, untrained) whose checkpoint_final.pth is in
    ``folder``/fold_0, beside plans.json and dataset.json: a model folder as nnU-Net writes it."""
    trainer = make_trainer(cls)
    # initialize() picks nnU-Net's dataset class by the file endings it finds there
    os.makedirs(trainer.preprocessed_dataset_folder)
    open(os.path.join(trainer.preprocessed_dataset_folder, "case.b2nd"), "w").close()
    trainer.initialize()
    (folder / "fold_0").mkdir(parents=True)
    trainer.save_checkpoint(str(folder / "fold_0" / "checkpoint_final.pth"))
    (folder / "plans.json").write_text(json.dumps(trainer.plans_manager.plans))
    (folder / "dataset.json").write_text(json.dumps(DATASET_JSON))
    return trainer


def _predictor(folder) -> nnUNetPredictor:
    predictor = nnUNetPredictor(device=torch.device("cpu"), use_mirroring=False,
                                perform_everything_on_device=False, allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(folder), (0,), "checkpoint_final.pth")
    return predictor


def test_checkpoints_record_the_network_config(tmp_path):
    trainer = _trained(GLSPTrainer_S_tiny, tmp_path / "model")
    checkpoint = torch.load(tmp_path / "model" / "fold_0" / "checkpoint_final.pth",
                            weights_only=True)
    record = checkpoint["network_weights"]["config_record._extra_state"]
    assert record == {"network_config": dataclasses.asdict(GLSPTrainer_S_tiny.network_config()),
                      "version": nnunetv2_glsp.__version__}
    # the same config: the network nnU-Net's predictor builds and loads is the trained one
    predictor = _predictor(tmp_path / "model")
    x = torch.randn(1, 1, 16, 32, 32)
    trainer.network.eval()
    predictor.network.eval()
    with torch.no_grad():
        assert torch.equal(predictor.network(x), trainer.network(x)[0])


def test_a_changed_network_default_stops_prediction_and_continuation(tmp_path, monkeypatch):
    _trained(GLSPTrainer_S_tiny, tmp_path / "model")
    monkeypatch.setattr(GLSPTrainer, "local_residual", True)  # as a new version's default would
    message = (r"local_residual: checkpoint False, this network True.*nnunetv2-glsp "
               r"0\.\d+\.\d+.*trainer subclass that sets local_residual = False")
    with pytest.raises(RuntimeError, match=message):
        _predictor(tmp_path / "model")
    continued = make_trainer(GLSPTrainer_S_tiny)
    continued.initialize()  # the same preprocessed folder as _trained's
    with pytest.raises(RuntimeError, match=message):  # what nnUNetv2_train --c calls
        continued.load_checkpoint(str(tmp_path / "model" / "fold_0" / "checkpoint_final.pth"))


def test_a_checkpoint_without_record_loads_with_a_warning():
    plans_manager = PlansManager(make_plans())
    manager = plans_manager.get_configuration("3d_fullres")
    network = GLSPTrainer_S.build_network_architecture(plans_manager, manager, 1, 3, True)
    old = {k: v for k, v in network.state_dict().items() if not k.startswith("config_record")}
    assert len(old) == len(network.state_dict()) - 1
    with pytest.warns(UserWarning,
                      match=r"no network config record .*\(GLSPTrainer_RWKVUNetBlock\)"):
        network.load_state_dict(old, strict=True)


def test_a_record_from_another_version_names_it_in_the_fix():
    plans_manager = PlansManager(make_plans())
    manager = plans_manager.get_configuration("3d_fullres")
    network = GLSPTrainer_S.build_network_architecture(plans_manager, manager, 1, 3, True)
    state = network.state_dict()
    state["config_record._extra_state"] = {
        "network_config": {**dataclasses.asdict(GLSPTrainer_S.network_config()), "se_ratio": 0.5},
        "version": "0.9.1"}
    with pytest.raises(RuntimeError, match=r"se_ratio: checkpoint 0.5, this network 0.25.*"
                                           r"pip install nnunetv2-glsp==0.9.1\), or use a trainer "
                                           r"subclass that sets se_ratio = 0.5"):
        network.load_state_dict(state)
    with pytest.raises(RuntimeError, match="se_ratio"):  # like a parameter of another shape
        network.load_state_dict(state, strict=False)
