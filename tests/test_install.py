"""Editable and regular installs both register the trainers: in a new virtual environment, a
fresh interpreter with no variable set finds GLSPTrainer as ``nnUNetv2_train`` does, and after
``pip uninstall`` it no longer does.

The new environment sees the test environment's packages (torch, nnU-Net, setuptools) through a
folder of links to them that leaves out nnunetv2-glsp itself; the extension is not built
(GLSP_BUILD_EXTENSION=0) since only the lookup is under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = ("nnunetv2_glsp", "__editable__", "__pycache__")  # our files, by name prefix
LOOKUP = """
import contextlib, io, sys
from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name
with contextlib.redirect_stdout(io.StringIO()):
    trainer = recursive_find_trainer_class_by_name("GLSPTrainer")
print(sys.modules[trainer.__module__].__file__)
"""


@pytest.fixture
def environment(tmp_path) -> Path:
    """A new venv (its python) whose only extra packages are those of this one, not ours."""
    deps = tmp_path / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(OURS):
            (deps / entry.name).symlink_to(entry)
    venv.create(tmp_path / "env", with_pip=False)
    python = tmp_path / "env" / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True)
    Path(purelib.stdout.strip(), "deps.pth").write_text(f"{deps}\n")
    return python


def clean_env() -> dict[str, str]:
    drop = ("nnUNet_extTrainer", "PYTHONPATH", "NNUNETV2_GLSP_NO_AUTOREGISTER", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in drop} | {
        "GLSP_WKV_BACKEND": "fallback", "GLSP_BUILD_EXTENSION": "0"}


def pip(python: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "-q",
                    "--disable-pip-version-check", *args], env=clean_env(), cwd=REPO.parent,
                   check=True)


def lookup(python: Path) -> subprocess.CompletedProcess:
    """nnU-Net's trainer lookup for GLSPTrainer in a fresh interpreter outside the checkout."""
    return subprocess.run([python, "-c", LOOKUP], env=clean_env(), cwd="/", capture_output=True,
                          text=True)


@pytest.mark.parametrize("editable", [True, False], ids=["editable", "regular"])
def test_install_registers_and_uninstall_unregisters(environment, editable):
    pip(environment, "install", "--no-build-isolation", "--no-deps",
        *(["-e"] if editable else []), str(REPO))
    found = lookup(environment)
    assert found.returncode == 0, found.stderr[-2000:]
    module = Path(found.stdout.strip())
    site = module.parents[2]  # <site-packages>/nnunetv2_glsp/trainers/__init__.py
    if editable:  # the checkout's own code, so a contributor's edits take effect
        assert site == REPO
    else:
        assert site != REPO and (site / "nnunetv2_glsp.pth").is_file()
    kind = subprocess.run([environment, "-c", "from nnunetv2_glsp import doctor; "
                           "print(doctor.install_kind(), doctor.startup_file())"],
                          env=clean_env(), cwd="/", capture_output=True, text=True, check=True)
    pth = environment.parents[1] / "lib"  # <env>/lib/pythonX.Y/site-packages/nnunetv2_glsp.pth
    assert kind.stdout.startswith("editable install " if editable else "regular install ")
    assert kind.stdout.split()[-1].startswith(str(pth)), kind.stdout
    pip(environment, "uninstall", "-y", "nnunetv2-glsp")
    gone = lookup(environment)
    assert gone.returncode != 0 and "Could not find requested nnunet trainer" in gone.stderr
