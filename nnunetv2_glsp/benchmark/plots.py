"""Figures: per-fold Dice per trainer, and cost (epoch time) against Dice."""

from __future__ import annotations

from pathlib import Path

from nnunetv2_glsp.benchmark.stats import OVERALL, group_records, summarise, trainer_order


def plot_group(records: list[dict], trainers: list[str], title: str, path: Path) -> None:
    """Left: overall Dice of every fold, one line per trainer. Right: mean epoch time against
    mean Dice (± sd over folds), labelled with the peak GPU memory where measured."""
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
        cost_axis.errorbar(summary.epoch_seconds.mean, dice.mean, yerr=dice.sd or 0.0, fmt="o",
                           color=colour, capsize=3)
        memory = "" if summary.peak_gpu_gb is None else f"\n{summary.peak_gpu_gb:.1f} GB"
        cost_axis.annotate(trainer + memory, (summary.epoch_seconds.mean, dice.mean),
                           textcoords="offset points", xytext=(5, 5), fontsize=8)
    folds_axis.set(xlabel="fold", ylabel="Dice (foreground mean)", title="per-fold validation Dice")
    folds_axis.xaxis.get_major_locator().set_params(integer=True)
    folds_axis.legend(fontsize=8)
    cost_axis.margins(x=0.3, y=0.15)  # room for the labels
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
