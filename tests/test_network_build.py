"""The network built from nnU-Net-style plans: shapes, backward, deep supervision, errors."""

from __future__ import annotations

from math import prod

import pytest
import torch
from conftest import plain_unet_configuration, plans_dict
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from nnunetv2_glsp.network import (
    MedNeXt,
    MedNeXtGLSP,
    NetworkConfig,
    build_network,
    build_network_from_plans,
)

TINY = NetworkConfig(size="S", blocks_per_level=1)


def make_plans(patch, strides, kernels, features, name="3d_fullres"):
    """(PlansManager, ConfigurationManager) for a plans dict written like nnU-Net 2.8.1's."""
    config = plain_unet_configuration(patch, strides, kernels, features, name=name)
    pm = PlansManager(plans_dict({name: config}, patch, [1.0] * len(patch)))
    return pm, pm.get_configuration(name)


def tiny_features(n, base=2, cap=16):
    return [min(base * 2**i, cap) for i in range(n)]


def run_and_check(net, batch, in_ch, n_classes, patch, strides, backward=True):
    x = torch.randn(batch, in_ch, *patch)
    out = net(x)
    assert isinstance(out, list) and len(out) == len(strides) - 1
    for i, o in enumerate(out):
        scale = [prod(s[a] for s in strides[: i + 1]) for a in range(len(patch))]
        size = tuple(p // s for p, s in zip(patch, scale, strict=True))
        assert tuple(o.shape) == (batch, n_classes, *size)
    if backward:
        sum(o.mean() for o in out).backward()
        grads = [p.grad for p in net.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
    return out


# (patch, strides, kernels, batch, in_ch): plans as nnU-Net writes them, tiny widths
PLAN_CASES = {
    "hippocampus": (
        [40, 56, 40],
        [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]],
        [[3, 3, 3]] * 4,
        2,
        1,
    ),
    "prostate_anisotropic_batch1": (
        [4, 128, 128],  # prostate's strides at a reduced patch (bottleneck 1 x 2 x 2)
        [[1, 1, 1], [1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2], [1, 2, 2]],
        [[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
        1,
        2,
    ),
    "odd_sizes": (
        [7, 24, 40],  # 7 at full resolution, 3 x 5 at the bottleneck
        [[1, 1, 1], [1, 2, 2], [1, 2, 2], [1, 2, 2]],
        [[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3]],
        2,
        1,
    ),
    "bottleneck_4_per_axis": (
        [32, 32, 32],
        [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]],
        [[3, 3, 3]] * 4,
        2,
        1,
    ),
    "2d": (
        [64, 48],
        [[1, 1], [2, 2], [2, 2], [2, 2], [2, 2]],
        [[3, 3]] * 5,
        2,
        2,
    ),
}


@pytest.mark.parametrize("case", sorted(PLAN_CASES))
def test_shapes_and_backward_from_plans(case):
    patch, strides, kernels, batch, in_ch = PLAN_CASES[case]
    pm, cm = make_plans(patch, strides, kernels, tiny_features(len(strides)))
    torch.manual_seed(0)
    net = build_network_from_plans(pm, cm, in_ch, 3, True, TINY)
    assert isinstance(net, MedNeXtGLSP) and net.dim == len(patch)
    run_and_check(net, batch, in_ch, 3, patch, strides)


def test_plans_objects_are_not_mutated():
    pm, cm = make_plans(*PLAN_CASES["hippocampus"][:3], tiny_features(4))
    before = repr(cm.configuration)
    build_network_from_plans(pm, cm, 1, 2, True, TINY)
    assert repr(cm.configuration) == before


def test_128_cubed_six_stages():
    strides = [[1, 1, 1]] + [[2, 2, 2]] * 5
    kernels = [[3, 3, 3]] * 6
    pm, cm = make_plans([128] * 3, strides, kernels, [32, 64, 128, 256, 320, 320])
    net = build_network_from_plans(pm, cm, 1, 3, True, NetworkConfig(size="B"))
    assert len(net.decoder.heads) == 5 and len(net.branch.stages) == 3
    assert 10e6 < sum(p.numel() for p in net.parameters()) < 20e6
    # forward at a smaller input the strides allow, with tiny widths
    small = build_network(3, 1, 3, tiny_features(6), strides, kernels, True, TINY)
    run_and_check(small, 1, 1, 3, [64, 64, 64], strides, backward=False)


def test_start_level_capped_for_small_plans():
    strides, kernels = [[1, 1, 1], [2, 2, 2], [2, 2, 2]], [[3, 3, 3]] * 3
    net = build_network(3, 1, 2, tiny_features(3), strides, kernels, True, TINY)
    assert net.start_level == 1 and len(net.fusions) == 2
    run_and_check(net, 2, 1, 2, [8, 8, 8], strides, backward=False)


@pytest.mark.parametrize("branch", ["conv", "none"])
def test_ablation_branches(branch):
    patch, strides, kernels, _, _ = PLAN_CASES["bottleneck_4_per_axis"]
    cfg = NetworkConfig(size="S", branch=branch)
    net = build_network(3, 1, 2, tiny_features(4), strides, kernels, True, cfg)
    assert isinstance(net, MedNeXtGLSP) == (branch == "conv")
    if branch == "none":
        assert type(net) is MedNeXt
    run_and_check(net, 2, 1, 2, patch, strides)


def _params(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(("size", "paper"), [("S", 5.6e6), ("B", 10.5e6), ("M", 17.6e6)])
def test_paper_form_parameter_counts(size, paper):
    """MedNeXt v1 k3: 5 levels, isotropic strides 2, widths 32..512, 1 input channel."""
    net = build_network(
        3,
        1,
        2,
        [32, 64, 128, 256, 512],
        [[1, 1, 1]] + [[2, 2, 2]] * 4,
        [[3, 3, 3]] * 5,
        True,
        NetworkConfig(size=size, branch="none"),
    )
    assert abs(_params(net) - paper) / paper < 0.03


def test_paper_form_parameter_count_large():
    net = build_network(
        3,
        1,
        2,
        [32, 64, 128, 256, 512],
        [[1, 1, 1]] + [[2, 2, 2]] * 4,
        [[3, 3, 3]] * 5,
        True,
        NetworkConfig(size="L", branch="none"),
    )
    assert abs(_params(net) - 61.8e6) / 61.8e6 < 0.03


def test_deep_supervision_toggle_and_strict_state_dict():
    patch, strides, kernels, _, _ = PLAN_CASES["hippocampus"]
    pm, cm = make_plans(patch, strides, kernels, tiny_features(4))
    torch.manual_seed(0)
    net_ds = build_network_from_plans(pm, cm, 1, 3, True, TINY)
    net = build_network_from_plans(pm, cm, 1, 3, False, TINY)
    net.load_state_dict(net_ds.state_dict(), strict=True)
    net_ds.eval()
    net.eval()
    x = torch.randn(1, 1, *patch)
    with torch.no_grad():
        single = net(x)
        multi = net_ds(x)
        assert isinstance(single, torch.Tensor)
        torch.testing.assert_close(single, multi[0])
        net_ds.decoder.deep_supervision = False  # what nnU-Net's trainer does
        torch.testing.assert_close(net_ds(x), single)


@pytest.mark.parametrize("fusion", ["gated_add", "concat"])
def test_untrained_fused_network_equals_plain_mednext(fusion):
    patch, strides, kernels, _, _ = PLAN_CASES["bottleneck_4_per_axis"]
    feats = tiny_features(4)
    torch.manual_seed(0)
    plain = build_network(3, 1, 2, feats, strides, kernels, True, NetworkConfig("S", branch="none"))
    fused = build_network(3, 1, 2, feats, strides, kernels, True, NetworkConfig("S", fusion=fusion))
    weights = {k: v for k, v in plain.state_dict().items() if not k.startswith("config_record")}
    with pytest.warns(UserWarning, match="no network config record"):  # another config's
        missing, unexpected = fused.load_state_dict(weights, strict=False)
    assert not unexpected
    assert all(k.startswith(("branch.", "fusions.")) for k in missing)
    x = torch.randn(2, 1, *patch)
    for a, b in zip(plain(x), fused(x), strict=True):
        torch.testing.assert_close(a, b)


def test_gradient_checkpointing_same_result():
    patch, strides, kernels = [16, 16, 16], [[1, 1, 1], [2, 2, 2], [2, 2, 2]], [[3, 3, 3]] * 3
    feats = tiny_features(3)
    nets = []
    for ckpt in (False, True):
        torch.manual_seed(0)
        cfg = NetworkConfig("S", gradient_checkpointing=ckpt, fusion="add", start_level=1)
        nets.append(build_network(3, 1, 2, feats, strides, kernels, False, cfg))
    assert NetworkConfig("M").checkpointing and not NetworkConfig("B").checkpointing
    x = torch.randn(2, 1, *patch)
    for net in nets:
        net(x).square().mean().backward()
    torch.testing.assert_close(nets[0](x), nets[1](x))
    for p, q in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6)


def test_torch_compile_fullgraph_tiny():
    strides = [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]]
    torch.manual_seed(0)
    cfg = NetworkConfig("S", fusion="add")
    net = build_network(3, 1, 2, [2, 4, 4, 8], strides, [[3, 3, 3]] * 4, True, cfg)
    x = torch.randn(1, 1, 16, 16, 16)
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    eager_out, compiled_out = net(x), compiled(x)
    for a, b in zip(eager_out, compiled_out, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    sum(o.mean() for o in compiled_out).backward()
    assert net.branch.stages[0][0].token_mixer.key.weight.grad is not None


def test_bad_inputs_give_clear_errors():
    patch, strides, kernels, _, _ = PLAN_CASES["hippocampus"]
    feats = tiny_features(4)
    pm, cm = make_plans([42, 56, 40], strides, kernels, feats)
    with pytest.raises(ValueError, match=r"patch_size \[42, 56, 40\].*\[8, 8, 8\]"):
        build_network_from_plans(pm, cm, 1, 2, True, TINY)
    pm, cm = make_plans(patch, strides, kernels, feats)
    with pytest.raises(ValueError, match=r"gamma=0.2"):
        build_network_from_plans(pm, cm, 1, 2, True, NetworkConfig("S", gamma=0.2))
    with pytest.raises(ValueError, match="dimensionality 4"):
        build_network(4, 1, 2, feats, [[1] * 4] * 4, [[3] * 4] * 4, True, TINY)
    with pytest.raises(ValueError, match="dimensionality 1"):
        pm1, cm1 = make_plans([32], [[1], [2], [2], [2]], [[3]] * 4, feats)
        build_network_from_plans(pm1, cm1, 1, 2, True, TINY)
    with pytest.raises(ValueError, match="start_level"):
        build_network(3, 1, 2, feats, strides, kernels, True, NetworkConfig("S", start_level=-1))
    net = build_network_from_plans(pm, cm, 1, 2, True, TINY)
    with pytest.raises(ValueError, match=r"\(36, 56, 40\).*\(8, 8, 8\)"):
        net(torch.randn(1, 1, 36, 56, 40))
    with pytest.raises(ValueError, match="expected"):
        net(torch.randn(1, 2, 40, 56, 40))
