"""Parameters, multiply-adds and activation memory per component, as a markdown table."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from torch import nn

from figures.trace import WKV_MACS, Record
from nnunetv2_glsp.network import VRWKV_SpatialMix

# (label, module-name prefix); the first matching prefix wins
COMPONENTS = (
    ("MedNeXt encoder (stem, blocks, down blocks)", "encoder."),
    ("deep-supervision heads (1x1x1 convs)", "decoder.heads."),
    ("MedNeXt decoder (up blocks, blocks)", "decoder."),
    ("encoder branch (RWKV_UNet_3D_Encoder)", "branch."),
    ("Fusion, one per fused level", "fusions."),
)
ORDER = (0, 2, 3, 4, 1)  # table order: backbone, branch, fusion, heads


@dataclass
class Row:
    """One table row; ``part`` rows break down the row above and are not summed."""

    label: str
    params: int
    macs: int
    act_bytes: int
    part: bool = False


def _sum(net: nn.Module, records: dict[str, Record], prefix: str) -> tuple[int, int, int]:
    params = sum(p.numel() for n, p in net.named_parameters() if n.startswith(prefix))
    chosen = [r for n, r in records.items() if n.startswith(prefix)]
    return params, sum(r.macs for r in chosen), sum(r.out_bytes for r in chosen)


def _branch_parts(net: nn.Module, records: dict[str, Record]) -> list[Row]:
    """Branch rows per level, the resampling layers, and the WKV op's share."""
    rows, level_totals = [], [0, 0, 0]
    for i, stage in enumerate(net.branch.stages):
        shape = records[f"branch.stages.{i}"].out_shape
        label = (f"level {net.branch.start_level + i}: {len(stage)} x GLSP, C={shape[1]}, "
                 f"{'x'.join(map(str, shape[2:]))}, T={prod(shape[2:])}")
        params, macs, act = _sum(net, records, f"branch.stages.{i}.")
        rows.append(Row(label, params, macs, act, part=True))
        level_totals = [a + b for a, b in zip(level_totals, (params, macs, act), strict=True)]
    params, macs, act = _sum(net, records, "branch.")
    rows.append(Row("in_proj + Downsample layers", params - level_totals[0],
                    macs - level_totals[1], act - level_totals[2], part=True))
    wkv = [r for r in records.values() if r.kind == VRWKV_SpatialMix.__name__]
    rows.append(Row(f"WKV op inside the GLSP blocks ({WKV_MACS} MAC per token x channel)", 0,
                    sum(r.macs for r in wkv), sum(r.out_bytes for r in wkv), part=True))
    return rows


def cost_rows(net: nn.Module, records: dict[str, Record]) -> list[Row]:
    """Component rows (with the branch broken down), 'other' if anything is left, 'total'."""
    rows = []
    for index in ORDER:
        label, prefix = COMPONENTS[index]
        totals = _sum(net, records, prefix)
        if prefix == "decoder.":  # the heads have their own row
            totals = tuple(a - b for a, b in
                           zip(totals, _sum(net, records, "decoder.heads."), strict=True))
        if any(totals):
            rows.append(Row(label, *totals))
            if prefix == "branch.":
                rows += _branch_parts(net, records)
    total = (
        sum(p.numel() for p in net.parameters()),
        sum(r.macs for r in records.values()),
        sum(r.out_bytes for r in records.values()),
    )
    listed = [sum(getattr(r, f) for r in rows if not r.part) for f in ("params", "macs",
                                                                       "act_bytes")]
    rest = [t - s for t, s in zip(total, listed, strict=True)]
    if any(rest):
        rows.append(Row("other", *rest))
    return [*rows, Row("total", *total)]


def markdown(rows: list[Row], caption: str) -> str:
    """The rows as a markdown table (part rows indented), followed by the caption."""
    lines = [
        "| component | parameters | % of params | GMAC | activations (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    total = rows[-1].params
    for row in rows:
        label = f"&nbsp;&nbsp;- {row.label}" if row.part else row.label
        if row.label == "total":
            label = "**total**"
        share = f"{100 * row.params / total:.1f}" if total else "-"
        lines.append(f"| {label} | {row.params:,} | {share} | {row.macs / 1e9:.3f} | "
                     f"{row.act_bytes / 2**20:.1f} |")
    return "\n".join(lines) + "\n\n" + caption + "\n"
