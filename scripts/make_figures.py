"""Make the figures and the cost table of docs/3d-glsp.md from the real network modules.

Example: python scripts/make_figures.py --plans nnUNetPlans.json --configuration 3d_fullres
Without --plans the example in scripts/figures/example_plans.json (nnU-Net's plan for a 1 mm
isotropic 128^3 patch) is used.
Writes PNG + SVG figures and cost_table.md into --out and prints the table.
"""

from __future__ import annotations

import argparse
import dataclasses
from math import prod
from pathlib import Path

import matplotlib.pyplot as plt
from figures import cost, diagrams, plans, plots, trace
from matplotlib.figure import Figure

from nnunetv2_glsp import trainers
from nnunetv2_glsp.network import GLSP, NetworkConfig, VRWKV_SpatialMix

FORMATS = ("png", "svg")


def _save(fig: Figure, out: Path, stem: str) -> list[Path]:
    paths = [out / f"{stem}.{ext}" for ext in FORMATS]
    for path in paths:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return paths


def _caption(args: argparse.Namespace, config: NetworkConfig, patch: list[int]) -> str:
    source = args.plans or "the example plans (scripts/figures/example_plans.json)"
    return (
        f"Network of `{args.trainer}` ({config.size}, kernel {config.kernel_size}, branch "
        f"{config.branch!r}, fusion {config.fusion!r}, start level {config.start_level}) built "
        f"from {source}, configuration `{args.configuration}`, patch {'x'.join(map(str, patch))}"
        f", {args.in_channels} input channel(s), {args.classes} classes, deep supervision on. "
        "Parameters: `sum(p.numel())` per component. GMAC: multiply-adds of one forward pass "
        "of batch 1 counted by forward hooks on Conv/ConvTranspose/Linear modules (bias "
        f"additions, norms, activations and elementwise ops not counted) plus {trace.WKV_MACS} "
        "MAC per token, channel and scan order for each WKV call. Activations: sum of the bytes "
        "(fp32) of every new output tensor of a leaf module plus each WKV output in that "
        "forward pass; tensors made by functional code (q-shift, token-shift mixes, residual "
        "sums) are not included, and nothing is freed, so it is neither a peak nor the exact "
        "autograd storage, but a like-for-like comparison between components."
    )


def _mix_panels(nets: dict, records: dict) -> tuple[list, list]:
    """(title, mix, grid) per branch level for the fancy init, plus the global init's first."""
    panels = []
    for init, net in nets.items():
        named = [(n, m) for n, m in net.named_modules() if isinstance(m, VRWKV_SpatialMix)]
        for layer, (name, mix) in enumerate(named if init == "fancy" else named[:1]):
            block = records[name.rsplit(".", 1)[0]].out_shape
            level = net.branch.start_level + int(name.split(".")[2])
            C, grid = block[1], block[2:]
            title = (f"{init} init, level {level} (layer {layer} of {len(named)})\n"
                     f"C={C}, grid {'x'.join(map(str, grid))}, T={prod(grid)}")
            panels.append((title, mix, tuple(grid)))
    return panels, [(title, mix) for title, mix, _ in panels]


def main(argv: list[str] | None = None) -> dict[str, list[Path]]:
    """Write everything; returns {figure or 'table': paths}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", help="nnU-Net plans JSON (default: scripts/figures/"
                        "example_plans.json)")
    parser.add_argument("--configuration", default="3d_fullres")
    parser.add_argument("--trainer", default="GLSPTrainer",
                        help="trainer class whose network settings to use")
    parser.add_argument("--in-channels", type=int, default=1)
    parser.add_argument("--classes", type=int, default=3, help="output classes incl. background")
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    args = parser.parse_args(argv)
    config = getattr(trainers, args.trainer).network_config()
    net, patch = plans.build(args.plans, args.configuration, args.in_channels, args.classes,
                             config)
    records = trace.trace(net, (1, args.in_channels, *patch))
    rows = cost.cost_rows(net, records)
    table = cost.markdown(rows, _caption(args, config, patch))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cost_table.md").write_text(table)
    print(table)
    written = {"table": [args.out / "cost_table.md"]}
    if config.branch != "rwkv":
        return written
    nets = {init: plans.build(args.plans, args.configuration, args.in_channels, args.classes,
                              dataclasses.replace(config, init=init))[0]
            for init in ("fancy", "global")}
    weight_panels, mix_panels = _mix_panels(nets, records)
    name = next(n for n, m in net.named_modules() if isinstance(m, GLSP))
    block = net.get_submodule(name)
    figures = {
        "network": diagrams.network_figure(net, records),
        "glsp3d_dataflow": diagrams.glsp_figure(block, name, records),
        "q_shift_3d": plots.qshift_figure(block.token_mixer),
        "wkv_weights": plots.wkv_weight_figure(weight_panels),
        "token_shift_mix": plots.mix_figure(mix_panels),
    }
    for stem, fig in figures.items():
        written[stem] = _save(fig, args.out, stem)
    return written


if __name__ == "__main__":
    main()
