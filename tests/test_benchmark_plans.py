"""Plans per trainer (``-tr TRAINER@PLANS``): each plans identifier is prepared once, with the
nnU-Net planner that writes it."""

from __future__ import annotations

import inspect
from os.path import join

import nnunetv2
import pytest
from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

from nnunetv2_glsp.benchmark import BenchmarkError, datasets
from nnunetv2_glsp.cli import main


@pytest.mark.parametrize(("plans", "planner"), list(datasets.PLANNERS.items()))
def test_planners_write_their_plans(plans, planner):
    planner_class = recursive_find_python_class(join(nnunetv2.__path__[0], "experiment_planning"),
                                                planner, "nnunetv2.experiment_planning")
    assert inspect.signature(planner_class.__init__).parameters["plans_name"].default == plans


class StopError(Exception):
    """Stands in for the stock command, ending the test there."""


@pytest.fixture
def commands(tmp_path, monkeypatch):
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / name))
    issued = []

    def run_stock(arguments):
        issued.append(arguments)
        raise StopError

    monkeypatch.setattr(datasets, "run_stock", run_stock)
    return issued


def test_missing_plans_are_planned_with_their_planner(commands):
    with pytest.raises(StopError):
        datasets.preprocess("Dataset992_DeepGrey", ["3d_fullres"], "nnUNetResEncUNetMPlans", 2)
    assert commands == [["nnUNetv2_plan_and_preprocess", "-d", "992", "-pl", "nnUNetPlannerResEncM",
                         "-c", "3d_fullres", "-np", "2", "-npfp", "2"]]
    with pytest.raises(BenchmarkError, match="no nnU-Net planner is known to write 'MyPlans'"):
        datasets.preprocess("Dataset992_DeepGrey", ["3d_fullres"], "MyPlans", None)


def test_prepare_takes_each_plans_of_the_trainers_once(commands, monkeypatch):
    prepared = []
    monkeypatch.setattr(datasets, "existing_dataset_name", lambda spec: "Dataset992_DeepGrey")
    monkeypatch.setattr(datasets, "prepare_dataset",
                        lambda spec, configurations, plans, processes: prepared.append(plans))
    trainers = ["GLSPTrainer", "nnUNetTrainer@nnUNetResEncUNetMPlans", "nnUNetTrainer"]
    assert main(["benchmark", "prepare", "992", "-tr", *trainers]) == 0
    assert prepared == [["nnUNetPlans", "nnUNetResEncUNetMPlans"]]


def test_run_trains_each_pair_and_ranks_it_by_its_name(commands, monkeypatch):
    from nnunetv2_glsp.benchmark import cli, environment, execute

    checked, runs, orders = [], [], []
    monkeypatch.setattr(datasets, "existing_dataset_name", lambda spec: "Dataset992_DeepGrey")
    monkeypatch.setattr(datasets, "prepare_dataset", lambda *args: "Dataset992_DeepGrey")
    monkeypatch.setattr(environment, "check_trainers", checked.extend)
    monkeypatch.setattr(execute, "run_jobs", lambda jobs, ranks, *_: runs.append((jobs, ranks)))
    monkeypatch.setattr(cli, "write_outputs", lambda output, order: orders.append(order))
    resenc = "nnUNetTrainer@nnUNetResEncUNetMPlans"
    assert main(["benchmark", "run", "992", "-tr", "GLSPTrainer", resenc, "nnUNetTrainer",
                 "-f", "0", "-device", "cpu"]) == 0
    assert checked == ["GLSPTrainer", "nnUNetTrainer"]
    [(jobs, ranks)] = runs
    assert [(job.trainer, job.plans) for job in jobs] == [
        ("GLSPTrainer", "nnUNetPlans"), ("nnUNetTrainer", "nnUNetResEncUNetMPlans"),
        ("nnUNetTrainer", "nnUNetPlans")]
    assert ranks == {"GLSPTrainer": 0, resenc: 1, "nnUNetTrainer": 2}
    assert orders == [["GLSPTrainer", resenc, "nnUNetTrainer"]]
