// Argument checks and preparation shared by the CPU and CUDA entry points (the Python wrapper
// checks the same things first; these protect direct torch.ops.glsp calls).
#pragma once

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>

#include <optional>
#include <vector>

#include "wkv_math.h"

namespace glsp {

inline void check_chunk(int64_t chunk) {
  TORCH_CHECK(chunk >= 0 && chunk <= kMaxChunk, "glsp::wkv: chunk must be in [0, ", kMaxChunk,
              "] (0: automatic), got ", chunk);
}

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
  check_chunk(chunk);
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

// glsp::wkv_with_carries' second output: per direction (2, or 1 when causal), the state entering
// each chunk of the (k, v) scan with its w-derivatives, (directions, kStateFields, B, n, C) in the
// accumulation type (the kernels' [direction][field][B][n][C] state layout), for
// glsp::wkv_backward to skip that scan.
inline std::vector<int64_t> carries_shape(const ChunkGrid& g, bool causal) {
  return {causal ? 1 : 2, kStateFields, g.B, g.n, g.C};
}

// Their options: k's device, the accumulation type of k's dtype.
inline at::TensorOptions carries_options(const at::Tensor& k) {
  return k.options().dtype(at::toOpMathType(k.scalar_type()));
}

inline at::Tensor new_carries(const at::Tensor& k, const ChunkGrid& g, bool causal) {
  return at::empty(carries_shape(g, causal), carries_options(k));
}

// The carries passed to glsp::wkv_backward, checked against this call's chunk grid; an undefined
// tensor when none were passed (the backward then scans (k, v) itself).
inline at::Tensor checked_carries(const std::optional<at::Tensor>& carries, const at::Tensor& k,
                                  const ChunkGrid& g, bool causal) {
  if (!carries.has_value()) return {};
  const auto dtype = at::toOpMathType(k.scalar_type());
  const auto shape = carries_shape(g, causal);
  TORCH_CHECK(carries->sizes() == at::IntArrayRef(shape) && carries->scalar_type() == dtype &&
                  carries->device() == k.device(),
              "glsp::wkv_backward: carries must be the second output of glsp::wkv_with_carries "
              "for the same k, v, causal and chunk: shape ", at::IntArrayRef(shape), ", dtype ",
              dtype, ", on ", k.device(), "; got shape ", carries->sizes(), ", dtype ",
              carries->scalar_type(), ", on ", carries->device(),
              ". Pass None to recompute them");
  return carries->contiguous();
}

}  // namespace glsp
