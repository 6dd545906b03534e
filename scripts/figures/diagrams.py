"""Box-and-arrow diagrams whose labels and shapes come from a traced network."""

from __future__ import annotations

from math import prod

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from torch import nn

from figures.trace import Record
from nnunetv2_glsp.network import GLSP

COLOURS = {"io": "#eeeeee", "conv": "#cfe2f3", "global": "#f4cccc", "local": "#d9ead3",
           "op": "#ffffff", "mednext": "#cfe2f3", "branch": "#f4cccc", "head": "#fff2cc"}


def _box(ax, x: float, y: float, text: str, kind: str, w: float = 4.6, h: float = 0.62):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02",
                                facecolor=COLOURS[kind], edgecolor="0.3"))
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def _add(ax, x: float, y: float, r: float = 0.15) -> None:
    ax.add_patch(Circle((x, y), r, facecolor="white", edgecolor="0.2"))
    ax.text(x, y, "+", ha="center", va="center", fontsize=11)


def _arrow(ax, start, end, rad: float = 0.0) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="0.25",
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=0))


def _label(ax, x: float, y: float, text: str, ha: str = "left") -> None:
    ax.text(x, y, text, fontsize=8, ha=ha, va="center", color="0.3")


def describe(module: nn.Module) -> str:
    """'Conv3d 1x1x1 → InstanceNorm3d → SiLU' and the like, read from the module."""
    if isinstance(module, nn.Sequential):
        return " → ".join(describe(m) for m in module if not isinstance(m, nn.Identity))
    if isinstance(module, nn.modules.conv._ConvNd):
        kernel = "x".join(map(str, module.kernel_size))
        dw = " depthwise" if module.groups == module.in_channels > 1 else ""
        return f"{type(module).__name__} {kernel}{dw}"
    return type(module).__name__


def _fmt(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def glsp_figure(block: GLSP, name: str, records: dict[str, Record]) -> Figure:
    """Data flow of one GLSP block with the shapes it had in the traced pass."""
    rec = {k[len(name) + 1:]: r for k, r in records.items() if k.startswith(name + ".")}
    x_in, t_shape = records[name].in_shape, rec["token_mixer"].in_shape
    mix = block.token_mixer
    steps = [  # (text, kind, residual marker)
        (f"input x  {_fmt(x_in)}", "io", "skip_from"),
        (f"pw_in: {describe(block.pw_in)}\n{_fmt(rec['pw_in'].out_shape)}", "conv", ""),
        (f"flatten + transpose → tokens  {_fmt(t_shape)}, N = {prod(x_in[2:])}", "op", "r1_from"),
        (f"token_mixer: {type(mix).__name__}\nq-shift → key/value/receptance Linear → WKV "
         f"→ key_norm → sigmoid(r) * → output Linear\n{_fmt(rec['token_mixer'].out_shape)}",
         "global", ""),
        (f"mixer_norm: {describe(block.mixer_norm)} → DropPath", "global", "r1_to"),
        (f"transpose + reshape → {_fmt(rec['local'].in_shape)}", "op", "r2_from"),
        (f"local: {describe(block.local)}\n{_fmt(rec['local'].out_shape)}", "local", ""),
        (f"se: {type(block.se).__name__} (channel gate from the spatial mean)\n"
         f"{_fmt(rec['se'].out_shape)}", "local", "r2_to" if block.local_residual else ""),
        (f"proj: {describe(block.proj)} → Dropout → DropPath\n{_fmt(rec['proj'].out_shape)}",
         "conv", "skip_to" if block.has_skip else ""),
        (f"output  {_fmt(records[name].out_shape)}", "io", ""),
    ]
    step_h = 1.0
    fig, ax = plt.subplots(figsize=(8.6, 0.95 * len(steps) + 0.6))
    ys = [-i * step_h for i in range(len(steps))]
    heights = [0.62 if "\n" not in t else 0.42 + 0.2 * t.count("\n") for t, _, _ in steps]
    for i, ((text, kind, _), y, h) in enumerate(zip(steps, ys, heights, strict=True)):
        _box(ax, 0, y, text, kind, w=6.4, h=h)
        if i:
            _arrow(ax, (0, ys[i - 1] - heights[i - 1] / 2), (0, y + h / 2))
    marks = {m: i for i, (_, _, m) in enumerate(steps) if m}
    for tag, side in (("r1", 3.5), ("r2", 3.5), ("skip", -3.5)):
        if f"{tag}_to" not in marks:
            continue
        a, b = marks[f"{tag}_from"], marks[f"{tag}_to"]
        y_add = (ys[b] + ys[b + 1]) / 2
        edge = 3.2 if side > 0 else -3.2
        ax.plot([edge, side, side], [ys[a], ys[a], y_add], color="0.25", lw=1.2)
        _arrow(ax, (side, y_add), (0.15 if side > 0 else -0.15, y_add))
        _add(ax, 0, y_add)
    ax.set_xlim(-4.2, 4.2)
    ax.set_ylim(ys[-1] - 0.6, 0.6)
    ax.axis("off")
    ax.set_title(f"{type(block).__name__} ({name}): global (red), local (green), pointwise "
                 "(blue)", fontsize=10)
    fig.tight_layout()
    return fig


def _grid(shape) -> str:
    return "x".join(map(str, shape[2:]))


def network_figure(net: nn.Module, records: dict[str, Record]) -> Figure:
    """The whole network: MedNeXt encoder / decoder, the branch beside it, fusions, heads."""
    skips = records["encoder"].out_shape
    n, start = len(skips), net.start_level
    branch = records["branch"].out_shape
    col = {"enc": 0.0, "branch": 3.3, "fuse": 5.6, "dec": 8.0, "head": 10.6}
    row = 1.7
    fig, ax = plt.subplots(figsize=(13, 1.45 * n + 1.2))
    for level, shape in enumerate(skips):
        y = -row * level
        blocks = len(net.encoder.stages[level])
        what = "bottleneck" if level == n - 1 else f"encoder level {level}"
        _box(ax, col["enc"], y, f"MedNeXt {what}\n{blocks} blocks, C={shape[1]}\n{_grid(shape)}",
             "mednext", w=2.3, h=0.95)
        if level:
            _arrow(ax, (col["enc"], y + row - 0.48), (col["enc"], y + 0.48))
            _label(ax, col["enc"] + 0.08, y + row / 2, "down block")
        if level >= start:
            i = level - start
            if level < n - 1:
                text = (f"{len(net.branch.stages[i])} x {type(net.branch.stages[i][0]).__name__}"
                        f"\nC={branch[i][1]}, {_grid(branch[i])}\nT={prod(branch[i][2:])}")
            else:
                text = f"Downsample output\nC={branch[i][1]}, {_grid(branch[i])}"
            _box(ax, col["branch"], y - 0.45, text, "branch", w=2.2, h=0.95)
            if level > start:
                _arrow(ax, (col["branch"], y + row - 0.93), (col["branch"], y + 0.03))
                _label(ax, col["branch"] + 0.08, y + 0.55, "Downsample")
            _add(ax, col["fuse"], y, r=0.2)
            _arrow(ax, (col["enc"] + 1.15, y + 0.3), (col["fuse"] - 0.16, y + 0.12))
            _arrow(ax, (col["branch"] + 1.1, y - 0.45), (col["fuse"] - 0.1, y - 0.17))
            source = col["fuse"] + 0.2
        else:
            source = col["enc"] + 1.15
        if level < n - 1:
            dec = records[f"decoder.stages.{level}"].out_shape
            _box(ax, col["dec"], y, f"MedNeXt decoder level {level}\n"
                 f"{len(net.decoder.stages[level])} blocks, C={dec[1]}\n{_grid(dec)}",
                 "mednext", w=2.4, h=0.95)
            _arrow(ax, (source, y), (col["dec"] - 1.2, y))
            if level < start:
                _label(ax, (source + col["dec"] - 1.2) / 2, y + 0.12, "skip (added)", "center")
            head = records[f"decoder.heads.{level}"].out_shape
            _box(ax, col["head"], y, f"head {level}: 1x1 conv\n{_fmt(head)}", "head", w=2.2,
                 h=0.7)
            _arrow(ax, (col["dec"] + 1.2, y), (col["head"] - 1.1, y))
        if level == n - 1:
            _arrow(ax, (source, y), (col["dec"], y + row - 0.48), rad=0.2)
            _label(ax, col["dec"] - 0.1, y + 0.45, "up block", "right")
        elif level:
            _arrow(ax, (col["dec"], y + 0.48), (col["dec"], y + row - 0.48))
            _label(ax, col["dec"] + 0.08, y + row / 2, "up block")
    y_start = -row * start
    ax.text(col["branch"], -row * (n - 1) - 1.25, f"branch: {type(net.branch).__name__} "
            f"(in_proj on level {start}, GLSP blocks, Downsample)", ha="center", fontsize=9)
    _arrow(ax, (col["enc"] + 1.15, y_start - 0.3), (col["branch"] - 1.1, y_start - 0.45))
    _label(ax, (col["enc"] + col["branch"]) / 2, y_start - 0.22, "in_proj", "center")
    ax.text(col["fuse"], -row * (n - 1) - 0.6, f"{type(net.fusions[0]).__name__}\n"
            f"({net.fusions[0].mode})", ha="center", fontsize=9)
    ax.set_xlim(-1.4, 12)
    ax.set_ylim(-row * (n - 1) - 1.5, 0.8)
    ax.axis("off")
    fig.tight_layout()
    return fig
