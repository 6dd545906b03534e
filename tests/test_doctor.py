"""``python -m nnunetv2_glsp doctor``: reports the installation, fails with a fix when broken."""

from __future__ import annotations

import os
import subprocess
import sys

from nnunetv2_glsp import registration
from nnunetv2_glsp.doctor import check_nnunet_command, not_found_fix, script_interpreter

BIN = os.path.dirname(os.path.abspath(sys.executable))


def doctor(*args: str, path: str = BIN, **env: str) -> tuple[int, str]:
    """Run the doctor in a fresh shell-like environment; (exit code, output)."""
    clean = {
        "PATH": os.pathsep.join([path, "/usr/bin", "/bin"]),
        "HOME": os.environ.get("HOME", "/tmp"),
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-m", "nnunetv2_glsp", "doctor", *args],
        env=clean,
        capture_output=True,
        text=True,
        cwd="/",
    )
    return result.returncode, result.stdout + result.stderr


def test_healthy_install(tmp_path):
    paths = {
        name: str(tmp_path) for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")
    }
    code, out = doctor(**paths)
    assert code == 0, out
    for expected in (
        "[ok  ] torch: ",
        "[ok  ] nnunetv2: 2.8.",
        "install (",  # regular or editable: how CI and the README install it
        "(same environment)",
        f"registration: nnUNet_extTrainer={registration.EXT_TRAINER_DIR} (automatic)",
        "WKV backend: ",
        "devices",
        "trainer lookup: GLSPTrainer -> nnunetv2_glsp.trainers.glsp_trainer.GLSPTrainer",
        "no problems found",
    ):
        assert expected in out, out


def test_opted_out_unknown_trainer_bad_instruction_set_and_missing_paths():
    """Four independent problems in one doctor run, each reported with its fix."""
    code, out = doctor("--trainer", "GLSPTrainr", NNUNETV2_GLSP_NO_AUTOREGISTER="1",
                       GLSP_CPU_ISA="avx9")
    assert code == 1, out
    assert "[FAIL] WKV backend: " in out and "GLSP_CPU_ISA=avx9 is not an instruction set" in out
    assert "fix: unset GLSP_CPU_ISA" in out
    assert "[FAIL] registration: NNUNETV2_GLSP_NO_AUTOREGISTER is set" in out
    assert f"fix: export nnUNet_extTrainer={registration.EXT_TRAINER_DIR}" in out
    assert "[FAIL] trainer lookup: GLSPTrainr not found" in out
    assert "did you mean GLSPTrainer" in out
    assert "[warn] nnUNet_raw: not set" in out and "fix: export nnUNet_raw=" in out


def test_the_fix_for_a_trainer_not_found_never_suggests_the_name_itself():
    ours = ["GLSPTrainer", "GLSPTrainer_S"]
    fix = not_found_fix("GLSPTrainer", ours, registered=False)
    assert fix.startswith("GLSPTrainer is a GLSP trainer that nnU-Net cannot see: register")
    assert "did you mean" not in fix
    assert not_found_fix("GLSPTrainr", ours, registered=True) == (
        "did you mean GLSPTrainer or GLSPTrainer_S?")
    assert not_found_fix("Other", ours, registered=False).startswith(
        "GLSP trainers are: GLSPTrainer, GLSPTrainer_S. Register the trainers: export")


def test_manual_export_after_opt_out_is_healthy():
    code, out = doctor(
        NNUNETV2_GLSP_NO_AUTOREGISTER="1", nnUNet_extTrainer=registration.EXT_TRAINER_DIR
    )
    assert code == 0, out
    assert "(manual)" in out


def test_nnunet_command_missing_or_from_another_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    check, _ = check_nnunet_command()
    assert (check.status, check.detail) == ("FAIL", "not on PATH")
    assert f"export PATH={BIN}:$PATH" in check.fix

    fake = tmp_path / "nnUNetv2_train"
    fake.write_text("#!/opt/other-env/bin/python3\nprint('hi')\n")
    fake.chmod(0o755)
    check, interpreter = check_nnunet_command()
    assert check.status == "FAIL" and interpreter == "/opt/other-env/bin/python3"
    assert "runs /opt/other-env/bin/python3, not this environment" in check.detail


def test_script_interpreter_reads_pip_shebangs(tmp_path):
    plain, trampoline = tmp_path / "plain", tmp_path / "trampoline"
    plain.write_text("#!/env/bin/python3.11\nimport sys\n")
    trampoline.write_text(
        "#!/bin/sh\n'''exec' \"/very/long/env/bin/python\" \"$0\" \"$@\"\n' '''\n"
    )
    assert script_interpreter(plain) == "/env/bin/python3.11"
    assert script_interpreter(trampoline) == "/very/long/env/bin/python"
