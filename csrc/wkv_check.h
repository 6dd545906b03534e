// Argument checks shared by the CPU and CUDA entry points (the Python wrapper checks the same
// things first; these protect direct torch.ops.glsp calls).
#pragma once

#include <ATen/ATen.h>

namespace glsp {

inline void check_inputs(const at::Tensor& w, const at::Tensor& u, const at::Tensor& k,
                         const at::Tensor& v, int64_t chunk) {
  TORCH_CHECK(k.dim() == 3, "glsp::wkv: k must have shape (B, T, C), got ", k.sizes());
  TORCH_CHECK(v.sizes() == k.sizes(), "glsp::wkv: v must have the shape of k ", k.sizes(),
              ", got ", v.sizes());
  const int64_t C = k.size(2);
  TORCH_CHECK(k.size(0) >= 1 && k.size(1) >= 1 && C >= 1,
              "glsp::wkv: B, T and C must be >= 1, got ", k.sizes());
  TORCH_CHECK(w.dim() == 1 && w.size(0) == C, "glsp::wkv: w must have shape (", C, ",), got ",
              w.sizes());
  TORCH_CHECK(u.dim() == 1 && u.size(0) == C, "glsp::wkv: u must have shape (", C, ",), got ",
              u.sizes());
  for (const at::Tensor* t : {&w, &u, &k, &v}) {
    TORCH_CHECK(at::isFloatingType(t->scalar_type()),
                "glsp::wkv: inputs must be floating point, got ", t->scalar_type());
    TORCH_CHECK(t->device() == k.device(), "glsp::wkv: all inputs must be on ", k.device(),
                ", got one on ", t->device());
  }
  TORCH_CHECK(v.scalar_type() == k.scalar_type(), "glsp::wkv: k and v must share a dtype, got ",
              k.scalar_type(), " and ", v.scalar_type());
  TORCH_CHECK(chunk >= 0 && chunk <= 64, "glsp::wkv: chunk must be in [0, 64] (0: automatic), got ",
              chunk);
}

}  // namespace glsp
