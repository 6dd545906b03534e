// Argument checks and preparation shared by the CPU and CUDA entry points (the Python wrapper
// checks the same things first; these protect direct torch.ops.glsp calls).
#pragma once

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>

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

// The inputs as the kernels read them: k, v (and gy) contiguous in their dtype, w and u
// contiguous in its accumulation type (float for half, bfloat16 and float; double for double).
struct KernelInputs {
  at::Tensor w, u, k, v, gy;

  KernelInputs(const at::Tensor& w_, const at::Tensor& u_, const at::Tensor& k_,
               const at::Tensor& v_, int64_t chunk) {
    check_inputs(w_, u_, k_, v_, chunk);
    const auto acc = at::toOpMathType(k_.scalar_type());
    w = w_.to(acc).contiguous();
    u = u_.to(acc).contiguous();
    k = k_.contiguous();
    v = v_.contiguous();
  }

  KernelInputs(const at::Tensor& gy_, const at::Tensor& w_, const at::Tensor& u_,
               const at::Tensor& k_, const at::Tensor& v_, int64_t chunk)
      : KernelInputs(w_, u_, k_, v_, chunk) {
    TORCH_CHECK(gy_.sizes() == k_.sizes(), "glsp::wkv_backward: gy must have shape ", k_.sizes(),
                ", got ", gy_.sizes());
    TORCH_CHECK(gy_.device() == k_.device(), "glsp::wkv_backward: gy must be on ", k_.device());
    TORCH_CHECK(at::isFloatingType(gy_.scalar_type()),
                "glsp::wkv_backward: gy must be floating point, got ", gy_.scalar_type());
    gy = gy_.to(k_.scalar_type()).contiguous();
  }
};

}  // namespace glsp
