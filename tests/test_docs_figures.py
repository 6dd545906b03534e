"""scripts/make_figures.py on tiny plans: every figure written, table totals match the network;
the plotted WKV weights and q-shift neighbours agree with the real op and function."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from types import ModuleType

import pytest
import torch
from conftest import plain_unet_configuration, plans_dict
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from nnunetv2_glsp.network import VRWKV_SpatialMix, build_network_from_plans
from nnunetv2_glsp.ops import wkv
from nnunetv2_glsp.trainers import GLSPTrainer

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
FIGURES = ("network", "glsp3d_dataflow", "q_shift_3d", "wkv_weights", "token_shift_mix")


@pytest.fixture
def scripts(monkeypatch) -> None:
    """scripts/ first on sys.path, as when ``python scripts/make_figures.py`` runs."""
    monkeypatch.syspath_prepend(str(SCRIPTS))


@pytest.fixture
def plots(scripts) -> ModuleType:
    """scripts/figures/plots.py."""
    return importlib.import_module("figures.plots")


def tiny_plans() -> dict:
    """One 16^3 configuration of four isotropic stride-2 stages."""
    strides = [[1] * 3] + [[2] * 3] * 3
    config = plain_unet_configuration([16] * 3, strides, [[3] * 3] * 4, [8, 16, 32, 32])
    return plans_dict({"3d_fullres": config}, [16] * 3, [1.0] * 3)


def _params(table: str, label: str) -> int:
    match = re.search(rf"^\| {re.escape(label)} \| ([\d,]+) \|", table, re.MULTILINE)
    return int(match.group(1).replace(",", ""))


def test_make_figures_writes_all_figures_and_the_true_parameter_total(tmp_path, scripts):
    plans_file = tmp_path / "plans.json"
    plans_file.write_text(json.dumps(tiny_plans()))
    out = tmp_path / "figures"
    written = importlib.import_module("make_figures").main(
        ["--plans", str(plans_file), "--out", str(out)])
    assert set(written) == {"table", *FIGURES}
    for stem in FIGURES:
        png = (out / f"{stem}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000, stem
        assert (out / f"{stem}.svg").stat().st_size > 1000, stem
    table = (out / "cost_table.md").read_text()
    manager = PlansManager(str(plans_file))
    net = build_network_from_plans(manager, manager.get_configuration("3d_fullres"), 1, 3, True,
                                   GLSPTrainer.network_config())
    total = _params(table, "**total**")
    assert total == sum(p.numel() for p in net.parameters())
    components = re.findall(r"^\| ([^&*|][^|]*) \| ([\d,]+) \|", table, re.MULTILINE)
    assert sum(int(n.replace(",", "")) for _, n in components) == total


def test_plotted_wkv_weights_are_the_ops_weights(plots):
    T, C = 9, 6
    mix = VRWKV_SpatialMix(C, init="fancy", layer_id=1, n_layers=3)
    with torch.no_grad():
        mix.spatial_decay.mul_(T)  # make the decay visible over 9 tokens
    k = torch.zeros(T, T, C, dtype=torch.float64)
    v = torch.eye(T, dtype=torch.float64)[:, :, None].expand(T, T, C)  # batch b: token b is 1
    w, u = mix.spatial_decay.double() / T, mix.spatial_first.double() / T
    y = wkv(w, u, k, v.contiguous())  # y[b, t, c]: normalised weight of token b seen from t
    for t in range(T):
        distance = (torch.arange(T) - t).numpy()
        weight = torch.from_numpy(plots.wkv_weight(mix, T, distance)).T  # (T, C)
        torch.testing.assert_close(y[:, t], weight / weight.sum(0), rtol=1e-6, atol=1e-9)


def test_q_shift_probe_finds_one_axis_neighbour_per_group(plots):
    sources = plots.qshift_sources(14)  # g = 2 channels per group, 2 unshifted
    groups = [sources[2 * j] for j in range(6)]
    assert all(sources[2 * j + 1] == groups[j] for j in range(6))
    assert [plots.group_name(o) for o in groups] == ["+W", "-W", "+H", "-H", "+D", "-D"]
    assert groups[0] == (0, 0, -1)  # '+W': content moved to larger W, a voxel reads w - 1
    assert sources[12:] == [(0, 0, 0), (0, 0, 0)]
