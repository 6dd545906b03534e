// Operator schemas of the glsp library and the Python module stub of nnunetv2_glsp._C.
// Kernels: wkv_cpu.cpp (CPU) and wkv_cuda.cu (CUDA, built with GLSP_WITH_CUDA).
#include <Python.h>
#include <torch/library.h>

extern "C" {
// Importing nnunetv2_glsp._C runs the static registrations below; the module itself is empty.
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
}

TORCH_LIBRARY(glsp, m) {
  // y = WKV(w, u, k, v): w, u (C,), k, v (B, T, C) -> y (B, T, C) in k's dtype.
  // chunk: tokens per chunk of the scan (1..64; the CUDA kernel caps it at 16), 0 picks one; the
  // result does not depend on it beyond rounding.
  m.def("wkv(Tensor w, Tensor u, Tensor k, Tensor v, bool causal=False, int chunk=0) -> Tensor");
  // Gradients of sum(gy * wkv(w, u, k, v)): (gw, gu, gk, gv) in the dtypes of (w, u, k, v).
  m.def(
      "wkv_backward(Tensor gy, Tensor w, Tensor u, Tensor k, Tensor v, bool causal=False, "
      "int chunk=0) -> (Tensor, Tensor, Tensor, Tensor)");
}
