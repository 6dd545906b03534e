"""Check the installation: versions, nnU-Net's commands, trainer registration, WKV backend.

Each problem is printed with its fix; the exit code is 1 when something is broken.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.metadata
import json
import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nnunetv2_glsp_startup
from nnunetv2_glsp import registration

NNUNET_PATH_VARS = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")
# run by the interpreter of nnUNetv2_train: the lookup nnUNetv2_train does, in a fresh process
LOOKUP_SCRIPT = """
import contextlib, io, sys
from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name
with contextlib.redirect_stdout(io.StringIO()):
    trainer = recursive_find_trainer_class_by_name(sys.argv[1])
print(trainer.__module__)
"""


@dataclass
class Check:
    """One line of the report: status 'ok', 'warn' (works, but worth knowing) or 'FAIL'."""

    status: str
    name: str
    detail: str
    fix: str = ""


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_versions() -> list[Check]:
    checks = [Check("ok", "python", f"{sys.version.split()[0]} ({sys.executable})")]
    torch_version, nnunet_version = _version("torch"), _version("nnunetv2")
    if torch_version is None:
        checks.append(Check("FAIL", "torch", "not installed", "pip install torch"))
    else:
        checks.append(Check("ok", "torch", torch_version))
    install_nnunet = "pip install 'nnunetv2>=2.8,<2.9'"
    if nnunet_version is None:
        checks.append(Check("FAIL", "nnunetv2", "not installed", install_nnunet))
    elif not nnunet_version.startswith("2.8."):
        checks.append(Check("warn", "nnunetv2",
                            f"{nnunet_version}; nnunetv2-glsp is tested with 2.8", install_nnunet))
    else:
        checks.append(Check("ok", "nnunetv2", nnunet_version))
    checks.append(Check("ok", "nnunetv2-glsp", f"{_version('nnunetv2-glsp')}, {install_kind()} "
                                               f"({Path(registration.__file__).parent})"))
    return checks


def install_kind() -> str:
    """'editable install', 'regular install' or 'not installed (run from a source tree)'."""
    try:
        direct_url = importlib.metadata.distribution("nnunetv2-glsp").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return "not installed (run from a source tree)"
    editable = json.loads(direct_url or "{}").get("dir_info", {}).get("editable", False)
    return "editable install" if editable else "regular install"


def startup_file() -> Path | None:
    """The installed ``nnunetv2_glsp.pth`` (site-packages, for editable installs too), if any."""
    try:
        files = importlib.metadata.distribution("nnunetv2-glsp").files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    paths = [Path(f.locate()) for f in files if f.name == "nnunetv2_glsp.pth"]
    return next((path for path in paths if path.is_file()), None)


def script_interpreter(script: Path) -> str | None:
    """The interpreter a console script runs with, from its shebang (pip's ``#!/bin/sh``
    trampoline for long paths included)."""
    lines = script.read_text(errors="replace").splitlines()[:3]
    if not lines or not lines[0].startswith("#!"):
        return None
    command = shlex.split(lines[0][2:])
    if command and command[0] == "/bin/sh":
        for line in lines[1:]:
            if line.startswith("'''exec'"):
                return shlex.split(line[len("'''exec'"):])[0]
        return None
    if command and Path(command[0]).name == "env":
        command = command[1:]
        return shutil.which(command[0]) if command else None
    return command[0] if command else None


def check_nnunet_command() -> tuple[Check, str | None]:
    """Which ``nnUNetv2_train`` runs, and whether it uses this environment's interpreter."""
    bin_dir = Path(os.path.abspath(sys.executable)).parent
    found = shutil.which("nnUNetv2_train")
    if found is None:
        return Check("FAIL", "nnUNetv2_train", "not on PATH",
                     f"activate the environment (source {bin_dir}/activate) or "
                     f"export PATH={bin_dir}:$PATH"), None
    interpreter = script_interpreter(Path(found))
    if interpreter is None:
        return Check("warn", "nnUNetv2_train", f"{found}: cannot read its interpreter"), None
    same = (os.path.abspath(interpreter) == os.path.abspath(sys.executable)
            or Path(os.path.abspath(interpreter)).parent.parent == Path(sys.prefix))
    if not same:
        return Check("FAIL", "nnUNetv2_train",
                     f"{found} runs {interpreter}, not this environment ({sys.prefix})",
                     f"put this environment first on PATH (export PATH={bin_dir}:$PATH) or install "
                     f"nnunetv2-glsp into that environment"), interpreter
    return Check("ok", "nnUNetv2_train", f"{found} (same environment)"), interpreter


def check_registration() -> list[Check]:
    folder = registration.EXT_TRAINER_DIR
    manual = f"export {registration.ENV_VAR}={folder}"
    checks = []
    if startup_file() is None:
        checks.append(Check("FAIL", "start-up file",
                            f"nnunetv2_glsp.pth is not installed ({install_kind()})",
                            f"reinstall: pip install --no-build-isolation --force-reinstall "
                            f"nnunetv2-glsp (or pip install --no-build-isolation -e . in a "
                            f"checkout), or {manual}"))
    if not Path(folder, "glsp_trainers.py").is_file():
        checks.append(Check("FAIL", "trainer folder", f"{folder}/glsp_trainers.py is missing",
                            "reinstall nnunetv2-glsp"))
    value = os.environ.get(registration.ENV_VAR)
    if registration.is_registered():
        state = "automatic" if not nnunetv2_glsp_startup.opted_out() else "manual"
        checks.append(Check("ok", "registration", f"{registration.ENV_VAR}={value} ({state})"))
    elif nnunetv2_glsp_startup.opted_out():
        checks.append(Check("FAIL", "registration",
                            f"{nnunetv2_glsp_startup.OPT_OUT_VAR} is set and "
                            f"{registration.ENV_VAR}={value or '<unset>'} does not list {folder}",
                            f"{manual}:${registration.ENV_VAR}, or unset "
                            f"{nnunetv2_glsp_startup.OPT_OUT_VAR}"))
    else:
        checks.append(Check("FAIL", "registration",
                            f"{registration.ENV_VAR}={value or '<unset>'} does not list {folder} "
                            f"(the start-up file did not run)", f"{manual}"))
    entries = (value or "").split(os.pathsep)
    missing = [entry for entry in entries if entry and not os.path.isdir(entry)]
    if missing:
        checks.append(Check("warn", registration.ENV_VAR, f"lists missing folders {missing}",
                            "remove them from the variable"))
    return checks


def check_backend() -> Check:
    try:
        from nnunetv2_glsp.ops import backend_info
        from nnunetv2_glsp.trainers.glsp_trainer import wkv_backend_summary
    except Exception as error:
        return Check("FAIL", "WKV backend", f"nnunetv2_glsp failed to import: {error!r}",
                     "reinstall nnunetv2-glsp; python -c 'import nnunetv2_glsp.trainers' shows "
                     "the full error")
    info = backend_info()
    if (info["cpu_isa"] or "").startswith("invalid"):  # every CPU kernel call would raise
        return Check("FAIL", "WKV backend", wkv_backend_summary(),
                     "unset GLSP_CPU_ISA, or set it to one of the instruction sets named above")
    # the pure-PyTorch fallback is correct but slow: worth a warning, not a failure
    status = "ok" if info["backend"] == "extension" else "warn"
    return Check(status, "WKV backend", wkv_backend_summary())


def check_trainer_lookup(trainer: str, interpreter: str | None) -> Check:
    """Look the trainer up as ``nnUNetv2_train`` does, in a fresh interpreter of its environment."""
    python = interpreter or sys.executable
    try:
        result = subprocess.run([python, "-c", LOOKUP_SCRIPT, trainer], capture_output=True,
                                text=True)
    except OSError as error:
        return Check("FAIL", "trainer lookup", f"cannot run {python}: {error}",
                     "fix nnUNetv2_train first (see above)")
    if result.returncode == 0:
        return Check("ok", "trainer lookup", f"{trainer} -> {result.stdout.strip()}.{trainer}")
    error = (result.stderr.strip().splitlines() or ["no output"])[-1]
    from nnunetv2_glsp import trainers  # torch and nnU-Net: only when a lookup failed

    if "Could not find requested nnunet trainer" in result.stderr:
        return Check("FAIL", "trainer lookup", f"{trainer} not found",
                     not_found_fix(trainer, trainers.__all__, registration.is_registered()))
    return Check("FAIL", "trainer lookup", f"{trainer}: {error}",
                 f"see the full error: {python} -c \"from nnunetv2.utilities.find_objects "
                 f"import recursive_find_trainer_class_by_name as f; f('{trainer}')\"")


def not_found_fix(trainer: str, ours: list[str], registered: bool) -> str:
    """The fix for a trainer nnU-Net's lookup did not find: registration for one of ours,
    else the closest of our names (never the name itself)."""
    register = f"export {registration.ENV_VAR}={registration.EXT_TRAINER_DIR}"
    if trainer in ours:
        return (f"{trainer} is a GLSP trainer that nnU-Net cannot see: register the trainers "
                f"({register})")
    close = difflib.get_close_matches(trainer, ours, n=3)
    fix = (f"did you mean {' or '.join(close)}?" if close else
           f"GLSP trainers are: {', '.join(ours)}.")
    return fix if registered else f"{fix} Register the trainers: {register}"


def check_nnunet_paths() -> list[Check]:
    checks = []
    for name in NNUNET_PATH_VARS:
        value = os.environ.get(name)
        if value is None:
            checks.append(Check("warn", name, "not set (needed to preprocess, train and predict)",
                                f"export {name}=/path/to/{name}"))
        elif not os.path.isdir(value):
            checks.append(Check("warn", name, f"{value} does not exist", f"mkdir -p {value}"))
        else:
            checks.append(Check("ok", name, value))
    return checks


def run_checks(trainer: str) -> list[Check]:
    command, interpreter = check_nnunet_command()
    # the lookup's fresh interpreter imports nnU-Net while check_backend imports it here
    with ThreadPoolExecutor(1) as pool:
        lookup = pool.submit(check_trainer_lookup, trainer, interpreter)
        checks = [*check_versions(), command, *check_registration(), check_backend()]
        checks.append(lookup.result())
    return checks + check_nnunet_paths()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trainer", default="GLSPTrainer",
                        help="trainer to look up (default GLSPTrainer)")


def main(args: argparse.Namespace) -> int:
    checks = run_checks(args.trainer)
    print("nnunetv2-glsp doctor")
    for check in checks:
        print(f"  [{check.status:4}] {check.name}: {check.detail}")
        if check.fix:
            print(f"         fix: {check.fix}")
    failed = [check.name for check in checks if check.status == "FAIL"]
    print(f"{len(failed)} problem(s): {', '.join(failed)}" if failed else "no problems found")
    return 1 if failed else 0
