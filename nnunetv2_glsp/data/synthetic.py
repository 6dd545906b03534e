"""Synthetic Medical Segmentation Decathlon task: small 3D MR-like volumes with three structures.

Each case holds 1-2 solid ellipsoids (label 1), a curved tube (label 2) and an ellipsoidal shell
(label 3) at random positions, sizes and orientations. Ellipsoids and shells share their
intensity range, so shape decides between them; the tube is dark. A textured background, a
multiplicative bias field, Gaussian noise and a random intensity scale per case make learning
necessary and Dice informative. Volumes are anisotropic (1.5 mm slices, 1 mm in-plane), with
a flipped in-plane direction and a random origin, to exercise nnU-Net's geometry handling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk  # noqa: N813 (the usual alias)
from scipy.ndimage import gaussian_filter

from nnunetv2_glsp.data.decathlon import case_files, make_task_dir, write_dataset_json

LABELS = {"0": "background", "1": "ellipsoid", "2": "tube", "3": "shell"}
SPACING_ZYX = (1.5, 1.0, 1.0)  # mm per voxel, numpy axis order
DIRECTION = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)  # SimpleITK (x, y, z) order


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def _ellipsoid_radius(coords: np.ndarray, centre: np.ndarray, semi_axes: np.ndarray,
                      rotation: np.ndarray) -> np.ndarray:
    """Normalised ellipsoid radius per voxel (< 1 inside); coords: (..., 3) in mm."""
    local = (coords - centre) @ rotation
    return np.sqrt(np.sum((local / semi_axes) ** 2, axis=-1))


def _tube(coords: np.ndarray, extent: np.ndarray, scale: float,
          rng: np.random.Generator) -> np.ndarray:
    """Mask of a tube around a sinusoidally bent line crossing most of the volume."""
    centre = extent * rng.uniform(0.35, 0.65, 3)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    bend = np.cross(direction, rng.normal(size=3))
    bend /= np.linalg.norm(bend)
    half_length = 0.4 * extent.min()
    t = np.linspace(-half_length, half_length, 48)
    amplitude = scale * rng.uniform(2.0, 5.0)
    frequency = rng.uniform(0.5, 1.5) * np.pi / half_length
    line = (centre + t[:, None] * direction
            + amplitude * np.sin(frequency * t + rng.uniform(0, 2 * np.pi))[:, None] * bend)
    flat = coords.reshape(-1, 3)
    distance = np.full(len(flat), np.inf)
    for point in line:
        distance = np.minimum(distance, np.linalg.norm(flat - point, axis=1))
    return (distance < scale * rng.uniform(2.5, 3.5)).reshape(coords.shape[:-1])


def _structure_centre(extent: np.ndarray, margin: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(margin, extent - margin)


def synthesize_case(shape: tuple[int, int, int], rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    """One (image float32, label uint8) pair of the given numpy shape (z, y, x)."""
    spacing = np.array(SPACING_ZYX)
    coords = np.stack(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing, strict=True)],
                                  indexing="ij"), axis=-1)
    extent = np.array(shape) * spacing
    scale = extent.min() / 48.0  # structure sizes below are for a 48 mm field of view
    label = np.zeros(shape, np.uint8)
    intensity = np.zeros(shape, np.float32)
    bright = rng.uniform(0.9, 1.3)

    outer = scale * rng.uniform(8.0, 13.0, 3)
    radius = _ellipsoid_radius(coords, _structure_centre(extent, outer + scale, rng), outer,
                               _random_rotation(rng))
    shell = (radius < 1.0) & (radius > 1.0 - scale * rng.uniform(2.5, 3.5) / outer.min())
    label[shell], intensity[shell] = 3, bright + rng.normal(0, 0.1)

    for _ in range(rng.integers(1, 3)):
        semi_axes = scale * rng.uniform(5.0, 9.0, 3)
        inside = _ellipsoid_radius(coords, _structure_centre(extent, semi_axes + scale, rng),
                                   semi_axes, _random_rotation(rng)) < 1.0
        label[inside], intensity[inside] = 1, bright + rng.normal(0, 0.1)

    tube = _tube(coords, extent, scale, rng)
    label[tube], intensity[tube] = 2, -0.8 * bright + rng.normal(0, 0.1)

    texture = gaussian_filter(rng.normal(size=shape), sigma=2.0)
    intensity += 0.2 * texture / (texture.std() + 1e-8)
    centred = (coords - extent / 2) / extent
    quadratic = 0.3 * rng.uniform(-1, 1) * np.sum(centred**2, axis=-1)
    bias = np.exp(centred @ rng.uniform(-0.4, 0.4, 3) + quadratic)
    image = bias * intensity + rng.normal(0, 0.25, shape)
    image = rng.uniform(150, 300) * image + rng.uniform(300, 700)
    return image.astype(np.float32), label


def _write(array: np.ndarray, path: Path, origin: tuple[float, float, float]) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in SPACING_ZYX[::-1]))
    image.SetOrigin(origin)
    image.SetDirection(DIRECTION)
    sitk.WriteImage(image, str(path), useCompression=True)


def write_decathlon_task(out_dir: str | Path, task_id: int = 1, name: str = "Synthetic",
                         n_train: int = 20, n_test: int = 5,
                         shape: tuple[int, int, int] | int = (32, 48, 48), seed: int = 0) -> Path:
    """Write ``out_dir/TaskNNN_Name`` in the Decathlon layout (imagesTr, labelsTr, imagesTs,
    dataset.json as read by ``nnUNetv2_convert_MSD_dataset``), plus ``labelsTs`` with the test
    cases' ground truth. ``shape`` is (z, y, x) in voxels. Returns the task folder."""
    task = make_task_dir(out_dir, task_id, name, n_train)
    shape = (shape,) * 3 if isinstance(shape, int) else tuple(shape)
    rng = np.random.default_rng(seed)
    for index in range(n_train + n_test):
        image, label = synthesize_case(shape, rng)
        origin = tuple(float(v) for v in rng.uniform(-50, 50, 3))
        image_file, label_file = case_files(task, index, n_train)
        _write(image, image_file, origin)
        _write(label, label_file, origin)
    write_dataset_json(task, n_train, n_test, name=name,
                       description="Synthetic ellipsoids, tubes and shells (nnunetv2-glsp)",
                       reference="nnunetv2_glsp.data.synthetic", licence="CC0", release="1.0",
                       tensorImageSize="3D", modality={"0": "MRI"}, labels=LABELS)
    return task
