"""Colin27 T1 and its AAL atlas as Debian's ``mricron-data`` package ships them.

``templates/ch2.nii.gz`` (Colin27 T1, 181x217x181 at 1 mm, RAS), ``templates/aal.nii.gz``
(116 AAL regions in the same space, voxel value = region index) and ``templates/aal.nii.txt``
(one ``index name code`` line per region, e.g. ``37 Hippocampus_L 4101``). When the files are
absent, :func:`find_atlas_dir` installs the package with apt-get if it runs as root, and
otherwise raises :class:`AtlasUnavailableError` saying what to install and where it looked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

PACKAGE = "mricron-data"
FILES = ("ch2.nii.gz", "aal.nii.gz", "aal.nii.txt")
ENV_VAR = "GLSP_MRICRON_DIR"  # a folder holding FILES; overrides the search
SEARCH_DIRS = (Path("/usr/share/mricron/templates"), Path("/usr/lib/mricron/templates"),
               Path("/usr/local/share/mricron/templates"))


class AtlasUnavailableError(FileNotFoundError):
    """The Colin27/AAL files are not on this machine and could not be installed."""


@dataclass(frozen=True)
class Atlas:
    """T1 image and class map on one grid; arrays (X, Y, Z), affine voxel -> RAS mm (4, 4)."""

    image: np.ndarray  # float32
    labels: np.ndarray  # uint8, 0 = background, i + 1 = regions[i]
    affine: np.ndarray


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES)


def _search() -> Path | None:
    """The first folder of SEARCH_DIRS that holds all of FILES."""
    return next((folder for folder in SEARCH_DIRS if _complete(folder)), None)


def _apt_install() -> str:
    """Install PACKAGE with apt-get (``apt-get update`` first if the plain install fails);
    returns the last output lines of a failure, '' on success."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def run(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(["apt-get", *arguments], env=env, capture_output=True, text=True,
                              check=False)

    install = ("install", "-y", "--no-install-recommends", PACKAGE)
    result = run(*install)
    if result.returncode:
        result = run("update")
        if result.returncode == 0:
            result = run(*install)
    if result.returncode == 0:
        return ""
    return "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])


def find_atlas_dir(atlas_dir: str | Path | None = None, install: bool = True) -> Path:
    """Folder holding FILES: ``atlas_dir``, else ``$GLSP_MRICRON_DIR``, else the first complete
    one of SEARCH_DIRS, installing PACKAGE with apt-get first when none is, ``install`` is set
    and this process is root. Raises AtlasUnavailableError otherwise."""
    chosen = atlas_dir if atlas_dir is not None else os.environ.get(ENV_VAR)
    if chosen:
        if _complete(Path(chosen)):
            return Path(chosen)
        raise AtlasUnavailableError(f"{chosen} does not hold all of {', '.join(FILES)} "
                                    f"(the templates folder of Debian's {PACKAGE})")
    found = _search()
    apt_error = "not tried (not root, or no apt-get)"
    if found is None and install and getattr(os, "geteuid", lambda: -1)() == 0 \
            and shutil.which("apt-get"):
        apt_error = _apt_install() or "succeeded, but the files are not where expected"
        found = _search()
    if found is not None:
        return found
    raise AtlasUnavailableError(
        f"Colin27/AAL files ({', '.join(FILES)}) not found in "
        f"{', '.join(str(folder) for folder in SEARCH_DIRS)}. Install them with "
        f"`sudo apt-get install {PACKAGE}`, or set {ENV_VAR} to a folder holding them. "
        f"apt-get install: {apt_error}")


def read_region_names(path: Path) -> dict[str, int]:
    """AAL region name -> voxel value, from ``index name code`` lines."""
    names = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].isdigit():
            names[fields[1]] = int(fields[0])
    return names


def load_atlas(folder: Path, regions: Sequence[str]) -> Atlas:
    """Colin27 T1 with AAL ``regions`` (names as in aal.nii.txt) as classes 1..len(regions)."""
    t1, aal = nib.load(folder / "ch2.nii.gz"), nib.load(folder / "aal.nii.gz")
    if t1.shape != aal.shape or not np.allclose(t1.affine, aal.affine):
        raise ValueError(f"{folder}: ch2.nii.gz and aal.nii.gz are not on one grid")
    names = read_region_names(folder / "aal.nii.txt")
    missing = [region for region in regions if region not in names]
    if missing:
        raise ValueError(f"{folder / 'aal.nii.txt'} has no region named {', '.join(missing)}")
    values = np.asarray(aal.dataobj).astype(np.int64)
    lookup = np.zeros(max(values.max(), *names.values()) + 1, np.uint8)
    for index, region in enumerate(regions, start=1):
        lookup[names[region]] = index
    labels = lookup[values]
    counts = np.bincount(labels.ravel(), minlength=len(regions) + 1)
    absent = [region for index, region in enumerate(regions, start=1) if counts[index] == 0]
    if absent:
        raise ValueError(f"{folder / 'aal.nii.gz'} has no voxel of {', '.join(absent)}")
    return Atlas(np.asarray(t1.dataobj, dtype=np.float32), labels, t1.affine.copy())
