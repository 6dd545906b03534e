"""A PNG preview of a Decathlon task: axial and coronal slices of training cases with the labels
overlaid, in neurological view (the patient's left on the left, marked L and R)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np


def _canonical(path: Path) -> np.ndarray:
    """(X, Y, Z) array in RAS order."""
    return np.asarray(nib.as_closest_canonical(nib.load(path)).dataobj)


def render_preview(task: Path, path: Path, n_cases: int = 2) -> Path:
    """Write ``path``: for each of the first ``n_cases`` training cases, the axial and coronal
    slice through the labelled voxels' median, labels coloured per class with a legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dataset = json.loads((task / "dataset.json").read_text())
    names = {int(value): name for value, name in dataset["labels"].items() if int(value)}
    colours = plt.get_cmap("tab20", max(names) + 1)
    figure, axes = plt.subplots(n_cases, 2, figsize=(8, 4 * n_cases), squeeze=False)
    for row, entry in zip(axes, dataset["training"][:n_cases], strict=False):
        image, label = _canonical(task / entry["image"]), _canonical(task / entry["label"])
        _, y, z = np.median(np.argwhere(label), axis=0).astype(int)
        views = (("axial", image[:, :, z], label[:, :, z]),
                 ("coronal", image[:, y, :], label[:, y, :]))
        for axis, (view, pixels, classes) in zip(row, views, strict=True):
            axis.imshow(pixels.T, origin="lower", cmap="gray")
            overlay = colours(classes.T)
            overlay[..., 3] = np.where(classes.T > 0, 0.6, 0.0)
            axis.imshow(overlay, origin="lower")
            axis.set_title(f"{Path(entry['image']).name}, {view}", fontsize=9)
            axis.text(0.02, 0.5, "L", transform=axis.transAxes, color="yellow", fontsize=12)
            axis.text(0.95, 0.5, "R", transform=axis.transAxes, color="yellow", fontsize=12)
            axis.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours(value)) for value in names]
    figure.legend(handles, list(names.values()), loc="lower center", ncol=4, fontsize=8)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
