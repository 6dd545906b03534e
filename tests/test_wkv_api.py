"""The public ``wkv`` API: argument errors, backend selection, torch.library integration."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch
from wkv_helpers import make_inputs, op, reference, rel_err, require_extension

from nnunetv2_glsp.ops import _loader, backend_info, wkv


def good():
    return make_inputs(2, 20, 4, seed=11)


def replace(index, value):
    args = good()
    args[index] = value
    return args


BAD = [
    ("k ndim", replace(2, torch.randn(20, 4)), ValueError, "k must have shape (B, T, C)"),
    ("v shape", replace(3, torch.randn(2, 21, 4)), ValueError, "v must have the shape of k"),
    ("w length", replace(0, torch.randn(5)), ValueError, "w must have shape (4,)"),
    ("u ndim", replace(1, torch.randn(4, 1)), ValueError, "u must have shape (4,)"),
    ("empty T", [torch.zeros(4), torch.zeros(4), torch.zeros(2, 0, 4), torch.zeros(2, 0, 4)],
     ValueError, "B, T and C must be >= 1"),
    ("int k", replace(2, torch.ones(2, 20, 4, dtype=torch.int64)), TypeError, "k must be float16"),
    ("int w", replace(0, torch.ones(4, dtype=torch.int32)), TypeError, "w must be float16"),
    ("k/v dtype", replace(3, torch.randn(2, 20, 4, dtype=torch.float64)), TypeError,
     "k and v must share a dtype"),
    ("nan w", replace(0, torch.tensor([0.1, float("nan"), 0.1, 0.1])), ValueError,
     "w contains NaN or inf"),
    ("inf u", replace(1, torch.tensor([0.1, float("inf"), 0.1, 0.1])), ValueError,
     "u contains NaN or inf"),
    ("not a tensor", replace(1, [0.0] * 4), TypeError, "u must be a torch.Tensor"),
    ("device", replace(0, torch.zeros(4, device="meta")), ValueError, "all inputs must be on"),
]


@pytest.mark.parametrize(("case", "args", "error", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_raise_clear_errors(case, args, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        wkv(*args)


DIRECT = """
import torch
from nnunetv2_glsp.ops import wkv  # loads the extension
w, u, k, v = (torch.randn(4), torch.randn(4), torch.randn(2, 20, 4), torch.randn(2, 20, 4))
cases = {"k ndim": (w, u, k[0], v), "v shape": (w, u, k, v[:, 1:]), "w length": (w[:3], u, k, v),
         "int k": (w, u, k.long(), v.long()), "k/v dtype": (w, u, k, v.double()),
         "chunk": (w, u, k, v)}
for name, args in cases.items():
    try:
        torch.ops.glsp.wkv(*args, False, 65 if name == "chunk" else 0)
    except RuntimeError as exc:
        assert "glsp::wkv" in str(exc), exc
        print("raised", name)
"""


def test_direct_op_calls_are_checked_in_cpp():
    """TORCH_CHECK errors for direct torch.ops calls (in a subprocess: a crash fails the test
    instead of killing the session)."""
    require_extension()
    run = subprocess.run([sys.executable, "-c", DIRECT], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("raised") == 6, run.stdout


def test_backend_info_reports_the_active_backend():
    info = backend_info()
    assert {"backend", "requested", "source", "path", "devices", "reason", "fix",
            "cpu_isa"} <= info.keys()
    assert info["backend"] in ("extension", "fallback") and info["reason"]
    if info["backend"] == "extension":
        assert info["source"] in ("prebuilt", "jit") and "cpu" in info["devices"]
        assert info["cpu_isa"] in ("avx512", "avx2", "baseline")
    else:
        assert info["cpu_isa"] is None


def _broken(*_):
    raise ImportError("simulated: no compiled extension")


def test_missing_extension_falls_back_with_one_warning(monkeypatch):
    monkeypatch.setattr(_loader, "_load_prebuilt", _broken)
    monkeypatch.setattr(_loader, "_load_jit", _broken)
    monkeypatch.setenv(_loader.ENV_VAR, "auto")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend = _loader.load()
    assert backend.name == "fallback" and backend.error is None
    assert len(caught) == 1 and "simulated" in str(caught[0].message)
    assert "Fix:" in str(caught[0].message)


def test_required_extension_errors_at_first_call_not_at_import(monkeypatch):
    monkeypatch.setattr(_loader, "_load_prebuilt", _broken)
    monkeypatch.setattr(_loader, "_load_jit", _broken)
    monkeypatch.setenv(_loader.ENV_VAR, "extension")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend = _loader.load()
    assert backend.name == "fallback" and "GLSP_WKV_BACKEND=extension" in backend.error


def test_forced_fallback_does_not_load(monkeypatch):
    monkeypatch.setattr(_loader, "_load_prebuilt", _broken)
    monkeypatch.setenv(_loader.ENV_VAR, "fallback")
    assert _loader.load().name == "fallback"


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_opcheck(dtype, causal):
    require_extension()
    w, u, k, v = (x.to(dtype) for x in make_inputs(2, 37, 5, seed=12))
    k.requires_grad_()
    v.requires_grad_()
    torch.library.opcheck(torch.ops.glsp.wkv.default, (w, u, k, v, causal, 8))
    torch.library.opcheck(torch.ops.glsp.wkv_with_carries.default, (w, u, k, v, causal, 8))
    gy = torch.randn_like(k)
    _, carries = torch.ops.glsp.wkv_with_carries(w, u, k.detach(), v.detach(), causal, 8)
    for args in ((causal, 0), (causal, 8, carries)):
        torch.library.opcheck(torch.ops.glsp.wkv_backward.default,
                              (gy, w, u, k.detach(), v.detach(), *args))


def test_backward_rejects_carries_of_another_call():
    require_extension()
    w, u, k, v = good()  # T = 20: 3 chunks of 8, 2 of 16
    _, carries = torch.ops.glsp.wkv_with_carries(w, u, k, v, False, 8)
    gy = torch.randn_like(k)
    other_chunk = torch.ops.glsp.wkv_with_carries(w, u, k, v, False, 16)[1]
    for bad in (other_chunk, carries.double(), carries[:, :3], carries[0]):
        with pytest.raises(RuntimeError, match=r"carries must be the second output of "
                           r"glsp::wkv_with_carries .* shape \[2, 5, 2, 3, 4\]"):
            torch.ops.glsp.wkv_backward(gy, w, u, k, v, False, 8, bad)
    with pytest.raises(RuntimeError, match="device must be 'cpu' or 'cuda', got 'mps'"):
        torch.ops.glsp.chunk_tokens("mps", 0)


def test_public_wkv_saves_carries_only_when_a_gradient_is_needed():
    """The autograd forward is glsp::wkv_with_carries; inference runs the plain glsp::wkv."""
    require_extension()
    w, u, k, v = good()

    def ops_run(*args) -> set[str]:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            wkv(*args)
        return {e.name for e in prof.events() if e.name.startswith("glsp::")}

    assert ops_run(w, u, k, v) == {"glsp::wkv"}
    assert ops_run(w, u, k.requires_grad_(), v) == {"glsp::wkv_with_carries"}
    with torch.no_grad():
        assert ops_run(w, u, k, v) == {"glsp::wkv"}


class TinyMix(torch.nn.Module):
    """k, v from one linear layer, then WKV: the shape of the network's use."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.kv = torch.nn.Linear(channels, 2 * channels)
        self.w = torch.nn.Parameter(torch.linspace(-0.2, 0.2, channels))
        self.u = torch.nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        k, v = self.kv(x).chunk(2, dim=-1)
        return wkv(self.w, self.u, k, v)


def test_torch_compile_has_no_graph_breaks():
    require_extension()
    torch._dynamo.reset()
    model = TinyMix()
    x = torch.randn(2, 40, 8)
    explain = torch._dynamo.explain(model)(x)
    assert explain.graph_break_count == 0 and explain.graph_count == 1
    compiled = torch.compile(model, fullgraph=True)
    y = compiled(x)
    y.square().sum().backward()
    assert torch.allclose(y, model(x), rtol=1e-5, atol=1e-6)
    assert model.w.grad is not None and torch.isfinite(model.w.grad).all()


def test_autocast_casts_k_v_and_keeps_w_u_float32():
    require_extension()
    model = TinyMix()
    x = torch.randn(2, 40, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)
        y.float().sum().backward()
    assert y.dtype == torch.bfloat16
    assert rel_err(y, model(x)) <= 2e-2
    assert model.w.grad.dtype == torch.float32
    w, u, k, v = make_inputs(1, 30, 4, seed=13)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # mixed k/v dtypes are fine under autocast
        mixed = wkv(w, u, k, v.to(torch.bfloat16))
    assert mixed.dtype == torch.bfloat16
    assert rel_err(mixed, reference(w, u, k, v)) <= 2e-2


def test_public_wkv_matches_op():
    require_extension()
    w, u, k, v = make_inputs(3, 70, 6, seed=14)
    assert torch.equal(wkv(w, u, k, v, causal=True), op(w, u, k, v, True))


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("1", True), ("0", False)])
def test_cuda_saved_carries_are_opt_in(value, expected):
    """CUDA autograd rescans (k, v) in the backward (the path validated on a GPU) unless
    GLSP_CUDA_SAVED_CARRIES=1; backend_info reports the choice."""
    env = {k: v for k, v in os.environ.items() if k != "GLSP_CUDA_SAVED_CARRIES"}
    env |= {"GLSP_CUDA_SAVED_CARRIES": value} if value is not None else {}
    code = "from nnunetv2_glsp.ops import backend_info; print(backend_info()['cuda_saved_carries'])"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == str(expected)
