"""Figures: per-fold Dice per trainer, cost (epoch time) against Dice, and a test case with
every trainer's prediction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from nnunetv2_glsp.benchmark.stats import OVERALL, group_records, summarise, trainer_order

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure


def plot_group(records: list[dict], trainers: list[str], title: str, path: Path) -> None:
    """Left: overall Dice of every fold, one line per trainer. Right: mean epoch time against
    mean Dice (± sd over folds); the legend gives the peak GPU memory where measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (folds_axis, cost_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for index, trainer in enumerate(trainers):
        colour = f"C{index}"
        own = sorted((r for r in records if r["trainer"] == trainer), key=lambda r: r["fold"])
        folds_axis.plot([r["fold"] for r in own], [r["dice_mean"] for r in own], "o-",
                        color=colour, label=trainer)
        summary = summarise(records, trainer, [OVERALL])
        dice = summary.dice[OVERALL]
        if summary.epoch_seconds is None or dice is None:
            continue
        memory = "" if summary.peak_gpu_gb is None else f", {summary.peak_gpu_gb:.1f} GB"
        cost_axis.errorbar(summary.epoch_seconds.mean, dice.mean, yerr=dice.sd or 0.0, fmt="o",
                           color=colour, capsize=3, label=trainer + memory)
    folds_axis.set(xlabel="fold", ylabel="Dice (foreground mean)", title="per-fold validation Dice")
    folds_axis.xaxis.get_major_locator().set_params(integer=True)
    folds_axis.legend(fontsize=8)
    cost_axis.margins(x=0.15, y=0.15)
    cost_axis.legend(fontsize=8)  # a legend, not labels at the points: close points overlap
    cost_axis.set(xlabel="mean epoch time (s)", ylabel="Dice (mean ± sd over folds)",
                  title="cost vs Dice")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_plots(records: list[dict], output: Path, order: list[str] | None = None) -> list[Path]:
    """One PNG per (dataset, plans, configuration); returns their paths."""
    output.mkdir(parents=True, exist_ok=True)
    paths = []
    for (dataset, plans, configuration), group in group_records(records).items():
        path = output / f"report_{dataset}_{plans}_{configuration}.png"
        title = f"{dataset}, {configuration} ({plans})"
        plot_group(group, trainer_order(group, order), title, path)
        paths.append(path)
    return paths


def _case_dice(record: dict, case: str) -> float:
    """Foreground mean Dice of one case (classes absent from both images skipped)."""
    import numpy as np

    summary = json.loads((Path(record["predictions"]) / "summary.json").read_text())
    entry = next(e for e in summary["metric_per_case"]
                 if Path(e["reference_file"]).name == f"{case}.nii.gz")
    return float(np.nanmean([metrics["Dice"] for metrics in entry["metrics"].values()]))


def label_colours(n_classes: int) -> Colormap:
    """A colour map indexed by label value 0..n_classes: tab20 without its greys, so that a
    left/right pair of classes is one hue, dark and light; turbo from 19 classes on."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    if n_classes > 18:
        return plt.get_cmap("turbo", n_classes + 1)
    palette = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (14, 15)]
    return ListedColormap([(0.0, 0.0, 0.0), *palette[:n_classes]])


def canonical_volume(path: Path) -> np.ndarray:
    """The volume of a NIfTI file as an (X, Y, Z) array in RAS order (left on the left)."""
    import nibabel as nib
    import numpy as np

    return np.asarray(nib.as_closest_canonical(nib.load(path)).dataobj)


def draw_slice(axis: Axes, pixels: np.ndarray, classes: np.ndarray | None, colours: Colormap,
               alpha: float) -> None:
    """An (X, Y) slice in grey with its labels (if any) coloured on top, left on the left."""
    import numpy as np

    axis.imshow(pixels.T, origin="lower", cmap="gray")
    if classes is not None:
        overlay = colours(classes.T.astype(int))
        overlay[..., 3] = np.where(classes.T > 0, alpha, 0.0)
        axis.imshow(overlay, origin="lower")
    axis.axis("off")


def label_legend(figure: Figure, colours: Colormap, names: dict[int, str], ncol: int,
                 fontsize: int) -> None:
    """A legend of the classes ``names`` (label value -> name) below the panels."""
    import matplotlib.pyplot as plt

    values = sorted(names)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours(value)) for value in values]
    figure.legend(handles, [names[value] for value in values], loc="lower center", ncol=ncol,
                  fontsize=fontsize)


def plot_test_overlay(images: Path, labels: Path, records: list[dict], case: str,
                      path: Path) -> Path:
    """One test case side by side: the image, its reference labels and each trainer's ensemble
    prediction, in an axial (top) and a coronal (bottom) slice through the labelled voxels'
    median (RAS orientation, left on the left)."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = canonical_volume(images / f"{case}_0000.nii.gz")
    reference = canonical_volume(labels / f"{case}.nii.gz")
    panels = [("image", None), ("reference", reference)]
    panels += [(f"{r['trainer']}\nDice {_case_dice(r, case):.3f}",
                canonical_volume(Path(r["predictions"]) / f"{case}.nii.gz")) for r in records]
    n_classes = max(int(reference.max()), *(int(p.max()) for _, p in panels[2:]), 1)
    colours = label_colours(n_classes)
    _, y, z = np.median(np.argwhere(reference > 0), axis=0).astype(int)
    views = (("axial", lambda a: a[:, :, z]), ("coronal", lambda a: a[:, y, :]))
    figure, axes = plt.subplots(2, len(panels), figsize=(2.6 * len(panels), 6.4), squeeze=False)
    for row, (view, cut) in zip(axes, views, strict=True):
        for axis, (title, classes) in zip(row, panels, strict=True):
            draw_slice(axis, cut(image), None if classes is None else cut(classes), colours, 0.65)
            axis.set_title(f"{title}" if view == "axial" else view, fontsize=8)
    names = {int(key): name for r in records for key, name in r["class_names"].items()
             if key.isdigit()}
    label_legend(figure, colours, names, ncol=min(len(names), 6), fontsize=7)
    folds = sorted({" ".join(map(str, r["folds"])) for r in records})
    figure.suptitle(f"test case {case}: ensembles of folds {', '.join(folds)} (patient left on "
                    "the image's left)", fontsize=10)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
