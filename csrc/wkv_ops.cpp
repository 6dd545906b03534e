// Operator schemas of the glsp library and the Python module stub of nnunetv2_glsp._C.
// Kernels: wkv_cpu.cpp (CPU) and wkv_cuda.cu (CUDA, built with GLSP_WITH_CUDA).
#include <Python.h>
#include <torch/library.h>

#include <string>

#include "wkv_check.h"

extern "C" {
// Importing nnunetv2_glsp._C runs the static registrations below; the module itself is empty.
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
}

namespace glsp {
std::string cpu_isa_name();  // wkv_cpu.cpp
}  // namespace glsp

namespace {

int64_t chunk_tokens_op(c10::string_view device, int64_t chunk) {
  TORCH_CHECK(device == "cpu" || device == "cuda",
              "glsp::chunk_tokens: device must be 'cpu' or 'cuda', got '", device, "'");
  glsp::check_chunk(chunk);
  return glsp::chunk_tokens(device == "cuda", chunk);
}

}  // namespace

TORCH_LIBRARY(glsp, m) {
  // y = WKV(w, u, k, v): w, u (C,), k, v (B, T, C) -> y (B, T, C) in k's dtype.
  // chunk: tokens per chunk of the scan (1..64; the CUDA kernel caps it at 16), 0 picks one; the
  // result does not depend on it beyond rounding.
  m.def("wkv(Tensor w, Tensor u, Tensor k, Tensor v, bool causal=False, int chunk=0) -> Tensor");
  // (y, carries): y as wkv, and per direction the state entering each chunk of the (k, v) scan,
  // shape (2 or 1 if causal, 5, B, ceil(T / chunk_tokens(device, chunk)), C) in float32 (float64
  // for float64 inputs), for wkv_backward: the autograd forward, which spares the backward that
  // scan.
  m.def(
      "wkv_with_carries(Tensor w, Tensor u, Tensor k, Tensor v, bool causal=False, int chunk=0) "
      "-> (Tensor, Tensor)");
  // Gradients of sum(gy * wkv(w, u, k, v)): (gw, gu, gk, gv) in the dtypes of (w, u, k, v).
  // carries: wkv_with_carries' for the same inputs, causal and chunk, or None (computed here).
  m.def(
      "wkv_backward(Tensor gy, Tensor w, Tensor u, Tensor k, Tensor v, bool causal=False, "
      "int chunk=0, Tensor? carries=None) -> (Tensor, Tensor, Tensor, Tensor)");
  // Tokens per chunk the kernels of device ('cpu' or 'cuda') use for a chunk argument, before the
  // cap at T (the shape of the carries).
  m.def("chunk_tokens(str device, int chunk=0) -> int", &chunk_tokens_op);
  // The instruction set the CPU kernels run on for float data: 'avx512', 'avx2' or 'baseline'
  // (the best this CPU has, or the one the environment variable GLSP_CPU_ISA names).
  m.def("cpu_isa() -> str", &glsp::cpu_isa_name);
}
