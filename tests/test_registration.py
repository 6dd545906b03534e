"""Automatic registration: a fresh interpreter of the installed package finds the trainers."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import nnunetv2_glsp
import nnunetv2_glsp_startup
from nnunetv2_glsp import registration, trainers

EXT = registration.EXT_TRAINER_DIR


def fresh_python(code: str, **env: str) -> str:
    """Run code in a new interpreter with a clean environment (plus ``env``); its stdout."""
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=clean,
        capture_output=True,
        text=True,
        cwd=Path(EXT).anchor,
        check=True,
    )
    return result.stdout.strip()


PRINT_VAR = "import os; print(os.environ.get('nnUNet_extTrainer', '<unset>'))"


def test_fresh_interpreter_is_registered_without_loading_torch():
    code = PRINT_VAR + "; import sys; print('torch' in sys.modules, 'nnunetv2' in sys.modules)"
    assert fresh_python(code).splitlines() == [EXT, "False False"]


def test_opt_out():
    assert fresh_python(PRINT_VAR, NNUNETV2_GLSP_NO_AUTOREGISTER="1") == "<unset>"
    assert fresh_python(PRINT_VAR, NNUNETV2_GLSP_NO_AUTOREGISTER="0") == EXT


def test_user_value_is_kept_and_not_duplicated(tmp_path):
    user = os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])
    assert fresh_python(PRINT_VAR, nnUNet_extTrainer=user) == user + os.pathsep + EXT
    assert (
        fresh_python(PRINT_VAR, nnUNet_extTrainer=user + os.pathsep + EXT)
        == user + os.pathsep + EXT
    )


def test_register_api_is_idempotent(monkeypatch):
    monkeypatch.setenv("nnUNet_extTrainer", "/somewhere")
    assert nnunetv2_glsp.register() == "/somewhere" + os.pathsep + EXT
    assert nnunetv2_glsp.register() == "/somewhere" + os.pathsep + EXT
    monkeypatch.delenv("nnUNet_extTrainer")
    assert not registration.is_registered()
    assert nnunetv2_glsp.register() == EXT


def test_startup_files_call_the_hook():
    site_packages = Path(nnunetv2_glsp_startup.__file__).parent
    pth = (site_packages / "nnunetv2_glsp.pth").read_text().strip()
    start = (site_packages / "nnunetv2_glsp.start").read_text().strip()
    assert pth == "import nnunetv2_glsp_startup; nnunetv2_glsp_startup.autoregister()"
    # PEP 829 (Python >= 3.15): one ``pkg.mod:callable`` entry point per line, called with no args
    assert pkgutil.resolve_name(start) is nnunetv2_glsp_startup.autoregister


def test_ext_folder_holds_only_the_reexport_module():
    modules = sorted(name for _, name, _ in pkgutil.iter_modules([EXT]))
    assert modules == ["glsp_trainers"]
    from nnunetv2_glsp.nnunet_ext import glsp_trainers

    assert glsp_trainers.__all__ == trainers.__all__
    assert all(getattr(glsp_trainers, name) is getattr(trainers, name) for name in trainers.__all__)


@pytest.mark.parametrize("variable", [None, "opt_out_with_manual_export"])
def test_nnunet_lookup_in_fresh_interpreter(variable):
    env = (
        {} if variable is None else {"NNUNETV2_GLSP_NO_AUTOREGISTER": "1", "nnUNet_extTrainer": EXT}
    )
    code = (
        "import contextlib, io, pickle\n"
        "from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name as find\n"
        f"for name in {trainers.__all__!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        cls = find(name)\n"
        "    assert cls.__name__ == name and pickle.loads(pickle.dumps(cls)) is cls\n"
        "    print(cls.__module__)\n"
    )
    modules = fresh_python(code, **env).splitlines()
    assert len(modules) == len(trainers.__all__)
    assert all(module.startswith("nnunetv2_glsp.trainers.") for module in modules)


def test_lookup_fails_when_opted_out_without_export():
    code = (
        "from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name as find\n"
        "try:\n    find('GLSPTrainer')\nexcept RuntimeError as error:\n    print('not found')\n"
    )
    assert fresh_python(code, NNUNETV2_GLSP_NO_AUTOREGISTER="1").endswith("not found")
