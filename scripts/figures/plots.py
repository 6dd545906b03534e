"""Plots from initialised modules: q-shift channel groups, WKV weights, token-shift mixes."""

from __future__ import annotations

from itertools import product

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from nnunetv2_glsp.network import VRWKV_SpatialMix, q_shift_3d

AXES = "DHW"
Offset = tuple[int, int, int]


def qshift_sources(channels: int, shift_pixel: int = 1, gamma: float = 1 / 6) -> list[Offset]:
    """Per channel, the (dD, dH, dW) offset of the voxel that q_shift_3d copies into a voxel.

    Found by probes: a one-hot volume at each neighbour of the centre of a (2s+1)^3 grid is
    shifted, and channel c reads offset o where the centre of the output lights up.
    """
    n = 2 * shift_pixel + 1
    res, centre = (n, n, n), (n**3) // 2
    sources: list[Offset] = [(0, 0, 0)] * channels
    for offset in product((-shift_pixel, 0, shift_pixel), repeat=3):
        probe = torch.zeros(1, n**3, channels)
        index = np.ravel_multi_index(tuple(shift_pixel + o for o in offset), res)
        probe[0, index] = 1.0
        out = q_shift_3d(probe, res, shift_pixel, gamma)
        for c in torch.nonzero(out[0, centre] == 1).flatten().tolist():
            sources[c] = offset
    return sources


def group_name(offset: Offset) -> str:
    """'+W' when a voxel reads its W-1 neighbour (content moved towards larger W), etc."""
    for axis, o in enumerate(offset):
        if o:
            return f"{'+' if o < 0 else '-'}{AXES[axis]}"
    return "unshifted"


def qshift_figure(mix: VRWKV_SpatialMix) -> Figure:
    """Channel groups of q_shift_3d with a spatial mix's channels, gamma and shift (left), and
    the neighbour each group reads (right)."""
    channels, shift_pixel = mix.spatial_decay.numel(), mix.shift_pixel
    gamma = 1 / 6 if mix.gamma is None else mix.gamma
    sources = qshift_sources(channels, shift_pixel, gamma)
    runs: list[tuple[Offset, int, int]] = []  # (offset, first channel, last channel)
    for c, o in enumerate(sources):
        if runs and runs[-1][0] == o:
            runs[-1] = (o, runs[-1][1], c)
        else:
            runs.append((o, c, c))
    colours = {o: plt.cm.tab10(i) if any(o) else (0.8, 0.8, 0.8) for i, (o, _, _) in
               enumerate(runs)}
    fig = plt.figure(figsize=(12, 4.6))
    bar = fig.add_axes((0.04, 0.14, 0.42, 0.66))
    for o, first, last in runs:
        bar.barh(0, last - first + 1, left=first, color=colours[o], edgecolor="white")
        label, middle = f"{group_name(o)}\n{first}-{last}", (first + last + 1) / 2
        if last - first + 1 >= channels / 10:
            bar.text(middle, 0, label, ha="center", va="center", fontsize=10)
        else:  # too narrow for its label: write it above the bar
            bar.annotate(label, (middle, 0.4), (middle, 0.75), ha="right", va="center",
                         fontsize=10, arrowprops={"arrowstyle": "-", "color": "0.4"})
    bar.set(xlim=(0, channels), ylim=(-0.6, 1.0), yticks=[], xlabel="channel")
    bar.set_title(f"q_shift_3d channel groups: C={channels}, gamma={gamma:.4g}, "
                  f"g=int(C*gamma)={int(channels * gamma)}, shift={shift_pixel}", fontsize=11)
    cube = fig.add_axes((0.5, 0.0, 0.48, 0.88), projection="3d")
    s = shift_pixel
    grid = np.array(list(product((-s, 0, s), repeat=3)))
    cube.scatter(grid[:, 2], grid[:, 1], grid[:, 0], color="0.85", s=20)
    cube.scatter([0], [0], [0], color="black", s=80)
    for o, _, _ in runs:
        if not any(o):
            continue
        d, h, w = o
        cube.scatter([w], [h], [d], color=colours[o], s=120)
        cube.quiver(w, h, d, -w, -h, -d, color=colours[o], arrow_length_ratio=0.25)
        cube.text(1.35 * w, 1.35 * h, 1.35 * d, group_name(o), fontsize=11, ha="center")
    cube.set(xlabel="W", ylabel="H", zlabel="D", xticks=[-s, 0, s], yticks=[-s, 0, s],
             zticks=[-s, 0, s])
    cube.set_title("neighbour each group copies into a voxel (black)", fontsize=11)
    return fig


def wkv_weight(mix: VRWKV_SpatialMix, T: int, distance: np.ndarray) -> np.ndarray:
    """(C, len(distance)) unnormalised WKV weight for equal keys: e^{u} at d = 0, else
    e^{-(|d|-1) w}, with w = spatial_decay / T and u = spatial_first / T."""
    w = mix.spatial_decay.detach().double().numpy()[:, None] / T
    u = mix.spatial_first.detach().double().numpy()[:, None] / T
    d = np.abs(distance)[None, :].astype(np.float64)
    return np.where(d == 0, np.exp(u), np.exp(-(d - 1) * w))


def _channels(C: int) -> list[int]:
    return sorted({0, C // 4, C // 2, 3 * C // 4, C - 1})


def wkv_weight_figure(panels: list[tuple[str, VRWKV_SpatialMix, tuple[int, ...]]]) -> Figure:
    """Weight against raster distance for a few channels; one panel per (title, mix, grid)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 4.2), squeeze=False)
    for ax, (title, mix, grid) in zip(axes[0], panels, strict=True):
        T = int(np.prod(grid))
        distance = np.unique(np.round(np.geomspace(1, T - 1, 200)).astype(int))
        distance = np.concatenate([[0], distance])
        weight = wkv_weight(mix, T, distance)
        for c in _channels(weight.shape[0]):
            (line,) = ax.plot(distance, weight[c], label=f"c={c}")
            ax.plot(0, weight[c, 0], "o", color=line.get_color(), ms=5)  # d = 0: e^u
        stride = 1
        for axis in reversed(range(len(grid))):
            ax.axvline(stride, color="0.6", ls=":", lw=1)
            ax.text(stride, 0.03, f"next {AXES[axis - len(grid)]}", rotation=90, va="bottom",
                    ha="right", fontsize=8, color="0.4", transform=ax.get_xaxis_transform())
            stride *= grid[axis]
        ax.set_xscale("symlog", linthresh=1)
        ax.set_yscale("log")
        ax.set_xlim(-0.5, T)
        ax.set_xlabel("|t - i| (tokens, raster order)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="best")
    axes[0][0].set_ylabel("weight  exp(-(|d|-1) w);  exp(u) at d=0 (dot)")
    fig.tight_layout()
    return fig


def mix_figure(panels: list[tuple[str, VRWKV_SpatialMix]]) -> Figure:
    """spatial_mix_k / _v / _r over channels; one panel per (title, mix)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 3.6), squeeze=False,
                             sharey=True)
    for ax, (title, mix) in zip(axes[0], panels, strict=True):
        for name, style in (("k", "-"), ("v", "--"), ("r", ":")):
            values = getattr(mix, f"spatial_mix_{name}").detach().flatten().numpy()
            ax.plot(np.arange(values.size), values, style, lw=2, label=f"mix_{name}")
        ax.set_xlabel("channel")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("weight of x (1 - weight: shifted x)")
    fig.tight_layout()
    return fig
