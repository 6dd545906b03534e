"""Build nnunetv2-glsp: the Python package, the compiled WKV extension and the start-up files.

Environment:
  GLSP_BUILD_CUDA=1|0     force the CUDA kernel on or off (default: on when torch is a CUDA
                          build and nvcc is found)
  TORCH_CUDA_ARCH_LIST    CUDA targets (default "8.0;8.6;9.0+PTX")
  GLSP_BUILD_EXTENSION=0  skip the extension entirely (the package then JIT-builds or falls back)
"""

from __future__ import annotations

import glob
import os
import runpy
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

DEFAULT_CUDA_ARCHS = "8.0;8.6;9.0+PTX"
BUILD_FLAGS = runpy.run_path(os.path.join("nnunetv2_glsp", "ops", "build_flags.py"))
STARTUP_DIR = "startup"  # files copied to the top of site-packages (.pth and its .start twin)


def _flag(name: str) -> bool | None:
    value = os.environ.get(name)
    return None if value in (None, "") else value.lower() not in ("0", "false", "no", "off")


def extension_build() -> tuple[list, dict]:
    """The extension and build_ext command, or nothing if torch is missing or disabled."""
    if _flag("GLSP_BUILD_EXTENSION") is False:
        return [], {}
    try:
        import torch
        from torch.utils import cpp_extension
    except ImportError:
        print("nnunetv2-glsp: torch is not importable at build time; skipping the extension "
              "(install torch first and use --no-build-isolation to build it)")
        return [], {}
    with_cuda = _flag("GLSP_BUILD_CUDA")
    if with_cuda is None:
        with_cuda = torch.version.cuda is not None and cpp_extension.CUDA_HOME is not None
    sources = sorted(glob.glob("csrc/*.cpp"))
    cxx_flags, link_flags = BUILD_FLAGS["CXX_FLAGS"], BUILD_FLAGS["LINK_FLAGS"]
    if with_cuda:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", DEFAULT_CUDA_ARCHS)
        sources += sorted(glob.glob("csrc/*.cu"))
        extension = cpp_extension.CUDAExtension(
            "nnunetv2_glsp._C",
            sources,
            define_macros=[("GLSP_WITH_CUDA", None)],
            extra_compile_args={"cxx": cxx_flags, "nvcc": BUILD_FLAGS["NVCC_FLAGS"]},
            extra_link_args=link_flags,
        )
    else:
        extension = cpp_extension.CppExtension(
            "nnunetv2_glsp._C",
            sources,
            extra_compile_args={"cxx": cxx_flags},
            extra_link_args=link_flags,
        )
    build_ext = cpp_extension.BuildExtension.with_options(use_ninja=True)
    return [extension], {"build_ext": build_ext}


class BuildPyWithExtras(build_py):
    """Also install the start-up files at the top of the tree, and the kernel sources inside
    the package (so an install without a prebuilt extension can still JIT-build it)."""

    def run(self) -> None:
        super().run()
        packaged_csrc = os.path.join(self.build_lib, "nnunetv2_glsp", "csrc")
        copies = [(STARTUP_DIR, self.build_lib), ("csrc", packaged_csrc)]
        for source_dir, target_dir in copies:
            os.makedirs(target_dir, exist_ok=True)
            for path in sorted(glob.glob(os.path.join(source_dir, "*"))):
                if os.path.isfile(path):
                    shutil.copy(path, os.path.join(target_dir, os.path.basename(path)))


class StartupFilesStrategy:
    """Wraps setuptools' editable strategy (what makes the source importable) and adds the
    start-up files to the editable wheel, so ``pip install -e`` registers the trainers too and
    ``pip uninstall`` removes them (they are in the wheel's RECORD)."""

    def __init__(self, strategy) -> None:
        self.strategy = strategy

    def __call__(self, wheel, files, mapping) -> None:
        self.strategy(wheel, files, mapping)
        for path in sorted(glob.glob(os.path.join(STARTUP_DIR, "*"))):
            wheel.write(path, os.path.basename(path))

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self.strategy.__exit__(*exc_info)


class EditableWheelWithStartupFiles(editable_wheel):
    """``pip install -e``: setuptools' editable wheel plus the start-up files."""

    def _select_strategy(self, name, tag, build_lib):
        return StartupFilesStrategy(super()._select_strategy(name, tag, build_lib))


ext_modules, ext_cmdclass = extension_build()

setup(
    packages=find_packages(include=["nnunetv2_glsp", "nnunetv2_glsp.*"]),
    py_modules=["nnunetv2_glsp_startup"],  # imported by startup/nnunetv2_glsp.pth and .start
    ext_modules=ext_modules,
    cmdclass={"build_py": BuildPyWithExtras, "editable_wheel": EditableWheelWithStartupFiles,
              **ext_cmdclass},
)
