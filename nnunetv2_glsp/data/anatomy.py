"""Real-anatomy Decathlon task: Colin27 T1 with AAL's deep grey structures, left and right apart.

Twelve classes: hippocampus, amygdala, caudate, putamen, pallidum and thalamus, left (odd class)
and right (even class), from the AAL atlas (see ``nnunetv2_glsp.data.mricron``). Each case
samples the template and its labels under one random smooth deformation (a small affine plus an
elastic field; labels nearest-neighbour) on an isotropic grid of ``spacing`` mm over a random
crop around the deep grey structures, then changes the contrast (gamma), multiplies a smooth
bias field, adds Gaussian noise and scales the intensities. Nothing is mirrored: left stays
left (RAS axes).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from nnunetv2_glsp.data.decathlon import case_files, make_task_dir, write_dataset_json
from nnunetv2_glsp.data.mricron import Atlas, find_atlas_dir, load_atlas

STRUCTURES = ("Hippocampus", "Amygdala", "Caudate", "Putamen", "Pallidum", "Thalamus")
REGIONS = tuple(f"{structure}_{side}" for structure in STRUCTURES for side in "LR")  # AAL names
LABELS = {"0": "background"} | {
    str(index): f"{'left' if region.endswith('_L') else 'right'} {region[:-2].lower()}"
    for index, region in enumerate(REGIONS, start=1)}

MARGIN_MM = (12.0, 30.0)  # the crop is the labelled box plus a margin in this range on each side
ROTATION_DEG = 10.0  # per axis
SCALE = (0.9, 1.1)  # per axis
SHIFT_MM = 8.0  # per axis
ELASTIC_MM = (1.0, 3.0)  # std of each displacement component
ELASTIC_SIGMA_MM = 12.0
BIAS = (0.05, 0.2)  # std of the log bias field
BIAS_SIGMA_MM = 40.0
GAMMA = (0.7, 1.5)
NOISE = (0.01, 0.04)  # std, relative to the template's maximum
SCALE_INTENSITY = (200.0, 1000.0)


def antialias(atlas: Atlas, spacing: float) -> Atlas:
    """The atlas with its image low-pass filtered for sampling at ``spacing`` mm."""
    voxel_mm = np.linalg.norm(atlas.affine[:3, :3], axis=0)
    sigma = np.maximum(0.0, (spacing / voxel_mm - 1.0) / 2.0)
    return replace(atlas, image=gaussian_filter(atlas.image, sigma))


def _smooth_field(shape: tuple[int, ...], sigma: float, std: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise (sigma in voxels) scaled to standard deviation ``std``."""
    field = gaussian_filter(rng.normal(size=shape), sigma)
    return field * (std / (field.std() + 1e-12))


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """(3, 3): a rotation by up to ROTATION_DEG about each axis in turn."""
    rotation = np.eye(3)
    for axis, angle in enumerate(np.deg2rad(rng.uniform(-ROTATION_DEG, ROTATION_DEG, 3))):
        i, j = (a for a in range(3) if a != axis)
        cos, sin = np.cos(angle), np.sin(angle)
        step = np.eye(3)
        step[[i, j, i, j], [i, j, j, i]] = cos, cos, -sin, sin
        rotation = rotation @ step
    return rotation


def _crop(atlas: Atlas, spacing: float, rng: np.random.Generator
          ) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Origin (RAS mm of voxel 0, (3,)) and shape of a random axis-aligned box: the labelled box
    (81 x 69 x 55 mm) plus a random MARGIN_MM on each side (which covers the deformation), within
    the template's field of view. The whole head would cost a 2-core CPU 4x the voxels."""
    def world(voxels: np.ndarray) -> np.ndarray:
        return voxels @ atlas.affine[:3, :3].T + atlas.affine[:3, 3]

    corners = world(np.array([[0, 0, 0], np.array(atlas.labels.shape) - 1]))
    labelled = world(np.argwhere(atlas.labels))
    low = np.maximum(labelled.min(0) - rng.uniform(*MARGIN_MM, 3), corners.min(0))
    high = np.minimum(labelled.max(0) + rng.uniform(*MARGIN_MM, 3), corners.max(0))
    return low, tuple(int(n) for n in np.round((high - low) / spacing))


def synthesize_case(atlas: Atlas, spacing: float, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One case: image (X, Y, Z) float32, label (X, Y, Z) uint8 and their affine (4, 4), voxel ->
    RAS mm at ``spacing`` mm. ``atlas`` should be :func:`antialias`-ed for ``spacing``."""
    origin, shape = _crop(atlas, spacing, rng)
    grid = origin + spacing * np.indices(shape).reshape(3, -1).T  # (N, 3) RAS mm
    centre = origin + spacing * (np.array(shape) - 1) / 2
    matrix = _rotation(rng) @ np.diag(rng.uniform(*SCALE, 3))
    shift = rng.uniform(-SHIFT_MM, SHIFT_MM, 3)
    elastic = np.stack([_smooth_field(shape, ELASTIC_SIGMA_MM / spacing,
                                      rng.uniform(*ELASTIC_MM), rng) for _ in range(3)], axis=-1)
    source = centre + (grid - centre) @ matrix.T + shift + elastic.reshape(-1, 3)
    voxels = np.linalg.solve(atlas.affine[:3, :3], (source - atlas.affine[:3, 3]).T)  # (3, N)
    image = map_coordinates(atlas.image, voxels, order=1, mode="constant").reshape(shape)
    label = map_coordinates(atlas.labels, voxels, order=0, mode="constant").reshape(shape)

    image = (np.clip(image, 0.0, None) / atlas.image.max()) ** rng.uniform(*GAMMA)
    image *= np.exp(_smooth_field(shape, BIAS_SIGMA_MM / spacing, rng.uniform(*BIAS), rng))
    image += rng.normal(0.0, rng.uniform(*NOISE), shape)
    image *= rng.uniform(*SCALE_INTENSITY)
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = origin
    return image.astype(np.float32), label.astype(np.uint8), affine


def _write(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    image = nib.Nifti1Image(array, affine)
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, path)


def write_decathlon_task(out_dir: str | Path, task_id: int = 992, name: str = "DeepGrey",
                         n_train: int = 24, n_test: int = 6, spacing: float = 3.0, seed: int = 0,
                         atlas_dir: str | Path | None = None) -> Path:
    """Write ``out_dir/TaskNNN_Name`` in the Decathlon layout (see
    ``nnunetv2_glsp.data.decathlon``) with ``labelsTs``; ``atlas_dir`` as in
    :func:`~nnunetv2_glsp.data.mricron.find_atlas_dir`. Returns the task folder."""
    task = make_task_dir(out_dir, task_id, name, n_train)
    atlas = antialias(load_atlas(find_atlas_dir(atlas_dir), REGIONS), spacing)
    rng = np.random.default_rng(seed)
    for index in range(n_train + n_test):
        image, label, affine = synthesize_case(atlas, spacing, rng)
        image_file, label_file = case_files(task, index, n_train)
        _write(image, affine, image_file)
        _write(label, affine, label_file)
    write_dataset_json(
        task, n_train, n_test, name=name,
        description="Deep grey structures, left and right apart, on randomly deformed Colin27 "
                    "T1 scans with bias, contrast change and noise (nnunetv2-glsp)",
        reference="Colin27 (Holmes et al. 1998) and AAL (Tzourio-Mazoyer et al. 2002) from "
                  "Debian's mricron-data; generated by nnunetv2_glsp.data.anatomy",
        licence="see /usr/share/doc/mricron-data/copyright", release="1.0",
        tensorImageSize="3D", modality={"0": "T1"}, labels=LABELS)
    return task
